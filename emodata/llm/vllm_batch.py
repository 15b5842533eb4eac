#!/usr/bin/env python
"""Answer a JSONL file of chat requests with vLLM in-process on Ray actors (Ray Data LLM batch).

Why a standalone script: vLLM's CPU build pins torch and transformers versions that cannot share
the main ``.venv``, so this runs under ``.venv-vllm/bin/python`` (made by ``infra/vllm_env.sh``),
where emodata itself is not installed: it imports only the standard library, ray and vllm. For
offline batches it beats an HTTP server: no port, no client, Ray Data streams rows through the
chat-template and vLLM engine stages, and the same script scales out on a cluster
(``--address``) with more engine replicas (``--concurrency``).

    .venv-vllm/bin/python emodata/llm/vllm_batch.py --model DIR \\
        --input requests.jsonl --output responses.jsonl

Request line:  {"id": str, "messages": [{"role", "content"}...], "max_tokens": int,
                "temperature": float, "json_schema": object | null}
Response line: {"id", "text", "prompt_tokens", "completion_tokens", "latency_s", "error"}

Every request id appears exactly once in the output, in input order: a malformed line or a row
the engine rejects gets ``error`` set instead of stopping the batch (a line with no readable id is
reported as ``line:N``; a repeated id keeps its first request). ``json_schema`` requests use vLLM's
structured outputs (``SamplingParams.structured_outputs = StructuredOutputsParams(json=...)``,
which Ray's vLLM stage builds from a row's ``sampling_params["structured_outputs"]``), so their
text is JSON valid against the schema. The output is written to a temporary file and renamed.
Exit status: 0 when the batch ran (even with per-row errors), 1 when the engine failed as a whole
(every unanswered id then carries that error), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

# vLLM on CPU: float32 (bfloat16 answers nonsense without AVX512), eager mode (compiling takes
# minutes and its cache fails to reload), models from local folders only.
ENGINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
}


def _progress(message: str) -> None:
    print(f"vllm_batch: {message}", file=sys.stderr, flush=True)


def _result(rid: str, error: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "text": fields.get("text", ""),
        "prompt_tokens": fields.get("prompt_tokens", 0),
        "completion_tokens": fields.get("completion_tokens", 0),
        "latency_s": fields.get("latency_s"),
        "error": error,
    }


def _parse_request(line: str, n: int) -> tuple[str, dict[str, Any] | None, str | None]:
    """(id, row for the processor or None, error or None) for one input line."""
    try:
        req = json.loads(line)
    except json.JSONDecodeError as e:
        return f"line:{n}", None, f"line {n} is not JSON: {e}"
    if not isinstance(req, dict):
        return f"line:{n}", None, f"line {n} is not a JSON object"
    rid = req.get("id")
    if not isinstance(rid, str) or not rid:
        return f"line:{n}", None, f"line {n} has no string id"
    messages = req.get("messages")
    if (
        not isinstance(messages, list)
        or not messages
        or not all(
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
            for m in messages
        )
    ):
        return rid, None, "messages must be a non-empty list of {role, content} strings"
    max_tokens = req.get("max_tokens", 256)
    temperature = req.get("temperature", 0.0)
    schema = req.get("json_schema")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return rid, None, f"max_tokens must be a positive integer, not {max_tokens!r}"
    if not isinstance(temperature, int | float) or isinstance(temperature, bool):
        return rid, None, f"temperature must be a number, not {temperature!r}"
    if schema is not None and not isinstance(schema, dict):
        return rid, None, "json_schema must be an object or null"
    row = {
        "id": rid,
        # only role and content: extra keys would widen the Arrow struct for every row
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "max_tokens": max_tokens,
        "temperature": float(temperature),
        # a string, not a nested object: Arrow would unify the schemas of all rows into one
        # struct, adding null keys that change a schema's meaning
        "json_schema": "" if schema is None else json.dumps(schema),
    }
    return rid, row, None


def read_requests(path: Path) -> tuple[list[str], list[dict[str, Any]], dict[str, dict]]:
    """Input ids in order, the valid rows, and the results already known (errors)."""
    order: list[str] = []
    rows: list[dict[str, Any]] = []
    known: dict[str, dict[str, Any]] = {}
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            rid, row, error = _parse_request(line, n)
            if rid in order:
                _progress(f"line {n}: id {rid!r} repeats an earlier request; it is skipped")
                continue
            order.append(rid)
            if row is None:
                known[rid] = _result(rid, error)
            else:
                rows.append(row)
    return order, rows, known


def _to_processor_row(row: dict[str, Any]) -> dict[str, Any]:
    """Runs on Ray workers: the columns Ray's chat-template and vLLM stages read."""
    sampling: dict[str, Any] = {
        "max_tokens": int(row["max_tokens"]),
        "temperature": float(row["temperature"]),
        "structured_outputs": {"json": row["json_schema"]} if row["json_schema"] else None,
    }
    return {"id": row["id"], "messages": row["messages"], "sampling_params": sampling}


def run_batch(args: argparse.Namespace, rows: list[dict[str, Any]]) -> dict[str, dict]:
    """Results by id for ``rows``; raises when the batch fails as a whole."""
    import ray
    from ray.data.llm import build_processor, vLLMEngineProcessorConfig

    engine_env = {**ENGINE_ENV, "VLLM_CPU_KVCACHE_SPACE": f"{args.kv_cache_gib:g}"}
    for key, value in {**engine_env, "RAY_AUTH_MODE": "disabled"}.items():
        os.environ.setdefault(key, value)
    started = time.monotonic()
    if args.address:
        ray.init(address=args.address, runtime_env={"env_vars": engine_env})
    else:
        ray.init(
            address="local",
            num_cpus=args.num_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            runtime_env={"env_vars": engine_env},
        )
    _progress(f"ray up in {time.monotonic() - started:.1f} s; starting the vLLM engine")
    try:
        config = vLLMEngineProcessorConfig(
            model_source=str(args.model),
            engine_kwargs={
                "dtype": "float32",
                "enforce_eager": True,
                "max_model_len": args.max_model_len,
                # compact JSON: small models otherwise spend their token budget on whitespace
                "structured_outputs_config": {
                    "backend": "xgrammar",
                    "disable_any_whitespace": True,
                },
            },
            concurrency=args.concurrency,
            batch_size=args.batch_size,
            placement_group_config={"bundles": [{"CPU": 1}]},
            should_continue_on_error=True,  # a row the engine rejects gets an error, not a crash
            # vLLM tokenizes prompts and detokenizes outputs itself: two fewer actor pools to start
            tokenize_stage=False,
            detokenize_stage=False,
        )
        processor = build_processor(config, preprocess=_to_processor_row)
        ds = ray.data.from_items(rows)
        results: dict[str, dict[str, Any]] = {}
        for out in processor(ds).iter_rows():
            rid = str(out["id"])
            error = out.get("__inference_error__") or None
            latency = out.get("time_taken_llm")
            latency_s = None if latency is None or latency < 0 else round(float(latency), 3)
            results[rid] = _result(
                rid,
                error,
                text=out.get("generated_text") or "",
                prompt_tokens=int(out.get("num_input_tokens") or 0),
                completion_tokens=int(out.get("num_generated_tokens") or 0),
                latency_s=latency_s,  # the engine reports -1 for rows that failed
            )
            _progress(f"{len(results)}/{len(rows)} done")
        return results
    finally:
        ray.shutdown()


def write_results(path: Path, order: list[str], results: dict[str, dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for rid in order:
                f.write(json.dumps(results[rid], ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--model", required=True, type=Path, help="Hugging Face model folder")
    p.add_argument("--input", required=True, type=Path, help="requests, one JSON object a line")
    p.add_argument("--output", required=True, type=Path, help="responses JSONL to write")
    p.add_argument("--batch-size", type=int, default=4, help="rows per engine batch")
    p.add_argument("--concurrency", type=int, default=1, help="vLLM engine replicas")
    p.add_argument("--max-model-len", type=int, default=2048, help="context length in tokens")
    p.add_argument("--kv-cache-gib", type=float, default=1, help="KV cache per engine (GiB)")
    p.add_argument("--address", help="join this Ray cluster instead of starting a local one")
    p.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
    args = p.parse_args(argv)
    if not (args.model / "config.json").is_file():
        p.error(f"{args.model} is not a Hugging Face model folder (no config.json)")
    if not args.input.is_file():
        p.error(f"{args.input} does not exist")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    order, rows, results = read_requests(args.input)
    _progress(f"{len(order)} requests, {len(results)} rejected before the engine")
    status = 0
    started = time.monotonic()
    if rows:
        try:
            results.update(run_batch(args, rows))
        except Exception as e:  # the whole batch failed: every unanswered id records why
            traceback.print_exc(file=sys.stderr)
            failure = f"batch failed: {type(e).__name__}: {e}"
            for row in rows:
                results.setdefault(row["id"], _result(row["id"], failure))
            status = 1
        for row in rows:
            results.setdefault(row["id"], _result(row["id"], "the engine returned no result"))
    elapsed = time.monotonic() - started
    write_results(args.output, order, results)
    answered = [r for r in results.values() if r["error"] is None and r["latency_s"]]
    generated = sum(r["completion_tokens"] for r in answered)
    rates = [r["completion_tokens"] / r["latency_s"] for r in answered]
    _progress(
        f"wrote {len(order)} responses to {args.output} in {elapsed:.1f} s with start-up "
        f"({len(order) - len(answered)} errors, {generated} tokens generated, "
        f"{sum(rates) / len(rates) if rates else 0:.1f} tok/s per request)"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
