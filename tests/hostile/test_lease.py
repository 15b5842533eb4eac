"""Item 1: two runs into one output folder: one holds the lease; the other stops, touching nothing.

Before: both runs exited 0, both wrote ``shard-000000.tar`` (the second won), and a run started
while another wrote deleted the other's ``.tmp`` shard as "left by an interrupted run".
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import fsspec
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from emodata import layout, lease
from emodata.errors import Reason
from emodata.lease import Lease, LeaseHeld
from emodata.state import scan
from emodata.writer import LedgerBook, ShardWriter
from tests.conftest import EMODATA, ROOT, run_cli
from tests.hostile.conftest import QUICK
from tests.test_writer import _item


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _plant(root, run_id="20260101T000000Z-0ther1", pid=None, host=None, age_s=0.0) -> dict:
    """A lease file as another run would have written it."""
    body = {
        "run_id": run_id,
        "owner": "someone",
        "host": host or socket.gethostname(),
        "pid": os.getpid() if pid is None else pid,
        "started_at": "2026-01-01T00:00:00+00:00",
        "heartbeat": time.time() - age_s,
    }
    (root / "_state").mkdir(parents=True, exist_ok=True)
    (root / layout.LEASE).write_text(json.dumps(body))
    return body


def test_a_held_lease_stops_a_second_holder(tmp_path):
    fs = fsspec.filesystem("file")
    first = Lease(fs, str(tmp_path), "run-a", every_s=0.1).acquire()
    try:
        with pytest.raises(LeaseHeld, match=r"written by run run-a \(pid \d+ on host .*s ago"):
            Lease(fs, str(tmp_path), "run-b").acquire()
        before = (tmp_path / layout.LEASE).read_text()
        time.sleep(0.3)
        assert (tmp_path / layout.LEASE).read_text() != before  # the heartbeat moves
    finally:
        first.release()
    assert not (tmp_path / layout.LEASE).exists()
    Lease(fs, str(tmp_path), "run-b").acquire().release()


@pytest.mark.parametrize(
    ("planted", "taken"),
    [
        (dict(pid=None, host="elsewhere", age_s=5), False),  # live on another host
        (dict(pid=None, host="elsewhere", age_s=3600), True),  # heartbeat too old
        (dict(pid="dead", host=None, age_s=0), True),  # same host, process gone
    ],
)
def test_stale_leases_are_taken_over(tmp_path, planted, taken):
    if planted["pid"] == "dead":
        planted["pid"] = _dead_pid()
    _plant(tmp_path, **planted)
    fs = fsspec.filesystem("file")
    if not taken:
        with pytest.raises(LeaseHeld, match="on host elsewhere"):
            Lease(fs, str(tmp_path), "mine").acquire()
        return
    held = Lease(fs, str(tmp_path), "mine").acquire()
    assert json.loads((tmp_path / layout.LEASE).read_text())["run_id"] == "mine"
    held.release()


class _NoExclusiveCreate(MemoryFileSystem):
    """An object store without conditional writes: ``xb`` is refused."""

    protocol = "noexcl"

    def open(self, path, mode="rb", **kw):
        if "x" in mode:
            raise ValueError("mode 'xb' not supported")
        return super().open(path, mode, **kw)


@pytest.mark.parametrize("fs_cls", [MemoryFileSystem, _NoExclusiveCreate])
def test_object_store_leases(fs_cls):
    fs = fs_cls()
    root = f"/bucket-{fs_cls.__name__}/out"
    held = Lease(fs, root, "run-a").acquire()
    try:
        with pytest.raises(LeaseHeld):
            Lease(fs, root, "run-b").acquire()
    finally:
        held.release()
    assert not fs.exists(f"{root}/{layout.LEASE}")


def test_writers_that_meet_never_share_a_file_name(tmp_path):
    fs = fsspec.filesystem("file")
    for n, run_id in enumerate(["20260101T000000Z-aaaaaa", "20260101T000001Z-bbbbbb"]):
        w = ShardWriter(fs, str(tmp_path), first_seq=0, max_bytes=10**7, max_samples=10,
                        include_frames=True, run_id=run_id, config_fingerprint="f",
                        ledger=LedgerBook({}, run_id))  # fmt: skip
        w.add(_item(n, 1000))
        w.close()
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == [
        "shard-000000-aaaaaa.tar",
        "shard-000000-bbbbbb.tar",
    ]
    prior = scan(fs, str(tmp_path))
    assert prior.total_done == 2 and prior.next_seq == 1 and not prior.removed


def test_old_names_still_read(tmp_path):
    """Runs from before the tag (``shard-000000.tar``) resume and parse as before."""
    fs = fsspec.filesystem("file")
    w = ShardWriter(fs, str(tmp_path), first_seq=0, max_bytes=10**7, max_samples=1,
                    include_frames=True, run_id="", config_fingerprint="f",
                    ledger=LedgerBook({}, ""))  # fmt: skip
    for i in range(2):
        w.add(_item(i, 1000))
    w.close()
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == [
        "shard-000000.tar",
        "shard-000001.tar",
    ]
    assert [layout.seq_of(n) for n in ("shard-000007.tar", "part-000002.parquet")] == [7, 2]
    assert layout.seq_of("shard-000007-1f0c2a.tar") == 7
    prior = scan(fs, str(tmp_path))
    assert prior.total_done == 2 and prior.next_seq == 2 and not prior.redo_shards


def test_second_run_is_refused_and_touches_nothing(tmp_path, clips):
    """A live lease (this test's own pid) and the holder's shard in progress."""
    inputs = clips("in", 1)
    out = tmp_path / "out"
    planted = _plant(out)
    (out / "shards").mkdir()
    wip = out / "shards" / ".shard-000000-0ther1.tar.tmp"
    wip.write_bytes(b"half a shard")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    res = run_cli("run", "--input", str(inputs), "--output", str(out), *QUICK, check=False)
    assert res.returncode == 1
    msg = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(msg) == 1, res.stderr
    assert msg[0].startswith(
        f"Error: {out} is being written by run {planted['run_id']} (pid {os.getpid()} on host "
        f"{socket.gethostname()}, user someone, heartbeat "
    )
    assert msg[0].endswith("pass --force-unlock after checking it is dead")
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert wip.read_bytes() == b"half a shard"


@pytest.mark.slow
def test_two_runs_into_one_folder(tmp_path, clips):
    """The issue's reproduction: run A writes, run B (other inputs) starts meanwhile."""
    a_in, b_in = clips("a", 3), clips("b", 2, first_freq=900)
    out = tmp_path / "out"
    args = ["run", "--output", str(out), *QUICK, "--set", "write.max_shard_samples=1"]
    logs = tmp_path / "a.out", tmp_path / "a.err"  # files, not pipes: A must never block on them
    with logs[0].open("w") as a_out, logs[1].open("w") as a_err:
        proc = subprocess.Popen(
            [*EMODATA, *args, "--input", str(a_in)], cwd=ROOT, stdout=a_out, stderr=a_err
        )
        try:
            deadline = time.time() + 120
            while not (out / layout.LEASE).exists() and time.time() < deadline:
                time.sleep(0.05)
            holder = json.loads((out / layout.LEASE).read_text())
            # A's three small clips can be done before B has imported its libraries: A waits,
            # holding its lease, while B starts (well within the lease's 60 s before it is stale)
            proc.send_signal(signal.SIGSTOP)
            try:
                b = run_cli(*args, "--input", str(b_in), check=False)
            finally:
                proc.send_signal(signal.SIGCONT)
            assert b.returncode == 1 and f"being written by run {holder['run_id']}" in b.stderr
            proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, logs[1].read_text()[-3000:]
    assert "3 clips written" in logs[0].read_text()
    b = run_cli(*args, "--input", str(b_in))  # after A: B's clips join A's
    assert "2 clips written" in b.stdout
    rows = pq.read_table(out / "index").to_pylist()
    assert len(rows) == 5 and len({r["shard"] for r in rows}) == 5
    assert not (out / layout.LEASE).exists()
    assert run_cli("verify", str(out)).stdout.strip().endswith("5 clip(s) checked: OK")


def test_force_unlock_removes_a_lease_and_names_it(tmp_path):
    _plant(tmp_path, run_id="20260101T000000Z-wedged")
    holder = lease.force_unlock(str(tmp_path))
    assert holder is not None and holder.run_id == "20260101T000000Z-wedged"
    assert not (tmp_path / layout.LEASE).exists()


def _writer(root, run_id, fence=None, first_seq=0) -> ShardWriter:
    return ShardWriter(fsspec.filesystem("file"), str(root), first_seq=first_seq, max_bytes=10**7,
                       max_samples=1, include_frames=True, run_id=run_id,
                       config_fingerprint="f", ledger=LedgerBook({}, run_id),
                       fence=fence)  # fmt: skip


def _files(root) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for sub in ("shards", "index", "failures")
        for p in (root / sub).glob("*")  # dotfiles too: a left temporary file counts
    )  # fmt: skip


def test_a_writer_whose_run_lost_the_lease_commits_nothing(tmp_path):
    """A straggler of a killed run (its driver dead, a write task still running) finishes its
    shard after the next run took the lease over: it must commit nothing, since the next run
    redoes those clips. Before, it renamed its shard and wrote its index fragment, and the
    clip was indexed twice."""
    fs = fsspec.filesystem("file")
    run_id = "20260101T000000Z-aaaaaa"
    held = Lease(fs, str(tmp_path), run_id, every_s=3600).acquire()
    try:
        fence = functools.partial(lease.check_held, fs, str(tmp_path), run_id)
        w = _writer(tmp_path, run_id, fence)
        w.add(_item(0, 1000))
        w.close()  # while it holds the lease, the fence lets it through
        written = _files(tmp_path)
        assert written == ["index/shard-000000-aaaaaa.parquet", "shards/shard-000000-aaaaaa.tar"]
        planted = _plant(tmp_path, run_id="20260101T000001Z-bbbbbb")  # taken over
        w = _writer(tmp_path, run_id, fence, first_seq=1)
        w.add(_item(1, 1000))
        # a ledger row: nothing of it may land either
        w.add(_item(2, 1000).fail("segment", Reason.FFMPEG_ERROR, "not a video"))
        with pytest.raises(lease.LeaseLost, match=rf"held by run {planted['run_id']} \(pid"):
            w.close()
        assert _files(tmp_path) == written
        # taken over between the shard's rename and its index fragment: the shard goes again
        calls = []

        def late(calls=calls) -> None:
            calls.append(1)
            if len(calls) > 1:
                fence()

        w = _writer(tmp_path, run_id, late, first_seq=3)
        w.add(_item(3, 1000))
        w.add(_item(4, 1000).fail("segment", Reason.FFMPEG_ERROR, "not a video"))
        with pytest.raises(lease.LeaseLost):
            w.close()
        assert len(calls) == 2 and _files(tmp_path) == written
        with pytest.raises(lease.LeaseLost, match=r"held by nobody"):
            (tmp_path / layout.LEASE).unlink()
            lease.check_held(fs, str(tmp_path), run_id)
    finally:
        held.release()


def test_taking_over_a_dead_run_waits_for_its_files_to_settle(tmp_path):
    """The takeover waits while the dead run's temporary files still change (a commit that
    passed its fence just before the takeover), so the scan after it sees that commit."""
    old = _plant(tmp_path, run_id="20260101T000000Z-0ther1", pid=_dead_pid())
    (tmp_path / "shards").mkdir()
    tmp = tmp_path / "shards" / ".shard-000003-0ther1.tar.tmp"
    tmp.write_bytes(b"x")
    done = threading.Event()

    def straggler() -> None:
        for _ in range(12):
            time.sleep(0.1)
            with tmp.open("ab") as f:
                f.write(b"x" * 512)
        tmp.rename(tmp_path / "shards" / "shard-000003-0ther1.tar")
        done.set()

    fs = fsspec.filesystem("file")
    thread = threading.Thread(target=straggler)
    start = time.monotonic()
    thread.start()
    held = Lease(fs, str(tmp_path), "20260101T000002Z-cccccc", settle_s=0.5).acquire()
    took = time.monotonic() - start
    thread.join()
    held.release()
    assert done.is_set() and took >= 1.2, f"returned after {took:.2f}s, before {old['run_id']}"
    # no file of the dead run in flight: the takeover waits settle_s and no more
    _plant(tmp_path, run_id="20260101T000003Z-dddddd", pid=_dead_pid())
    start = time.monotonic()
    Lease(fs, str(tmp_path), "20260101T000004Z-eeeeee", settle_s=0.5).acquire().release()
    assert 0.5 <= time.monotonic() - start < 2.0
