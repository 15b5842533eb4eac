"""The run's inputs live in a DuckDB file, not in a driver list: order, each path once, windows,
names that are not UTF-8, and the file going away with the list."""

from __future__ import annotations

import os

import pytest

from emodata import listing
from emodata.discover import scan_inputs
from emodata.listing import InputList, SourceRef


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(listing, "BATCH", 3)  # several flushes and several reads in one test


def test_a_listing_is_sorted_by_path_each_path_once(small_batches):
    refs = InputList()
    for name in ["c", "a", "e", "b", "a", "d", "f", "c"]:
        refs.add(SourceRef(f"/in/{name}.mp4"))
    repeats = refs.seal(by_path=True)
    assert [r.path for r in refs] == [f"/in/{n}.mp4" for n in "abcdef"]
    assert len(refs) == 6 and refs[0].path == "/in/a.mp4" and refs[-1].path == "/in/f.mp4"
    assert [r.path for r in refs.window(2, 4)] == ["/in/c.mp4", "/in/d.mp4"]
    assert refs.window(6, 9) == []
    assert [(a.path, b.path) for a, b in repeats] == [("/in/a.mp4",) * 2, ("/in/c.mp4",) * 2]
    refs.close()


def test_a_manifest_keeps_file_order_and_its_first_row(small_batches):
    refs = InputList()
    rows = [("b", {"label": "sad"}), ("a", {}), ("b", {"label": "happy"}), ("c", {"n": 1.5})]
    for row, (name, meta) in enumerate(rows, start=1):
        refs.add(SourceRef(f"/in/{name}.mp4", meta, row))
    (repeat,) = refs.seal(by_path=False)
    assert list(refs) == [
        SourceRef("/in/b.mp4", {"label": "sad"}, 1),
        SourceRef("/in/a.mp4", {}, 2),
        SourceRef("/in/c.mp4", {"n": 1.5}, 4),
    ]
    assert repeat == (
        SourceRef("/in/b.mp4", {"label": "happy"}, 3),
        SourceRef("/in/b.mp4", {"label": "sad"}, 1),
    )
    refs.close()


def test_a_name_that_is_not_utf8_comes_back_as_the_same_name():
    name = os.fsdecode(b"/in/caf\xe9.mp4")  # a lone surrogate: no UTF-8 text holds it
    refs = InputList()
    refs.add(SourceRef(name, {"label": "x\udce9"}))
    refs.seal(by_path=True)
    (back,) = list(refs)
    assert back.path == name and os.fsencode(back.path) == b"/in/caf\xe9.mp4"
    assert back.meta == {"label": "x\udce9"}
    refs.close()


def test_a_folder_scan_spools_to_a_file_and_reads_back_in_order(tmp_path, small_batches):
    names = [f"{d}/clip_{i:02d}.mp4" for d in ("b", "a", "a/deep") for i in range(5)]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "a" / "notes.txt").write_text("not media")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.mp4").write_bytes(b"x")
    found = scan_inputs(str(tmp_path), [".mp4"])
    folder = found.refs._db.folder
    assert (folder / "scratch.duckdb").stat().st_size > 0
    assert [r.path for r in found.refs] == sorted(str(tmp_path / n) for n in names)
    assert dict(found.skipped) == {".txt": 1, "(hidden)": 1}
    found.refs.close()
    assert not folder.exists()


def test_a_sealed_list_takes_no_more_and_an_open_one_cannot_be_read():
    refs = InputList()
    with pytest.raises(RuntimeError, match="seal the input list"):
        len(refs)
    refs.seal(by_path=True)
    assert len(refs) == 0 and list(refs) == []
    with pytest.raises(RuntimeError, match="sealed"):
        refs.add(SourceRef("/in/a.mp4"))
    refs.close()
