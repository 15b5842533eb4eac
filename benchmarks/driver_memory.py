"""The driver's memory per input: its peak PSS for few versus many small distinct inputs.

Two figures per count: the driver's peak PSS, and its peak anonymous PSS (its heap: what the
run's own data takes). The PSS of shared libraries swings with how many Ray workers map them at
that moment (when the workers exit at the end, the driver's share of their pages grows), so
the slope of the anonymous part is the one that says what an input costs.

Inputs are copies of one tiny clip, each with distinct bytes appended (a distinct content id,
and FFmpeg still reads it). Each count runs through Ray (``ingest.local_max_inputs=0``), for
ingest alone and for ingest, segment and write, with the default window and a small one. The
figure is the slope: (peak at the larger count - peak at the smaller) / (difference in inputs).

    .venv/bin/python benchmarks/driver_memory.py [--counts 1000 8000] [--write-counts 200 1000]
        [--windows 10000 500] [--parts ingest write]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

from _common import EMODATA, OUT, ROOT, TreeMemory


def inputs(count: int) -> Path:
    folder = OUT / f"driver-memory-{count}"
    base = OUT / "driver-memory-base.mp4"
    if not base.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y",
             "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=1.2",
             "-f", "lavfi", "-i", "sine=frequency=300:duration=1.2",
             "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-shortest", str(base)],
            check=True,
        )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    data = base.read_bytes()
    for i in range(count):
        dest = folder / f"clip_{i:05d}.mp4"
        if not dest.exists():
            dest.write_bytes(data + f"distinct {i:08d}".encode())
    return folder


def peak(count: int, stages: str, window: int) -> tuple[int, int, int]:
    """(driver peak PSS, its peak anonymous PSS, clips written) of one run into a fresh
    folder."""
    out = OUT / "driver-memory-run"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [*EMODATA, "run", "--input", str(inputs(count)), "--output", str(out),
           "--stages", stages, "--set", "ingest.local_max_inputs=0",
           "--set", f"ingest.window={window}", "--set", "write.max_shard_samples=500"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with TreeMemory(proc.pid) as mem:
        _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"emodata run failed ({proc.returncode}): {err.decode()[-2000:]}")
    written = 0
    if (out / "index").exists():
        import pyarrow.parquet as pq

        written = pq.read_table(out / "index").num_rows
    return mem.peak_root, mem.peak_root_anon, written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", type=int, nargs=2, default=[1000, 8000])
    ap.add_argument("--write-counts", type=int, nargs=2, default=[200, 1000])
    ap.add_argument("--windows", type=int, nargs="+", default=[10000, 500])
    ap.add_argument(
        "--parts",
        nargs="+",
        choices=("ingest", "write"),
        default=["ingest", "write"],
        help="ingest alone, and/or ingest,segment,write",
    )
    args = ap.parse_args()
    parts = {
        "ingest": ("ingest", args.counts),
        "write": ("ingest,segment,write", args.write_counts),
    }
    for stages, counts in (parts[p] for p in args.parts):
        for window in args.windows:
            (small, small_anon, _), (large, large_anon, written) = (
                peak(n, stages, window) for n in counts
            )
            d = counts[1] - counts[0]
            print(
                f"{stages:22s} window {window:6d}, {counts[0]} -> {counts[1]} inputs "
                f"({written} clips written): driver peak PSS {small / 2**20:.0f} -> "
                f"{large / 2**20:.0f} MiB ({(large - small) / d / 1024:.2f} KiB per input); "
                f"anonymous {small_anon / 2**20:.0f} -> {large_anon / 2**20:.0f} MiB "
                f"({(large_anon - small_anon) / d / 1024:.2f} KiB per input)",
                flush=True,
            )


if __name__ == "__main__":
    main()
