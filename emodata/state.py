"""What an earlier run in the same DIR already finished, so a rerun only does the rest."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pyarrow.parquet as pq

from emodata import arrowio, corrupt, layout, verify

log = logging.getLogger(__name__)


@dataclass
class PriorState:
    done_keys: dict[str, set[str]] = field(default_factory=dict)  # source_id -> clip keys
    clip_counts: dict[str, int] = field(default_factory=dict)  # source_id -> planned clips
    ledger: dict[tuple[str, str, str], tuple[int, set[str]]] = field(default_factory=dict)
    next_seq: int = 0
    removed: list[str] = field(default_factory=list)
    redo_shards: list[str] = field(default_factory=list)  # missing or resized: clips redone
    corrupt: list[tuple[str, str]] = field(default_factory=list)  # unreadable: (path, moved to)
    rebuilt_runs: list[dict[str, Any]] | None = None  # manifest.json was unreadable

    def source_done(self, source_id: str) -> bool:
        n = self.clip_counts.get(source_id)
        return n is not None and len(self.done_keys.get(source_id, ())) >= n

    @property
    def total_done(self) -> int:
        return sum(len(v) for v in self.done_keys.values())


def _ls(fs: fsspec.AbstractFileSystem, path: str) -> list[str]:
    return sorted(fs.ls(path, detail=False)) if fs.exists(path) else []


def scan(fs: fsspec.AbstractFileSystem, root: str) -> PriorState:
    """Read finished work, clean up what a killed run left half-written and set aside state
    files that cannot be read (``emodata.corrupt``).

    Run only while holding DIR's lease (``emodata.lease``): the cleanup deletes temporary files,
    which would be another writer's work in progress otherwise.
    """
    root = root.rstrip("/")
    state = PriorState()
    seqs: list[int] = []
    for sub in (layout.SHARDS, layout.INDEX, layout.FAILURES):
        for p in _ls(fs, f"{root}/{sub}"):
            if p.rsplit("/", 1)[-1].startswith("."):
                fs.rm(p)
                state.removed.append(p)
    found = corrupt.check(fs, root)
    state.corrupt, state.rebuilt_runs = found.moved, found.runs
    state.redo_shards = found.index_shards + [p.shard for p in verify.drop_broken(fs, root)]
    indexed = set()
    for p in _ls(fs, f"{root}/{layout.INDEX}"):
        seq = layout.seq_of(p)
        if seq is None:
            continue
        indexed.add(layout.shard_of_index(p))
        seqs.append(seq)
        with arrowio.open_input(fs, p) as f:
            t = pq.read_table(f, columns=["key", "source_id", "source_clip_count"]).to_pydict()
        for key, sid, n in zip(t["key"], t["source_id"], t["source_clip_count"], strict=True):
            state.done_keys.setdefault(sid, set()).add(key)
            state.clip_counts[sid] = n
    for p in _ls(fs, f"{root}/{layout.SHARDS}"):
        seq = layout.seq_of(p)
        if seq is not None and p.rsplit("/", 1)[-1] not in indexed:
            fs.rm(p)  # renamed, but the run died before its index fragment: redo it
            state.removed.append(p)
    attempts: Counter[tuple[str, str, str]] = Counter()
    for p in _ls(fs, f"{root}/{layout.FAILURES}"):
        seq = layout.seq_of(p)
        if seq is not None:
            seqs.append(seq)
        with arrowio.open_input(fs, p) as f:
            t = pq.read_table(f).to_pylist()
        for row in t:
            ident = (row["source_path"], row["key"] or "", row["stage"])
            attempts[ident] = max(attempts[ident], row["attempt"])
            reasons = state.ledger.get(ident, (0, set()))[1]
            state.ledger[ident] = (attempts[ident], reasons | {row["reason"]})
    state.next_seq = max(seqs, default=-1) + 1
    if state.removed:
        log.warning("removed %d incomplete file(s) left by an interrupted run", len(state.removed))
    return state
