"""How several reviewers' decisions resolve into one outcome per sample."""

from __future__ import annotations

from emodata.review.decisions import pairwise_agreement, resolve, status_of
from emodata.review.store import Decision


def _d(i: int, reviewer: str, decision: str, edits: dict | None = None) -> Decision:
    return Decision(
        id=i,
        uid=str(i),
        sample_key="k",
        reviewer=reviewer,
        decided_at="2026-01-01T00:00:00+00:00",
        decision=decision,
        reason="bad" if decision == "reject" else None,
        edits=edits or {},
        sample_version="v",
        base_id=0,
    )


def test_unreviewed_samples_are_kept_unchanged():
    r = resolve("k", [], "happy")
    assert (r.status, r.keep, r.edits, r.reviewed) == ("unreviewed", True, {}, False)


def test_single_reviewer_decides():
    assert resolve("k", [_d(1, "a", "accept")], "happy").status == "accepted"
    r = resolve("k", [_d(1, "a", "reject")], "happy")
    assert (r.status, r.keep, r.reject_reasons) == ("rejected", False, ["bad"])
    r = resolve("k", [_d(1, "a", "correct", {"label": "sad", "caption": "c"})], "happy")
    assert (r.status, r.keep, r.edits) == ("corrected", True, {"label": "sad", "caption": "c"})


def test_newest_decision_of_a_reviewer_counts():
    r = resolve("k", [_d(1, "a", "reject"), _d(2, "a", "accept")], "happy")
    assert (r.status, r.keep, r.decision_ids) == ("accepted", True, [2])


def test_keep_reject_tie_is_an_unresolved_conflict():
    r = resolve("k", [_d(1, "a", "accept"), _d(2, "b", "reject")], "happy")
    assert (r.status, r.keep, r.agreement) == ("conflict", False, 0.0)


def test_majority_keeps_and_label_votes():
    ds = [
        _d(1, "a", "correct", {"label": "sad"}),
        _d(2, "b", "correct", {"label": "sad", "valence": -0.5}),
        _d(3, "c", "accept"),
        _d(4, "d", "reject"),
    ]
    r = resolve("k", ds, "happy")
    assert r.status == "conflict"
    assert r.keep
    assert r.edits == {"label": "sad", "valence": -0.5}
    assert r.agreement == 2 / 12  # one agreeing pair (a, b) of six, as a share of ordered pairs


def test_accepting_agrees_with_a_correction_to_the_same_label():
    ds = [_d(1, "a", "accept"), _d(2, "b", "correct", {"label": "happy"})]
    assert status_of(ds, "happy") == "corrected"
    assert resolve("k", ds, "happy").edits == {}


def test_different_values_for_the_same_field_conflict():
    ds = [_d(1, "a", "correct", {"caption": "x"}), _d(2, "b", "correct", {"caption": "y"})]
    r = resolve("k", ds, "happy")
    assert r.status == "conflict"
    assert r.edits == {"caption": "y"}  # the newest correction of a field wins


def test_pairwise_agreement():
    assert pairwise_agreement(["a"]) is None
    assert pairwise_agreement(["a", "a", "a"]) == 1.0
    assert pairwise_agreement(["a", "b"]) == 0.0
