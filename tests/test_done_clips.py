"""What earlier runs wrote, for a rerun to skip: a DuckDB file asked a window at a time, not a
driver dict of every key."""

from __future__ import annotations

import pyarrow as pa

from emodata.records import ClipRecord, Item, Source
from emodata.state import DoneClips, PriorState
from emodata.window import select
from emodata.writer import LedgerBook


def _fragment(*rows: tuple[str, str, int]) -> pa.Table:
    keys, sids, counts = zip(*rows, strict=True)
    return pa.table(
        {"key": list(keys), "source_id": list(sids), "source_clip_count": pa.array(counts)}
    )


def test_a_window_asks_for_its_sources_only():
    done = DoneClips()
    folder = done._db.folder
    done.add(_fragment(("s1_b", "s1", 3), ("s1_a", "s1", 3), ("s2_a", "s2", 1)))
    done.add(_fragment(("s1_a", "s1", 3), ("s3_a", "s3", 2)))  # a key seen again
    assert done.total == 5
    assert done.of(["s1", "s9", "s1"]) == {"s1": (["s1_a", "s1_b"], 3)}
    assert done.of([]) == {}
    done.close()
    assert not folder.exists()


def test_finished_sources_are_skipped_and_the_rest_carry_their_written_keys():
    prior = PriorState()
    prior.done.add(_fragment(("a_1", "a", 2), ("a_2", "a", 2), ("b_1", "b", 3)))
    sources = [Item(f"/in/{s}.mp4", ClipRecord(Source(path=f"/in/{s}.mp4", id=s))) for s in "abc"]
    todo, skipped = select(sources, prior, LedgerBook({}, "run"), {})
    assert [i.record.source.id for i in todo] == ["b", "c"]
    assert todo[0].record.work["done_keys"] == ["b_1"] and "done_keys" not in todo[1].record.work
    assert skipped == 3
    prior.done.close()
