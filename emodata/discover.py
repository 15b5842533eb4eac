"""Finds the inputs of a run: a folder (recursive), a glob, or a manifest file.

Local paths and any fsspec URL (``s3://...``) work the same way. Manifests are CSV, JSONL or
Parquet with a ``path`` column; ``source_dataset``, ``license`` and ``label`` columns become
index columns, any other column is carried as JSON in ``source_meta``.

Every manifest row is accounted for: rows are numbered from 1 (a CSV header is not a row), a row
naming a path an earlier row named is a ``duplicate_manifest_row`` (the first row is kept) and a
row with an empty path is ``no_path``; the runner ledgers both. Text is read as UTF-8; a value
that is not valid UTF-8 is decoded as Latin-1 (byte 0xE9 is "é") with a warning naming its row
and column, except in the ``path`` column, whose bytes are kept as they are (``os.fsdecode``) so
that the file is opened by its real name. An empty or unreadable manifest raises ``InputError``
naming the file, the line or row when known, and the fix.
"""

from __future__ import annotations

import glob as globlib
import json
import logging
import os
import posixpath
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from emodata import arrowio
from emodata.errors import ConfigError, InputError
from emodata.remote import DEFAULT_TIMEOUT_S, url_to_fs

log = logging.getLogger(__name__)

MANIFEST_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")
KNOWN_META = ("source_dataset", "license", "label")


@dataclass(frozen=True)
class SourceRef:
    path: str
    meta: dict[str, Any] = field(default_factory=dict)
    #: the manifest row (from 1) that named this input; None for folders and globs
    row: int | None = None


@dataclass(frozen=True)
class SkippedRow:
    """A manifest row that is not an input of its own, and why (a ledger entry)."""

    row: int
    path: str
    meta: dict[str, Any]
    reason: str  # an emodata.errors.Reason value
    message: str


def _is_url(path: str) -> bool:
    return "://" in path


def _fs(path: str, timeout_s: float) -> tuple[fsspec.AbstractFileSystem, str]:
    return url_to_fs(path, timeout_s)


def _unstrip(fs: fsspec.AbstractFileSystem, original: str, p: str) -> str:
    return fs.unstrip_protocol(p) if _is_url(original) else p


@dataclass
class Discovery:
    """The inputs of a run, and what a folder listing held that is not an input (counted by
    extension, hidden files as ``(hidden)``): nothing a listing sees goes unaccounted."""

    refs: list[SourceRef]
    skipped: Counter[str] = field(default_factory=Counter)
    #: manifest rows read, and the rows that are not inputs of their own (ledgered by the run)
    manifest_rows: int = 0
    skipped_rows: list[SkippedRow] = field(default_factory=list)


def discover(spec: str, extensions: list[str], audio_extensions: list[str] = ()) -> list[SourceRef]:
    """Resolve ``spec`` to a sorted, de-duplicated list of sources."""
    return scan_inputs(spec, extensions, audio_extensions).refs


def scan_inputs(
    spec: str,
    extensions: list[str],
    audio_extensions: list[str] = (),
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Discovery:
    """Resolve ``spec`` to its sources. In a folder, files with a video extension are inputs;
    audio-only media extensions are inputs too (ingest ledgers them as ``audio_only``); every
    other file is counted in ``skipped`` by extension. A remote listing or manifest that stays
    silent for ``timeout_s`` is an ``InputError``."""
    try:
        return _scan(spec, extensions, audio_extensions, timeout_s)
    except TimeoutError:
        raise InputError(
            f"{spec}: no answer within {timeout_s:g}s (ingest.remote_timeout_s): check the "
            "address, or raise the timeout"
        ) from None


def _scan(
    spec: str, extensions: list[str], audio_extensions: list[str], timeout_s: float
) -> Discovery:
    exts = tuple(e.lower() for e in (*extensions, *audio_extensions))
    is_manifest = spec.lower().endswith(MANIFEST_SUFFIXES)
    skipped: Counter[str] = Counter()
    manifest_rows, skipped_rows = 0, []
    if is_manifest:
        refs, skipped_rows = read_manifest(spec, timeout_s)
        manifest_rows = len(refs) + len(skipped_rows)
        refs, skipped_rows = _first_rows(refs, skipped_rows)
    elif any(ch in spec for ch in "*?["):
        refs = _glob(spec, timeout_s)
        if not refs:
            raise ConfigError(f"input: {spec} matches no file")
    else:
        fs, root = _fs(spec, timeout_s)
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
    # (a manifest's repeated rows were set aside above, each with the row it repeats)
    out = list(seen.values()) if is_manifest else sorted(seen.values(), key=lambda r: r.path)
    log.info("discovered %d input(s) from %s", len(out), spec)
    if skipped:
        log.info("skipped %d file(s) that are not media: %s", sum(skipped.values()), dict(skipped))
    if skipped_rows:
        log.info("%d manifest row(s) are not inputs of their own (ledgered)", len(skipped_rows))
    return Discovery(out, skipped, manifest_rows, skipped_rows)


def _first_rows(
    refs: list[SourceRef], skipped: list[SkippedRow]
) -> tuple[list[SourceRef], list[SkippedRow]]:
    """The first row naming each path; later rows naming it again become skipped rows that say
    which row was kept and how their metadata differs from it."""
    first: dict[str, SourceRef] = {}
    out: list[SourceRef] = []
    for ref in refs:
        kept = first.get(ref.path)
        if kept is None:
            first[ref.path] = ref
            out.append(ref)
            continue
        message = f"manifest row {ref.row} names the same path as row {kept.row}, which is kept"
        diff = sorted(k for k in {*ref.meta, *kept.meta} if ref.meta.get(k) != kept.meta.get(k))
        if diff:
            message += "; it differs in " + ", ".join(
                f"{k} ({ref.meta.get(k)!r} here, {kept.meta.get(k)!r} in row {kept.row})"
                for k in diff
            )
        skipped.append(
            SkippedRow(ref.row or 0, ref.path, ref.meta, "duplicate_manifest_row", message)
        )
    return out, sorted(skipped, key=lambda r: r.row)


def _glob(spec: str, timeout_s: float) -> list[SourceRef]:
    if _is_url(spec):
        fs, pattern = _fs(spec, timeout_s)
        return [SourceRef(fs.unstrip_protocol(p)) for p in fs.glob(pattern) if not fs.isdir(p)]
    return [SourceRef(p) for p in globlib.glob(spec, recursive=True) if not _isdir(p)]


def _isdir(p: str) -> bool:
    return fsspec.filesystem("file").isdir(p)


def read_manifest(
    spec: str, timeout_s: float = DEFAULT_TIMEOUT_S
) -> tuple[list[SourceRef], list[SkippedRow]]:
    """The rows of a manifest as inputs (in file order), plus its rows without a path."""
    fs, path = _fs(spec, timeout_s)
    if not fs.exists(path):
        raise ConfigError(f"input: manifest {spec} does not exist")
    with fs.open(path, "rb") as f:
        data = f.read()
    low = spec.lower()
    if low.endswith((".jsonl", ".ndjson")):
        fix = 'write one JSON object per line with a "path" key, {"path": "clip.mp4"}'
    else:
        fix = "write a header line with a 'path' column, then one row per input"
    if not data.strip() and not low.endswith(".parquet"):
        raise InputError(f"manifest {spec} is empty: {fix}")
    if low.endswith(".parquet"):
        rows, columns = _parquet_rows(spec, data)
    elif low.endswith(".csv"):
        rows, columns = _csv_rows(spec, data)
    else:
        rows, columns = _jsonl_rows(spec, data)
    if "path" not in columns:
        raise InputError(f"manifest {spec} has no 'path' column (columns: {columns}): {fix}")
    if not rows:
        raise InputError(f"manifest {spec} has a header but no rows: {fix}")
    base = posixpath.dirname(spec) if _is_url(spec) else posixpath.dirname(path)
    refs: list[SourceRef] = []
    skipped: list[SkippedRow] = []
    for n, row in enumerate(rows, start=1):
        raw = row.pop("path", None)
        meta = {k: _jsonable(_text(v, spec, n, k)) for k, v in row.items() if v is not None}
        raw = None if raw is None else _path_text(raw)
        if not raw:
            skipped.append(SkippedRow(n, spec, meta, "no_path", f"manifest row {n} has no path"))
            continue
        full = raw if _is_url(raw) or raw.startswith("/") else posixpath.join(base, raw)
        refs.append(SourceRef(full, meta, n))
    return refs, skipped


def _csv_rows(spec: str, data: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    bad: list[Any] = []

    def invalid(row: Any) -> str:
        bad.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(
            arrowio.reader(data),
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(invalid_row_handler=invalid),
        )
    except pa.ArrowInvalid as e:
        raise InputError(
            f"manifest {spec}: {e}: fix the file (a field holding commas, quotes or line breaks "
            'must be quoted, "like, this")'
        ) from None
    if bad:
        row = bad[0]
        where = f"line {row.number}" if row.number is not None else "a line"
        raise InputError(
            f"manifest {spec}: {where} has {row.actual_columns} field(s), the header has "
            f"{row.expected_columns}: {row.text[:80]!r}: quote fields that hold commas, or fix "
            f"the line ({len(bad)} such line(s))"
        )
    return table.to_pylist(), table.column_names


def _jsonl_rows(spec: str, data: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    rows: list[dict[str, Any]] = []
    columns: dict[str, None] = {}
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        # bad UTF-8 bytes stay as lone surrogates, decoded per value by _text / _path_text
        text = line.decode("utf-8", "surrogateescape")
        try:
            row = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(
                f"manifest {spec}: line {number} is not JSON ({e.msg} at column {e.colno}): "
                "write one JSON object per line"
            ) from None
        if not isinstance(row, dict):
            raise InputError(
                f"manifest {spec}: line {number} is a JSON {type(row).__name__}, not an object: "
                'write one object per line, {"path": "clip.mp4", ...}'
            )
        rows.append(row)
        columns.update(dict.fromkeys(row))
    return rows, list(columns)


def _parquet_rows(spec: str, data: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    try:
        table = pq.read_table(arrowio.reader(data))
    except (pa.ArrowException, OSError) as e:
        raise InputError(
            f"manifest {spec} is not a readable Parquet file ({e}): write it again, or use "
            "CSV or JSONL"
        ) from None
    return table.to_pylist(), table.column_names


def _raw_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


def _path_text(value: Any) -> str:
    """A manifest path as the file system's name: bytes that are not UTF-8 are kept (as
    ``os.fsdecode`` keeps them), so the file is opened by its real name."""
    if isinstance(value, bytes | str):
        return os.fsdecode(_raw_bytes(value)) if value else ""
    return str(value)


def _text(value: Any, spec: str, row: int, column: str) -> Any:
    """A manifest value as text: UTF-8, or Latin-1 when its bytes are not UTF-8 (with a
    warning), never the ``b'...'`` of a bytes object."""
    if not isinstance(value, bytes | str):
        return value
    try:
        raw = _raw_bytes(value)
    except UnicodeEncodeError:  # a JSON "\ud800" escape: not file bytes, keep it as text
        return value
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        log.warning(
            "%s: row %d, column %r is not UTF-8; read as Latin-1: %r",
            spec,
            row,
            column,
            raw.decode("latin-1"),
        )
        return raw.decode("latin-1")


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
