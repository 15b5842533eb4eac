"""Which samples a release holds, decided before anything is written.

One pass over the index resolves every sample's review decisions and applies the release's
selections; the result (:class:`Plan`) names each kept sample with what the writers need. The
orchestrator (:mod:`emodata.review.export`) then reads only the kept samples' members.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from emodata import stats
from emodata.exports.formats import parse_formats
from emodata.review.decisions import Resolution, resolve
from emodata.review.store import Decision, ReviewStore

_PLAN_COLUMNS = "key, emotion_label, qa_count"


@dataclass
class ReleaseOptions:
    """What ``emodata export`` renders beyond the reviewed webdataset release."""

    formats: list[str] = field(default_factory=lambda: ["webdataset"])

    @classmethod
    def parse(cls, formats: str | None = None) -> ReleaseOptions:
        return cls(formats=parse_formats(formats))

    @property
    def text_formats(self) -> list[str]:
        return [f for f in self.formats if f != "webdataset"]


@dataclass
class Entry:
    """A sample that goes into the release."""

    res: Resolution


@dataclass
class Plan:
    entries: dict[str, Entry] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    model_labels: dict[str, str | None] = field(default_factory=dict)


def grouped(store: ReviewStore) -> dict[str, list[Decision]]:
    out: dict[str, list[Decision]] = defaultdict(list)
    for d in store.all():
        out[d.sample_key].append(d)
    return out


def excluded(res: Resolution, reviewed_only: bool, min_agreement: float | None) -> str | None:
    """Why a sample stays out of the release, or None when it goes in."""
    if reviewed_only and not res.reviewed:
        return "unreviewed"
    if res.reviewed and not res.keep:
        return "rejected" if res.status == "rejected" else "unresolved_conflict"
    if min_agreement is not None and (res.agreement is None or res.agreement < min_agreement):
        return "below_min_agreement"
    return None


def build(
    out_dir: str,
    decisions: dict[str, list[Decision]],
    options: ReleaseOptions,
    *,
    reviewed_only: bool = False,
    min_agreement: float | None = None,
) -> Plan:
    plan = Plan()
    rows = stats.query(out_dir, f"select {_PLAN_COLUMNS} from idx order by key")
    for row in rows:
        key = row["key"]
        plan.model_labels[key] = row["emotion_label"]
        res = resolve(key, decisions.get(key, []), row["emotion_label"])
        why = excluded(res, reviewed_only, min_agreement)
        if why is None and options.text_formats and row["qa_count"] is None:
            why = "no_annotation"  # nothing to render: every format holds the same samples
        if why is not None:
            plan.counts[f"excluded_{why}"] += 1
            continue
        plan.entries[key] = Entry(res)
    return plan
