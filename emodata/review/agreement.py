"""Inter-annotator agreement (Cohen's and Fleiss' kappa, overall and per label) and throughput.

Agreement is computed on effective labels (see :mod:`emodata.review.decisions`): a reviewer who
accepts votes for the model's label, a correction for its new label, a rejection for the
pseudo-label "(rejected)". Fleiss' kappa allows a varying number of raters per sample (each
sample's observed agreement uses its own rater count); per-label kappa is Fleiss' per-category
kappa, which says how reliably reviewers agree on *that* label.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import combinations, pairwise
from typing import Any

from emodata.review.decisions import effective_label, latest_by_reviewer
from emodata.review.store import Decision


def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> float | None:
    """Cohen's kappa of two raters over the same items; None with no items.

    Perfect agreement on a single category has no chance correction to make: it returns 1.0.
    """
    if len(a) != len(b):
        raise ValueError("both raters must label the same items")
    n = len(a)
    if n == 0:
        return None
    po = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[k] * cb[k] for k in ca.keys() | cb.keys()) / (n * n)
    if pe >= 1.0:
        return 1.0 if po >= 1.0 else 0.0
    return (po - pe) / (1 - pe)


def fleiss_table(ratings: Iterable[Sequence[Any]]) -> tuple[list[dict[Any, int]], list[Any]]:
    """Per item, the count of raters per category; items with fewer than two raters dropped."""
    rows = [Counter(r) for r in ratings if len(r) >= 2]
    cats = sorted({c for r in rows for c in r}, key=str)
    return [dict(r) for r in rows], cats


def fleiss_kappa(ratings: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """Fleiss' kappa over items rated by two or more raters, overall and per category.

    Returns ``{"kappa", "per_label": {label: kappa}, "items", "observed", "expected"}``; kappas
    are None when undefined (no items, or one category only).
    """
    rows, cats = fleiss_table(ratings)
    if not rows:
        return {"kappa": None, "per_label": {}, "items": 0, "observed": None, "expected": None}
    sizes = [sum(r.values()) for r in rows]
    total = sum(sizes)
    p = {c: sum(r.get(c, 0) for r in rows) / total for c in cats}
    p_items = [
        sum(v * (v - 1) for v in r.values()) / (n * (n - 1))
        for r, n in zip(rows, sizes, strict=True)
    ]
    observed = sum(p_items) / len(rows)
    expected = sum(v * v for v in p.values())
    kappa = None if expected >= 1.0 else (observed - expected) / (1 - expected)
    pairs = sum(n * (n - 1) for n in sizes)
    per_label: dict[Any, float | None] = {}
    for c in cats:
        spread = p[c] * (1 - p[c])
        disagree = sum(r.get(c, 0) * (n - r.get(c, 0)) for r, n in zip(rows, sizes, strict=True))
        per_label[c] = None if spread == 0 else 1 - disagree / (pairs * spread)
    return {
        "kappa": kappa,
        "per_label": per_label,
        "items": len(rows),
        "observed": observed,
        "expected": expected,
    }


def label_sets(
    decisions: Iterable[Decision], model_labels: dict[str, str | None]
) -> dict[str, dict[str, str | None]]:
    """{sample key: {reviewer: effective label}} from each reviewer's newest decision."""
    by_key: dict[str, list[Decision]] = defaultdict(list)
    for d in decisions:
        by_key[d.sample_key].append(d)
    return {
        key: {d.reviewer: effective_label(d, model_labels.get(key)) for d in latest_by_reviewer(ds)}
        for key, ds in by_key.items()
    }


def agreement_report(
    decisions: Iterable[Decision], model_labels: dict[str, str | None]
) -> dict[str, Any]:
    """Fleiss overall and per label, Cohen for every pair of reviewers, label support."""
    sets = label_sets(decisions, model_labels)
    fleiss = fleiss_kappa([list(v.values()) for v in sets.values()])
    reviewers = sorted({r for v in sets.values() for r in v})
    pairs = []
    for a, b in combinations(reviewers, 2):
        shared = [v for v in sets.values() if a in v and b in v]
        kappa = cohen_kappa([v[a] for v in shared], [v[b] for v in shared])
        agree = sum(v[a] == v[b] for v in shared)
        pairs.append(
            {
                "reviewer_a": a,
                "reviewer_b": b,
                "shared": len(shared),
                "agreement": agree / len(shared) if shared else None,
                "cohen_kappa": kappa,
            }
        )
    support = Counter(lab for v in sets.values() if len(v) >= 2 for lab in v.values())
    per_label = [
        {"label": lab, "ratings": support[lab], "fleiss_kappa": k}
        for lab, k in sorted(fleiss["per_label"].items(), key=lambda kv: str(kv[0]))
    ]
    return {
        "fleiss": fleiss["kappa"],
        "items_multi": fleiss["items"],
        "items": len(sets),
        "per_label": per_label,
        "pairs": pairs,
    }


def throughput(decisions: Iterable[Decision], idle_gap_s: float = 300.0) -> list[dict[str, Any]]:
    """Per reviewer: decisions, samples, active time and decisions per active hour.

    Active time sums the gaps between a reviewer's consecutive decisions, leaving out gaps longer
    than ``idle_gap_s`` (breaks) so a reviewer who paused overnight is not counted as slow.
    """
    by_rev: dict[str, list[Decision]] = defaultdict(list)
    for d in decisions:
        by_rev[d.reviewer].append(d)
    out = []
    for reviewer, ds in sorted(by_rev.items()):
        times = sorted(datetime.fromisoformat(d.decided_at) for d in ds)
        gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
        busy = [g for g in gaps if g <= idle_gap_s]
        active = sum(busy)
        kinds = Counter(d.decision for d in ds)
        out.append(
            {
                "reviewer": reviewer,
                "decisions": len(ds),
                "samples": len({d.sample_key for d in ds}),
                "accepted": kinds["accept"],
                "corrected": kinds["correct"],
                "rejected": kinds["reject"],
                "first": times[0].isoformat(timespec="seconds"),
                "last": times[-1].isoformat(timespec="seconds"),
                "active_min": round(active / 60, 2),
                "per_hour": round(len(busy) / (active / 3600), 1) if active > 0 else None,
                "median_s": round(sorted(gaps)[len(gaps) // 2], 1) if gaps else None,
            }
        )
    return out
