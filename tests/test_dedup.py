"""Dedup over a run's windows: the kept content ids live in an SQLite file, not a driver dict."""

from __future__ import annotations

import os
import sqlite3

import pytest

from emodata.dedup import ContentIds
from emodata.errors import Reason
from emodata.records import ClipRecord, Item, Source
from emodata.window import dedup


def _source(path: str, sid: str) -> Item:
    return Item(path, ClipRecord(Source(path=path, id=sid)))


def test_a_copy_in_a_later_window_is_a_duplicate_of_the_first_path():
    kept = ContentIds()
    try:
        first = dedup([_source("/in/a.mp4", "x"), _source("/in/b.mp4", "y")], kept)
        assert all(i.ok for i in first) and kept.count == 2
        failed = _source("/in/gone.mp4", "z").fail("ingest", Reason.MISSING, "gone")
        later = [_source("/in/c.mp4", "x"), _source("/in/d.mp4", "w"), failed]
        later.append(_source("/in/e.mp4", "w"))  # a copy within the same window
        dedup(later, kept)
        assert [i.ok for i in later] == [False, True, False, False]
        assert later[0].error["reason"] == Reason.DUPLICATE
        assert later[0].error["message"] == "same content as /in/a.mp4"
        assert later[3].error["message"] == "same content as /in/d.mp4"
        assert later[2].error["reason"] == Reason.MISSING  # failures are not ids
        assert kept.first_paths(["x", "w", "q"]) == {"x": "/in/a.mp4", "w": "/in/d.mp4"}
        assert kept.count == 3
    finally:
        kept.close()


def test_a_path_that_is_not_utf8_is_kept_as_text():
    kept = ContentIds()
    try:
        path = os.fsdecode(b"/in/caf\xe9.mp4")
        dedup([_source(path, "x")], kept)
        (copy,) = dedup([_source("/in/b.mp4", "x")], kept)
        assert copy.error["message"] == "same content as /in/caf\\xe9.mp4"
    finally:
        kept.close()


def test_the_set_lives_in_a_file_that_goes_with_it():
    kept = ContentIds()
    folder = kept.folder
    kept.add({f"id{i}": f"/in/{i}.mp4" for i in range(10_000)})
    assert (folder / "kept.sqlite").stat().st_size > 10_000 * 10
    asked = [f"id{i}" for i in range(0, 20_000, 7)]  # more ids than one query takes
    assert kept.first_paths(asked) == {i: f"/in/{i[2:]}.mp4" for i in asked if int(i[2:]) < 10_000}
    kept.close()
    assert not folder.exists()


def test_a_batch_that_fails_leaves_the_set_as_it_was():
    kept = ContentIds()
    try:
        kept.add({"a": "/in/a.mp4"})
        with pytest.raises(sqlite3.IntegrityError):
            kept.add({"b": "/in/b.mp4", "a": "/in/again.mp4"})  # an id kept before
        assert kept.first_paths(["a", "b"]) == {"a": "/in/a.mp4"}
        assert kept.count == 1
    finally:
        kept.close()
