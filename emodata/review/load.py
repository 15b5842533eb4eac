"""Many writers at once against one review store: the check that no decision is ever lost.

Several annotators mean several Streamlit sessions, and possibly several app processes, writing
to the same SQLite file. :func:`concurrent_writers` starts real OS processes (fresh
interpreters, like separate app instances: ``python -m emodata.review.load``), each submitting
decisions on a shared set of samples as fast as it can, and reports what landed and how fast.
Each writer says "ready" on stdout once its store is open and starts when it reads "go" on
stdin, so every writer begins at once without polling. The concurrency test and the review
benchmark both use it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emodata.review.store import ReviewStore


def uid_for(writer: int, n: int) -> str:
    return f"w{writer:03d}-{n:06d}"


def write_decisions(path: str, writer: int, count: int, keys: list[str], start: Any) -> int:
    """One writer: ``count`` decisions cycling over ``keys``; ``start()`` blocks until go."""
    store = ReviewStore(path)
    if start is not None:
        start()
    for n in range(count):
        key = keys[(writer + n) % len(keys)]
        kind = ("accept", "reject", "correct")[n % 3]
        store.submit(
            key,
            f"reviewer{writer}",
            kind,
            sample_version="load",
            reason="load test" if kind == "reject" else None,
            edits={"valence": round((n % 21) / 10 - 1, 1)} if kind == "correct" else None,
            base_id=store.latest_id(key),
            uid=uid_for(writer, n),
        )
    store.close()
    return count


@dataclass
class LoadResult:
    processes: int
    per_process: int
    rows: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def concurrent_writers(
    path: str | Path, processes: int, per_process: int, keys: list[str]
) -> LoadResult:
    """Run ``processes`` writer processes at once; time from a common start to the last commit."""
    ReviewStore(path).close()  # create the schema before the race starts
    before = ReviewStore(path).count()
    cmd = [sys.executable, "-m", "emodata.review.load", str(path), str(per_process), *keys]
    procs = [
        subprocess.Popen(
            [*cmd[:3], "--writer", str(w), *cmd[3:]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(processes)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"writer process {p.pid} did not start (said {line!r})")
        t0 = time.perf_counter()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        codes = [p.wait(timeout=600) for p in procs]
        seconds = time.perf_counter() - t0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    failed = [c for c in codes if c != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} writer process(es) failed: exit codes {failed}")
    rows = ReviewStore(path).count() - before
    return LoadResult(processes, per_process, rows, seconds)


def _main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="one review-store writer (see concurrent_writers)")
    ap.add_argument("--writer", type=int, required=True)
    ap.add_argument("path")
    ap.add_argument("count", type=int)
    ap.add_argument("keys", nargs="+")
    args = ap.parse_args(argv)

    def start() -> None:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("no go signal")

    write_decisions(args.path, args.writer, args.count, args.keys, start)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
