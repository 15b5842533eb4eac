"""The review app at scale: first paint on a 100,000-sample index, app memory, store write rate.

    .venv/bin/python benchmarks/review_app.py [--samples 100000] [--repeats 3] [--writers 1,2,4,8]

1. Builds (once; reused when present) a synthetic run of ``--samples`` samples through the
   project's writer: real tiny MP4s, WAVs on every 25th sample, face crops, annotation trees.
2. Serves it with ``emodata review`` on 127.0.0.1 and, in Debian's headless chromium, times from
   the HTTP request to the queue's table (and a sample page's <video>) being in the page, each in
   a fresh browser context. The first load of each page is cold (first DuckDB scan, cold caches).
3. Reports the app process's RSS (idle after start-up, and after the page loads).
4. Runs N concurrent writer processes against a fresh store and reports committed decisions/s
   (every commit synced to disk: WAL, synchronous=FULL).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

from emodata import stats
from emodata.review.load import concurrent_writers
from emodata.review.media import load_sample
from emodata.review.queue import Filters, ReviewQueue
from emodata.review.store import ReviewStore
from emodata.review.synth import SynthSpec, make_run

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
BROWSER = ROOT / "tests" / "browser"


def ensure_run(samples: int) -> tuple[Path, float | None]:
    out = OUT / f"review-{samples}"
    if (out / "manifest.json").exists():
        return out, None
    t0 = time.perf_counter()
    spec = SynthSpec(samples=samples, shard_samples=1000, pool=8, size=64, wav_every=25)
    make_run(str(out), spec)
    return out, time.perf_counter() - t0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(run: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "emodata.cli", "review", str(run), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.25)  # still starting: poll the health endpoint again
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("the review app did not become healthy in 120 s")


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def first_paint(base: str, key: str, repeats: int) -> dict:
    proc = subprocess.run(
        ["node", str(BROWSER / "first_paint.mjs"), base, key, str(repeats)],
        capture_output=True,
        text=True,
        cwd=BROWSER,
        timeout=900,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def query_times(run: Path, key: str) -> list[tuple[str, float]]:
    """Server-side work behind the pages, in ms: what the app adds to Streamlit's own load."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        q = ReviewQueue(str(run), ReviewStore(Path(tmp) / "d.sqlite"))
        out.append(("open queue (DuckDB views)", time.perf_counter() - t0))
        for name, f in (
            ("page 1, no filter (cold)", Filters()),
            ("page 1, no filter", Filters()),
            ("page 400, sort by confidence desc", Filters(sort="confidence", descending=True)),
            ("label + verdict + confidence filter", Filters(labels=["happy"], verdicts=["revised"],
                                                            confidence=(0.5, 0.9))),
            ("text search in transcript and caption", Filters(text="expect")),
        ):  # fmt: skip
            t0 = time.perf_counter()
            q.page(f, 20_000 if "400" in name else 0, 50)
            out.append((name, time.perf_counter() - t0))
        t0 = time.perf_counter()
        row = q.row(key)
        out.append(("index row of one sample", time.perf_counter() - t0))
        t0 = time.perf_counter()
        load_sample(str(run), row)
        out.append(("its members by byte range", time.perf_counter() - t0))
    return [(name, secs * 1000) for name, secs in out]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--writers", default="1,2,4,8")
    ap.add_argument("--per-writer", type=int, default=300)
    args = ap.parse_args()

    run, built_s = ensure_run(args.samples)
    index_mb = sum(p.stat().st_size for p in (run / "index").glob("*.parquet")) / 2**20
    shards_gb = sum(p.stat().st_size for p in (run / "shards").glob("*.tar")) / 2**30
    n = stats.query(str(run), "select count(*) as n from idx")[0]["n"]
    key = stats.query(str(run), "select key from idx order by key desc limit 1")[0]["key"]
    print(f"run: {run} ({n:,} samples, index {index_mb:.1f} MB, shards {shards_gb:.2f} GB"
          + (f", built in {built_s:.0f} s)" if built_s else ", reused)"))  # fmt: skip

    print("\nserver-side work per request (ms)")
    for name, ms in query_times(run, key):
        print(f"  {name:40} {ms:7.1f}")

    port = free_port()
    app = start_app(run, port)
    try:
        idle = rss_mb(app.pid)
        paint = first_paint(f"http://127.0.0.1:{port}", key, args.repeats)
        loaded = rss_mb(app.pid)
    finally:
        os.killpg(app.pid, signal.SIGTERM)
        app.wait(timeout=30)
    assert f"{n:,}" in paint["queue_text"], f"the queue did not show the full index: {paint}"
    print("\nfirst paint in headless chromium (ms; HTTP request -> element in the page)")
    for page, what in (("queue", "queue table"), ("sample", "sample <video>")):
        times = paint[page]
        warm = statistics.median(times[1:]) if len(times) > 1 else float("nan")
        print(f"  {what:16} cold {times[0]:6.0f}   warm median {warm:6.0f}   all {times}")
    print(f"\napp process RSS: {idle:.0f} MB idle after start-up, {loaded:.0f} MB after the loads")

    print("\nconcurrent writers (processes) -> committed decisions per second")
    keys = [f"k{i}" for i in range(50)]
    for w in (int(x) for x in args.writers.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            res = concurrent_writers(Path(tmp) / "d.sqlite", w, args.per_writer, keys)
        assert res.rows == w * args.per_writer, "decisions were lost"
        print(f"  {w:2d} writers x {args.per_writer}: {res.rows:5d} rows in {res.seconds:6.2f} s"
              f" = {res.rows_per_s:7.0f} rows/s, none lost")  # fmt: skip


if __name__ == "__main__":
    main()
