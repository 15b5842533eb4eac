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
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from emodata.errors import ConfigError, InputError
from emodata.listing import InputList, SourceRef
from emodata.remote import DEFAULT_TIMEOUT_S, url_to_fs

log = logging.getLogger(__name__)

MANIFEST_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")
KNOWN_META = ("source_dataset", "license", "label")


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
    extension, hidden files as ``(hidden)``): nothing a listing sees goes unaccounted.

    ``refs`` is on disk (``emodata.listing``): read it a window at a time, and close it."""

    refs: InputList
    skipped: Counter[str] = field(default_factory=Counter)
    #: manifest rows read, and the rows that are not inputs of their own (ledgered by the run)
    manifest_rows: int = 0
    skipped_rows: list[SkippedRow] = field(default_factory=list)


def discover(spec: str, extensions: list[str], audio_extensions: list[str] = ()) -> list[SourceRef]:
    """Resolve ``spec`` to a sorted, de-duplicated list of sources."""
    found = scan_inputs(spec, extensions, audio_extensions)
    try:
        return list(found.refs)
    finally:
        found.refs.close()


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
    refs = InputList()
    try:
        return _scan(spec, extensions, audio_extensions, timeout_s, refs)
    except TimeoutError:
        refs.close()
        raise InputError(
            f"{spec}: no answer within {timeout_s:g}s (ingest.remote_timeout_s): check the "
            "address, or raise the timeout"
        ) from None
    except BaseException:
        refs.close()
        raise


def _scan(
    spec: str,
    extensions: list[str],
    audio_extensions: list[str],
    timeout_s: float,
    refs: InputList,
) -> Discovery:
    """Fill ``refs`` as the listing or manifest is read: the driver never holds all of it."""
    exts = tuple(e.lower() for e in (*extensions, *audio_extensions))
    is_manifest = spec.lower().endswith(MANIFEST_SUFFIXES)
    skipped: Counter[str] = Counter()
    manifest_rows, skipped_rows = 0, []
    if is_manifest:
        manifest_rows, skipped_rows = _read_manifest(spec, timeout_s, refs)
    elif any(ch in spec for ch in "*?["):
        for ref in _glob(spec, timeout_s):
            refs.add(ref)
    else:
        fs, root = _fs(spec, timeout_s)
        if not fs.exists(root):
            raise ConfigError(f"input: {spec} does not exist")
        if fs.isdir(root):
            # walk, not find: find builds the whole listing before it returns
            for _, _, files in fs.walk(root, detail=True):
                for info in files.values():
                    p = info["name"]
                    if any(part.startswith(".") for part in p[len(root) :].split("/")):
                        skipped["(hidden)"] += 1
                    elif p.lower().endswith(exts):
                        refs.add(SourceRef(_unstrip(fs, spec, p)))
                    else:
                        skipped[posixpath.splitext(p)[1].lower() or "(none)"] += 1
        else:
            refs.add(SourceRef(_unstrip(fs, spec, root)))
    # Manifests keep their order (the first copy of duplicate content wins); listings sort.
    # A manifest's repeated rows are set aside, each with the row it repeats.
    repeats = refs.seal(by_path=not is_manifest)
    if is_manifest:
        skipped_rows = sorted([*skipped_rows, *map(_repeated_row, repeats)], key=lambda r: r.row)
    if not is_manifest and not len(refs) and any(ch in spec for ch in "*?["):
        raise ConfigError(f"input: {spec} matches no file")
    log.info("discovered %d input(s) from %s", len(refs), spec)
    if skipped:
        log.info("skipped %d file(s) that are not media: %s", sum(skipped.values()), dict(skipped))
    if skipped_rows:
        log.info("%d manifest row(s) are not inputs of their own (ledgered)", len(skipped_rows))
    return Discovery(refs, skipped, manifest_rows, skipped_rows)


def _repeated_row(pair: tuple[SourceRef, SourceRef]) -> SkippedRow:
    """A later manifest row naming a path again: which row was kept, and how their metadata
    differs."""
    ref, kept = pair
    message = f"manifest row {ref.row} names the same path as row {kept.row}, which is kept"
    diff = sorted(k for k in {*ref.meta, *kept.meta} if ref.meta.get(k) != kept.meta.get(k))
    if diff:
        message += "; it differs in " + ", ".join(
            f"{k} ({ref.meta.get(k)!r} here, {kept.meta.get(k)!r} in row {kept.row})" for k in diff
        )
    return SkippedRow(ref.row or 0, ref.path, ref.meta, "duplicate_manifest_row", message)


def _glob(spec: str, timeout_s: float) -> Iterator[SourceRef]:
    if _is_url(spec):
        fs, pattern = _fs(spec, timeout_s)
        yield from (SourceRef(fs.unstrip_protocol(p)) for p in fs.glob(pattern) if not fs.isdir(p))
    else:
        yield from (SourceRef(p) for p in globlib.iglob(spec, recursive=True) if not _isdir(p))


def _isdir(p: str) -> bool:
    return fsspec.filesystem("file").isdir(p)


#: bytes read first from a manifest, to tell an empty file from one with rows
_HEAD = 1 << 16


def _read_manifest(spec: str, timeout_s: float, refs: InputList) -> tuple[int, list[SkippedRow]]:
    """Add the rows of a manifest to ``refs`` as inputs, in file order, reading it a batch of
    rows at a time; returns the rows read and the rows without a path."""
    fs, path = _fs(spec, timeout_s)
    if not fs.exists(path):
        raise ConfigError(f"input: manifest {spec} does not exist")
    low = spec.lower()
    if low.endswith((".jsonl", ".ndjson")):
        fix = 'write one JSON object per line with a "path" key, {"path": "clip.mp4"}'
    else:
        fix = "write a header line with a 'path' column, then one row per input"
    base = posixpath.dirname(spec) if _is_url(spec) else posixpath.dirname(path)
    skipped: list[SkippedRow] = []
    n = 0
    with fs.open(path, "rb") as f:
        head = f.read(_HEAD)
        f.seek(0)
        if not head.strip() and len(head) < _HEAD and not low.endswith(".parquet"):
            raise InputError(f"manifest {spec} is empty: {fix}")
        # CSV and Parquet name their columns first; a JSONL file's are known at its end
        columns: dict[str, None] = {}
        if low.endswith(".parquet"):
            batches = _parquet_batches(spec, f, columns)
        elif low.endswith(".csv"):
            batches = _csv_batches(spec, f, columns)
        else:
            batches = _jsonl_batches(spec, f, columns)
        for batch in batches:
            if columns and "path" not in columns and not low.endswith((".jsonl", ".ndjson")):
                break  # said below
            for row in batch:
                n += 1
                raw = row.pop("path", None)
                meta = {k: _jsonable(_text(v, spec, n, k)) for k, v in row.items() if v is not None}
                raw = None if raw is None else _path_text(raw)
                if not raw:
                    skipped.append(
                        SkippedRow(n, spec, meta, "no_path", f"manifest row {n} has no path")
                    )
                    continue
                full = raw if _is_url(raw) or raw.startswith("/") else posixpath.join(base, raw)
                refs.add(SourceRef(full, meta, n))
    if "path" not in columns:
        raise InputError(f"manifest {spec} has no 'path' column (columns: {list(columns)}): {fix}")
    if not n:
        raise InputError(f"manifest {spec} has a header but no rows: {fix}")
    return n, skipped


def _csv_batches(spec: str, f: Any, columns: dict[str, None]) -> Iterator[list[dict[str, Any]]]:
    bad: list[Any] = []

    def invalid(row: Any) -> str:
        bad.append(row)
        return "skip"

    def broken(e: Exception) -> InputError:
        return InputError(
            f"manifest {spec}: {e}: fix the file (a field holding commas, quotes or line breaks "
            'must be quoted, "like, this")'
        )

    try:
        reader = pacsv.open_csv(
            f,
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(invalid_row_handler=invalid),
        )
    except pa.ArrowInvalid as e:
        raise broken(e) from None
    columns.update(dict.fromkeys(reader.schema.names))
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            batch = None
        except pa.ArrowInvalid as e:
            raise broken(e) from None
        if bad:  # a block of only such lines gives no batch
            row = bad[0]
            where = f"line {row.number}" if row.number is not None else "a line"
            raise InputError(
                f"manifest {spec}: {where} has {row.actual_columns} field(s), the header has "
                f"{row.expected_columns}: {row.text[:80]!r}: quote fields that hold commas, or "
                "fix the line"
            )
        if batch is None:
            return
        yield batch.to_pylist()


def _jsonl_batches(spec: str, f: Any, columns: dict[str, None]) -> Iterator[list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(f, start=1):
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
        if len(rows) >= _BATCH_ROWS:
            yield rows
            rows = []
    if rows:
        yield rows


def _parquet_batches(spec: str, f: Any, columns: dict[str, None]) -> Iterator[list[dict[str, Any]]]:
    def unreadable(e: Exception) -> InputError:
        return InputError(
            f"manifest {spec} is not a readable Parquet file ({e}): write it again, or use "
            "CSV or JSONL"
        )

    try:
        file = pq.ParquetFile(f)
    except (pa.ArrowException, OSError) as e:
        raise unreadable(e) from None
    columns.update(dict.fromkeys(file.schema_arrow.names))
    try:
        for batch in file.iter_batches(batch_size=_BATCH_ROWS):
            yield batch.to_pylist()
    except (pa.ArrowException, OSError) as e:
        raise unreadable(e) from None


#: manifest rows parsed at a time
_BATCH_ROWS = 10_000


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
