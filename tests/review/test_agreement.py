"""Kappa values against published worked examples, and throughput from real store rows."""

from __future__ import annotations

import pytest

from emodata.review.agreement import agreement_report, cohen_kappa, fleiss_kappa, throughput

# Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories -> kappa 0.210
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def _ratings(table):
    return [[c for c, n in enumerate(row) for _ in range(n)] for row in table]


def test_fleiss_matches_the_worked_example():
    out = fleiss_kappa(_ratings(FLEISS_TABLE))
    assert out["items"] == 10
    assert out["observed"] == pytest.approx(0.378, abs=5e-4)
    assert out["expected"] == pytest.approx(0.213, abs=5e-4)
    assert out["kappa"] == pytest.approx(0.210, abs=5e-4)


def test_per_label_kappas_average_to_the_overall_kappa():
    out = fleiss_kappa(_ratings(FLEISS_TABLE))
    total = sum(sum(r) for r in FLEISS_TABLE)
    p = {c: sum(r[c] for r in FLEISS_TABLE) / total for c in range(5)}
    weighted = sum(p[c] * (1 - p[c]) * out["per_label"][c] for c in range(5))
    assert weighted / sum(p[c] * (1 - p[c]) for c in range(5)) == pytest.approx(out["kappa"])


def test_cohen_matches_the_worked_example():
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_degenerate_cases():
    assert cohen_kappa([], []) is None
    assert cohen_kappa(["x", "x"], ["x", "x"]) == 1.0
    assert fleiss_kappa([["a"], ["b"]])["kappa"] is None  # nobody rated twice
    perfect = fleiss_kappa([["a", "a"], ["b", "b", "b"], ["a", "a"]])
    assert perfect["kappa"] == pytest.approx(1.0)
    assert perfect["per_label"] == {"a": pytest.approx(1.0), "b": pytest.approx(1.0)}
    with pytest.raises(ValueError, match="same items"):
        cohen_kappa(["a"], [])


def test_report_from_store_decisions(store):
    labels = {"k1": "happy", "k2": "sad", "k3": "fear"}
    # k1: both agree (accept = the model's label); k2: disagree; k3: one reviewer only
    store.submit("k1", "alice", "accept", sample_version="v")
    store.submit("k1", "bob", "correct", sample_version="v", edits={"label": "happy"})
    store.submit("k2", "alice", "correct", sample_version="v", edits={"label": "angry"})
    store.submit("k2", "bob", "reject", reason="no face", sample_version="v")
    store.submit("k3", "alice", "accept", sample_version="v")
    rep = agreement_report(store.all(), labels)
    assert rep["items"] == 3
    assert rep["items_multi"] == 2
    (pair,) = rep["pairs"]
    assert (pair["reviewer_a"], pair["reviewer_b"], pair["shared"]) == ("alice", "bob", 2)
    assert pair["agreement"] == 0.5
    assert {r["label"] for r in rep["per_label"]} == {"happy", "angry", "(rejected)"}
    # a reviewer's newest decision replaces their earlier one
    store.submit("k2", "bob", "correct", sample_version="v", edits={"label": "angry"})
    assert agreement_report(store.all(), labels)["fleiss"] == pytest.approx(1.0)


def test_throughput_counts_per_reviewer(store):
    for i in range(5):
        store.submit(f"k{i}", "alice", "accept", sample_version="v")
    store.submit("k0", "bob", "reject", reason="blurry", sample_version="v")
    rows = {r["reviewer"]: r for r in throughput(store.all())}
    assert rows["alice"]["decisions"] == 5
    assert rows["alice"]["samples"] == 5
    assert rows["alice"]["per_hour"] > 0
    assert rows["bob"]["rejected"] == 1
    assert rows["bob"]["per_hour"] is None  # one decision: no rate yet
