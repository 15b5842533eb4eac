"""The review store: durable, append-only rows; conflicts recorded, never overwritten."""

from __future__ import annotations

import sqlite3

import pytest

from emodata.review.store import ReviewError, ReviewStore, store_path


def test_store_lives_under_the_run_and_uses_wal(run_dir, store):
    assert store.path == run_dir / "review" / "decisions.sqlite"
    assert store.path.exists()
    assert store.journal_mode() == "wal"


def test_remote_run_needs_an_explicit_store():
    with pytest.raises(ReviewError, match="--store"):
        store_path("s3://bucket/run")
    assert str(store_path("s3://bucket/run", "/tmp/x.sqlite")) == "/tmp/x.sqlite"


def test_a_decision_row_has_everything(store):
    d = store.submit(
        "k1",
        "alice",
        "correct",
        sample_version="v1",
        edits={"label": "sad", "valence": -0.5, "qa": {"1": "sad"}},
    )
    (row,) = store.history("k1")
    assert row == d
    assert (row.reviewer, row.sample_key, row.decision, row.sample_version) == (
        "alice",
        "k1",
        "correct",
        "v1",
    )
    assert row.edits == {"label": "sad", "valence": -0.5, "qa": {"1": "sad"}}
    assert row.decided_at.endswith("+00:00")
    assert row.conflicts == []


@pytest.mark.parametrize(
    ("decision", "kwargs", "message"),
    [
        ("maybe", {}, "decision must be one of"),
        ("reject", {}, "needs a reason"),
        ("correct", {}, "at least one edited field"),
        ("accept", {"edits": {"label": "sad"}}, "only corrections carry edits"),
        ("correct", {"edits": {"valence": 3}}, r"valence must be a number in \[-1, 1\]"),
        ("correct", {"edits": {"label": " "}}, "label must be non-empty"),
        ("correct", {"edits": {"emotion_confidence": 1}}, "not editable"),
        ("correct", {"edits": {"qa": {"x": "a"}}}, "qa edits"),
    ],
)
def test_bad_decisions_are_refused(store, decision, kwargs, message):
    with pytest.raises(ReviewError, match=message):
        store.submit("k", "alice", decision, sample_version="v", **kwargs)
    assert store.count() == 0


def test_reviewer_name_is_required(store):
    with pytest.raises(ReviewError, match="reviewer"):
        store.submit("k", "  ", "accept", sample_version="v")


def test_rows_cannot_be_updated_or_deleted(store):
    store.submit("k", "alice", "accept", sample_version="v")
    con = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("update decisions set decision = 'reject'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("delete from decisions")
    con.close()
    assert [d.decision for d in store.history("k")] == ["accept"]


def test_two_reviewers_editing_the_same_sample_both_keep_their_rows(store):
    base = store.latest_id("k")
    a = store.submit(
        "k", "alice", "correct", sample_version="v", edits={"label": "sad"}, base_id=base
    )
    # bob opened the sample before alice saved: his decision is kept and names hers
    b = store.submit(
        "k", "bob", "correct", sample_version="v", edits={"label": "fear"}, base_id=base
    )
    assert a.conflicts == []
    assert b.conflicts == [a.id]
    assert [d.edits["label"] for d in store.history("k")] == ["sad", "fear"]
    # carol saw both: no conflict for her
    c = store.submit("k", "carol", "accept", sample_version="v", base_id=store.latest_id("k"))
    assert c.conflicts == []


def test_own_earlier_decision_is_not_a_conflict(store):
    store.submit("k", "alice", "accept", sample_version="v")
    d = store.submit("k", "alice", "reject", reason="blurry", sample_version="v", base_id=0)
    assert d.conflicts == []
    assert len(store.history("k")) == 2


def test_retry_with_the_same_uid_adds_no_row(store):
    first = store.submit("k", "alice", "accept", sample_version="v", uid="u-1")
    again = store.submit("k", "alice", "accept", sample_version="v", uid="u-1")
    assert first == again
    assert store.count() == 1


def test_decisions_survive_a_restart(run_dir, store):
    store.submit("k", "alice", "accept", sample_version="v")
    store.submit("k2", "bob", "reject", reason="no face", sample_version="v")
    store.close()
    reopened = ReviewStore(store_path(str(run_dir)))
    assert [(d.sample_key, d.reviewer, d.decision) for d in reopened.all()] == [
        ("k", "alice", "accept"),
        ("k2", "bob", "reject"),
    ]
    assert reopened.reviewers() == ["alice", "bob"]
    assert [d.sample_key for d in reopened.since(1)] == ["k2"]
