"""The annotate stage inside a real run (CLI, Ray, FFmpeg) against the fault-injecting server.

No transcribe, faces or cues here: annotate must still run on the cues that exist. A clip whose
answers stay invalid lands in the ledger, the run completes, and a rerun against a healthy
server finishes it without asking again for what was already answered.
"""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest

from tests.annotate.fault_server import FaultServer
from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def _run(inputs, out, server):
    return run_cli(
        "run",
        "--input",
        str(inputs),
        "--output",
        str(out),
        "--num-cpus",
        "2",
        "--stages",
        "ingest,segment,annotate,write,validate",
        "--set",
        "annotate.backends.default.kind=openai",
        "--set",
        "annotate.backends.default.model=test-model",
        "--set",
        f"annotate.backends.default.base_url={server.base_url}",
        "--set",
        "annotate.backends.default.backoff_s=0.05",
        "--set",
        "annotate.repair_retries=1",
        # no faces or transcribe stage: the canned neutral tree (confidence 0.5) must pass the
        # no-evidence check, so that the run reaches QA
        "--set",
        "annotate.no_evidence_confidence=0.5",
    )


def test_invalid_answers_are_ledgered_and_a_rerun_completes(samples_dir, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("talk_000_happy.mp4", "talk_001_sad.mp4"):
        shutil.copy(samples_dir / name, inputs)
    out = tmp_path / "out"
    with FaultServer({"qa": ["invalid"] * 3}) as server:
        res = _run(inputs, out, server)
    assert "1 clips written" in res.stdout or "1 clip written" in res.stdout, res.stdout
    ledger = pq.read_table(out / "failures").to_pylist()
    assert [(r["stage"], r["reason"], r["kind"]) for r in ledger] == [
        ("annotate", "llm_invalid_output", "failed")
    ]
    index = pq.read_table(out / "index").to_pylist()
    assert len(index) == 1 and index[0]["critic_verdict"] == "accepted"
    # reasoner, critic and qa (perceiver and listener notes are rendered), qa repaired once
    assert index[0]["annotate_calls"] == 3 + 1
    assert json.loads(index[0]["annotate_models"])["reasoner"] == "openai:test-model@v1"

    with FaultServer() as healthy:
        _run(inputs, out, healthy)
    index = pq.read_table(out / "index").to_pylist()
    assert len(index) == 2
    redone = next(r for r in index if r["key"] == ledger[0]["key"])
    assert redone["stage_status"]["annotate"] == "ok"
    # reasoner and critic answered in the failed run: served from the cache now
    assert set(healthy.seen) == {"qa"} and len(healthy.seen["qa"]) == 1
    assert json.loads(redone["annotate_tokens"])["perceiver"]["calls"] == 0
    stats = run_cli("stats", str(out))
    assert "annotate" in stats.stdout
