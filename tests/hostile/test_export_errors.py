"""Item 9 (export): a release that cannot be written as asked is refused in one line, and a
failed export leaves nothing behind.

Before: a missing shard was silently left out (12 of 20 samples exported, "left out: none"); a
truncated one ended in an ``OSError: short read`` traceback and left ``.RELEASE.tmp`` behind; a
full disk or a read-only folder ended in an OSError traceback; two exports into the same --out
both exited 0, the second deleting the first's work folder and then its release.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys

import fsspec
import pytest
from click.testing import CliRunner

from emodata import cli, layout
from emodata.lease import Lease
from emodata.review.export import ExportError, export
from emodata.review.store import ReviewStore, store_path
from emodata.review.synth import SynthSpec, make_run
from tests.conftest import EMODATA, ROOT, run_cli
from tests.hostile.test_write_errors import _one_error_line


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "run"
    make_run(str(out), SynthSpec(samples=20, shard_samples=8))
    ReviewStore(store_path(str(out))).close()
    return out


@pytest.fixture
def run_dir(made, tmp_path):
    """A private copy of a 20-sample run in three shards, with an (empty) review store."""
    run = tmp_path / "run"
    shutil.copytree(made, run)
    return run


def _shards(run) -> list:
    return sorted((run / "shards").iterdir())


def _nothing_written(parent, name: str = "rel") -> None:
    """No release, and no hidden work folder next to where it would be."""
    assert not (parent / name).exists()
    assert not (parent / layout.tmp_name(name)).exists()


@pytest.mark.slow
def test_export_into_a_file(run_dir, tmp_path):
    target = tmp_path / "taken"
    target.write_text("x")
    res = run_cli("export", str(run_dir), "--out", str(target), check=False)
    assert _one_error_line(res) == (
        f"Error: --out {target}: {target} is a file, not a folder: choose a folder path"
    )


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_export_refuses_a_run_with_a_missing_or_cut_shard(run_dir, tmp_path, damage):
    shard = _shards(run_dir)[1]
    if damage == "missing":
        shard.unlink()
        what = f"{shard.name}: missing (8 clip(s) in "
    else:
        shard.write_bytes(shard.read_bytes()[:20000])
        what = f"{shard.name}: 20000 bytes, the index expects "
    res = run_cli("export", str(run_dir), "--out", str(tmp_path / "rel"), check=False)
    line = _one_error_line(res)
    assert line.startswith(f"Error: {run_dir} is damaged: {what}")
    assert line.endswith(
        f"The release would lack samples: run `emodata verify {run_dir}`, rerun `emodata run` "
        "into it to redo them, then export again"
    )
    _nothing_written(tmp_path)


def test_a_shard_damaged_in_place_stops_the_export_midway(run_dir, tmp_path):
    """Same size, so the up-front check passes; the bad member is found while copying."""
    shard = _shards(run_dir)[2]
    data = bytearray(shard.read_bytes())
    at = data.index(b'{"')  # the first sample's JSON member
    data[at : at + 2] = b"\x00\x00"
    shard.write_bytes(bytes(data))
    with pytest.raises(ExportError, match=rf"{shard.name}: .*\.json is not JSON"):
        export(str(run_dir), str(tmp_path / "rel"))
    _nothing_written(tmp_path)  # the first two shards' samples were written, then removed


@pytest.mark.slow
def test_export_with_a_broken_manifest(run_dir, tmp_path):
    (run_dir / layout.MANIFEST).write_text("garbage")
    res = run_cli("export", str(run_dir), "--out", str(tmp_path / "rel"), check=False)
    assert _one_error_line(res).startswith(
        f"Error: {run_dir}/manifest.json is unreadable (Expecting value: line 1 column 1 (char 0))"
        f": rerun `emodata run` into {run_dir}"
    )


@pytest.mark.slow
def test_a_second_export_into_the_same_place_is_refused(run_dir, tmp_path):
    fs = fsspec.filesystem("file")
    work = tmp_path / layout.tmp_name("rel")
    first = Lease(fs, str(work), "release-20260101T000000Z-first1").acquire()
    try:
        res = run_cli("export", str(run_dir), "--out", str(tmp_path / "rel"), check=False)
    finally:
        first.release()
    line = _one_error_line(res)
    assert line.startswith(
        f"Error: {tmp_path / 'rel'} is being written by run release-20260101T000000Z-first1 "
        f"(pid {os.getpid()} on host "
    )
    assert line.endswith("wait for it to end, or export to another --out")
    assert not (tmp_path / "rel").exists() and sorted(p.name for p in work.rglob("*")) == ["_state"]
    # once the first is gone, the export goes through and cleans up its work folder
    run_cli("export", str(run_dir), "--out", str(tmp_path / "rel"))
    assert (tmp_path / "rel" / layout.CARD).exists() and not work.exists()


@pytest.mark.slow
def test_two_exports_at_once(run_dir, tmp_path):
    release = tmp_path / "rel"
    procs = [
        subprocess.Popen(
            [*EMODATA, "export", str(run_dir), "--out", str(release)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    assert sorted(rc for rc, _, _ in outs) == [0, 1], outs
    (err,) = [e for rc, _, e in outs if rc == 1]
    assert "Traceback" not in err
    assert "is being written by run release-" in err or "exists and is not empty" in err
    index = sorted(p.name for p in (release / "index").iterdir())
    assert len(index) == 1 and not (tmp_path / layout.tmp_name("rel")).exists()


@pytest.mark.slow
def test_an_export_that_died_is_taken_over(run_dir, tmp_path):
    work = tmp_path / layout.tmp_name("rel")
    (work / "release" / "shards").mkdir(parents=True)
    (work / "release" / "shards" / "half.tar").write_bytes(b"x" * 100)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (work / "_state").mkdir()
    (work / layout.LEASE).write_text(
        json.dumps(
            {
                "run_id": "release-x",
                "owner": "o",
                "host": os.uname().nodename,
                "pid": dead.pid,
                "started_at": "",
                "heartbeat": 0,
            }
        )
    )
    res = run_cli("export", str(run_dir), "--out", str(tmp_path / "rel"))
    assert "taking over the lease of run release-x" in res.stderr
    assert not (tmp_path / "rel" / "shards" / "half.tar").exists() and not work.exists()


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (errno.ENOSPC, "Error: no space left on the device of --out {rel}"),
        (errno.EROFS, "Error: {path} is on a read-only filesystem: choose a writable --out"),
        (errno.EACCES, "Error: no permission to write {path}: fix its permissions"),
    ],
)
def test_write_errors_while_exporting(run_dir, tmp_path, monkeypatch, code, says):
    """An OSError at the release's write boundary (the shard writer's files)."""
    import emodata.exports.webdataset as release_writer

    real = release_writer.ReleaseWriter._open_shard
    seen: list[str] = []

    def failing(self):
        real(self)
        seen.append(self._tmp)
        raise OSError(code, os.strerror(code), self._tmp)

    monkeypatch.setattr(release_writer.ReleaseWriter, "_open_shard", failing)
    rel = tmp_path / "rel"
    res = CliRunner().invoke(cli.main, ["export", str(run_dir), "--out", str(rel)])
    assert res.exit_code == 1
    (line,) = [ln for ln in res.output.splitlines() if ln.startswith("Error: ")]
    assert line.startswith(says.format(rel=rel, path=seen[0]))
    assert line.endswith("; nothing was released")
    _nothing_written(tmp_path)


@pytest.mark.slow
def test_a_real_full_disk_and_a_read_only_folder(run_dir, small_disk):
    full = small_disk("full", "250k")
    res = run_cli("export", str(run_dir), "--out", str(full / "rel"), check=False)
    assert _one_error_line(res).startswith(
        f"Error: no space left on the device of --out {full / 'rel'}"
    )
    assert sorted(full.iterdir()) == []  # the partial release is gone
    ro = small_disk("ro", "1m", read_only=True)
    res = run_cli("export", str(run_dir), "--out", str(ro / "rel"), check=False)
    assert _one_error_line(res) == (
        f"Error: the folder of --out {ro} cannot be written (read-only filesystem): choose a "
        "writable folder"
    )
