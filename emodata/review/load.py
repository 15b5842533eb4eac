"""Many writers at once against one review store: the check that no decision is ever lost.

Several annotators mean several Streamlit sessions, and possibly several app processes, writing
to the same SQLite file. :func:`concurrent_writers` starts real OS processes (spawned, not
forked, like separate app instances), each submitting decisions on a shared set of samples as
fast as it can, and reports what landed and how fast. The concurrency test and the review
benchmark both use it.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emodata.review.store import ReviewStore


def uid_for(writer: int, n: int) -> str:
    return f"w{writer:03d}-{n:06d}"


def write_decisions(path: str, writer: int, count: int, keys: list[str], start: Any) -> int:
    """One writer: ``count`` decisions cycling over ``keys``; meets the others at ``start``."""
    store = ReviewStore(path)
    if start is not None:
        start.wait()  # a barrier: every writer is ready, then all go at once
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
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(processes + 1)
    procs = [
        ctx.Process(target=write_decisions, args=(str(path), w, per_process, keys, start))
        for w in range(processes)
    ]
    for p in procs:
        p.start()
    start.wait(timeout=120)  # every interpreter has imported and opened the store
    t0 = time.perf_counter()
    for p in procs:
        p.join()
    seconds = time.perf_counter() - t0
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} writer process(es) failed: exit codes {failed}")
    rows = ReviewStore(path).count() - before
    return LoadResult(processes, per_process, rows, seconds)
