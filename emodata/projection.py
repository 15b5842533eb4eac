"""The index row of a clip: a projection of its record declared in ``schemas/index.schema.json``.

Each column says where its value comes from (``"from"``):

- ``"write"``: the writer fills it (key, shard, offsets, run, time);
- ``"PATH"``: a dotted path into the record's JSON form (``clip.start_s``,
  ``annotation.emotion.label``); a missing part gives null;
- ``"PATH|VIA"``: the value at PATH (the whole record for an empty PATH) through one of the
  named functions below (``json``, ``count``, ``main_expression``...).

Plugin stages' columns read ``extra.NAME``. Nothing else computes an index column, so the
record is the only place a value is stored and the row can always be rebuilt from it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from emodata.discover import KNOWN_META
from emodata.fsutil import storable_text
from emodata.records import ClipRecord
from emodata.schemas import load_json

WRITE = "write"


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _main_track(faces: dict[str, Any] | None) -> dict[str, Any] | None:
    faces = faces or {}
    return next(
        (t for t in faces.get("tracks") or [] if t.get("id") == faces.get("main_track")), None
    )


def _main_cues(doc: dict[str, Any]) -> dict[str, Any]:
    """The cue summary of the main face track (empty without one)."""
    main_id = (doc.get("faces") or {}).get("main_track")
    tracks = (doc.get("cues") or {}).get("tracks") or []
    return next((t for t in tracks if t.get("track") == main_id), None) or {}


def _top_score(doc: dict[str, Any]) -> float | None:
    main = _main_cues(doc)
    top = main.get("top_expression")
    return main["expression_mean"][top] if top else None


def _provenance_sum(key: str, digits: int | None = None) -> Callable[[Any], Any]:
    def total(prov: dict[str, Any] | None) -> Any:
        if prov is None:
            return None
        got = sum(p.get(key) or 0 for p in prov.values())
        return got if digits is None else round(got, digits)

    return total


#: the provenance keys that describe the agent rather than count its work
_AGENT_KEYS = {"backend", "model", "prompt_version", "prompt_sha256", "cost_usd"}

VIA: dict[str, Callable[[Any], Any]] = {
    "text": lambda v: None if v is None else storable_text(str(v)),
    "json": lambda v: None if v is None else _dumps(v),
    "count": lambda v: None if v is None else len(v),
    "most": lambda v: None if v is None else max(v, default=0),
    "other_meta": lambda meta: (
        _dumps({k: v for k, v in meta.items() if k not in KNOWN_META})
        if meta and any(k not in KNOWN_META for k in meta)
        else None
    ),
    "word_count": lambda segs: (
        None if segs is None else sum(len(s.get("words") or ()) for s in segs)
    ),
    "main_face_size_px": lambda faces: ((_main_track(faces) or {}).get("quality") or {}).get(
        "size_px"
    ),
    "main_face_presence": lambda faces: ((_main_track(faces) or {}).get("quality") or {}).get(
        "presence"
    ),
    "main_expression": lambda doc: _main_cues(doc).get("top_expression"),
    "main_expression_score": _top_score,
    "main_age": lambda doc: (_main_cues(doc).get("apparent") or {}).get("age"),
    "main_gender": lambda doc: (_main_cues(doc).get("apparent") or {}).get("gender"),
    "conflict_pairs": lambda cs: (
        None
        if cs is None
        else _dumps([f"{c['dimension']}:{'-'.join(c['modalities'])}" for c in cs])
    ),
    "check_runs": lambda runs: (
        None
        if runs is None
        else _dumps({k: {"runs": n, "failed": f} for k, (n, f) in runs.items()})
    ),
    "fields_measured": lambda src: (
        None if src is None else sum(v in {"measured", "rendered"} for v in src.values())
    ),
    "fields_model": lambda src: None if src is None else sum(v == "model" for v in src.values()),
    "models": lambda prov: (
        None
        if prov is None
        else _dumps({a: f"{p['model']}@{p['prompt_version']}" for a, p in prov.items()})
    ),
    "calls": _provenance_sum("calls"),
    "prompt_tokens": _provenance_sum("prompt_tokens"),
    "completion_tokens": _provenance_sum("completion_tokens"),
    "latency_s": _provenance_sum("latency_s", 3),
    "cost_usd": _provenance_sum("cost_usd", 6),
    "usage": lambda prov: (
        None
        if prov is None
        else _dumps(
            {a: {k: v for k, v in p.items() if k not in _AGENT_KEYS} for a, p in prov.items()}
        )
    ),
    "stage_status": lambda status: dict(status or {}),
}


def _dig(doc: Any, path: str) -> Any:
    for part in path.split(".") if path else ():
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)
    return doc


def _parse(columns: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    out = []
    for col in columns:
        source = col["from"]
        if source == WRITE:
            continue
        path, _, via = source.partition("|")
        if via and via not in VIA:
            raise ValueError(f"{col['name']} reads through an unknown function {via!r}")
        out.append((col["name"], path, via or None))
    return out


@cache
def _plan(extra: tuple[str, ...], release: bool) -> tuple[tuple[str, str, str | None], ...]:
    """(column, path, via) of every projected column: the index's, plugin columns, then a
    release's (``release.schema.json``)."""
    out = _parse(load_json("index.schema.json")["columns"])
    out += [(name, f"extra.{name}", None) for name in extra]
    if release:
        out += _parse(load_json("release.schema.json")["columns"])
    return tuple(out)


def index_fields(
    record: ClipRecord, extra: tuple[str, ...] = (), *, release: bool = False
) -> dict[str, Any]:
    """Every index column the record fills (all but the writer's), by name; with ``release``,
    a release's columns too."""
    doc = record.to_dict(work=False)
    row = {}
    for name, path, via in _plan(tuple(extra), release):
        value = _dig(doc, path)
        row[name] = VIA[via](value) if via else value
    return row


def written_columns() -> tuple[str, ...]:
    """The columns the writer fills."""
    return tuple(c["name"] for c in load_json("index.schema.json")["columns"] if c["from"] == WRITE)
