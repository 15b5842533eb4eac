"""The driver's memory for the list of inputs: a manifest of N rows read as the run reads it
(spooled to DuckDB, read back a window at a time) against the same inputs held in a Python list,
as the driver held them before.

Each side runs in its own child process, for a smaller and a larger N; the figure is the slope of
peak RSS, (peak at the larger N - peak at the smaller) / (difference in rows). The manifest's
paths need not exist: listing does not open them.

    .venv/bin/python benchmarks/input_listing.py [--counts 100000 1000000] [--window 10000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _common import OUT

CHILD = r"""
import json, resource, sys, time
from emodata.discover import scan_inputs
spec, window, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "list"
t0 = time.perf_counter()
found = scan_inputs(spec, [".mp4"])
seen = 0
if hold:  # what the driver held before: every input in one list
    refs = list(found.refs)
    windows = [refs[i : i + window] for i in range(0, len(refs), window)]
    seen = sum(len(w) for w in windows)
else:
    for start in range(0, len(found.refs), window):
        seen += len(found.refs.window(start, start + window))
found.refs.close()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"inputs": seen, "peak_mib": peak, "seconds": time.perf_counter() - t0}))
"""


def manifest(rows: int) -> str:
    path = OUT / f"input-listing-{rows}.csv"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        with path.open("w") as f:
            f.write("path,label,source_dataset\n")
            for i in range(rows):
                f.write(f"/data/corpus/part-{i // 10000:05d}/clip_{i:09d}.mp4,happy,bench\n")
    return str(path)


def measure(spec: str, window: int, how: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, spec, str(window), how],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", type=int, nargs=2, default=[100_000, 1_000_000])
    ap.add_argument("--window", type=int, default=10_000)
    args = ap.parse_args()
    small, large = args.counts
    t0 = time.perf_counter()
    specs = {n: manifest(n) for n in (small, large)}
    print(f"manifests written in {time.perf_counter() - t0:.1f} s")
    for how, name in (("spool", "spooled (the run)"), ("list", "one Python list (before)")):
        got = {n: measure(specs[n], args.window, how) for n in (small, large)}
        assert all(got[n]["inputs"] == n for n in got), got
        slope = (got[large]["peak_mib"] - got[small]["peak_mib"]) * 1024 / (large - small)
        print(
            f"{name:26} peak {got[small]['peak_mib']:7.1f} MiB at {small:,}, "
            f"{got[large]['peak_mib']:7.1f} MiB at {large:,}: {slope:.3f} KiB per input; "
            f"{got[large]['seconds']:.1f} s to list and read {large:,}"
        )


if __name__ == "__main__":
    main()
