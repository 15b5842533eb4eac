"""The same input on 1 versus 2 Ray worker nodes (ray.cluster_utils.Cluster on this machine:
a head without CPUs, worker nodes of 1 CPU each), through `emodata run --address`.

On a 2-core machine two 1-CPU nodes can at best double the throughput of one, and the driver,
Ray's own processes and FFmpeg's decoding threads compete for the same two cores, so expect
well under 2x.

    .venv/bin/python benchmarks/cluster_scaling.py [--sources 8] [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time

from _common import EMODATA, OUT, ROOT, synthetic_clip


def run(nodes: int, media, out) -> float:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        for _ in range(nodes):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run(
            [
                *EMODATA,
                "run",
                "--input",
                str(media),
                "--output",
                str(out),
                "--address",
                cluster.address,
                "--stages",
                "ingest,segment,write",
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - t0
    finally:
        cluster.shutdown()


def main() -> None:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    media = OUT / f"cluster-{args.sources}x{args.seconds:g}s"
    media.mkdir(parents=True, exist_ok=True)
    for i in range(args.sources):
        dest = media / f"src_{i:03d}.mp4"
        if not dest.exists():
            synthetic_clip(dest, args.seconds, i)
    one = run(1, media, OUT / "cluster-run-1")
    two = run(2, media, OUT / "cluster-run-2")
    print(f"input: {args.sources} sources x {args.seconds:g}s; ingest, segment, write")
    print(f"1 worker node (1 CPU) : {one:6.1f} s")
    print(f"2 worker nodes (1 CPU each): {two:6.1f} s")
    print(f"speed-up 2 vs 1 nodes = {one / two:.2f}x")


if __name__ == "__main__":
    main()
