"""write: WebDataset shards, index fragments and ledger fragments, atomically and in order.

Per shard: the tar is written (webdataset's ``TarWriter``; each member's data offset and size
go to the index) under a temporary name and renamed, then its ledger fragment, then
its index fragment. The index fragment is the completion marker: a shard without one is
incomplete and is removed on the next run. File names carry the run's tag
(``shard-000004-1f0c2a.tar``) so that two writers can never overwrite each other's files.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import itertools
import json
import logging
import sys
import types
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from emodata import __version__, layout, projection
from emodata.fsutil import remove_quietly, storable_text, write_atomic
from emodata.records import Item
from emodata.redact import redact
from emodata.schemas import arrow_type, index_schema, ledger_schema, stage_status_fields

log = logging.getLogger(__name__)

_BLOCK = 512


def _padded(n: int) -> int:
    return -(-n // _BLOCK) * _BLOCK


#: webdataset's writer modules, loaded as submodules of this private package (see below)
_WDS = "emodata._webdataset_writer"


@functools.cache
def tar_writer() -> type:
    """webdataset's ``TarWriter``, without importing the ``webdataset`` package: its
    ``__init__`` imports torch for the reading side (about 6 s of CPU here, a fifth of a small
    run's driver time), which writing a tar never uses. The writer module and the two it
    imports (``gopen``, ``utils``) load from webdataset's own folder as submodules of a private
    package with an empty ``__init__``: webdataset's code, without the rest of the package.
    Where ``webdataset`` is imported already, its own class is used."""
    loaded = sys.modules.get("webdataset.writer")
    if loaded is not None:
        return loaded.TarWriter
    spec = importlib.util.find_spec("webdataset")  # finds the folder; runs nothing
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("webdataset is not installed (it is a core dependency of emodata)")
    package = types.ModuleType(_WDS, "webdataset's writer modules")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules.setdefault(_WDS, package)
    return importlib.import_module(f"{_WDS}.writer").TarWriter


def sample_json(item: Item) -> dict[str, Any]:
    """The per-sample JSON member: the clip's record (without run bookkeeping), its key and
    its member list."""
    doc = item.record.to_dict(work=False)
    doc["source"]["path"] = storable_text(doc["source"]["path"])
    return {"key": item.key, **doc, "members": sorted(item.blobs)}


class LedgerBook:
    """Ledger rows of this run, de-duplicated against what earlier runs recorded."""

    def __init__(self, prior: dict[tuple[str, str, str], tuple[int, set[str]]], run_id: str):
        self.prior = prior
        self.run_id = run_id
        self.pending: list[dict[str, Any]] = []
        self.counts: dict[tuple[str, str, str], int] = {}
        self.new_rows = 0
        self.new_keys: set[str] = set()  # items that added a row

    def add(self, item: Item, default_stage: str = "ingest") -> None:
        err = item.error or {}
        source = item.record.source
        stage = err.get("stage", default_stage)
        key = item.key if item.key != source.path else None
        source_path = storable_text(source.path or item.key)
        ident = (source_path, key or "", stage)
        attempts, reasons = self.prior.get(ident, (0, set()))
        self.counts[(stage, err.get("kind", "failed"), err.get("reason", "?"))] = (
            self.counts.get((stage, err.get("kind", "failed"), err.get("reason", "?")), 0) + 1
        )
        if err.get("kind") == "filtered" and err.get("reason") in reasons:
            return  # the same decision is already on record
        self.prior[ident] = (attempts + 1, reasons | {err.get("reason", "")})
        self.new_rows += 1
        self.new_keys.add(item.key)
        self.pending.append(
            {
                "source_path": source_path,
                "source_id": source.id,
                "key": key,
                "stage": stage,
                "kind": err.get("kind", "failed"),
                "reason": err.get("reason", "internal_error"),
                "message": storable_text(redact(err.get("message", ""))),
                "attempt": attempts + 1,
                "run_id": self.run_id,
                "recorded_at": datetime.now(UTC),
            }
        )

    def take(self) -> pa.Table | None:
        if not self.pending:
            return None
        table = pa.Table.from_pylist(self.pending, schema=ledger_schema())
        self.pending = []
        return table


class ShardWriter:
    """Packs samples into size-bounded tar shards and writes the matching index rows."""

    def __init__(
        self,
        fs: fsspec.AbstractFileSystem,
        root: str,
        *,
        first_seq: int,
        max_bytes: int,
        max_samples: int,
        include_frames: bool,
        run_id: str,
        config_fingerprint: str,
        ledger: LedgerBook,
        seqs: Callable[[], int] | None = None,
        extra_columns: tuple[tuple[str, str], ...] = (),
        fence: Callable[[], None] | None = None,
    ) -> None:
        """``seqs`` hands out file numbers where several writers share a run (each write task
        on the workers numbers its own, ``emodata.stages.write``); alone, a writer counts from
        ``first_seq``. ``fence`` runs right before each commit and raises when the run may no
        longer write there (``emodata.lease.check_held``); the files of that shard go."""
        self.fs, self.root = fs, root.rstrip("/")
        self._seqs = seqs or itertools.count(first_seq).__next__
        self.seq = -1  # the open shard's number (or the last one written)
        self.max_bytes, self.max_samples = max_bytes, max_samples
        self.include_frames = include_frames
        self.run_id, self.fingerprint = run_id, config_fingerprint
        self.tag = layout.run_tag(run_id)
        self.ledger = ledger
        self._fence = fence or (lambda: None)
        for sub in (layout.SHARDS, layout.INDEX, layout.FAILURES):
            fs.makedirs(f"{self.root}/{sub}", exist_ok=True)
        self._tar: Any = None  # webdataset.TarWriter of the open shard
        self._fh: Any = None
        self._rows: list[dict[str, Any]] = []
        self._bytes = 0
        self.samples_written = 0
        self.shards_written: list[str] = []
        self._status_fields = stage_status_fields()
        self._schema = index_schema()
        for name, kind in extra_columns:  # plugin stages' columns, after the built-in ones
            self._schema = self._schema.append(pa.field(name, arrow_type(kind)))
        self._extra = tuple(name for name, _ in extra_columns)

    # -- public -----------------------------------------------------------------------------
    def add(self, item: Item) -> str | None:
        """Write ``item`` (or ledger it when it failed); returns the shard it went into."""
        if not item.ok:
            self.ledger.add(item)
            return None
        members = self._members(item)
        size = sum(_BLOCK + _padded(len(data)) for _, data in members)
        if self._tar is not None and (
            self._bytes + size > self.max_bytes or len(self._rows) >= self.max_samples
        ):
            self._finish_shard()
        if self._tar is None:
            self._open_shard()
        assert self._tar is not None
        start = self._tar.tarstream.offset
        self._tar.write(
            {"__key__": item.key, **{name[len(item.key) + 1 :]: d for name, d in members}}
        )
        offsets: dict[str, list[int]] = {}
        for info in self._tar.tarstream.members[-len(members) :]:  # written in key order
            offsets[info.name] = [start + _BLOCK, info.size]
            start += _BLOCK + _padded(info.size)
        assert start == self._tar.tarstream.offset, "a tar header took more than one block"
        self._tar.tarstream.members.clear()  # the index keeps the offsets; no need in memory
        self._bytes += size
        self._rows.append(self._index_row(item, offsets, size))
        item.blobs = {}
        return layout.shard_name(self.seq, self.tag)

    def close(self) -> None:
        if self._tar is not None:
            self._finish_shard()
        leftover = self.ledger.take()
        if leftover is not None:
            self._fence()
            self.seq = self._seqs()
            self._write_parquet(leftover, layout.FAILURES, layout.ledger_name(self.seq, self.tag))

    def abort(self) -> None:
        """Drop the shard being written (the run failed): remove its temporary file, so only
        finished shards stay; the rerun writes the rest."""
        if self._tar is None:
            return
        for close in (self._tar.close, self._fh.close):
            try:
                close()
            except OSError as e:  # a full disk fails the close too; the file goes anyway
                log.debug("closing the unfinished shard: %s", e)
        # tarfile's write stream retries a failed close when it is collected, into the file
        # closed above: mark it closed
        stream = getattr(self._tar.tarstream, "fileobj", None)
        if stream is not None and hasattr(stream, "closed"):
            stream.closed = True
        remove_quietly(self.fs, self._tmp)
        self._tar, self._fh, self._rows, self._bytes = None, None, [], 0

    def abort_on_error(self, kind: type[BaseException] | None, *_: object) -> bool:
        """``ExitStack.push`` callback: :meth:`abort` when the block raised (never swallows)."""
        if kind is not None:
            self.abort()
        return False

    # -- internals ----------------------------------------------------------------------------
    def _members(self, item: Item) -> list[tuple[str, bytes]]:
        blobs = {
            k: v for k, v in item.blobs.items() if self.include_frames or not k.startswith("frame")
        }
        item.blobs = blobs
        doc = sample_json(item)
        out = [(f"{item.key}.json", json.dumps(doc, sort_keys=True).encode())]
        out += [(f"{item.key}.{ext}", blobs[ext]) for ext in sorted(blobs)]
        return out

    def _index_row(self, item: Item, offsets: dict[str, list[int]], size: int) -> dict[str, Any]:
        row = projection.index_fields(item.record, self._extra)
        status = row["stage_status"]
        row.update(
            key=item.key,
            shard=layout.shard_name(self.seq, self.tag),
            shard_members=json.dumps(offsets, sort_keys=True),
            sample_bytes=size,
            stage_status={f: status.get(f) for f in self._status_fields},
            pipeline_version=__version__,
            config_fingerprint=self.fingerprint,
            run_id=self.run_id,
            processed_at=datetime.now(UTC),
        )
        return row

    def _open_shard(self) -> None:
        self.seq = self._seqs()
        name = layout.shard_name(self.seq, self.tag)
        self._tmp = f"{self.root}/{layout.SHARDS}/{layout.tmp_name(name)}"
        self._fh = self.fs.open(self._tmp, "wb")
        # both stay open across add() calls and are closed in _finish_shard; a fixed mtime, so
        # shards do not depend on the clock
        writer = tar_writer()
        self._tar = writer(self._fh, user="", group="", mode=0o644, encoder=False, mtime=0)
        self._rows, self._bytes = [], 0

    def _finish_shard(self) -> None:
        assert self._tar is not None
        self._tar.close()  # closes the tar stream; the file is ours to close
        self._fh.close()
        name = layout.shard_name(self.seq, self.tag)
        shard = f"{self.root}/{layout.SHARDS}/{name}"
        try:
            self._fence()
        except BaseException:
            remove_quietly(self.fs, self._tmp)
            self._tar, self._fh = None, None
            raise
        self.fs.mv(self._tmp, shard)
        ledger_path = f"{self.root}/{layout.FAILURES}/{layout.ledger_name(self.seq, self.tag)}"
        try:
            ledger = self.ledger.take()
            if ledger is not None:
                self._write_parquet(ledger, layout.FAILURES, ledger_path.rsplit("/", 1)[-1])
            table = pa.Table.from_pylist(self._rows, schema=self._schema)
            self._fence()  # the index fragment marks the shard done: the last word
            self._write_parquet(table, layout.INDEX, layout.index_name(self.seq, self.tag))
        except BaseException:
            # no index fragment, no shard: its clips are redone by the next run (a run killed
            # here leaves the shard, which the next run removes for the same reason)
            remove_quietly(self.fs, shard)
            remove_quietly(self.fs, ledger_path)
            raise
        log.info("wrote %s (%d samples, %.1f MB)", name, len(self._rows), self._bytes / 1e6)
        self.samples_written += len(self._rows)
        self.shards_written.append(name)
        self._tar, self._fh, self._rows, self._bytes = None, None, [], 0

    def _write_parquet(self, table: pa.Table, sub: str, name: str) -> None:
        write_atomic(self.fs, f"{self.root}/{sub}/{name}", lambda f: pq.write_table(table, f))
