"""State files that cannot be read: found at the start of a run, set aside, rebuilt.

A truncated index or ledger fragment, ``_state/ingest.parquet`` or ``manifest.json`` (a full
disk, a copy cut short, a hand edit) would otherwise stop every later run. Each is checked when a
run starts; one that cannot be read moves to ``_state/corrupt/`` (its name, prefixed with the
time it was set aside, kept for a post-mortem) with a warning naming it, and the run rebuilds
what it held: a lost index fragment's shard is set aside like a lost shard
(:func:`emodata.verify.set_aside_shard`) so its clips are redone, a lost ingest cache means the
inputs are probed again, a lost manifest keeps the runs the index still names.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from emodata import arrowio, ingest_cache, layout

log = logging.getLogger(__name__)

# What each reader of a fragment needs from it (state.scan, verify, stats, the card).
INDEX_COLUMNS = ("key", "source_id", "source_clip_count", "shard", "shard_members", "run_id")


class CorruptState(ValueError):
    """A state file that exists but cannot be read."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path, self.why = path, why


@dataclass
class Found:
    """What :func:`check` set aside: ``(path, where it went)``, the shards whose clips are
    redone, and the runs rebuilt from the index when ``manifest.json`` was set aside."""

    moved: list[tuple[str, str]] = field(default_factory=list)
    index_shards: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] | None = None


def set_aside(fs: fsspec.AbstractFileSystem, root: str, path: str, why: str, then: str) -> str:
    """Move ``path`` to ``_state/corrupt/`` and say so; returns where it went."""
    root = root.rstrip("/")
    folder = f"{root}/{layout.CORRUPT}"
    fs.makedirs(folder, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    dest = f"{folder}/{stamp}-{path.removeprefix(root + '/').replace('/', '-')}"
    fs.mv(path, dest)
    log.warning("%s is unreadable (%s): moved to %s; %s", path, why, dest, then)
    return dest


def read_parquet(fs: fsspec.AbstractFileSystem, path: str, columns: tuple[str, ...] = ()) -> Any:
    """The table at ``path`` (only ``columns`` when given); CorruptState when it is not one."""
    try:
        with arrowio.open_input(fs, path) as f:
            return pq.read_table(f, columns=list(columns) or None)
    except (pa.ArrowException, OSError, KeyError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise CorruptState(path, _short(e)) from None


def footer_problem(
    fs: fsspec.AbstractFileSystem, path: str, columns: tuple[str, ...] = ()
) -> str | None:
    """Why ``path`` is not a readable Parquet file, or None: its footer (what a copy cut short
    or a full disk loses) and ``columns`` in its schema. One small read, not the data."""
    try:
        with arrowio.open_input(fs, path) as f:
            names = set(pq.read_metadata(f).schema.names)
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError) as e:
        return _short(e)
    missing = [c for c in columns if c not in names]
    return f"no column {missing[0]!r}" if missing else None


def read_json(fs: fsspec.AbstractFileSystem, path: str) -> dict[str, Any]:
    """The JSON object at ``path``; CorruptState when it is not one."""
    try:
        with fs.open(path, "rb") as f:
            data = json.loads(f.read())
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptState(path, _short(e)) from None
    if not isinstance(data, dict):
        raise CorruptState(path, f"a JSON {type(data).__name__}, not an object")
    return data


def manifest_runs(fs: fsspec.AbstractFileSystem, root: str) -> list[dict[str, Any]]:
    """The earlier runs ``manifest.json`` lists; one that cannot be read is set aside and the
    runs are rebuilt from the index (run ids and clip times)."""
    path = f"{root.rstrip('/')}/{layout.MANIFEST}"
    if not fs.exists(path):
        return []
    try:
        runs = read_json(fs, path).get("runs", [])
        if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
            raise CorruptState(path, "its 'runs' is not a list of objects")
    except CorruptState as e:
        set_aside(fs, root, path, e.why, "its runs are rebuilt from the index")
        return runs_from_index(fs, root)
    return runs


def runs_from_index(fs: fsspec.AbstractFileSystem, root: str) -> list[dict[str, Any]]:
    """One entry per run id in the index, with the times of its first and last clip."""
    spans: dict[str, list[Any]] = {}
    for p in _fragments(fs, root, layout.INDEX):
        t = read_parquet(fs, p, ("run_id", "processed_at")).to_pydict()
        for run_id, at in zip(t["run_id"], t["processed_at"], strict=True):
            span = spans.setdefault(run_id, [at, at])
            span[0], span[1] = min(span[0], at), max(span[1], at)
    return [
        {"run_id": r, "started_at": a.isoformat(), "ended_at": b.isoformat(), "rebuilt": True}
        for r, (a, b) in sorted(spans.items(), key=lambda kv: kv[1][0])
    ]


def check(fs: fsspec.AbstractFileSystem, root: str) -> Found:
    """Set aside every state file of DIR that cannot be read (run under DIR's lease)."""
    from emodata.verify import set_aside_shard

    root = root.rstrip("/")
    found = Found()
    # fragments: their footers only (the run reads them whole right after, in state.scan)
    for p in _fragments(fs, root, layout.INDEX):
        why = footer_problem(fs, p, INDEX_COLUMNS)
        if why is not None:
            shard = layout.shard_of_index(p)
            then = f"the clips of {shard} are redone"
            found.moved.append((p, set_aside(fs, root, p, why, then)))
            set_aside_shard(fs, root, shard)
            found.index_shards.append(shard)
    for p in _fragments(fs, root, layout.FAILURES):
        why = footer_problem(fs, p)
        if why is not None:
            then = "its ledger rows are lost (failures are retried, decisions made again)"
            found.moved.append((p, set_aside(fs, root, p, why, then)))
    for cache in ingest_cache.fragments(fs, root):  # footers: a lookup reads few rows
        why = footer_problem(fs, cache, ingest_cache.COLUMNS)
        if why is not None:
            then = "its inputs are probed again"
            found.moved.append((cache, set_aside(fs, root, cache, why, then)))
    manifest = f"{root}/{layout.MANIFEST}"
    if fs.exists(manifest):
        try:
            read_json(fs, manifest)
        except CorruptState as e:
            then = "it is rewritten at the end of this run, its runs rebuilt from the index"
            found.moved.append((manifest, set_aside(fs, root, manifest, e.why, then)))
            found.runs = runs_from_index(fs, root)
    return found


def _fragments(fs: fsspec.AbstractFileSystem, root: str, sub: str) -> list[str]:
    folder = f"{root.rstrip('/')}/{sub}"
    names = sorted(fs.ls(folder, detail=False)) if fs.exists(folder) else []
    return [
        p
        for p in names
        if layout.seq_of(p) is not None and not p.rsplit("/", 1)[-1].startswith((".", "_"))
    ]


def _short(e: Exception) -> str:
    """The gist of a reader's error: Arrow's ``Could not open Parquet input source '<Buffer>':
    Parquet magic bytes not found in footer. Either ...`` -> ``Parquet magic bytes not found in
    footer``."""
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    if "': " in text:
        text = text.split("': ", 1)[1]
    return text.split(". ", 1)[0][:160]
