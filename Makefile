# The two entry points: `make demo` and `make test`. Both set up what they need first.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
DEMO ?= demo
PYTEST_ARGS ?=
# The embedded chat model (Qwen2.5-Coder-0.5B) runs on CPU and cannot write: it chooses each
# clip's emotion and the tree's texts are rendered from the measurements (annotate.texts).
# Smaller token budgets keep the demo under 8 minutes on 2 cores (agent schemas shrink to fit
# them), fewer steps, expressions, cited ids and QA pairs and shorter captions leave room in
# them for texts that finish, and all clips in one batch keep the CPU server busy.
# Empty DEMO_SET runs the defaults.
DEMO_SET ?= --set annotate.texts=rendered \
  --set annotate.batch_size=16 --set annotate.backends.default.concurrency=16 \
  --set annotate.agents.reasoner.max_tokens=640 --set annotate.agents.qa.max_tokens=400 \
  --set annotate.limits.max_steps=3 --set annotate.limits.max_expressions=2 \
  --set annotate.limits.max_cues=2 --set 'annotate.limits.caption_words=[20,60]' \
  --set 'annotate.limits.qa_pairs=[4,4]'

.PHONY: setup setup-demo demo test test-fast lint bench clean

# `make demo` needs no browser; `make test` also sets up the browser-test tools.
setup:
	@bash infra/setup.sh test

setup-demo:
	@bash infra/setup.sh demo

demo: setup-demo
	@if [ ! -f $(DEMO)/samples/expected.json ]; then \
	  $(BIN)/emodata samples make $(DEMO)/samples; \
	else echo "demo: reusing sample media in $(DEMO)/samples"; fi
	$(BIN)/emodata run --input $(DEMO)/samples/manifest.csv --output $(DEMO)/out $(DEMO_SET)
	@$(BIN)/emodata status $(DEMO)/out 2>/dev/null

# PYTHONFAULTHANDLER: a crash in native code, even at the test process's exit, prints where.
test: setup
	PYTHONFAULTHANDLER=1 $(BIN)/pytest $(PYTEST_ARGS)

# The quick check while working: no end-to-end runs (Ray, FFmpeg pipelines, LLM servers, browsers),
# no GPU, no test over a few seconds. `make test` still runs everything.
test-fast: setup
	$(BIN)/pytest -m "not slow and not gpu" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: setup
	$(BIN)/python benchmarks/segment_vs_ffmpeg.py
	$(BIN)/python benchmarks/memory_scaling.py

clean:
	rm -rf $(DEMO) .pytest_cache
