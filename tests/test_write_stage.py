"""The write stage as the workers run it: status rows back, files written, retries idempotent."""

from __future__ import annotations

import errno
import json
import pickle

import fsspec
import pyarrow.parquet as pq
import pytest

from emodata import ray_adapter
from emodata.config import RunConfig, WriteConfig
from emodata.errors import Reason
from emodata.lease import LeaseLost
from emodata.records import ClipRecord, ClipSpan, Item, Source, record_json
from emodata.stages.write import RowChecks, WriteStage, WriteTarget, number_clips
from emodata.state import scan
from tests.conftest import hold_lease
from tests.test_writer import _item

RUN_ID = "20260101T000000Z-abc123"


def _target(tmp_path, checks=None, first_seq=0, **write) -> WriteTarget:
    hold_lease(tmp_path, RUN_ID)
    return WriteTarget(
        output=str(tmp_path),
        write=WriteConfig(**write),
        run_id=RUN_ID,
        fingerprint="f",
        first_seq=first_seq,
        checks=checks,
    )


def _clips(*ids: int, size: int = 2_000) -> list[Item]:
    clips = [_item(i, size) for i in ids]
    number_clips(clips)
    return clips


def _index_keys(root) -> list[str]:
    return sorted(pq.read_table(root / "index").column("key").to_pylist())


def test_batches_number_their_files_apart_without_asking_anyone(tmp_path):
    """A batch numbers its files from its first clip's planned place: as many clips as it has,
    it cannot run into the next batch's numbers, whatever order the batches finish in."""
    clips = _clips(0, 1, 2, 3, 4, 5)
    stage = WriteStage(_target(tmp_path, first_seq=10, max_shard_samples=1))
    stage.process(clips[3:])  # a later batch finishes first
    stage.process(clips[:3])
    names = sorted(p.name for p in (tmp_path / "shards").iterdir())
    assert names == [f"shard-{n:06d}-abc123.tar" for n in range(10, 16)]
    assert _index_keys(tmp_path) == sorted(c.key for c in clips)


def test_status_rows_carry_no_media_and_name_the_shard(tmp_path):
    *items, failed = _clips(0, 1, 2, 3, 4, 9)
    failed.fail("faces", Reason.INTERNAL_ERROR, "boom")
    stage = WriteStage(_target(tmp_path, max_shard_samples=2))
    assert stage.batch_size == 2  # a task packs no more than one shard's worth
    out = stage.process([*items, failed])
    assert [s.key for s in out] == [i.key for i in [*items, failed]]
    assert all(s.blobs == {} for s in out)
    # a status row is the clip's source id, outcome and shard: no media, no nested outputs
    assert all(s.record.clip == ClipSpan() and s.record.source.id for s in out)
    assert all(set(s.record.work) == {"shard", "ledgered"} for s in out)
    shards = [s.record.work["shard"] for s in out[:5]]
    assert shards == ["shard-000000-abc123.tar"] * 2 + ["shard-000001-abc123.tar"] * 2 + [
        "shard-000002-abc123.tar"
    ]
    assert out[5].record.work["shard"] is None and out[5].record.work["ledgered"] is True
    assert out[5].error["reason"] == "internal_error"
    assert sum(len(record_json(s.record)) for s in out) < 2_000  # small, whatever the media
    assert _index_keys(tmp_path) == sorted(i.key for i in items)
    ledger = pq.read_table(tmp_path / "failures").to_pylist()
    assert [(r["stage"], r["key"]) for r in ledger] == [("faces", failed.key)]


def test_a_retried_task_rewrites_its_files_instead_of_adding_copies(tmp_path):
    first = _clips(0, 1, 2)
    WriteStage(_target(tmp_path, max_shard_samples=2)).process(first)
    files = sorted(p.name for p in (tmp_path / "shards").iterdir())
    # Ray runs the task again on the same clips (its worker died after writing)
    again = _clips(0, 1, 2)
    WriteStage(_target(tmp_path, max_shard_samples=2)).process(again)
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == files
    assert _index_keys(tmp_path) == sorted(i.key for i in first)
    assert not list(tmp_path.rglob(".*"))


def test_earlier_ledger_rows_travel_with_the_item(tmp_path):
    """A write task sees only its clips: the prior attempts they carry number the new rows, and
    a decision already on record is not written again."""
    source = Source(path="/in/a.mp4")
    filtered = Item("k1", ClipRecord(source)).fail("segment", Reason.SCENE_TOO_SHORT, "short")
    failed = Item("k2", ClipRecord(source)).fail("faces", Reason.INTERNAL_ERROR, "boom")
    prior = [["/in/a.mp4", "k1", "segment", 1, ["scene_too_short"]]]
    prior += [["/in/a.mp4", "k2", "faces", 2, ["internal_error"]]]
    number_clips([filtered, failed])
    for item in (filtered, failed):
        item.record.work["ledger_prior"] = prior
    out = WriteStage(_target(tmp_path)).process([filtered, failed])
    assert [s.record.work["ledgered"] for s in out] == [False, True]
    rows = pq.read_table(tmp_path / "failures").to_pylist()
    assert [(r["key"], r["attempt"]) for r in rows] == [("k2", 3)]
    assert scan(fsspec.filesystem("file"), str(tmp_path)).next_seq == 1


@pytest.mark.slow  # builds great_expectations' suites: seconds of CPU
def test_row_checks_pickle_as_settings_and_fail_rows_on_the_worker(tmp_path):
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "short.json").write_text(
        json.dumps(
            {
                "name": "rows.small",
                "level": "row",
                "boundary": "write",
                "expectations": [
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": "video_bytes", "max_value": 5_000},
                    }
                ],
            }
        )
    )
    checks = RowChecks(RunConfig().dump(), str(suites), ["ingest", "segment", "write"])
    shipped = pickle.dumps(checks)
    assert len(shipped) < 50_000 and b"great_expectations" not in shipped
    out_dir = tmp_path / "out"
    stage = WriteStage(_target(out_dir, checks=pickle.loads(shipped)))
    clips = [_item(0, 2_000), _item(1, 9_000)]
    number_clips(clips)
    out = stage.process(clips)
    assert out[0].ok and out[0].record.work["shard"]
    assert out[1].error["stage"] == "validate"
    assert "rows.small" in out[1].error["message"]
    docs = [json.loads(m) for m in _json_members(out_dir)]
    assert [d["outcome"]["stage_status"]["validate"] for d in docs] == ["ok"]


def _json_members(root) -> list[bytes]:
    import tarfile

    out = []
    for shard in sorted((root / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            out += [tar.extractfile(m).read() for m in tar if m.name.endswith(".json")]
    return out


def test_a_workers_os_error_or_lost_lease_reaches_the_driver_as_itself():
    full = OSError(errno.ENOSPC, "No space left on device", "/out/shards/x.tar")
    wrapped = RuntimeError("task failed")
    wrapped.__cause__ = full
    with pytest.raises(OSError) as got, ray_adapter.worker_errors():
        raise wrapped
    assert got.value is full
    lost = LeaseLost("run r no longer holds the lease on /out (held by run s)")
    wrapped = RuntimeError("task failed")
    wrapped.__context__ = lost
    with pytest.raises(LeaseLost) as got, ray_adapter.worker_errors():
        raise wrapped
    assert got.value is lost
    with pytest.raises(RuntimeError), ray_adapter.worker_errors():
        raise RuntimeError("not an OS error")


def test_a_write_task_whose_run_lost_the_lease_writes_nothing(tmp_path):
    target = _target(tmp_path, max_shard_samples=1)
    hold_lease(tmp_path, "20260101T000001Z-0ther1")  # another run took the folder over
    with pytest.raises(LeaseLost, match="0ther1"):
        WriteStage(target).process(_clips(0, 1))
    assert not [p for sub in ("shards", "index", "failures") for p in (tmp_path / sub).iterdir()]
