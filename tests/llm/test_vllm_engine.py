"""The vLLM engine actors (emodata/llm/vllm_engine.py) behind the ``vllm`` annotate backend.

The real tests start Ray and a real vLLM engine on SmolLM2 in .venv-vllm (through Ray's
``py_executable``), and send it several agent rounds of several batches from annotate-like
actors in the main environment: the engine must load once per actor, answer every round, and
answer a request it rejects with an error while the others in the same call go through.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import psutil
import pytest

from emodata.annotate.backends.base import Request
from emodata.annotate.backends.vllm_backend import VLLMBackend, VLLMConfig, engine_kwargs
from emodata.annotate.settings import AnnotateConfig
from emodata.llm.vllm_engine import ENGINE_ENV, engine_runtime_env

from .conftest import EMOTION_MESSAGES, EMOTION_SCHEMA, assert_schema_valid

MODULE = Path(__file__).resolve().parents[2] / "emodata" / "llm" / "vllm_engine.py"

# Budgets for the 135M model on 2 shared cores: a 256 MiB KV cache (5800 tokens), short context.
SMALL = {"max_model_len": 2048, "kv_cache_gib": 0.25, "batch_size": 8}
BATCHES = 2
ROUNDS = 2
CLIPS = 2  # per batch


def test_engine_module_imports_only_stdlib_ray_and_vllm():
    """The actor's module is shipped by value into vLLM's environment, where emodata is not."""
    tree = ast.parse(MODULE.read_text())
    roots = {
        (n.module if isinstance(n, ast.ImportFrom) else a.name).split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in (n.names if isinstance(n, ast.Import) else [n])
    }
    roots.discard("__future__")
    assert roots - set(sys.stdlib_module_names) <= {"ray", "vllm"}, roots


def test_engine_placement_follows_the_config():
    cpu = VLLMConfig(dtype="float32")
    gpu = VLLMConfig(num_gpus=0.5, dtype="bfloat16")
    kw = engine_kwargs(cpu)
    assert kw["enforce_eager"] and kw["dtype"] == "float32" and "gpu_memory_utilization" not in kw
    assert kw["structured_outputs_config"] == {
        "backend": "xgrammar",
        "disable_any_whitespace": True,
    }
    kw = engine_kwargs(gpu, images_per_prompt=4)
    assert not kw["enforce_eager"] and kw["gpu_memory_utilization"] == 0.45
    assert kw["limit_mm_per_prompt"] == {"image": 4}
    env = engine_runtime_env("/v/bin/python", None, {"VLLM_CPU_KVCACHE_SPACE": "2"})
    assert env["py_executable"] == "/v/bin/python" and "image_uri" not in env
    assert env["env_vars"] == {**ENGINE_ENV, "VLLM_CPU_KVCACHE_SPACE": "2"}
    env = engine_runtime_env(None, "registry/vllm:0.32", {})
    assert env == {"image_uri": "registry/vllm:0.32", "env_vars": ENGINE_ENV}
    with pytest.raises(ValueError, match="python or an image"):
        engine_runtime_env(None, None, {})


def test_a_run_without_engines_counts_none():
    from emodata.annotate.session import AnnotateSession

    assert AnnotateSession(AnnotateConfig(), "cache").engine_counts() == {}


def _round(batch: int, rnd: int, previous: list[str]) -> list[Request]:
    """One agent round over a batch's clips; round 2 quotes round 1's answer, as the reasoner
    quotes the listener."""
    out = []
    for clip in range(CLIPS):
        messages = list(EMOTION_MESSAGES)
        if previous:
            messages = [*messages, {"role": "assistant", "content": previous[clip]}]
            messages.append({"role": "user", "content": "Check that label; answer again."})
        out.append(Request(f"b{batch}-r{rnd}-c{clip}", messages, EMOTION_SCHEMA, max_tokens=40))
    return out


def _annotate_batch(backend: VLLMBackend, batch: int) -> list[list[dict]]:
    """ROUNDS agent rounds on one batch, as the annotate graph calls its backend."""
    answers: list[str] = []
    rounds = []
    for rnd in range(ROUNDS):
        requests = _round(batch, rnd, answers)
        if rnd == ROUNDS - 1 and batch == 0:  # one request the engine must reject, alone
            requests.append(Request("bad", EMOTION_MESSAGES, {"type": "no-such-type"}))
        got = backend.generate(requests)
        assert [r.id for r in got] == [r.id for r in requests]
        rounds.append([{"id": r.id, "text": r.text, "error": r.error, **r.meta} for r in got])
        answers = [r.text or "" for r in got]
    return rounds


def _check(rounds: list[list[dict]]) -> set[str]:
    engines = set()
    for rnd in rounds:
        for r in rnd:
            engines.add(r["engine"])
            if r["id"] == "bad":
                assert r["error"] and "no-such-type" in r["error"], r
                continue
            assert r["error"] is None, r
            assert_schema_valid(r["text"], EMOTION_SCHEMA)
    return engines


@pytest.mark.slow
@pytest.mark.own_process
def test_a_run_keeps_one_engine_for_every_round_and_batch(smollm2_dir, vllm_python, tmp_path):
    """prepare() starts the engine once on the driver; two annotate-like actors in the main
    environment find it by name and send it 2 rounds of 2 batches; the run's end kills it."""
    import ray

    from emodata.annotate.session import prepare

    cfg = AnnotateConfig.model_validate(
        {"backends": {"default": {"kind": "vllm", "model": str(smollm2_dir), **SMALL}}}
    )
    ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False)
    try:

        @ray.remote(num_cpus=1)  # as the annotate stage's actors, which reserve a CPU each
        class AnnotateActor:
            def __init__(self, backend_cfg: VLLMConfig) -> None:
                self.backend = VLLMBackend(backend_cfg)
                self.backend.setup()

            def batch(self, n: int) -> list[list[dict]]:
                return _annotate_batch(self.backend, n)

        with prepare(cfg, str(tmp_path)) as session:
            backend_cfg = session.config.backends["default"]
            assert backend_cfg.engine and backend_cfg.num_gpus == 0
            names = session.engines["default"].names()
            assert ray.get_actor(names[0], namespace="emodata") is not None
            actors = [AnnotateActor.remote(backend_cfg) for _ in range(BATCHES)]
            results = ray.get([a.batch.remote(n) for n, a in enumerate(actors)], timeout=1200)
            assert set().union(*(_check(r) for r in results)) == set(names)
            (live,) = session.engine_stats()["default"]
            assert live["starts"] == 1 and live["calls"] == BATCHES * ROUNDS
            # vLLM's engine-core and worker processes, which must end with the actor
            engine_procs = [psutil.Process(live["pid"])]
            engine_procs += engine_procs[0].children(recursive=True)
        counts = session.engine_counts()
        assert counts == {
            "vllm_engine_actors": 1,
            "vllm_engine_starts": 1,
            "vllm_engine_calls": BATCHES * ROUNDS,
            "vllm_engine_requests": BATCHES * ROUNDS * CLIPS + 1,
        }
        (final,) = session.engines["default"].final
        assert final["errors"] == 1 and final["tokens"] > 0 and final["pid"] == live["pid"]
        with pytest.raises(ValueError):  # the run's end took the engine down
            ray.get_actor(names[0], namespace="emodata")
        _, alive = psutil.wait_procs(engine_procs, timeout=60)
        assert not alive, [p.cmdline() for p in alive]
    finally:
        ray.shutdown()


@pytest.mark.slow
@pytest.mark.own_process
def test_outside_a_run_the_backend_starts_ray_and_its_own_engine(smollm2_dir, vllm_python):
    import ray

    assert not ray.is_initialized()
    backend = VLLMBackend(VLLMConfig(model=str(smollm2_dir), **SMALL))
    try:
        backend.setup()
        assert ray.is_initialized()
        engines = set()
        for n in range(BATCHES):
            engines |= _check(_annotate_batch(backend, n))
        (stats,) = backend.engine_stats()
        assert len(engines) == 1
        assert stats["starts"] == 1 and stats["calls"] == BATCHES * ROUNDS
    finally:
        backend.close()
    assert not ray.is_initialized()
    assert backend.engine_stats()[0]["calls"] == BATCHES * ROUNDS
