"""Item 9 (part): ``status`` on a missing folder, a glob that matches nothing, a dead run.

Before: ``status`` on a missing folder printed "0 clips" and exited 0; a glob matching nothing
ran with 0 inputs and exited 0; after a crash ``progress.json`` kept saying "running".
"""

from __future__ import annotations

import fsspec

from emodata.lease import Lease
from emodata.progress import Progress
from tests.conftest import run_cli
from tests.hostile.test_lease import _dead_pid, _plant


def test_status_on_a_missing_folder(tmp_path):
    res = run_cli("status", str(tmp_path / "nope"), check=False)
    assert res.returncode == 1
    assert res.stderr.strip() == f"Error: {tmp_path / 'nope'} does not exist or is not a folder"
    assert run_cli("stats", str(tmp_path / "nope"), check=False).returncode == 1


def test_a_glob_that_matches_nothing(tmp_path):
    res = run_cli(
        "run", "--input", str(tmp_path / "*.mp4"), "--output", str(tmp_path / "o"), check=False
    )
    assert res.returncode == 2 and "matches no file" in res.stderr


def _running(root, run_id: str) -> None:
    """progress.json as a run leaves it when it dies mid-way."""
    Progress(fsspec.filesystem("file"), str(root), run_id).set(phase="process", planned=3)


def test_status_tells_a_dead_run_from_a_live_one(tmp_path):
    _running(tmp_path, "run-x")
    out = run_cli("status", str(tmp_path)).stdout
    assert "run run-x: running (process)" in out
    assert "not running: run run-x holds no lease" in out

    _plant(tmp_path, run_id="run-x", pid=_dead_pid())  # killed: its lease stays behind
    out = run_cli("status", str(tmp_path)).stdout
    assert "not running: run run-x (pid" in out and "is not running on this host" in out

    held = Lease(fsspec.filesystem("file"), str(tmp_path), "run-y").acquire()
    try:
        _running(tmp_path, "run-y")
        out = run_cli("status", str(tmp_path)).stdout
        assert "alive: run run-y (pid" in out
    finally:
        held.release()
