"""End to end with a real small model (SmolLM2-135M-Instruct) through every backend.

The runs use the real CLI, Ray, FFmpeg and the upstream stages; what is asserted is the
pipeline's behaviour (schema-valid trees from structured output, the critic's checks recorded,
token accounting, cache reruns), never the model's opinions.
"""

from __future__ import annotations

import json
import shutil

import jsonschema
import pyarrow.parquet as pq
import pytest

from emodata.schemas import load_json
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

FULL = "ingest,segment,transcribe,faces,cues,annotate,write,validate"
AGENTS = {"perceiver", "listener", "reasoner", "critic", "qa"}


@pytest.fixture(scope="module")
def two_clips(samples_dir, tmp_path_factory):
    inputs = tmp_path_factory.mktemp("llm-in")
    for name in ("talk_000_happy.mp4", "talk_001_sad.mp4"):
        shutil.copy(samples_dir / name, inputs)
    return inputs


SMALL_MODEL_BUDGETS = (
    # the plumbing, on the smallest registry model (the default, a 0.5B, is for `make demo`)
    "annotate.backends.default.model=smollm2-135m-instruct",
    "annotate.agents.reasoner.max_tokens=480",
    "annotate.agents.qa.max_tokens=320",
)


def _run(inputs, out, *sets, stages=FULL):
    args = [
        "run",
        "--input",
        str(inputs),
        "--output",
        str(out),
        "--num-cpus",
        "2",
        "--stages",
        stages,
    ]
    # budgets for the 135M model on CPU (as `make demo` sets them): the schemas shrink to fit
    for s in (*SMALL_MODEL_BUDGETS, *sets):
        args += ["--set", s]
    return run_cli(*args, timeout=1500)


def _samples(out):
    """Sample JSON of every clip, read from the shards."""
    import tarfile

    found = {}
    for shard in sorted((out / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for m in tar.getmembers():
                if m.name.endswith(".json"):
                    rec = json.load(tar.extractfile(m))
                    found[rec["key"]] = rec
    return found


def _check_run(out, backend: str, agents=AGENTS):
    index = pq.read_table(out / "index").to_pylist()
    ledger = pq.read_table(out / "failures").to_pylist() if (out / "failures").exists() else []
    assert index, f"nothing annotated; ledger: {ledger}"
    schema = load_json("annotation.schema.json")
    samples = _samples(out)
    for row in index:
        tree = samples[row["key"]]["annotation"]
        jsonschema.validate(tree, schema)
        prov = tree["provenance"]
        assert set(prov) >= agents - {"qa", "critic"}
        if "critic" in agents and "critic" not in prov:
            # the deterministic checks rejected the tree before the model critic was asked
            assert row["critic_verdict"] == "rejected"
            llm = [r for r in tree["critic"]["reasons"] if r.startswith("critic_llm")]
            assert tree["critic"]["reasons"] and not llm
        rendered = {a for a in ("perceiver", "listener") if a in prov}  # text-only: no call
        assert all(prov[a]["backend"] == "rendered" and prov[a]["calls"] == 0 for a in rendered)
        assert all(p["backend"] == backend for a, p in prov.items() if a not in rendered)
        assert all(v in {"measured", "model"} for v in tree["sources"].values())
        assert {c["name"] for c in tree["critic"]["checks"]} >= {
            "cues_exist",
            "label_in_taxonomy",
            "valence_matches_label",
            "speech_measured",
        }
        assert row["critic_verdict"] in {"accepted", "revised", "rejected"}
        if row["critic_verdict"] == "rejected":
            assert tree["critic"]["reasons"]
        else:
            assert all(c["ok"] for c in tree["critic"]["checks"]), tree["critic"]
        tokens = json.loads(row["annotate_tokens"])
        assert row["annotate_prompt_tokens"] == sum(t["prompt_tokens"] for t in tokens.values())
        assert row["annotate_completion_tokens"] == sum(
            t["completion_tokens"] for t in tokens.values()
        )
        called = len(prov) - len(rendered)
        assert row["annotate_completion_tokens"] > 0 and row["annotate_calls"] >= called
        assert "face.t0.expression" in tree["cues"] and "speech.transcript" in tree["cues"]
    return index


def test_openai_backend_against_a_local_vllm_server_then_a_cache_rerun(two_clips, tmp_path):
    cache = tmp_path / "cache"
    out = tmp_path / "out"
    _run(
        two_clips,
        out,
        f"annotate.cache_dir={cache}",
        "annotate.prices.smollm2-135m-instruct.prompt_per_mtok=0.1",
        "annotate.prices.smollm2-135m-instruct.completion_per_mtok=0.4",
    )
    first = {r["key"]: r for r in _check_run(out, "openai")}
    assert all(r["annotate_cost_usd"] > 0 for r in first.values())
    stats = run_cli("stats", str(out)).stdout
    assert "annotate: model calls" in stats and "reasoner" in stats

    # same config, new output, the endpoint unreachable: every answer comes from the cache
    again = tmp_path / "again"
    _run(
        two_clips,
        again,
        f"annotate.cache_dir={cache}",
        "annotate.backends.default.base_url=http://127.0.0.1:9/v1",
        "annotate.prices.smollm2-135m-instruct.prompt_per_mtok=0.1",
        "annotate.prices.smollm2-135m-instruct.completion_per_mtok=0.4",
    )
    second = {r["key"]: r for r in pq.read_table(again / "index").to_pylist()}
    assert set(second) == set(first)
    for key, row in second.items():
        assert row["annotate_calls"] == 0
        assert row["caption"] == first[key]["caption"]
        assert row["annotate_completion_tokens"] == first[key]["annotate_completion_tokens"]


def test_transformers_backend_in_process(two_clips, tmp_path):
    one = tmp_path / "in"
    one.mkdir()
    shutil.copy(next(two_clips.glob("talk_000*")), one)
    out = tmp_path / "out"
    _run(one, out, "annotate.backends.default.kind=transformers", "annotate.critic_llm=false")
    rows = _check_run(out, "transformers", AGENTS - {"critic"})
    assert len(rows) == 1


def test_vllm_backend_keeps_one_engine_actor_for_the_run(two_clips, tmp_path):
    out = tmp_path / "out"
    # two batches of one clip, each through the reasoner and qa rounds (the listener's is
    # rendered without a call): every call goes to the one engine actor the run started
    # (perceiver and critic off to fit 2 CPUs)
    _run(
        two_clips,
        out,
        "annotate.backends.default.kind=vllm",
        "annotate.backends.default.kv_cache_gib=0.5",  # 11k tokens: one clip per round
        "annotate.batch_size=1",
        "annotate.critic_llm=false",
        "annotate.agents.perceiver.enabled=false",
        "annotate.max_revisions=0",
    )
    rows = _check_run(out, "vllm", {"listener", "reasoner", "qa"})
    assert len(rows) == 2
    # the run's manifest counts the engine actors' starts and the calls they served
    counts = json.loads((out / "manifest.json").read_text())["runs"][-1]["counts"]
    assert counts["vllm_engine_actors"] == 1 and counts["vllm_engine_starts"] == 1, counts
    assert counts["vllm_engine_calls"] >= 2, counts
