"""Item 9 (run): an output that cannot be written gets one line naming the problem and the fix.

Before: ``--output`` naming a file (or a path through one) ended in a NotADirectoryError
traceback from creating ``_state/logs``; a read-only output folder in an OSError(EROFS)
traceback; a full disk in an OSError(ENOSPC) traceback from the shard writer, with the half
written ``.shard-*.tar.tmp`` left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os

import fsspec
import pytest
from click.testing import CliRunner

from emodata import cli, writable
from emodata.errors import OutputError
from emodata.writable import explain, require_folder
from emodata.writer import LedgerBook, ShardWriter
from tests.conftest import run_cli
from tests.hostile.conftest import QUICK, remount
from tests.test_writer import _item


def _one_error_line(res) -> str:
    """The command failed with exit 1 and said one thing, without a traceback."""
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    (line,) = [ln for ln in res.stderr.splitlines() if ln.startswith("Error: ")]
    return line


def test_output_that_is_a_file(tmp_path):
    target = tmp_path / "taken"
    target.write_text("notes")
    res = run_cli("run", "--input", str(tmp_path), "--output", str(target), *QUICK, check=False)
    assert _one_error_line(res) == (
        f"Error: --output {target}: {target} is a file, not a folder: choose a folder path"
    )
    assert target.read_text() == "notes"


def test_output_below_a_file(tmp_path):
    target = tmp_path / "taken"
    target.write_text("notes")
    out = target / "run"
    res = run_cli("run", "--input", str(tmp_path), "--output", str(out), *QUICK, check=False)
    assert _one_error_line(res) == (
        f"Error: --output {out}: {target} (in its path) is a file, not a folder: choose a "
        "folder path"
    )


def test_read_only_output_folder(tmp_path, small_disk):
    ro = small_disk("ro", "1m", read_only=True)
    out = ro / "run"
    res = run_cli("run", "--input", str(tmp_path), "--output", str(out), *QUICK, check=False)
    assert _one_error_line(res) == (
        f"Error: {out} is on a read-only filesystem: choose a writable --output"
    )
    res = run_cli("run", "--input", str(tmp_path), "--output", str(ro), *QUICK, check=False)
    assert _one_error_line(res) == (
        f"Error: --output {ro} cannot be written (read-only filesystem): choose a writable folder"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a folder without write bits")
def test_output_folder_without_write_permission(tmp_path):
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(0o555)
    try:
        res = run_cli("run", "--input", str(tmp_path), "--output", str(out), *QUICK, check=False)
    finally:
        out.chmod(0o755)
    assert _one_error_line(res) == (
        f"Error: --output {out} cannot be written (no write permission): choose a writable "
        "folder or fix its permissions"
    )


def test_permission_denied_at_the_write_boundary(tmp_path, monkeypatch):
    """Where no folder can be made read-only (root), the denied write itself: the lease is the
    first file a run creates in DIR."""
    import emodata.lease

    real_open = os.open

    def denied(path, flags, *args):
        if str(path).endswith("lease.json"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(emodata.lease.os, "open", denied)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli.main, ["-v", "run", "--input", str(tmp_path), "--output", str(out), *QUICK]
    )
    assert res.exit_code == 1, res.output
    assert (
        f"Error: no permission to write {out}/_state/lease.json: fix its permissions or choose "
        "another --output" in res.output
    )
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_require_folder_names_the_problem(tmp_path):
    fs = fsspec.filesystem("file")
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match=r"is a file, not a folder"):
        require_folder(fs, str(tmp_path / "f"), "--output")
    require_folder(fs, str(tmp_path / "a" / "b"), "--output")
    assert (tmp_path / "a" / "b").is_dir()


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (errno.ENOSPC, "no space left on the device of --output /data/run (writing /data/run/x)"),
        (errno.EDQUOT, "no space left on the device of --output /data/run"),
        (errno.EROFS, "/data/run/x is on a read-only filesystem: choose a writable --output"),
        (errno.EACCES, "no permission to write /data/run/x: fix its permissions"),
        (errno.ENOTDIR, "/data/run/x: a file is where a folder should be"),
    ],
)
def test_explain_each_write_error(code, says):
    message = explain(OSError(code, os.strerror(code), "/data/run/x"), "--output", "/data/run")
    assert message is not None and message.startswith(says)


def test_errors_elsewhere_are_not_explained_as_output_errors():
    # an input that cannot be read is not an output problem: it keeps its own handling
    assert explain(PermissionError(errno.EACCES, "no", "/in/a.mp4"), "--output", "/data") is None
    assert explain(FileNotFoundError(errno.ENOENT, "no", "/data/x"), "--output", "/data") is None
    assert writable.explain_url(OSError(errno.ENOSPC, "full"), "--out", "/r/rel", "x").endswith(
        "; x"
    )


class _FullDisk:
    """A file that takes ``room`` bytes and then fails like a full disk."""

    def __init__(self, fh, room: int) -> None:
        self.fh, self.room = fh, room

    def write(self, data) -> int:
        if self.room < len(data):
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.fh.write(data)

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc) -> None:
        self.fh.close()


@pytest.mark.parametrize("when", ["writing a shard", "writing an index fragment"])
def test_a_full_disk_leaves_nothing_half_written(tmp_path, monkeypatch, when):
    fs = fsspec.filesystem("file")
    w = ShardWriter(fs, str(tmp_path), first_seq=0, max_bytes=10**7, max_samples=1,
                    include_frames=True, run_id="20260101T000000Z-abc123", config_fingerprint="f",
                    ledger=LedgerBook({}, "r"))  # fmt: skip
    w.add(_item(0, 3000))  # shard 0 is open
    if when == "writing a shard":
        w.add(_item(1, 3000))  # shard 0 done, shard 1 open
        stream = w._tar.tarstream.fileobj  # tarfile's write stream over the shard's file
        stream.fileobj = _FullDisk(stream.fileobj, 0)  # shard 1's next bytes do not fit
    else:
        real_open = fs.open
        monkeypatch.setattr(fs, "open", lambda p, mode="rb": _FullDisk(real_open(p, mode), 0))
    with pytest.raises(OSError, match="No space left"), contextlib.ExitStack() as stack:
        stack.push(w.abort_on_error)  # as the runner does
        if when == "writing a shard":
            w.add(_item(2, 3000))  # shard 1 closes: its tar's end does not fit
        else:
            w.close()  # shard 0 is renamed, then its index fragment does not fit
    names = {sub: sorted(p.name for p in (tmp_path / sub).iterdir()) for sub in ("shards", "index")}
    assert not [n for ns in names.values() for n in ns if n.startswith(".")], names
    indexed = [n.replace(".parquet", ".tar") for n in names["index"]]
    assert names["shards"] == indexed == (["shard-000000-abc123.tar"] if "shard" in when else [])


@pytest.mark.slow
def test_a_real_full_disk_stops_the_run_and_the_rerun_resumes(tmp_path, clips, small_disk):
    inputs = clips("in", 3)
    disk = small_disk("disk", "200k")
    out = disk / "out"
    args = ["run", "--input", str(inputs), "--output", str(out), *QUICK,
            "--set", "write.max_shard_samples=1"]  # fmt: skip
    res = run_cli(*args, check=False)
    line = _one_error_line(res)
    assert line.startswith(f"Error: no space left on the device of --output {out}")
    assert line.endswith(
        "the shards already finished are kept, and the next run resumes after them"
    )
    left = [p.relative_to(out) for p in out.rglob("*") if p.name.startswith(".")]
    assert left == []  # no temporary file stays
    for shard in (out / "shards").iterdir():  # whatever shard is visible is whole and indexed
        assert (out / "index" / shard.name.replace(".tar", ".parquet")).exists()
    remount(disk, "8m")
    res = run_cli(*args)
    assert "3 clips from 3 sources" in res.stdout
    assert run_cli("verify", str(out)).stdout.strip().endswith("3 clip(s) checked: OK")
