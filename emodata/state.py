"""What an earlier run in the same DIR already finished, so a rerun only does the rest."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from emodata import arrowio, corrupt, layout, verify
from emodata.scratch import Scratch

log = logging.getLogger(__name__)


class DoneClips:
    """The clips earlier runs wrote, by source, in a DuckDB table in a temporary file of the run
    (``emodata.scratch``) instead of a dict on the driver (10-20 GB of Python objects at 10^8
    clips): filled an index fragment at a time, asked a window's sources at a time."""

    def __init__(self) -> None:
        self._db = Scratch("emodata-done-")
        self._db.execute("create table done (source_id varchar, key varchar, clip_count bigint)")
        self.total = 0

    def add(self, fragment: pa.Table) -> None:
        """An index fragment's ``key``, ``source_id`` and ``source_clip_count`` columns."""
        self._db.execute(
            "insert into done select source_id, key, source_clip_count from fragment",
            fragment=fragment,
        )
        self.total += fragment.num_rows

    def of(self, source_ids: list[str]) -> dict[str, tuple[list[str], int]]:
        """source id -> (its written clip keys, sorted; its planned clip count) for those of
        ``source_ids`` with written clips."""
        if not self.total or not source_ids:
            return {}
        asked = pa.table({"source_id": pa.array(sorted(set(source_ids)), pa.string())})
        rows = self._db.execute(
            "select source_id, list(distinct key order by key), max_by(clip_count, rowid) "
            "from done join asked using (source_id) group by source_id",
            asked=asked,
        )
        return {sid: (keys, count) for sid, keys, count in rows}

    def close(self) -> None:
        self._db.close()


@dataclass
class PriorState:
    done: DoneClips = field(default_factory=DoneClips)
    ledger: dict[tuple[str, str, str], tuple[int, set[str]]] = field(default_factory=dict)
    next_seq: int = 0
    removed: list[str] = field(default_factory=list)
    redo_shards: list[str] = field(default_factory=list)  # missing or resized: clips redone
    corrupt: list[tuple[str, str]] = field(default_factory=list)  # unreadable: (path, moved to)
    rebuilt_runs: list[dict[str, Any]] | None = None  # manifest.json was unreadable

    @property
    def total_done(self) -> int:
        return self.done.total


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
            state.done.add(pq.read_table(f, columns=["key", "source_id", "source_clip_count"]))
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
