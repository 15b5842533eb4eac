"""Item 3: a deleted or cut shard is noticed, not counted, and redone.

Before: after ``rm DIR/shards/shard-000002.tar`` a rerun said "0 clips written, 6 already done",
and the card, ``stats`` and ``status`` still counted the lost clips.
"""

from __future__ import annotations

import json
import logging

import fsspec
import pyarrow.parquet as pq
import pytest

from emodata import layout, stats
from emodata.state import scan
from emodata.verify import tar_size, verify
from emodata.writer import LedgerBook, ShardWriter
from tests.conftest import run_cli
from tests.hostile.conftest import QUICK
from tests.test_writer import _item


def _three_shards(root) -> list[str]:
    fs = fsspec.filesystem("file")
    w = ShardWriter(fs, str(root), first_seq=0, max_bytes=10**7, max_samples=1,
                    include_frames=True, run_id="20260101T000000Z-abc123", config_fingerprint="f",
                    ledger=LedgerBook({}, "r"))  # fmt: skip
    for i in range(3):
        w.add(_item(i, 3000 + i))
    w.close()
    return sorted(p.name for p in (root / "shards").iterdir())


def test_tar_size_is_the_size_tarfile_writes(tmp_path):
    names = _three_shards(tmp_path)
    for name in names:
        (row,) = pq.read_table(tmp_path / "index" / name.replace(".tar", ".parquet")).to_pylist()
        members = [tuple(v) for v in json.loads(row["shard_members"]).values()]
        assert tar_size(members) == (tmp_path / "shards" / name).stat().st_size


def test_verify_names_each_problem(tmp_path):
    names = _three_shards(tmp_path)
    assert verify(str(tmp_path)).ok
    (tmp_path / "shards" / names[0]).unlink()  # deleted
    cut = tmp_path / "shards" / names[1]
    cut.write_bytes(cut.read_bytes()[:2000])  # truncated
    bent = tmp_path / "shards" / names[2]
    data = bytearray(bent.read_bytes())
    data[0:8] = b"garbage!"  # first member's header, same size
    bent.write_bytes(bytes(data))
    report = verify(str(tmp_path))
    lines = report.lines()
    assert not report.ok
    assert lines[0].startswith(f"{names[0]}: missing (1 clip(s) in ")
    assert lines[1].startswith(f"{names[1]}: 2000 bytes, the index expects 10240")
    assert lines[2].startswith(f"{names[2]}: ") and "header" in lines[2]
    assert lines[-1] == "3 shard(s), 3 clip(s) checked: 3 shard(s) broken, 0 orphan(s)"
    res = run_cli("verify", str(tmp_path), check=False)
    assert res.returncode == 1 and res.stdout.splitlines() == lines


def test_stats_do_not_count_a_missing_shard(tmp_path):
    names = _three_shards(tmp_path)
    assert stats.summary(str(tmp_path))["clips"]["clips"] == 3
    (tmp_path / "shards" / names[1]).unlink()
    assert stats.summary(str(tmp_path))["clips"]["clips"] == 2
    assert stats.missing_shards(str(tmp_path)) == [names[1]]


def test_resume_sets_aside_what_a_lost_shard_held(tmp_path, caplog):
    names = _three_shards(tmp_path)
    (tmp_path / "shards" / names[1]).unlink()
    with caplog.at_level(logging.WARNING):
        prior = scan(fsspec.filesystem("file"), str(tmp_path))
    assert prior.total_done == 2 and prior.redo_shards == [names[1]]
    assert f"{names[1]}: missing" in caplog.text and "redone" in caplog.text
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == [
        names[0].replace(".tar", ".parquet"),
        names[2].replace(".tar", ".parquet"),
    ]
    assert (tmp_path / layout.DROPPED / f"index-{names[1].replace('.tar', '.parquet')}").exists()


def test_verify_on_a_folder_that_does_not_exist(tmp_path):
    res = run_cli("verify", str(tmp_path / "nope"), check=False)
    assert res.returncode == 1 and "does not exist" in res.stderr


@pytest.mark.slow
def test_deleted_shard_is_redone_by_the_next_run(tmp_path, clips):
    inputs = clips("in", 3)
    out = tmp_path / "out"
    args = ["run", "--input", str(inputs), "--output", str(out), *QUICK]
    run_cli(*args, "--set", "write.max_shard_samples=1")
    shards = sorted((out / "shards").iterdir())
    assert len(shards) == 3
    shards[1].unlink()
    status = run_cli("status", str(out))
    assert "2 clips from 2 sources in 2 shards" in status.stdout
    assert f"1 shard(s) missing ({shards[1].name})" in status.stderr
    clips_row = run_cli("stats", str(out)).stdout.splitlines()[2].split()
    assert clips_row[:2] == ["2", "2"]  # clips, sources
    assert run_cli("verify", str(out), check=False).returncode == 1
    res = run_cli(*args, "--set", "write.max_shard_samples=1")
    assert "1 clips written, 2 already done" in res.stdout
    assert f"{shards[1].name}: missing (1 clip(s)" in res.stderr
    assert "**3 clips**" in (out / "README.md").read_text()
    assert run_cli("verify", str(out)).stdout.strip().endswith("3 clip(s) checked: OK")
    assert len(pq.read_table(out / "index").to_pylist()) == 3
