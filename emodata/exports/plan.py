"""Which samples a release holds, and in which split, decided before anything is written.

One pass over the index resolves every sample's review decisions and applies the release's
selections. For near-duplicates and splits, the kept samples' JSON members are read once
(ranged reads) for their frame hashes and face-track embeddings: near-duplicate groups are
found (and thinned with ``--dedup near``), identities are clustered over every face track, and
whole units (source, identity, group) are assigned to splits. The result (:class:`Plan`) names
each kept sample with what the writers need; the orchestrator (:mod:`emodata.review.export`)
then reads only those.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb

from emodata import layout, stats
from emodata.exports import identity, neardup, splits
from emodata.exports.formats import MEDIA, parse_formats
from emodata.exports.labels import LabelSpace
from emodata.exports.labels import check as check_labels
from emodata.exports.labels import load as load_labels
from emodata.exports.settings import ReleaseConfig
from emodata.fingerprint import frame_hashes
from emodata.records import ClipRecord
from emodata.review.decisions import Resolution, resolve
from emodata.review.media import members_of, shard_url, unsafe_rows
from emodata.review.store import Decision, ReviewStore
from emodata.stats import select_sql

log = logging.getLogger(__name__)

_PLAN_COLUMNS = (
    "key, source_id, shard, shard_members, emotion_label, valence, arousal, qa_count, "
    "duration_s, critic_verdict"
)
_FRAME = re.compile(r"frame\d+\.jpg")
#: ``--dedup near`` keeps, per group, the longest clip, then the best critic verdict, then the
#: first key
_VERDICT_RANK = {"accepted": 3, "revised": 2, None: 1, "rejected": 0}


def _keep_order(row: dict[str, Any]) -> tuple[float, int, str]:
    return (-(row["duration_s"] or 0.0), -_VERDICT_RANK.get(row["critic_verdict"], 1), row["key"])


@dataclass
class ReleaseOptions:
    """What ``emodata export`` renders beyond the reviewed webdataset release."""

    formats: list[str] = field(default_factory=lambda: ["webdataset"])
    split: dict[str, float] | None = None
    seed: int = 0
    labels: LabelSpace | None = None
    dedup: str | None = None
    where: str | None = None
    #: unreviewed samples whose tree the critic rejected stay out unless this is set; a
    #: reviewer who keeps one overrides the critic
    critic_rejected: bool = False
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
        dedup: str | None = None,
        where: str | None = None,
        critic_rejected: bool = False,
    ) -> ReleaseOptions:
        """From the CLI's strings; a bad value raises ValueError naming it."""
        if dedup not in (None, "near"):
            raise ValueError(f"--dedup {dedup!r}: the only rule is 'near'")
        return cls(
            where=where.strip() if where and where.strip() else None,
            dedup=dedup,
            critic_rejected=critic_rejected,
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
    split: str | None = None
    identities: list[int] = field(default_factory=list)
    export_label: str | None = None
    near_dup_group: str | None = None


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


class WhereError(ValueError):
    """``--where`` is not a query DuckDB can run over the index; the message names it."""


def selected(out_dir: str, where: str) -> set[str]:
    """Keys of the run's index rows that ``where`` selects (as the loader's ``query``)."""
    with stats.connect(out_dir) as con:
        try:
            return {r[0] for r in con.execute(f"select key from ({select_sql(where)})").fetchall()}
        except duckdb.Error as e:
            first = str(e).strip().splitlines()[0]
            raise WhereError(
                f"--where {where!r} is not a valid query over the index: {first}"
            ) from None


def excluded(
    res: Resolution,
    reviewed_only: bool,
    min_agreement: float | None,
    critic_verdict: str | None = None,
    critic_rejected: bool = False,
) -> str | None:
    """Why a sample stays out of the release, or None when it goes in. A tree the critic
    rejected ships only when a reviewer kept it, or when ``critic_rejected`` allows it."""
    if reviewed_only and not res.reviewed:
        return "unreviewed"
    if res.reviewed and not res.keep:
        return "rejected" if res.status == "rejected" else "unresolved_conflict"
    if not res.reviewed and critic_verdict == "rejected" and not critic_rejected:
        return "critic_rejected"
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
    chosen = selected(out_dir, options.where) if options.where else None
    unsafe = unsafe_paths(out_dir, rows)
    kept: list[dict[str, Any]] = []
    for row in rows:
        key = row["key"]
        plan.model_labels[key] = row["emotion_label"]
        if key in unsafe:
            log.warning("left out: %s (the index is damaged or was edited)", unsafe[key])
            plan.counts["excluded_unsafe_path"] += 1
            continue
        if chosen is not None and key not in chosen:
            plan.counts["excluded_where"] += 1
            continue
        res = resolve(key, decisions.get(key, []), row["emotion_label"])
        why = excluded(res, reviewed_only, min_agreement, row["critic_verdict"],
                       options.critic_rejected)  # fmt: skip
        if why is None and options.text_formats and row["qa_count"] is None:
            why = "no_annotation"  # nothing to render: every format holds the same samples
        if why is not None:
            plan.counts[f"excluded_{why}"] += 1
            continue
        plan.entries[key] = Entry(res)
        kept.append(row)
    found = _scan(out_dir, kept) if options.dedup or options.split else {}
    if found:
        kept = _near_duplicates(out_dir, plan, kept, options, found)
    if options.labels is not None:
        _map_labels(plan, kept, options.labels)
    if options.split:
        _split(plan, kept, options, found)
    return plan


def unsafe_paths(out_dir: str, rows: list[dict[str, Any]]) -> dict[str, str]:
    """Key -> why, for rows whose shard leads outside the run's ``shards/`` or whose key would
    name a file outside the release's folders (``media/KEY.mp4``, tar members ``KEY.json``):
    such samples are left out, and their files are never opened."""
    bad = unsafe_rows(out_dir, rows)
    for row in rows:
        try:
            layout.inside(MEDIA, f"{row['key']}.mp4", local=False)
        except layout.UnsafePath:
            bad.setdefault(row["key"], f"sample key {row['key']!r} leads outside the release")
    return bad


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


def read_members(
    out_dir: str, rows: list[dict[str, Any]], names: Callable[[dict[str, Any]], list[str]]
) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {member: bytes}) of the ``names(row)`` members of ``rows``, one open shard at a
    time, each shard read in offset order."""
    by_shard: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_shard[row["shard"]].append(row)
    for shard, shard_rows in sorted(by_shard.items()):
        fs, path = shard_url(out_dir, shard)
        with fs.open(path, "rb") as fh:
            for row in sorted(shard_rows, key=lambda r: min(members_of(r).values())):
                where = members_of(row)
                out = {}
                for name in names(row):
                    offset, size = where[name]
                    fh.seek(offset)
                    out[name] = fh.read(size)
                yield row["key"], out


def read_docs(out_dir: str, rows: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(key, sample JSON) of ``rows``."""
    for key, data in read_members(out_dir, rows, lambda r: [f"{r['key']}.json"]):
        yield key, json.loads(data[f"{key}.json"])


def _scan(out_dir: str, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per key, what grouping needs from the sample JSON: frame hashes and face tracks."""
    found = {}
    for key, doc in read_docs(out_dir, rows):
        record = ClipRecord.from_dict(doc)
        faces = record.faces
        tracks = [
            (faces.embedding_model, t.embedding)
            for t in (faces.tracks if faces is not None else [])
            if t.embedding
        ]
        found[key] = {"hashes": record.clip.frame_hashes, "tracks": tracks}
    return found


def signatures(
    out_dir: str, rows: list[dict[str, Any]], found: dict[str, dict[str, Any]]
) -> tuple[dict[str, list[str]], int]:
    """Frame hashes per key: recorded by the segment stage, else computed here from the
    ``frameNNN.jpg`` members (runs that predate them). Also: how many were computed."""
    hashes = {r["key"]: found[r["key"]]["hashes"] for r in rows}
    missing = [r for r in rows if hashes[r["key"]] is None]

    def frames(row: dict[str, Any]) -> list[str]:
        return sorted(n for n in members_of(row) if _FRAME.fullmatch(n.split(".", 1)[1]))

    for key, data in read_members(out_dir, missing, frames):
        hashes[key] = frame_hashes([data[n] for n in sorted(data)])
    return {k: v or [] for k, v in hashes.items()}, len(missing)


def _near_duplicates(
    out_dir: str,
    plan: Plan,
    kept: list[dict[str, Any]],
    options: ReleaseOptions,
    found: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Group near-duplicate clips; with ``--dedup near`` keep one per group. Returns the rows
    still kept."""
    hashes, computed = signatures(out_dir, kept, found)
    sigs = [neardup.parse(hashes[row["key"]]) for row in kept]
    group_of, counts = neardup.groups(sigs, options.settings.near_dup)
    counts["signatures_computed"] = computed
    members: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row, g in zip(kept, group_of, strict=True):
        if g >= 0:
            plan.entries[row["key"]].near_dup_group = f"g{g:06d}"
            members[int(g)].append(row)
    dropped: set[str] = set()
    if options.dedup == "near":
        for rows in members.values():
            best = min(rows, key=_keep_order)
            dropped |= {r["key"] for r in rows if r is not best}
        for key in dropped:
            del plan.entries[key]
        if dropped:
            plan.counts["excluded_near_duplicate"] += len(dropped)
    counts["dropped"] = len(dropped)
    plan.info["near_dup"] = counts
    return [row for row in kept if row["key"] not in dropped]


def _split(
    plan: Plan, kept: list[dict[str, Any]], options: ReleaseOptions, found: dict[str, Any]
) -> None:
    """Identities over every kept face track, then whole units into splits."""
    tracks = [
        identity.Track(i, model, emb)
        for i, row in enumerate(kept)
        for model, emb in found[row["key"]]["tracks"]
    ]
    ids, counts = identity.identities(tracks, options.settings.identity)
    per_sample: list[list[int]] = [[] for _ in kept]
    for t, ident in zip(tracks, ids, strict=True):
        if ident >= 0 and int(ident) not in per_sample[t.owner]:
            per_sample[t.owner].append(int(ident))
    groups = [plan.entries[row["key"]].near_dup_group for row in kept]
    unit_of = splits.units([row["source_id"] for row in kept], per_sample, groups)
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
