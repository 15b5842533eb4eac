"""From many reviewers' decisions to one outcome per sample: status, agreement and edits.

One rule set serves the queue (review status filter), the agreement page and the export, so a
sample shown as "conflict" in the app is resolved by exactly the rules the release uses:

- each reviewer counts once, with their newest decision on the sample;
- the sample is kept when more reviewers keep it (accept or correct) than reject it; a tie is
  not kept (an unresolved conflict stays out of a release until someone breaks it);
- the label is the most common effective label among keepers (a reviewer who accepts votes for
  the model's label), ties going to the newest decision; every other edited field takes the
  newest correction that set it;
- reviewers disagree (status "conflict") when their keep/reject votes differ, their effective
  labels differ, or they set the same field to different values.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from emodata.review.store import Decision, ReviewStore

STATUSES = ("unreviewed", "accepted", "corrected", "rejected", "conflict")
REJECTED = "(rejected)"


def latest_by_reviewer(decisions: Iterable[Decision]) -> list[Decision]:
    """Each reviewer's newest decision, oldest first."""
    newest: dict[str, Decision] = {}
    for d in decisions:
        if d.reviewer not in newest or d.id > newest[d.reviewer].id:
            newest[d.reviewer] = d
    return sorted(newest.values(), key=lambda d: d.id)


def effective_label(d: Decision, model_label: str | None) -> str | None:
    """The label a reviewer's decision stands for: their correction, the model's, or rejected."""
    if d.decision == "reject":
        return REJECTED
    return d.edits.get("label", model_label)


def pairwise_agreement(labels: list[str | None]) -> float | None:
    """Share of reviewer pairs that give the same label (Fleiss' P_i); None under two raters."""
    n = len(labels)
    if n < 2:
        return None
    counts = Counter(labels)
    return sum(c * (c - 1) for c in counts.values()) / (n * (n - 1))


def _field_conflict(latest: list[Decision]) -> bool:
    seen: dict[str, str] = {}
    for d in latest:
        for name, value in d.edits.items():
            if name == "label":
                continue  # labels are compared as effective labels
            text = json.dumps(value, sort_keys=True)
            if seen.setdefault(name, text) != text:
                return True
    return False


def status_of(latest: list[Decision], model_label: str | None = None) -> str:
    if not latest:
        return "unreviewed"
    labels = {effective_label(d, model_label) for d in latest}
    if len(labels) > 1 or _field_conflict(latest):
        return "conflict"
    if latest[0].decision == "reject":
        return "rejected"
    return "corrected" if any(d.decision == "correct" for d in latest) else "accepted"


@dataclass
class Resolution:
    key: str
    status: str
    keep: bool
    edits: dict[str, Any] = field(default_factory=dict)
    reviewers: list[str] = field(default_factory=list)
    agreement: float | None = None
    decision_ids: list[int] = field(default_factory=list)
    reject_reasons: list[str] = field(default_factory=list)

    @property
    def reviewed(self) -> bool:
        return bool(self.reviewers)


def resolve(key: str, decisions: Iterable[Decision], model_label: str | None) -> Resolution:
    latest = latest_by_reviewer(decisions)
    if not latest:
        return Resolution(key, "unreviewed", keep=True)
    keepers = [d for d in latest if d.keeps]
    keep = len(keepers) > len(latest) - len(keepers)
    edits: dict[str, Any] = {}
    for d in keepers:  # oldest first: newer corrections overwrite older ones field by field
        edits.update({k: v for k, v in d.edits.items() if k != "label"})
    if keepers:
        votes = Counter(effective_label(d, model_label) for d in keepers)
        top = max(votes.values())
        tied = {lab for lab, c in votes.items() if c == top}
        label = next(
            effective_label(d, model_label)
            for d in reversed(keepers)
            if effective_label(d, model_label) in tied
        )
        if label is not None and label != model_label:
            edits["label"] = label
    return Resolution(
        key=key,
        status=status_of(latest, model_label),
        keep=keep,
        edits=edits if keep else {},
        reviewers=[d.reviewer for d in latest],
        agreement=pairwise_agreement([effective_label(d, model_label) for d in latest]),
        decision_ids=[d.id for d in latest],
        reject_reasons=[d.reason or "" for d in latest if d.decision == "reject"],
    )


class DecisionIndex:
    """All decisions grouped by sample, refreshed incrementally from the store.

    Reading only the rows added since the last refresh keeps the queue's status filter cheap
    even with a hundred thousand decisions on record.
    """

    def __init__(self, store: ReviewStore) -> None:
        self.store = store
        self.by_key: dict[str, list[Decision]] = {}
        self.last_id = 0
        self.changed: set[str] = set()

    def refresh(self) -> bool:
        """Pull new decisions; True when anything changed."""
        new = self.store.since(self.last_id)
        for d in new:
            self.by_key.setdefault(d.sample_key, []).append(d)
            self.changed.add(d.sample_key)
        if new:
            self.last_id = new[-1].id
        return bool(new)

    def latest(self, key: str) -> list[Decision]:
        return latest_by_reviewer(self.by_key.get(key, []))
