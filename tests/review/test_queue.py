"""Queue filters, sorting and paging run in DuckDB over the Parquet index, with review status."""

from __future__ import annotations

import json

import pytest

from emodata import stats
from emodata.review.queue import NONE, Filters, ReviewQueue


def _all(run_dir, where: str = "true") -> list[dict]:
    return stats.query(str(run_dir), f"select * from idx where {where} order by key")


def _keys(queue: ReviewQueue, f: Filters) -> list[str]:
    rows, total = queue.page(f, 0, 1000)
    assert len(rows) == total
    return [r["key"] for r in rows]


def test_page_and_total(queue, run_dir):
    everything = [r["key"] for r in _all(run_dir)]
    rows, total = queue.page(Filters(), 0, 10)
    assert total == len(everything) == 60
    assert [r["key"] for r in rows] == everything[:10]
    rows2, _ = queue.page(Filters(), 50, 10)
    assert [r["key"] for r in rows2] == everything[50:]
    assert all(r["status"] == "unreviewed" for r in rows)


def test_filters_match_sql_ground_truth(queue, run_dir):
    f = Filters(labels=["happy", "sad"], verdicts=["accepted"])
    want = [
        r["key"]
        for r in _all(run_dir)
        if r["emotion_label"] in ("happy", "sad") and r["critic_verdict"] == "accepted"
    ]
    assert want and _keys(queue, f) == want
    missing = _keys(queue, Filters(labels=[NONE]))
    assert missing == [r["key"] for r in _all(run_dir, "emotion_label is null")]
    assert missing, "the synthetic run has samples without annotations"
    conf = _keys(queue, Filters(confidence=(0.5, 0.8)))
    assert conf == [r["key"] for r in _all(run_dir, "emotion_confidence between 0.5 and 0.8")]
    ds = _keys(queue, Filters(datasets=["MELD"]))
    assert ds == [r["key"] for r in _all(run_dir, "source_dataset = 'MELD'")]


def test_text_search_covers_transcript_and_caption(queue, run_dir):
    rows = _all(run_dir)
    word = next(r["asr_text"].split()[0] for r in rows if r["asr_text"])
    hits = _keys(queue, Filters(text=word.upper()))
    want = [
        r["key"]
        for r in rows
        if word in (r["asr_text"] or "").lower() or word in (r["caption"] or "").lower()
    ]
    assert hits == want
    assert _keys(queue, Filters(text="looks happy")) == [
        r["key"] for r in rows if "looks happy" in (r["caption"] or "")
    ]


def test_user_text_is_a_parameter_not_sql(queue):
    assert _keys(queue, Filters(text="x') or 1=1 --")) == []
    assert _keys(queue, Filters(labels=["happy' or '1'='1"])) == []
    with pytest.raises(ValueError, match="sort must be one of"):
        queue.page(Filters(sort="key; drop table idx"))


def test_sort_by_confidence_puts_missing_last(queue, run_dir):
    rows, _ = queue.page(Filters(sort="confidence", descending=True), 0, 1000)
    conf = [r["emotion_confidence"] for r in rows]
    present = [c for c in conf if c is not None]
    assert present == sorted(present, reverse=True)
    assert conf[len(present) :] == [None] * (len(conf) - len(present))


def test_status_filter_follows_the_store(queue, store):
    keys = _keys(queue, Filters())
    store.submit(keys[0], "alice", "accept", sample_version="v")
    store.submit(keys[1], "alice", "reject", reason="no face", sample_version="v")
    store.submit(keys[2], "alice", "correct", sample_version="v", edits={"caption": "x"})
    store.submit(keys[2], "bob", "correct", sample_version="v", edits={"caption": "y"})
    assert _keys(queue, Filters(statuses=["accepted"])) == [keys[0]]
    assert _keys(queue, Filters(statuses=["rejected"])) == [keys[1]]
    assert _keys(queue, Filters(statuses=["conflict"])) == [keys[2]]
    assert len(_keys(queue, Filters(statuses=["unreviewed"]))) == 57
    rows, _ = queue.page(Filters(statuses=["conflict"]))
    assert rows[0]["reviewers"] == 2
    assert queue.status(keys[1]) == "rejected"


def test_a_second_queue_sees_decisions_from_another_process_store(queue, run_dir, store):
    other = ReviewQueue(str(run_dir), type(store)(store.path))
    key = _keys(queue, Filters())[5]
    store.submit(key, "alice", "accept", sample_version="v")
    assert other.status(key) == "accepted"


def test_next_key_moves_on_and_handles_filtered_out_current(queue, store):
    f = Filters(statuses=["unreviewed"])
    keys = _keys(queue, f)
    assert queue.next_key(f, 0, keys[0]) == (keys[1], 1)
    store.submit(keys[0], "alice", "accept", sample_version="v")
    # the reviewed sample left the filtered queue: the next one moved up into position 0
    assert queue.next_key(f, 0, keys[0]) == (keys[1], 0)
    assert queue.next_key(Filters(), 59, _keys(queue, Filters())[59]) == (None, 60)


def test_row_and_options(queue, run_dir):
    key = _all(run_dir)[3]["key"]
    row = queue.row(key)
    assert row["key"] == key
    assert json.loads(row["shard_members"])
    assert queue.row("nope") is None
    opts = queue.options()
    assert NONE in opts["labels"] and "happy" in opts["labels"]
    assert set(opts["datasets"]) == {"MELD", "CREMA-D", "vlogs"}
    assert queue.count() == 60
