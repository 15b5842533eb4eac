"""The ingest cache is fragments a lookup reads a window of, and a run takes inputs in windows.

Before: the cache was one Parquet file read whole into a dict and rewritten whole by every run,
and the driver held every input's ingest result, planned clip and cache row at once (about
7 KiB per input).
"""

from __future__ import annotations

import json

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from emodata import ingest_cache, layout
from emodata.ingest_cache import IngestCache
from emodata.records import ClipRecord, Item, Source
from tests.conftest import run_cli
from tests.hostile.conftest import QUICK, make_clips


def _item(path: str, n: int) -> Item:
    return Item(path, ClipRecord(Source(path=path, id=f"id{n}", duration_s=float(n))))


def test_a_lookup_reads_only_the_window_and_the_newest_row_wins(tmp_path):
    fs = fsspec.filesystem("file")
    first = IngestCache(fs, str(tmp_path), "20260101T000000Z-aaaaaa")
    for n in range(50):
        first.put([_item(f"/in/{n:03d}.mp4", n)], [f"{n}:"])
    first.save()
    second = IngestCache(fs, str(tmp_path), "20260102T000000Z-bbbbbb")
    second.load(["/in/007.mp4"])
    second.put([_item("/in/007.mp4", 700)], ["7:changed"])  # the file changed: probed again
    second.save()
    assert not second.new and len(second.files) == 2

    cache = IngestCache(fs, str(tmp_path))
    cache.load([f"/in/{n:03d}.mp4" for n in (3, 7, 8)])
    assert sorted(cache.rows) == ["/in/003.mp4", "/in/007.mp4", "/in/008.mp4"]
    newer = cache.get("/in/007.mp4", "7:changed")
    assert newer.record.source.duration_s == 700  # from the newer fragment
    assert cache.get("/in/007.mp4", "7:") is None  # an old fingerprint is a miss
    assert cache.get("/in/003.mp4", "3:").record.source.id == "id3"
    assert cache.get("/in/010.mp4", "10:") is None  # not in the window asked for
    # each fragment is sorted by path, in small row groups, never rewritten
    (frag,) = [p for p in cache.files if "aaaaaa" in p]
    t = pq.read_table(frag)
    assert t["path"].to_pylist() == sorted(t["path"].to_pylist())


def test_new_rows_go_to_disk_as_they_come_and_a_fragment_is_sorted_by_path(tmp_path, monkeypatch):
    """Results that arrive out of path order (a manifest's order, or workers finishing out of
    turn) are spooled to a file row group by row group and sorted when the fragment is made."""
    monkeypatch.setattr(ingest_cache, "ROW_GROUP", 8)
    fs = fsspec.filesystem("file")
    cache = IngestCache(fs, str(tmp_path), "r")
    order = [(n * 7) % 30 for n in range(30)]  # every path once, out of order
    for start in range(0, 30, 3):
        batch = order[start : start + 3]
        cache.put([_item(f"/in/{n:03d}.mp4", n) for n in batch], [f"{n}:" for n in batch])
        assert len(cache.new) <= 2  # at most a row group's rows are held
    cache.save()
    (frag,) = cache.files
    paths = pq.read_table(frag)["path"].to_pylist()
    assert paths == [f"/in/{n:03d}.mp4" for n in range(30)]
    assert pq.ParquetFile(frag).metadata.num_row_groups == 4  # row groups of 8
    cache = IngestCache(fs, str(tmp_path))
    cache.load(["/in/021.mp4", "/in/002.mp4"])
    assert cache.get("/in/021.mp4", "21:").record.source.duration_s == 21


def test_a_fragment_is_gathered_in_path_order_from_many_spooled_batches(tmp_path, monkeypatch):
    """The spooled rows stay in their memory-mapped file; only the paths are sorted, and the
    rows are gathered from the batches that hold them a row group at a time (a DuckDB sort of the
    whole rows failed under a memory limit they outgrew)."""
    monkeypatch.setattr(ingest_cache, "ROW_GROUP", 1000)
    rng = np.random.default_rng(7)
    n = 3_000
    order = rng.permutation(n)
    records = [rng.bytes(50).hex() for _ in range(n)]
    table = pa.table({"path": [f"/in/{k:06d}.mp4" for k in order], "record": records})
    src = tmp_path / "spool.arrow"
    with pa.ipc.new_file(src, table.schema) as spool:
        for batch in table.to_batches(max_chunksize=70):  # batches of uneven size
            spool.write_batch(batch)
        spool.write_table(table.slice(0, 0))  # an empty batch among them
    dest = tmp_path / "sorted.parquet"
    ingest_cache._sorted_copy(str(src), str(dest))
    got = pq.read_table(dest)
    assert got["path"].to_pylist() == [f"/in/{k:06d}.mp4" for k in range(n)]
    by_path = dict(zip(table["path"].to_pylist(), records, strict=True))
    assert got["record"].to_pylist() == [by_path[p] for p in got["path"].to_pylist()]
    assert pq.ParquetFile(dest).metadata.num_row_groups == 3


def test_failures_are_not_cached_and_filtered_decisions_are(tmp_path):
    fs = fsspec.filesystem("file")
    cache = IngestCache(fs, str(tmp_path), "r")
    bad = _item("/in/bad.mp4", 1).fail("ingest", "probe_failed", "no streams")
    cache.put([bad, _item("/in/ok.mp4", 2)], ["1:", "2:"])
    cache.save()
    cache = IngestCache(fs, str(tmp_path))
    cache.load(["/in/bad.mp4", "/in/ok.mp4"])
    assert list(cache.rows) == ["/in/ok.mp4"]
    assert json.loads(cache.rows["/in/ok.mp4"][1])["source"]["duration_s"] == 2


def test_the_single_file_of_older_versions_is_read_first(tmp_path):
    fs = fsspec.filesystem("file")
    old = IngestCache(fs, str(tmp_path), "old")
    old.put([_item("/in/a.mp4", 1)], ["1:"])
    old.save()
    (frag,) = (tmp_path / layout.INGEST_CACHE).iterdir()
    frag.rename(tmp_path / layout.LEGACY_INGEST_CACHE)
    cache = IngestCache(fs, str(tmp_path))
    assert cache.files == [str(tmp_path / layout.LEGACY_INGEST_CACHE)]
    cache.load(["/in/a.mp4"])
    assert cache.get("/in/a.mp4", "1:").record.source.duration_s == 1


@pytest.mark.slow
def test_a_run_in_windows_writes_what_one_window_writes(tmp_path):
    """Five inputs (one a copy of another) in windows of two: the same index, the duplicate
    found across windows, one cache fragment per window that probed; a rerun probes nothing."""
    inputs = make_clips(tmp_path / "in", 4)
    (inputs / "copy.mp4").write_bytes((inputs / "clip_300.mp4").read_bytes())
    runs = {}
    for window in (2, 100):
        out = tmp_path / f"out{window}"
        args = ["run", "--input", str(inputs), "--output", str(out), *QUICK,
                "--set", f"ingest.window={window}"]  # fmt: skip
        run_cli(*args)
        manifest = json.loads((out / layout.MANIFEST).read_text())
        counts = manifest["runs"][-1]["counts"]
        runs[window] = (
            sorted(pq.read_table(out / "index")["key"].to_pylist()),
            counts["windows"],
            len(list((out / layout.INGEST_CACHE).iterdir())),
            sorted(r["reason"] for r in pq.read_table(out / "failures").to_pylist()),
        )
        again = run_cli(*args)
        assert "0 clips written" in again.stdout
        assert len(list((out / layout.INGEST_CACHE).iterdir())) == runs[window][2]
    assert runs[2][0] == runs[100][0] and len(runs[2][0]) >= 4
    assert runs[2][3] == runs[100][3] == ["duplicate"]
    assert (runs[2][1], runs[2][2]) == (3, 3)
    assert (runs[100][1], runs[100][2]) == (1, 1)
