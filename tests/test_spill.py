"""A window's rows on the driver's disk: read back in the order of their places, a chunk at a
time, whatever order they arrived in."""

from __future__ import annotations

import random

import pytest

from emodata import spill
from emodata.records import items_to_table, table_to_items
from emodata.spill import Spills
from tests.test_writer import _item


@pytest.fixture
def spills():
    made = Spills()
    yield made
    made.close()


def test_rows_come_back_in_the_order_of_their_places(spills, monkeypatch):
    monkeypatch.setattr(spill, "GROUP", 4)  # row groups of four: a shuffle spans several
    items = [_item(i, 10) for i in range(23)]
    places = list(range(23))
    random.Random(7).shuffle(places)
    rows = spills.new("ingested")
    for start in range(0, 23, 5):  # batches as the workers return them, out of order
        batch = places[start : start + 5]
        rows.add(items_to_table([items[p] for p in batch]), batch)
    assert rows.num_rows == 23 and rows.path.exists()
    chunks = list(rows.chunks(6))
    assert [c.num_rows for c in chunks] == [6, 6, 6, 5]
    back = [i for c in chunks for i in table_to_items(c)]
    assert [i.key for i in back] == [i.key for i in items]
    assert back[5].record.to_dict() == items[5].record.to_dict()
    rows.close()
    assert not rows.path.exists()


def test_rows_added_without_places_keep_their_order(spills, monkeypatch):
    monkeypatch.setattr(spill, "GROUP", 4)
    rows = spills.new("clips")
    items = [_item(i, 10) for i in range(9)]
    for a, b in ((0, 2), (2, 7), (7, 9)):
        rows.add(items_to_table(items[a:b]))
    assert [i.key for c in rows.chunks(4) for i in table_to_items(c)] == [i.key for i in items]
    after = rows.then("next")
    assert after.path.parent == rows.path.parent and after.path != rows.path
    with pytest.raises(RuntimeError, match="sealed"):
        rows.add(items_to_table(items[:1]))


def test_an_empty_spill_reads_nothing_and_leaves_no_file(spills):
    rows = spills.new("empty").seal()
    assert rows.num_rows == 0 and list(rows.chunks()) == [] and not rows.path.exists()
    with pytest.raises(ValueError, match="places"):
        spills.new("bad").add(items_to_table([_item(0, 10)]), [0, 1])
