"""A multi-node Ray cluster on this machine (ray.cluster_utils.Cluster: a head without CPUs and
worker nodes with their own resources): placement by declared resources, and a worker node
killed mid-run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from .conftest import EMODATA, ROOT, free_port

pytestmark = pytest.mark.slow
SEGMENT = [
    "key",
    "source_id",
    "clip_index",
    "start_s",
    "end_s",
    "duration_s",
    "width",
    "height",
    "video_bytes",
    "audio_bytes",
    "num_frames",
]


@pytest.fixture
def cluster():
    """A head (no CPUs, with the dashboard's job server) to which tests add worker nodes."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from ray.cluster_utils import Cluster

    port = free_port()
    c = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "include_dashboard": True,
            "dashboard_host": "127.0.0.1",
            "dashboard_port": port,
        },
    )
    c.dashboard_url = f"http://127.0.0.1:{port}"
    try:
        yield c
    finally:
        c.shutdown()


def _rows(out) -> list[dict]:
    return sorted(pq.read_table(out / "index").to_pylist(), key=lambda r: r["key"])


def _sample_docs(out) -> list[dict]:
    docs = []
    for shard in sorted((out / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            docs += [
                json.loads(tar.extractfile(m).read())
                for m in tar.getmembers()
                if m.name.endswith(".json")
            ]
    return docs


def _submit(args: list[str]) -> subprocess.CompletedProcess[str]:
    """``ray job submit`` with ``args``, again while the head's job agent is not up yet (Ray
    answers "No available agent to submit job, please try again later" and starts nothing;
    seen when the machine is busy)."""
    deadline = time.monotonic() + 120
    while True:
        proc = subprocess.run(
            args, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
        )
        if "No available agent" not in proc.stdout + proc.stderr or time.monotonic() > deadline:
            return proc
        time.sleep(3)


def test_ray_job_submit_places_the_accelerator_stage_on_its_node(cluster, samples_dir, tmp_path):
    accel = cluster.add_node(num_cpus=1, resources={"accel": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    out = tmp_path / "placed"
    proc = _submit(
        [
            str(Path(sys.executable).parent / "ray"),
            "job",
            "submit",
            "--address",
            cluster.dashboard_url,
            "--",
            sys.executable,
            "-m",
            "emodata.cli",
            "run",
            "--input",
            str(samples_dir / "manifest.csv"),
            "--output",
            str(out),
            "--stages",
            "ingest,segment,transcribe,write",
            "--set",
            "transcribe.resources={accel: 1}",
        ],
    )
    assert proc.returncode == 0 and "succeeded" in proc.stdout + proc.stderr, (
        proc.stdout[-3000:] + proc.stderr[-1000:]
    )
    docs = _sample_docs(out)
    assert docs and all(d["outcome"]["nodes"]["transcribe"] == accel.node_id for d in docs)
    segment_nodes = {d["outcome"]["nodes"]["segment"] for d in docs}
    assert segment_nodes and accel.node_id not in segment_nodes  # its CPU is the actor's


def test_losing_a_worker_node_mid_run_loses_and_duplicates_nothing(
    cluster, demo_run, samples_dir, tmp_path
):
    cluster.add_node(num_cpus=1)
    doomed = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    out = tmp_path / "survivor"
    args = [
        *EMODATA,
        "run",
        "--input",
        str(samples_dir / "manifest.csv"),
        "--output",
        str(out),
        "--address",
        cluster.address,
        "--stages",
        "ingest,segment,write,validate",
        "--set",
        "write.max_shard_samples=1",
    ]
    proc = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if list((out / "index").glob("shard-*.parquet")):
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the run finished before a node could be lost"
    cluster.remove_node(doomed)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-4000:]
    got = [{k: r[k] for k in SEGMENT} for r in _rows(out)]
    want = [{k: r[k] for k in SEGMENT} for r in _rows(demo_run)]
    assert got == want
    assert len({r["key"] for r in _rows(out)}) == len(got)
