"""Peak memory of `emodata run` over 10 versus 100 clips: it must not grow with the input.

Memory is the proportional set size (PSS) summed over the driver and every process it starts
(Ray's GCS, raylet, workers, FFmpeg), sampled every 0.25 s, plus the driver's own peak.

    .venv/bin/python benchmarks/memory_scaling.py [--counts 10 100]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess

from _common import EMODATA, OUT, ROOT, TreeMemory, synthetic_clip


def run(count: int) -> tuple[int, int, int]:
    media = OUT / f"memory-{count}"
    media.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        dest = media / f"clip_{i:04d}.mp4"
        if not dest.exists():
            synthetic_clip(dest, 4.0, i, size="320x240")
    out = OUT / f"memory-run-{count}"
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.Popen(
        [
            *EMODATA,
            "run",
            "--input",
            str(media),
            "--output",
            str(out),
            "--set",
            "write.max_shard_samples=20",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with TreeMemory(proc.pid) as mem:
        rc = proc.wait()
    if rc != 0:
        raise SystemExit(f"emodata run failed on {count} clips ({rc})")
    import pyarrow.parquet as pq

    return pq.read_table(out / "index").num_rows, mem.peak_total, mem.peak_root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", type=int, nargs="+", default=[10, 100])
    args = ap.parse_args()
    results = []
    for n in args.counts:
        clips, total, driver = run(n)
        results.append((n, clips, total, driver))
        print(
            f"{n:5d} inputs -> {clips:5d} clips: peak PSS all processes {total / 2**20:7.0f} MiB,"
            f" driver {driver / 2**20:6.0f} MiB"
        )
    (n0, _, t0, d0), (n1, _, t1, d1) = results[0], results[-1]
    print(f"ratio {n1} vs {n0} inputs: all processes {t1 / t0:.2f}x, driver {d1 / d0:.2f}x")


if __name__ == "__main__":
    main()
