"""Which samples a release holds, and in which split, decided before anything is written.

One pass over the index resolves every sample's review decisions and applies the release's
selections. When splits are asked, the kept samples' JSON members are read once (ranged reads)
for their face-track embeddings; identities are clustered over all of them and whole units
(source, identity) are assigned to splits. The result (:class:`Plan`) names each kept sample with
what the writers need; the orchestrator (:mod:`emodata.review.export`) then reads only those.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from emodata import stats
from emodata.exports import identity, splits
from emodata.exports.formats import parse_formats
from emodata.exports.labels import LabelSpace
from emodata.exports.labels import check as check_labels
from emodata.exports.labels import load as load_labels
from emodata.exports.settings import ReleaseConfig
from emodata.review.decisions import Resolution, resolve
from emodata.review.media import members_of, shard_url
from emodata.review.store import Decision, ReviewStore

_PLAN_COLUMNS = "key, source_id, shard, shard_members, emotion_label, valence, arousal, qa_count"


@dataclass
class ReleaseOptions:
    """What ``emodata export`` renders beyond the reviewed webdataset release."""

    formats: list[str] = field(default_factory=lambda: ["webdataset"])
    split: dict[str, float] | None = None
    seed: int = 0
    labels: LabelSpace | None = None
    settings: ReleaseConfig = field(default_factory=ReleaseConfig)

    @classmethod
    def parse(
        cls,
        formats: str | None = None,
        split: str | None = None,
        seed: int = 0,
        settings: ReleaseConfig | None = None,
        *,
        labels: str | None = None,
    ) -> ReleaseOptions:
        """From the CLI's strings; a bad value raises ValueError naming it."""
        return cls(
            formats=parse_formats(formats),
            split=splits.parse_split(split) if split else None,
            seed=seed,
            labels=load_labels(labels) if labels else None,
            settings=settings or ReleaseConfig(),
        )

    @property
    def text_formats(self) -> list[str]:
        return [f for f in self.formats if f != "webdataset"]


@dataclass
class Entry:
    """A sample that goes into the release."""

    res: Resolution
    source_id: str = ""
    split: str | None = None
    identities: list[int] = field(default_factory=list)
    export_label: str | None = None


@dataclass
class Plan:
    entries: dict[str, Entry] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    model_labels: dict[str, str | None] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def split_names(self) -> list[str | None]:
        return list(self.info.get("split_ratios") or [None])


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
    kept: list[dict[str, Any]] = []
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
        plan.entries[key] = Entry(res, source_id=row["source_id"])
        kept.append(row)
    if options.labels is not None:
        _map_labels(plan, kept, options.labels)
    if options.split:
        _split(out_dir, plan, kept, options)
    return plan


def _map_labels(plan: Plan, kept: list[dict[str, Any]], space: LabelSpace) -> None:
    """Each kept sample's label (after review) in ``space``; unmapped labels are an error."""
    final = {}
    for row in kept:
        edits = plan.entries[row["key"]].res.edits
        final[row["key"]] = tuple(
            edits.get(name, row[column])
            for name, column in (("label", "emotion_label"), ("valence", "valence"),
                                 ("arousal", "arousal"))
        )  # fmt: skip
    check_labels(space, Counter(label for label, _, _ in final.values()))
    for key, (label, valence, arousal) in final.items():
        plan.entries[key].export_label = space.apply(label, valence, arousal)
    plan.info["label_space"] = space.describe()


def read_docs(out_dir: str, rows: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(key, sample JSON) of ``rows``, one open shard at a time, in member order."""
    by_shard: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_shard[row["shard"]].append(row)
    for shard, shard_rows in sorted(by_shard.items()):
        fs, path = shard_url(out_dir, shard)
        wanted = [(members_of(r)[f"{r['key']}.json"], r["key"]) for r in shard_rows]
        with fs.open(path, "rb") as fh:
            for (offset, size), key in sorted(wanted):
                fh.seek(offset)
                yield key, json.loads(fh.read(size))


def _split(out_dir: str, plan: Plan, kept: list[dict[str, Any]], options: ReleaseOptions) -> None:
    """Identities over every kept face track, then whole units into splits."""
    position = {row["key"]: i for i, row in enumerate(kept)}
    tracks: list[identity.Track] = []
    for key, doc in read_docs(out_dir, kept):
        faces = doc.get("faces") or {}
        for t in faces.get("tracks") or []:
            if t.get("embedding"):
                tracks.append(
                    identity.Track(position[key], faces.get("embedding_model"), t["embedding"])
                )
    ids, counts = identity.identities(tracks, options.settings.identity)
    per_sample: list[list[int]] = [[] for _ in kept]
    for t, ident in zip(tracks, ids, strict=True):
        if ident >= 0 and int(ident) not in per_sample[t.owner]:
            per_sample[t.owner].append(int(ident))
    unit_of = splits.units([row["source_id"] for row in kept], per_sample)
    assigned = splits.assign(unit_of, options.split or {}, options.seed)
    for row, split, idents in zip(kept, assigned, per_sample, strict=True):
        entry = plan.entries[row["key"]]
        entry.split, entry.identities = split, sorted(idents)
    plan.info.update(counts)
    plan.info.update(
        split_ratios=options.split,
        seed=options.seed,
        units=int(unit_of.max()) + 1 if len(unit_of) else 0,
        samples_with_faces=sum(1 for ids_ in per_sample if ids_),
    )
