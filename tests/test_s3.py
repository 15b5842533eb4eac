"""s3:// inputs and outputs through fsspec, against a local S3-compatible server (moto)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import fsspec
import pytest

from .conftest import NO_LLM_STAGES, ROOT, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3_env():
    port = free_port()
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    proc = subprocess.Popen(
        [server, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    # fsspec caches filesystem instances by their arguments: one made for another module's
    # server would keep talking to that (stopped) endpoint
    fsspec.get_filesystem_class("s3").clear_instance_cache()
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        yield env
    finally:
        fsspec.get_filesystem_class("s3").clear_instance_cache()
        proc.terminate()
        proc.wait()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_run_reads_and_writes_s3(s3_env, samples_dir):
    import s3fs

    fs = s3fs.S3FileSystem()
    fs.mkdir("in-bucket")
    fs.mkdir("out-bucket")
    names = ["talk_001_sad.mp4", "bad/zero_byte.mp4", "émotion – ünïcode clip (1).mp4"]
    for n in names:
        fs.put_file(str(samples_dir / n), f"in-bucket/clips/{n}")
    lines = ["path,license"] + [f'"{n}",CC0-1.0' for n in names]
    with fs.open("in-bucket/clips/list.csv", "w") as f:
        f.write("\n".join(lines) + "\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "emodata.cli",
            "run",
            "--input",
            "s3://in-bucket/clips/list.csv",
            "--output",
            "s3://out-bucket/run1",
            "--num-cpus",
            "2",
            "--stages",
            NO_LLM_STAGES,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **s3_env},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    listing = sorted(p.split("run1/", 1)[1] for p in fs.find("out-bucket/run1"))
    first = next(p for p in listing if p.startswith("shards/shard-000000-"))
    assert first.replace("shards/", "index/").replace(".tar", ".parquet") in listing
    assert "_state/lease.json" not in listing
    assert "manifest.json" in listing and "README.md" in listing
    assert not [p for p in listing if p.rsplit("/", 1)[-1].startswith(".")]

    from emodata import stats
    from emodata.loader import dataset

    summary = stats.summary("s3://out-bucket/run1")
    assert summary["clips"]["sources"] == 2
    assert [(r["reason"], r["n"]) for r in summary["ledger"]] == [("zero_byte", 1)]
    keys = [s["key"] for s in dataset("s3://out-bucket/run1")]
    assert len(keys) == summary["clips"]["clips"]
