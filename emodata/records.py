"""The typed record of one clip, the item that carries it between stages, and its ids.

A :class:`ClipRecord` has one sub-record per stage that fills it: ``source`` (ingest),
``clip`` (scene planning and segment), ``transcript``, ``faces``, ``cues``, ``annotation``
and ``outcome`` (status, failure, timings). Each value is stored once: the index row is a
projection of the record declared in ``schemas/index.schema.json`` (``emodata.projection``),
and the sample JSON in a shard is the record itself (``to_dict``), which ``from_dict`` reads
back, so export and the review app never invert the writer.

An :class:`Item` is a key, a record and media members (``blobs``, bytes keyed by WebDataset
extension such as ``mp4``, ``wav`` or ``frame003.jpg``). Stages never see Ray types: the Ray
adapter converts items to and from Arrow rows, the record as one JSON string and the media as
a map column, once per stage boundary.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from emodata.annotate.record import Annotation
from emodata.asr.base import Transcript
from emodata.cues.record import Cues
from emodata.errors import ItemError, Reason, kind_of
from emodata.faces.record import Faces
from emodata.redact import redact

_NAMESPACE = uuid.UUID("6f1d3a52-8f0e-4b7c-9a51-2d7e0c4b9e11")


def clip_key(source_id: str, start_s: float, end_s: float) -> str:
    """Stable clip id: the same source and span always give the same key."""
    return uuid.uuid5(_NAMESPACE, f"{source_id}:{round(start_s * 1000)}:{round(end_s * 1000)}").hex


@dataclass
class Source:
    """The input file, as ingest found it."""

    path: str = ""
    #: the manifest's columns for this input (``source_dataset``, ``license``, ``label``, ...)
    meta: dict[str, Any] = field(default_factory=dict)
    size_bytes: int | None = None
    sha256: str | None = None
    id: str | None = None  # first 20 hex digits of sha256: the source's content id
    duration_s: float | None = None
    format: str | None = None
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    has_audio: bool | None = None


@dataclass
class ClipSpan:
    """Where the clip lies in its source (scene planning) and what segment made of it."""

    index: int | None = None
    count: int | None = None  # clips planned from the source
    start_s: float | None = None
    end_s: float | None = None
    duration_s: float | None = None
    boundary: str | None = None  # start, scene or split
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    frame_rate: float | None = None  # sampled frames per second
    num_frames: int | None = None
    video_bytes: int | None = None
    audio_bytes: int | None = None
    video_duration_s: float | None = None
    audio_duration_s: float | None = None
    frame_hashes: list[str] | None = None  # 64-bit dHash per sampled frame, for near-dups
    encode_seconds: float | None = None


@dataclass
class Outcome:
    """How the clip fared: per-stage status, the failure that stopped it, where time went."""

    stage_status: dict[str, str] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds of this clip
    nodes: dict[str, str] = field(default_factory=dict)  # stage -> Ray node that ran it


def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _typed(cls: type, data: dict[str, Any] | None) -> Any:
    """``cls`` from a dict, ignoring keys it does not have (a newer writer's additions)."""
    names = _fields(cls)
    return cls(**{k: v for k, v in (data or {}).items() if k in names})


@dataclass
class ClipRecord:
    source: Source = field(default_factory=Source)
    clip: ClipSpan = field(default_factory=ClipSpan)
    transcript: Transcript | None = None  # segments and words with their times
    faces: Faces | None = None  # tracks, crops, per-frame counts
    cues: Cues | None = None  # visual, audio, tracks, words, voice, modality
    annotation: Annotation | None = None  # the affective tree (annotation.schema.json)
    outcome: Outcome = field(default_factory=Outcome)
    #: fields of stages from plugins, by field name (their index columns read them)
    extra: dict[str, Any] = field(default_factory=dict)
    #: what a release adds: review, split, export_label, near_dup_group, identity_clusters
    release: dict[str, Any] | None = None
    #: run bookkeeping that travels with the clip between stages and never reaches a shard
    #: (``done_keys``, ``ledger_prior``, ``write_order``; ``shard`` on a status row)
    work: dict[str, Any] = field(default_factory=dict)

    #: the typed sub-records that are documents of their own (a stage's whole output)
    DOCUMENTS = ("transcript", "faces", "cues", "annotation")

    def to_dict(self, *, work: bool = True) -> dict[str, Any]:
        """The record as JSON-ready data: with ``work`` between stages, without it in a shard
        (the sample JSON)."""
        out: dict[str, Any] = {
            "source": dataclasses.asdict(self.source),
            "clip": dataclasses.asdict(self.clip),
            "transcript": None if self.transcript is None else self.transcript.to_dict(),
            "faces": None if self.faces is None else self.faces.to_dict(),
            "cues": None if self.cues is None else self.cues.to_dict(),
            "annotation": None if self.annotation is None else self.annotation.to_dict(),
            "outcome": dataclasses.asdict(self.outcome),
            "extra": self.extra,
        }
        if self.release is not None:
            out["release"] = self.release
        if work:
            out["work"] = self.work
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClipRecord:
        """The record from ``to_dict`` output or a sample JSON (``key`` and ``members`` are the
        sample's, not the record's), or from the flat record of runs written before the record
        was typed."""
        if not isinstance(data.get("source"), dict):
            return _from_flat(data)
        return cls(
            source=_typed(Source, data.get("source")),
            clip=_typed(ClipSpan, data.get("clip")),
            transcript=_transcript(data.get("transcript")),
            faces=_faces(data.get("faces")),
            cues=_cues(data.get("cues")),
            annotation=_annotation(data.get("annotation")),
            outcome=_typed(Outcome, data.get("outcome")),
            extra=dict(data.get("extra") or {}),
            release=data.get("release"),
            work=dict(data.get("work") or {}),
        )


def _transcript(data: Any) -> Transcript | None:
    return Transcript.from_dict(data) if isinstance(data, dict) else None


def _faces(data: Any) -> Faces | None:
    return Faces.from_dict(data) if isinstance(data, dict) else None


def _cues(data: Any) -> Cues | None:
    return Cues.from_dict(data) if isinstance(data, dict) else None


def _annotation(data: Any) -> Annotation | None:
    return Annotation.from_dict(data) if isinstance(data, dict) else None


# flat records (before the record was typed): field -> (sub-record, its name there)
_FLAT = {
    "path": ("source", "path"),
    "source_path": ("source", "path"),
    "meta": ("source", "meta"),
    "source_size_bytes": ("source", "size_bytes"),
    "source_sha256": ("source", "sha256"),
    "source_id": ("source", "id"),
    "source_duration_s": ("source", "duration_s"),
    "source_format": ("source", "format"),
    "source_video_codec": ("source", "video_codec"),
    "source_width": ("source", "width"),
    "source_height": ("source", "height"),
    "source_fps": ("source", "fps"),
    "has_audio": ("source", "has_audio"),
    "clip_index": ("clip", "index"),
    "source_clip_count": ("clip", "count"),
    "segment_seconds": ("clip", "encode_seconds"),
    **{k: ("clip", k) for k in _fields(ClipSpan) if k not in ("index", "count", "encode_seconds")},
    **{k: ("outcome", k) for k in _fields(Outcome)},
    **{k: ("work", k) for k in ("done_keys", "ledger_prior", "write_order")},
    **{
        k: ("release", k)
        for k in ("review", "split", "export_label", "near_dup_group", "identity_clusters")
    },
}
# flat copies of nested values (now projected) and sample-JSON fields that are not the record's
_FLAT_DROPPED = {
    "key",
    "members",
    "asr_seconds",
    "source_dataset",
    "license",
    "label",
    "source_meta",
}


def _from_flat(data: dict[str, Any]) -> ClipRecord:
    from emodata.schemas import index_schema  # the flat copies to drop are the index's columns

    parts: dict[str, dict[str, Any]] = {"source": {}, "clip": {}, "outcome": {}, "work": {}}
    release: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    dropped = _FLAT_DROPPED | set(index_schema().names)
    for k, v in data.items():
        if k in ClipRecord.DOCUMENTS:
            continue
        where = _FLAT.get(k)
        if where is None:
            if k not in dropped:
                extra[k] = v  # a plugin stage's field
        elif where[0] == "release":
            release[where[1]] = v
        else:
            parts[where[0]][where[1]] = v
    parts["source"]["path"] = data.get("path", data.get("source_path", ""))
    meta = dict(data.get("meta") or {})
    if "meta" not in data:  # a sample JSON: the manifest columns went out flat
        meta = {k: data[k] for k in ("source_dataset", "license", "label") if data.get(k)}
        meta.update(json.loads(data.get("source_meta") or "{}"))
    parts["source"]["meta"] = meta
    return ClipRecord(
        source=_typed(Source, parts["source"]),
        clip=_typed(ClipSpan, parts["clip"]),
        transcript=_transcript(data.get("transcript")),
        faces=_faces(data.get("faces")),
        cues=_cues(data.get("cues")),
        annotation=_annotation(data.get("annotation")),
        outcome=_typed(Outcome, parts["outcome"]),
        extra=extra,
        release=release or None,
        work=parts["work"],
    )


@dataclass
class Item:
    key: str
    record: ClipRecord = field(default_factory=ClipRecord)
    blobs: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.record, dict):  # JSON-shaped data: read it as the typed record
            self.record = ClipRecord.from_dict(self.record)

    @property
    def error(self) -> dict[str, Any] | None:
        return self.record.outcome.error

    @property
    def ok(self) -> bool:
        return self.record.outcome.error is None

    def fail(self, stage: str, reason: Reason, message: str) -> Item:
        """Mark the item as filtered or failed; it travels on so the writer can ledger it."""
        self.record.outcome.error = {
            "stage": stage,
            "reason": str(reason),
            "kind": str(kind_of(reason)),
            "message": redact(message)[:2000],
        }
        self.blobs = {}
        return self

    def fail_with(self, stage: str, err: ItemError) -> Item:
        return self.fail(stage, err.reason, err.message)

    def mark(self, stage: str, status: str = "ok") -> None:
        self.record.outcome.stage_status[stage] = status


# keys are bytes: an input's key is its path, which may hold the lone surrogates of a file name
# that is not UTF-8 (os.fsdecode); surrogateescape carries it through Arrow unchanged, as it
# does the path inside the record's JSON
ITEM_SCHEMA = pa.schema(
    [
        pa.field("key", pa.binary()),
        pa.field("record", pa.string()),
        pa.field("blobs", pa.map_(pa.string(), pa.binary())),
    ]
)


def record_json(record: ClipRecord) -> str:
    """The record as it crosses a stage boundary: its JSON without unset fields (``from_dict``
    puts their defaults back), so a clip early in the pipeline, or a status row, stays small."""
    doc = {}
    for name, value in record.to_dict().items():
        if name in ("source", "clip", "outcome"):
            value = {k: v for k, v in value.items() if v is not None and v != {}}
        if value is not None and value != {}:
            doc[name] = value
    return json.dumps(doc, sort_keys=True)


def items_to_table(items: list[Item]) -> pa.Table:
    return pa.table(
        {
            "key": [i.key.encode("utf-8", "surrogateescape") for i in items],
            "record": [record_json(i.record) for i in items],
            "blobs": [sorted(i.blobs.items()) for i in items],
        },
        schema=ITEM_SCHEMA,
    )


def table_to_items(table: pa.Table) -> list[Item]:
    cols = table.to_pydict()
    return [
        Item(
            key=k.decode("utf-8", "surrogateescape"),
            record=ClipRecord.from_dict(json.loads(r)),
            blobs=dict(b or ()),
        )
        for k, r, b in zip(cols["key"], cols["record"], cols["blobs"], strict=True)
    ]
