"""The same command as a Ray job on a running cluster: `ray job submit -- emodata run ...`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from .conftest import NO_LLM_STAGES, ROOT, free_port

pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).parent / "ray")


def test_ray_job_submit(samples_dir, tmp_path):
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    gcs, dash = free_port(), free_port()
    subprocess.run(
        [
            RAY,
            "start",
            "--head",
            "--num-cpus",
            "2",
            "--port",
            str(gcs),
            "--include-dashboard",
            "true",
            "--dashboard-host",
            "127.0.0.1",
            "--dashboard-port",
            str(dash),
            "--disable-usage-stats",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )
    try:
        out = tmp_path / "job-out"
        proc = subprocess.run(
            [
                RAY,
                "job",
                "submit",
                "--address",
                f"http://127.0.0.1:{dash}",
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
                NO_LLM_STAGES,
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "succeeded" in proc.stdout + proc.stderr
        rows = pq.read_table(out / "index").num_rows
        assert rows > 0 and f"{rows} clips written" in proc.stdout
    finally:
        subprocess.run(
            [RAY, "stop", "--force"], env=env, capture_output=True, timeout=120, check=False
        )
