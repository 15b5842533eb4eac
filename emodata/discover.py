"""Finds the inputs of a run: a folder (recursive), a glob, or a manifest file.

Local paths and any fsspec URL (``s3://...``) work the same way. Manifests are CSV, JSONL or
Parquet with a ``path`` column; ``source_dataset``, ``license`` and ``label`` columns become
index columns, any other column is carried as JSON in ``source_meta``.
"""

from __future__ import annotations

import glob as globlib
import json
import logging
import posixpath
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from emodata.errors import ConfigError

log = logging.getLogger(__name__)

MANIFEST_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")
KNOWN_META = ("source_dataset", "license", "label")


@dataclass(frozen=True)
class SourceRef:
    path: str
    meta: dict[str, Any] = field(default_factory=dict)


def _is_url(path: str) -> bool:
    return "://" in path


def _fs(path: str) -> tuple[fsspec.AbstractFileSystem, str]:
    fs, root = fsspec.core.url_to_fs(path)
    return fs, root


def _unstrip(fs: fsspec.AbstractFileSystem, original: str, p: str) -> str:
    return fs.unstrip_protocol(p) if _is_url(original) else p


@dataclass
class Discovery:
    """The inputs of a run, and what a folder listing held that is not an input (counted by
    extension, hidden files as ``(hidden)``): nothing a listing sees goes unaccounted."""

    refs: list[SourceRef]
    skipped: Counter[str] = field(default_factory=Counter)


def discover(spec: str, extensions: list[str], audio_extensions: list[str] = ()) -> list[SourceRef]:
    """Resolve ``spec`` to a sorted, de-duplicated list of sources."""
    return scan_inputs(spec, extensions, audio_extensions).refs


def scan_inputs(spec: str, extensions: list[str], audio_extensions: list[str] = ()) -> Discovery:
    """Resolve ``spec`` to its sources. In a folder, files with a video extension are inputs;
    audio-only media extensions are inputs too (ingest ledgers them as ``audio_only``); every
    other file is counted in ``skipped`` by extension."""
    exts = tuple(e.lower() for e in (*extensions, *audio_extensions))
    is_manifest = spec.lower().endswith(MANIFEST_SUFFIXES)
    skipped: Counter[str] = Counter()
    if is_manifest:
        refs = read_manifest(spec)
    elif any(ch in spec for ch in "*?["):
        refs = _glob(spec)
        if not refs:
            raise ConfigError(f"input: {spec} matches no file")
    else:
        fs, root = _fs(spec)
        if not fs.exists(root):
            raise ConfigError(f"input: {spec} does not exist")
        if fs.isdir(root):
            refs = []
            for p in fs.find(root):
                if any(part.startswith(".") for part in p[len(root) :].split("/")):
                    skipped["(hidden)"] += 1
                elif p.lower().endswith(exts):
                    refs.append(SourceRef(_unstrip(fs, spec, p)))
                else:
                    skipped[posixpath.splitext(p)[1].lower() or "(none)"] += 1
        else:
            refs = [SourceRef(_unstrip(fs, spec, root))]
    seen: dict[str, SourceRef] = {}
    for ref in refs:
        seen.setdefault(ref.path, ref)
    # Manifests keep their order (the first copy of duplicate content wins); listings sort.
    out = list(seen.values()) if is_manifest else sorted(seen.values(), key=lambda r: r.path)
    log.info("discovered %d input(s) from %s", len(out), spec)
    if skipped:
        log.info("skipped %d file(s) that are not media: %s", sum(skipped.values()), dict(skipped))
    return Discovery(out, skipped)


def _glob(spec: str) -> list[SourceRef]:
    if _is_url(spec):
        fs, pattern = _fs(spec)
        return [SourceRef(fs.unstrip_protocol(p)) for p in fs.glob(pattern) if not fs.isdir(p)]
    return [SourceRef(p) for p in globlib.glob(spec, recursive=True) if not _isdir(p)]


def _isdir(p: str) -> bool:
    return fsspec.filesystem("file").isdir(p)


def read_manifest(spec: str) -> list[SourceRef]:
    fs, path = _fs(spec)
    if not fs.exists(path):
        raise ConfigError(f"input: manifest {spec} does not exist")
    with fs.open(path, "rb") as f:
        low = spec.lower()
        if low.endswith(".parquet"):
            table = pq.read_table(f)
        elif low.endswith(".csv"):
            table = pacsv.read_csv(f)
        else:
            table = pajson.read_json(f)
    if "path" not in table.column_names:
        raise ConfigError(f"input: manifest {spec} has no 'path' column ({table.column_names})")
    base = posixpath.dirname(spec) if _is_url(spec) else posixpath.dirname(path)
    refs = []
    for row in table.to_pylist():
        raw = row.pop("path")
        if not raw:
            continue
        raw = str(raw)
        full = raw if _is_url(raw) or raw.startswith("/") else posixpath.join(base, raw)
        refs.append(SourceRef(full, {k: _jsonable(v) for k, v in row.items() if v is not None}))
    return refs


def _jsonable(v: Any) -> Any:
    if isinstance(v, pa.Scalar):
        v = v.as_py()
    try:
        json.dumps(v)
    except TypeError:
        return str(v)
    return v


def split_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Manifest metadata -> index columns (known ones) plus a JSON column for the rest."""
    out: dict[str, Any] = {k: (None if meta.get(k) is None else str(meta[k])) for k in KNOWN_META}
    rest = {k: v for k, v in meta.items() if k not in KNOWN_META}
    out["source_meta"] = json.dumps(rest, sort_keys=True, default=str) if rest else None
    return out
