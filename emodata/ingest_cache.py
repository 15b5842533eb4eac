"""The ingest cache: probe results by (path, size and mtime or object version), in fragments.

A rerun does not hash and probe an input again when its fingerprint is unchanged. The cache is a
folder of Parquet fragments (``_state/ingest/``): every window of inputs a run ingests adds one
fragment of the rows it probed, sorted by path, and nothing is ever rewritten whole. A lookup
reads only the rows of the paths asked for, so the driver holds one window's rows, not the
cache: memory and time per run grow with the inputs it probes, not with all it ever saw. A path
found in several fragments takes its newest row (fragments sort by run, then window).

``_state/ingest.parquet``, the single file older versions rewrote at every run, is read as the
oldest fragment and left in place.
"""

from __future__ import annotations

import json
import shutil
import tempfile

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from emodata import arrowio, heap, layout
from emodata.fsutil import storable_text, write_atomic
from emodata.records import ClipRecord, Item, record_json

COLUMNS = ("path", "fp", "record")
# small row groups: a window's lookup skips most of them, and a fragment is written one
# gathered row group at a time (at 4,096 rows, that took 15 MiB more than at 1,024)
ROW_GROUP = 1024


def fragments(fs: fsspec.AbstractFileSystem, root: str) -> list[str]:
    """The cache's files, oldest first: the single file of older versions, then the fragments."""
    root = root.rstrip("/")
    out = (
        [f"{root}/{layout.LEGACY_INGEST_CACHE}"]
        if fs.isfile(f"{root}/{layout.LEGACY_INGEST_CACHE}")
        else []
    )
    folder = f"{root}/{layout.INGEST_CACHE}"
    if fs.isdir(folder):
        out += sorted(
            p
            for p in fs.ls(folder, detail=False)
            if p.endswith(".parquet") and not p.rsplit("/", 1)[-1].startswith((".", "_"))
        )
    return out


class IngestCache:
    """Ingest results of earlier runs for the paths asked for, and this run's new ones.

    ``load(paths)`` reads the rows of ``paths`` (one window of inputs); ``put`` keeps a batch
    of results the run probed, as Arrow; ``save()`` writes those as one new fragment. Paths
    are stored as ``storable_text`` (a name that is not UTF-8 with its bytes escaped)."""

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str, run_id: str = "cache") -> None:
        self.fs, self.root, self.run_id = fs, root.rstrip("/"), run_id
        self.files = fragments(fs, self.root)
        self.rows: dict[str, tuple[str, str]] = {}  # the loaded window's rows
        self.new: list[pa.Table] = []  # probed rows not yet in the spool file
        self._buffered = 0
        self._spool: tempfile.TemporaryDirectory[str] | None = None
        self._writer: pa.ipc.RecordBatchFileWriter | None = None
        self.saved = 0

    def load(self, paths: list[str]) -> None:
        """Read the cached rows of ``paths`` (and forget the previous window's)."""
        self.rows = {}
        if not self.files or not paths:
            return
        wanted = pa.array(sorted({storable_text(p) for p in paths}), pa.string())
        lo, hi = wanted[0], wanted[-1]
        for path in self.files:  # oldest first: a newer row replaces an older one
            with arrowio.open_input(self.fs, path) as f:
                # row groups whose path range misses the window are skipped unread
                t = pq.read_table(
                    f,
                    columns=list(COLUMNS),
                    filters=(pc.field("path") >= lo)
                    & (pc.field("path") <= hi)
                    & pc.field("path").isin(wanted),
                    use_threads=False,  # see emodata.spill: Arrow's threads keep what they read
                )
            for p, fp, rec in zip(*(t[c].to_pylist() for c in COLUMNS), strict=True):
                self.rows[p] = (fp, rec)

    def get(self, path: str, fp: str) -> Item | None:
        name = storable_text(path)
        hit = self.rows.get(name)
        if hit is None or hit[0] != fp:
            return None
        return Item(path, ClipRecord.from_dict(json.loads(hit[1])))

    def put(self, items: list[Item], fps: list[str], records: pa.Array | None = None) -> None:
        """Keep the results of ``items`` (probed with fingerprints ``fps``) until :meth:`save`;
        ``records``: their records as JSON where the caller has them (its table's column).
        Failures are retried and not kept; decisions (filtered inputs) are. The rows go to a
        temporary Arrow file of the driver a row group's worth at a time, so a window's new
        rows are not held in its memory."""
        if records is None:
            records = pa.array([record_json(i.record) for i in items], pa.string())
        keep = [i.error is None or i.error["kind"] == "filtered" for i in items]
        table = pa.table(
            {
                "path": pa.array([storable_text(i.key) for i in items], pa.string()),
                "fp": pa.array(fps, pa.string()),
                "record": records,
            }
        )
        table = table if all(keep) else table.filter(pa.array(keep))
        if not table.num_rows:
            return
        if self._spool is None:
            self._spool = tempfile.TemporaryDirectory(prefix="emodata-ingest-")
            self._writer = pa.ipc.new_file(f"{self._spool.name}/new.arrow", table.schema)
        self.new.append(table)
        self._buffered += table.num_rows
        if self._buffered >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self.new and self._writer is not None:
            # one record batch per row group's worth: the sort gathers from few of them
            self._writer.write_table(pa.concat_tables(self.new).combine_chunks())
        self.new, self._buffered = [], 0

    def save(self) -> None:
        """This window's new rows as one fragment, sorted by path (tmp then rename)."""
        spool, writer = self._spool, self._writer
        if spool is None or writer is None:
            return
        self._flush()
        writer.close()
        self._spool = self._writer = None
        with spool:
            local = f"{spool.name}/sorted.parquet"
            _sorted_copy(f"{spool.name}/new.arrow", local)
            folder = f"{self.root}/{layout.INGEST_CACHE}"
            self.fs.makedirs(folder, exist_ok=True)
            path = f"{folder}/part-{self.run_id}-{self.saved:06d}.parquet"
            with open(local, "rb") as src:
                write_atomic(self.fs, path, lambda f: shutil.copyfileobj(src, f, 1 << 20))
        self.files.append(path)
        self.saved += 1


def _sorted_copy(src: str, dest: str) -> None:
    """The rows of the Arrow file ``src`` sorted by path, into the Parquet file ``dest`` in row
    groups of ``ROW_GROUP``.

    The rows stay in the memory-mapped file (the page cache, which the system can take back):
    only the paths are sorted in memory, and the rows are gathered from the file a row group
    at a time. A sort of the whole rows holds them all at once: DuckDB's, used before, rose by
    12 MiB from 1,000 to 8,000 rows and by 40 MiB to 32,000 (a record's JSON each), and failed
    with "failed to pin block" under a fixed memory limit that the rows outgrew."""
    with pa.memory_map(src) as file:
        table = pa.ipc.open_file(file).read_all()  # zero-copy: buffers point into the map
        order = pc.sort_indices(table["path"]).to_numpy().astype(np.int64)
        batches = table.to_batches()
        starts = np.cumsum([0] + [b.num_rows for b in batches])
        with pq.ParquetWriter(dest, table.schema, use_dictionary=False) as writer:
            for at in range(0, len(order), ROW_GROUP):
                group = _gather(batches, starts, order[at : at + ROW_GROUP])
                writer.write_table(group, row_group_size=ROW_GROUP)
                del group
                heap.trim()
        del table, batches


def _gather(batches: list[pa.RecordBatch], starts: np.ndarray, rows: np.ndarray) -> pa.Table:
    """Rows ``rows`` (numbers over all ``batches``; ``starts``: each batch's first) in that
    order, taken batch by batch: a take over the whole table would first copy it into one."""
    held = np.searchsorted(starts, rows, side="right") - 1  # the batch of each row
    by = np.argsort(held, kind="stable")
    ids, first = np.unique(held[by], return_index=True)
    pieces = [
        batches[b].take(pa.array(rows[mine] - starts[b]))
        for b, mine in zip(ids, np.split(by, first[1:]), strict=True)
    ]
    grouped = pa.Table.from_batches(pieces)  # rows grouped by batch: put them back in order
    back = np.empty(len(rows), np.int64)
    back[by] = np.arange(len(rows))
    return grouped.take(pa.array(back))
