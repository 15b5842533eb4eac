"""The same input on 1, 2 and 4 Ray worker nodes, and a node lost mid-run.

A `ray.cluster_utils.Cluster` on this machine (a head without CPUs, worker nodes of 1 CPU each)
runs `emodata run --address ... --stages ingest,segment,write` per node count. Reported per
count: throughput (clips/s over the run's wall time), the driver's own CPU seconds and peak RSS,
and where the time goes (the run's `timings` in DIR/manifest.json).

Node loss: on 2 worker nodes, one node is removed without warning (`Cluster.remove_node(...,
allow_graceful=False)`) once the first clip is out of the segment stage; a replacement node
joins and the run is started again into the same DIR. Its index must hold exactly the keys of
the clean 1-node run, each once (DuckDB over the index fragments), and `emodata verify` must
pass.

On a 2-core machine two 1-CPU nodes can at best double the throughput of one, four cannot beat
two, and the driver, Ray's own processes and FFmpeg compete for the same two cores.

    .venv/bin/python benchmarks/cluster_scaling.py [--sources 6] [--seconds 16] [--nodes 1 2 4]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import duckdb
from _common import EMODATA, OUT, ROOT, run_watched, synthetic_clip


def _cmd(media: Path, out: Path, address: str) -> list[str]:
    return [
        *EMODATA,
        "run",
        "--input",
        str(media),
        "--output",
        str(out),
        "--address",
        address,
        "--stages",
        "ingest,segment,write",
    ]


def _env() -> dict[str, str]:
    # Ray's memory monitor counts other users' processes on a shared machine: keep it off
    return {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_memory_monitor_refresh_ms": "0"}


def _keys(out: Path) -> list[str]:
    con = duckdb.connect()
    rows = con.execute(
        "select key from read_parquet(?) order by key", [str(out / "index" / "*.parquet")]
    ).fetchall()
    return [r[0] for r in rows]


def _encoded(out: Path) -> int:
    """Clips out of the segment stage so far, as the running driver reports them (0 before
    progress.json exists): the workers are busy with the rest."""
    try:
        progress = json.loads((out / "progress.json").read_text())
    except (OSError, ValueError):
        return 0
    return int((progress.get("stages") or {}).get("segment", [0, 0])[0])


def scaling_run(nodes: int, media: Path, out: Path) -> dict[str, Any]:
    from ray.cluster_utils import Cluster

    shutil.rmtree(out, ignore_errors=True)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        for _ in range(nodes):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        w = run_watched(_cmd(media, out, cluster.address), env=_env())
    finally:
        cluster.shutdown()
    if w.returncode != 0:
        raise SystemExit(f"run on {nodes} node(s) failed:\n{w.stderr[-3000:]}")
    run = json.loads((out / "manifest.json").read_text())["runs"][-1]
    clips = run["counts"]["written"]
    return {
        "nodes": nodes,
        "clips": clips,
        "wall_s": w.wall_s,
        "clips_per_s": clips / w.wall_s,
        "driver_cpu_s": w.cpu_s,
        "driver_peak_rss": w.peak_rss,
        "timings": run["timings"],
    }


def node_loss(media: Path, out: Path, timeout_s: float) -> dict[str, Any]:
    """Remove one of two worker nodes once clips are being written, then run again (each run
    is killed past ``timeout_s``: a run that hangs on a lost node fails the check)."""
    from ray.cluster_utils import Cluster

    shutil.rmtree(out, ignore_errors=True)
    lost: dict[str, Any] = {}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
        cluster.wait_for_nodes()

        def maybe_remove(elapsed: float) -> None:
            if "at_s" not in lost and _encoded(out) > 0:
                encoded = _encoded(out)
                cluster.remove_node(workers[1], allow_graceful=False)
                lost.update(at_s=round(elapsed, 1), encoded_before=encoded)

        first = run_watched(
            _cmd(media, out, cluster.address),
            env=_env(),
            while_running=maybe_remove,
            timeout_s=timeout_s,
        )
        cluster.add_node(num_cpus=1)  # the replacement
        cluster.wait_for_nodes()
        second = run_watched(_cmd(media, out, cluster.address), env=_env(), timeout_s=timeout_s)
    finally:
        cluster.shutdown()
    if "at_s" not in lost:
        raise SystemExit("the run ended before any clip was encoded: no node was removed")
    runs = json.loads((out / "manifest.json").read_text())["runs"]
    verify = subprocess.run(
        [*EMODATA, "verify", str(out)], cwd=ROOT, capture_output=True, text=True
    )
    return {
        "removed_at_s": lost["at_s"],
        "encoded_before_removal": lost["encoded_before"],
        "first_exit": first.returncode,
        "first_wall_s": first.wall_s,
        "first_error": first.stderr.strip().splitlines()[-1:] if first.returncode else [],
        "rerun_exit": second.returncode,
        "rerun_wall_s": second.wall_s,
        "runs_recorded": [r["counts"] for r in runs],
        "verify_exit": verify.returncode,
        "verify_tail": verify.stdout.strip().splitlines()[-1:],
    }


def main() -> None:
    os.environ.update(_env())  # the cluster's nodes start from this process's environment
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=16.0)
    ap.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--no-node-loss", action="store_true")
    args = ap.parse_args()
    media = OUT / f"cluster-{args.sources}x{args.seconds:g}s"
    media.mkdir(parents=True, exist_ok=True)
    for i in range(args.sources):
        dest = media / f"src_{i:03d}.mp4"
        if not dest.exists():
            synthetic_clip(dest, args.seconds, i)
    t0 = time.perf_counter()
    rows = [scaling_run(n, media, OUT / f"cluster-run-{n}") for n in args.nodes]
    result: dict[str, Any] = {"sources": args.sources, "seconds": args.seconds, "scaling": rows}
    print(f"input: {args.sources} sources x {args.seconds:g}s; ingest, segment, write")
    print(
        f"{'worker nodes':<13}{'clips':>6}{'wall s':>8}{'clips/s':>9}{'speed-up':>9}"
        f"{'driver CPU-s':>13}{'driver peak RSS':>16}"
    )
    for r in rows:
        print(
            f"{r['nodes']:<13}{r['clips']:>6}{r['wall_s']:>8.1f}{r['clips_per_s']:>9.3f}"
            f"{r['clips_per_s'] / rows[0]['clips_per_s']:>8.2f}x{r['driver_cpu_s']:>13.1f}"
            f"{r['driver_peak_rss'] / 2**20:>12.0f} MiB"
        )
    for r in rows:
        print(
            f"timings, {r['nodes']} node(s): "
            + ", ".join(f"{k} {v:g}" for k, v in r["timings"].items())
        )
    if not args.no_node_loss:
        clean = _keys(OUT / f"cluster-run-{args.nodes[0]}")
        loss = node_loss(media, OUT / "cluster-run-node-loss", timeout_s=4 * rows[0]["wall_s"])
        keys = _keys(OUT / "cluster-run-node-loss")
        loss.update(
            keys=len(keys),
            distinct_keys=len(set(keys)),
            clean_keys=len(clean),
            same_keys=keys == clean,
        )
        result["node_loss"] = loss
        print(
            f"node loss: a worker node removed at {loss['removed_at_s']} s "
            f"({loss['encoded_before_removal']} clips encoded); that run exited "
            f"{loss['first_exit']} {' '.join(loss['first_error'])}; the rerun exited "
            f"{loss['rerun_exit']} in {loss['rerun_wall_s']:.1f} s"
        )
        for i, counts in enumerate(loss["runs_recorded"]):
            print(
                f"  run {i + 1}: written {counts['written']}, skipped as done "
                f"{counts['skipped_done']}, removed incomplete {counts['removed_incomplete']}"
            )
        print(
            f"  index after the rerun: {loss['keys']} rows, {loss['distinct_keys']} distinct keys; "
            f"clean run: {loss['clean_keys']} keys; same sorted keys: {loss['same_keys']}; "
            f"emodata verify exit {loss['verify_exit']} ({' '.join(loss['verify_tail'])})"
        )
    (OUT / "cluster_scaling.json").write_text(json.dumps(result, indent=2))
    print(f"total {time.perf_counter() - t0:.0f} s")
    if not args.no_node_loss and not (
        result["node_loss"]["same_keys"] and result["node_loss"]["verify_exit"] == 0
    ):
        raise SystemExit("node loss: the rerun's index differs from a clean run's")


if __name__ == "__main__":
    main()
