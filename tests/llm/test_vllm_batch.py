"""emodata/llm/vllm_batch.py: real vLLM on Ray actors through Ray Data's LLM processor.

The script runs under .venv-vllm's python (emodata is not installed there); its request parsing
imports nothing but the standard library, so it is also checked here in-process.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import EMOTION_MESSAGES, EMOTION_SCHEMA, assert_schema_valid

SCRIPT = Path(__file__).resolve().parents[2] / "emodata" / "llm" / "vllm_batch.py"


def _script():
    spec = importlib.util.spec_from_file_location("vllm_batch", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_imports_only_stdlib_ray_and_vllm():
    import ast

    tree = ast.parse(SCRIPT.read_text())
    roots = {
        (n.module if isinstance(n, ast.ImportFrom) else a.name).split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in (n.names if isinstance(n, ast.Import) else [n])
    }
    import sys

    assert roots - set(sys.stdlib_module_names) <= {"ray", "vllm"}, roots


def test_bad_lines_are_answered_with_errors_and_ids_stay_unique(tmp_path):
    vb = _script()
    lines = [
        {"id": "ok", "messages": [{"role": "user", "content": "hi"}], "json_schema": {"a": 1}},
        "not json",
        {"messages": [{"role": "user", "content": "no id"}]},
        {"id": "bad-messages", "messages": "hi"},
        {"id": "bad-tokens", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
        {"id": "ok", "messages": [{"role": "user", "content": "repeat"}]},
    ]
    path = tmp_path / "in.jsonl"
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n\n",
        encoding="utf-8",
    )
    order, rows, known = vb.read_requests(path)
    assert order == ["ok", "line:2", "line:3", "bad-messages", "bad-tokens"]
    assert [r["id"] for r in rows] == ["ok"]
    assert rows[0]["json_schema"] == '{"a": 1}' and rows[0]["max_tokens"] == 256
    assert all(known[i]["error"] for i in order[1:])
    sampling = vb._to_processor_row(rows[0])["sampling_params"]
    assert sampling["structured_outputs"] == {"json": '{"a": 1}'}
    out = tmp_path / "out.jsonl"
    vb.write_results(out, order[1:], known)
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == order[1:]
    assert not list(tmp_path.glob(".out.jsonl-*"))


@pytest.mark.slow
def test_three_requests_through_ray_data_and_vllm(smollm2_dir, vllm_python, tmp_path):
    requests = [
        {
            "id": "capital",
            "messages": [{"role": "user", "content": "What is the capital of France?"}],
            "max_tokens": 24,
            "temperature": 0,
            "json_schema": None,
        },
        {
            "id": "label",
            "messages": EMOTION_MESSAGES,
            "max_tokens": 80,
            "temperature": 0,
            "json_schema": EMOTION_SCHEMA,
        },
        {
            "id": "free",
            "messages": [{"role": "user", "content": "Describe a happy face in one sentence."}],
            "max_tokens": 32,
            "temperature": 0.7,
        },
    ]
    inp, out = tmp_path / "requests.jsonl", tmp_path / "responses.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in requests), encoding="utf-8")
    started = time.monotonic()
    proc = subprocess.run(
        [
            str(vllm_python),
            str(SCRIPT),
            "--model",
            str(smollm2_dir),
            "--input",
            str(inp),
            "--output",
            str(out),
            "--num-cpus",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-6000:]
    results = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in results] == ["capital", "label", "free"], proc.stderr[-3000:]
    by_id = {r["id"]: r for r in results}
    for r in results:
        assert r["error"] is None, r
        assert r["prompt_tokens"] > 0 and r["completion_tokens"] > 0 and r["latency_s"] > 0, r
    assert "Paris" in by_id["capital"]["text"]
    assert_schema_valid(by_id["label"]["text"], EMOTION_SCHEMA)
    assert elapsed < 600
