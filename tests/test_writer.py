from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from dataclasses import replace

import fsspec
import pyarrow.parquet as pq

from emodata.errors import Reason
from emodata.records import ClipRecord, Item, clip_key
from emodata.schemas import index_schema
from emodata.state import scan
from emodata.writer import LedgerBook, ShardWriter
from tests.conftest import ROOT


def _item(i: int, size: int = 300_000) -> Item:
    sid = f"{i:020x}"
    rec = {
        "path": f"/in/{i}.mp4",
        "meta": {"license": "CC0"},
        "source_id": sid,
        "source_sha256": sid * 3,
        "source_duration_s": 5.0,
        "source_size_bytes": 10,
        "source_clip_count": 1,
        "clip_index": 0,
        "start_s": 0.0,
        "end_s": 5.0,
        "duration_s": 5.0,
        "boundary": "start",
        "width": 2,
        "height": 2,
        "fps": 25.0,
        "has_audio": True,
        "video_bytes": size,
        "audio_bytes": 10,
        "num_frames": 1,
        "segment_seconds": 0.1,
        "stage_status": {"ingest": "ok", "segment": "ok"},
    }
    blobs = {
        "mp4": bytes([i % 256]) * size,
        "wav": b"RIFF" + b"\0" * 6,
        "frame000.jpg": b"\xff\xd8",
    }
    return Item(clip_key(sid, 0, 5), rec, blobs)


def _writer(fs, root, ledger=None, **kw):
    args = dict(
        first_seq=0,
        max_bytes=1_000_000,
        max_samples=100,
        include_frames=True,
        run_id="r1",
        config_fingerprint="f",
    )
    args.update(kw)
    return ShardWriter(fs, root, ledger=ledger or LedgerBook({}, "r1"), **args)


def test_shards_are_size_bounded_and_offsets_point_at_members(tmp_path):
    fs = fsspec.filesystem("file")
    w = _writer(fs, str(tmp_path))
    items = [_item(i) for i in range(7)]
    originals = {it.key: it.blobs["mp4"] for it in items}
    for it in items:
        w.add(it)
    w.close()
    shards = sorted(p.name for p in (tmp_path / "shards").iterdir())
    # 3 + 3 + 1
    assert shards == ["shard-000000-r1.tar", "shard-000001-r1.tar", "shard-000002-r1.tar"]
    assert all((tmp_path / "shards" / s).stat().st_size <= 1_000_000 + 10_240 for s in shards)
    rows = pq.read_table(tmp_path / "index").to_pylist()
    assert (
        len(rows) == 7
        and pq.read_schema(tmp_path / "index" / "shard-000000-r1.parquet").names
        == index_schema().names
    )
    for row in rows:
        members = json.loads(row["shard_members"])
        off, size = members[f"{row['key']}.mp4"]
        with open(tmp_path / "shards" / row["shard"], "rb") as f:
            f.seek(off)
            assert f.read(size) == originals[row["key"]]
    with tarfile.open(tmp_path / "shards" / "shard-000000-r1.tar") as tar:
        names = tar.getnames()
        first = names[0].split(".", 1)[0]
        doc = json.loads(tar.extractfile(f"{first}.json").read())
    # one sample's members together, in key order (webdataset's TarWriter)
    assert names[:4] == [f"{first}.{m}" for m in ("frame000.jpg", "json", "mp4", "wav")]
    assert doc["source"]["meta"] == {"license": "CC0"}
    assert doc["members"] == ["frame000.jpg", "mp4", "wav"] and doc["key"] == first
    # the sample JSON is the record: it reads back as the record that was written
    written = next(i for i in items if i.key == first).record
    assert ClipRecord.from_dict(doc) == replace(written, work={})


def test_writes_are_deterministic(tmp_path):
    fs = fsspec.filesystem("file")
    for sub in ("a", "b"):
        w = _writer(fs, str(tmp_path / sub))
        for i in range(3):
            w.add(_item(i, 1000))
        w.close()
    a = (tmp_path / "a" / "shards" / "shard-000000-r1.tar").read_bytes()
    assert a == (tmp_path / "b" / "shards" / "shard-000000-r1.tar").read_bytes()


def test_ledger_rows_and_rerun_dedup(tmp_path):
    fs = fsspec.filesystem("file")
    w = _writer(fs, str(tmp_path))
    bad = Item("/in/bad.mp4", {"path": "/in/bad.mp4"}).fail("ingest", Reason.ZERO_BYTE, "empty")
    boom = Item("/in/x.mp4", {"path": "/in/x.mp4"}).fail("segment", Reason.FFMPEG_ERROR, "boom")
    w.add(bad)
    w.add(boom)
    w.close()
    prior = scan(fs, str(tmp_path))
    assert prior.next_seq == 1
    ledger = LedgerBook(prior.ledger, "r2")
    w2 = _writer(fs, str(tmp_path), ledger=ledger, first_seq=prior.next_seq)
    w2.add(Item("/in/bad.mp4", {"path": "/in/bad.mp4"}).fail("ingest", Reason.ZERO_BYTE, "empty"))
    w2.add(Item("/in/x.mp4", {"path": "/in/x.mp4"}).fail("segment", Reason.FFMPEG_ERROR, "boom"))
    w2.close()
    rows = pq.read_table(tmp_path / "failures").to_pylist()
    # the decision is recorded once; the failure is retried and counted
    assert sorted((r["reason"], r["kind"], r["attempt"]) for r in rows) == [
        ("ffmpeg_error", "failed", 1),
        ("ffmpeg_error", "failed", 2),
        ("zero_byte", "filtered", 1),
    ]
    assert ledger.new_rows == 1


def test_scan_removes_what_an_interrupted_run_left(tmp_path):
    fs = fsspec.filesystem("file")
    w = _writer(fs, str(tmp_path), max_samples=1)
    for i in range(2):
        w.add(_item(i, 1000))
    w.close()
    (tmp_path / "index" / "shard-000001-r1.parquet").unlink()  # died before the marker
    (tmp_path / "shards" / ".shard-000002.tar.tmp").write_bytes(b"partial")
    prior = scan(fs, str(tmp_path))
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == ["shard-000000-r1.tar"]
    assert prior.total_done == 1 and prior.next_seq == 1
    assert len(prior.removed) == 2


def test_writing_a_shard_does_not_import_torch_and_webdataset_reads_it(tmp_path):
    """webdataset's package import pulls in torch (seconds of CPU): a run that only writes
    shards loads its writer modules alone, and the real package still reads the result."""
    code = (
        "import sys, fsspec\n"
        "from tests.test_writer import _item, _writer\n"
        f"w = _writer(fsspec.filesystem('file'), {str(tmp_path)!r})\n"
        "w.add(_item(1, 1000)); w.add(_item(2, 1000)); w.close()\n"
        "print(sorted(m for m in ('torch', 'webdataset') if m in sys.modules))\n"
    )
    got = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert got.stdout.strip() == "[]", got.stderr[-2000:]
    import webdataset as wds

    shard = str(tmp_path / "shards" / "shard-000000-r1.tar")
    samples = list(wds.WebDataset(shard, shardshuffle=False))
    assert [len(s["mp4"]) for s in samples] == [1000, 1000]
    assert sorted(s["__key__"] for s in samples) == sorted(_item(i).key for i in (1, 2))
