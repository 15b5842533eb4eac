"""Engine starts and wall time of the same annotate work through vLLM, before and after.

The work is ``--batches`` batches of ``--clips`` clips, each through ``--rounds`` agent rounds
(one schema-constrained request per clip per round, identical in both paths):

- before: every round is a subprocess of ``emodata/llm/vllm_batch.py`` under .venv-vllm (Ray,
  Ray Data's LLM processor and a vLLM engine started for each round, as the ``vllm`` backend
  did until its engines lived for the run);
- after: the ``vllm`` backend with one engine actor started once (Ray's ``py_executable``
  runs it in .venv-vllm), every round sent to it.

Both start from no Ray running, and the wall time includes every start-up. Prints, per path,
the engine starts, the wall time, the mean time of a round after the first, and the errors.

    .venv/bin/python benchmarks/vllm_engine.py [--batches 2] [--rounds 2] [--clips 4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from _common import ROOT

from emodata.annotate.backends.base import Request
from emodata.annotate.backends.vllm_backend import (
    VLLMBackend,
    VLLMConfig,
    request_row,
    vllm_python,
)
from emodata.models import resolve

MODEL = "smollm2-135m-instruct"
SCRIPT = ROOT / "emodata" / "llm" / "vllm_batch.py"
SCHEMA = {
    "type": "object",
    "properties": {
        "emotion": {"type": "string", "enum": ["happy", "sad", "angry", "surprised", "neutral"]},
        "intensity": {"type": "integer", "minimum": 1, "maximum": 5},
        "why": {"type": "string", "maxLength": 120},
    },
    "required": ["emotion", "intensity", "why"],
    "additionalProperties": False,
}
LINES = [
    "We won! I can't believe we actually won!",
    "I waited all day and nobody came.",
    "Who moved my keys again? Every single time!",
    "Oh! I did not expect to see you here.",
    "The meeting is at three, in room two.",
    "It is over. They told me this morning.",
]
ASKS = [
    "Label the speaker's emotion.",
    "Check the label against the words; label the emotion again.",
    "Say how intense the emotion is and why.",
]


def work(batches: int, rounds: int, clips: int) -> list[list[list[Request]]]:
    """[batch][round] -> the round's requests, one per clip."""
    return [
        [
            [
                Request(
                    f"b{b}-r{r}-c{c}",
                    [
                        {"role": "system", "content": "You label emotions. Answer in JSON."},
                        {
                            "role": "user",
                            "content": f"Transcript: '{LINES[(b * clips + c) % len(LINES)]}'. "
                            + ASKS[r % len(ASKS)],
                        },
                    ],
                    SCHEMA,
                    max_tokens=64,
                )
                for c in range(clips)
            ]
            for r in range(rounds)
        ]
        for b in range(batches)
    ]


def before(model: str, rounds_of: list[list[list[Request]]], num_cpus: int) -> dict:
    """A vllm_batch.py subprocess per round: one engine start each."""
    python = vllm_python(None)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "VIRTUAL_ENV"))}
    env["RAY_AUTH_MODE"] = "disabled"
    starts = errors = 0
    laps = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vllm-bench-") as tmp:
        for batch in rounds_of:
            for requests in batch:
                src, dst = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
                rows = [request_row(r) for r in requests]
                src.write_text("".join(json.dumps(x) + "\n" for x in rows), encoding="utf-8")
                lap = time.perf_counter()
                cmd = [python, str(SCRIPT), "--model", model, "--input", str(src)]
                cmd += ["--output", str(dst), "--num-cpus", str(num_cpus)]
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
                starts += 1
                laps.append(time.perf_counter() - lap)
                if proc.returncode != 0:
                    raise SystemExit(f"vllm_batch.py failed:\n{proc.stderr[-3000:]}")
                got = [json.loads(x) for x in dst.read_text(encoding="utf-8").splitlines()]
                errors += sum(g["error"] is not None for g in got)
                print(f"  before: round of {len(rows)} in {laps[-1]:.1f} s", flush=True)
    return {"starts": starts, "wall": time.perf_counter() - t0, "laps": laps, "errors": errors}


def after(model: str, rounds_of: list[list[list[Request]]]) -> dict:
    """The backend with one engine actor for all the rounds."""
    t0 = time.perf_counter()
    backend = VLLMBackend(VLLMConfig(model=model, max_model_len=2048, kv_cache_gib=1))
    errors = 0
    laps = []
    try:
        backend.setup()
        print(f"  after: Ray and the engine up in {time.perf_counter() - t0:.1f} s", flush=True)
        for batch in rounds_of:
            for requests in batch:
                lap = time.perf_counter()
                got = backend.generate(requests)
                laps.append(time.perf_counter() - lap)
                errors += sum(g.error is not None for g in got)
                print(f"  after: round of {len(requests)} in {laps[-1]:.1f} s", flush=True)
    finally:
        backend.close()
    starts = sum(s["starts"] for s in backend.engine_stats())
    return {"starts": starts, "wall": time.perf_counter() - t0, "laps": laps, "errors": errors}


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--batches", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--clips", type=int, default=4, help="requests per round")
    p.add_argument("--num-cpus", type=int, default=os.cpu_count() or 1, help="before: Ray CPUs")
    p.add_argument("--only", choices=["before", "after"], help="run one path")
    args = p.parse_args()
    model = str(resolve(MODEL))
    rounds_of = work(args.batches, args.rounds, args.clips)
    n = args.batches * args.rounds
    print(f"{args.batches} batches x {args.rounds} rounds x {args.clips} requests on {MODEL}")
    results = {}
    if args.only != "after":
        results["before (subprocess per round)"] = before(model, rounds_of, args.num_cpus)
    if args.only != "before":
        results["after (engine actor for the run)"] = after(model, rounds_of)
    print(f"\n{'path':34} {'engine starts':>13} {'wall s':>8} {'later rounds s':>15} {'errors':>6}")
    for name, r in results.items():
        later = r["laps"][1:] or r["laps"]
        mean = sum(later) / len(later)
        print(f"{name:34} {r['starts']:>13} {r['wall']:>8.1f} {mean:>15.1f} {r['errors']:>6}")
    print(f"({n} rounds each)")


if __name__ == "__main__":
    main()
