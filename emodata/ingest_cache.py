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

import duckdb
import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from emodata import arrowio, layout
from emodata.fsutil import storable_text, write_atomic
from emodata.records import ClipRecord, Item, record_json

COLUMNS = ("path", "fp", "record")
ROW_GROUP = 4096  # small row groups: a window's lookup skips most of them
SORT_MEMORY = 64 << 20  # DuckDB's memory for sorting a fragment, besides its rows' own


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
        self._writer: pq.ParquetWriter | None = None
        self._last: str | None = None  # the last path put: the spool is in path order so far
        self._sorted = True
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
        temporary file of the driver a row group at a time, so a window's new rows are not
        held in its memory."""
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
            self._writer = pq.ParquetWriter(f"{self._spool.name}/new.parquet", table.schema)
        paths = table["path"]
        follows = self._last is None or paths[0].as_py() >= self._last
        self._sorted = self._sorted and follows and _ascending(paths)
        self._last = paths[-1].as_py()
        self.new.append(table)
        self._buffered += table.num_rows
        if self._buffered >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self.new and self._writer is not None:
            self._writer.write_table(pa.concat_tables(self.new), row_group_size=ROW_GROUP)
        self.new, self._buffered = [], 0

    def save(self) -> None:
        """This window's new rows as one fragment, sorted by path (tmp then rename). Rows
        that came in path order (a folder's inputs, in order) are copied as written; others
        are sorted by DuckDB, which spills to disk past its memory limit."""
        spool, writer = self._spool, self._writer
        if spool is None or writer is None:
            return
        self._flush()
        writer.close()
        in_order = self._sorted
        self._spool = self._writer = self._last = None
        self._sorted = True
        with spool:
            local = f"{spool.name}/new.parquet"
            if not in_order:
                local = _sorted_copy(local, f"{spool.name}/sorted.parquet", spool.name)
            folder = f"{self.root}/{layout.INGEST_CACHE}"
            self.fs.makedirs(folder, exist_ok=True)
            path = f"{folder}/part-{self.run_id}-{self.saved:06d}.parquet"
            with open(local, "rb") as src:
                write_atomic(self.fs, path, lambda f: shutil.copyfileobj(src, f, 1 << 20))
        self.files.append(path)
        self.saved += 1


def _ascending(values: pa.ChunkedArray | pa.Array) -> bool:
    if len(values) < 2:
        return True
    return bool(pc.all(pc.greater_equal(values[1:], values[:-1])).as_py())


def _sorted_copy(src: str, dest: str, spill_to: str) -> str:
    """``src`` sorted by path into ``dest``, in row groups of ``ROW_GROUP``: DuckDB sorts
    (spilling to ``spill_to`` past its memory limit) and hands the rows over a row group at a
    time.

    The limit grows with the rows: DuckDB's sort of these wide rows (a record's JSON each)
    failed under a fixed limit once they outgrew it (128,000 rows, 72 MiB as Arrow and 24 MiB
    as uncompressed Parquet pages, under 64 MB: "failed to pin block"); it passed under 64 MB
    plus four times the Parquet size (its peak: 104-119 MiB under limits of 128-256 MB)."""
    with pq.ParquetFile(src) as file:
        meta = file.metadata
        size = sum(meta.row_group(k).total_byte_size for k in range(meta.num_row_groups))
    limit = SORT_MEMORY + 4 * size
    con = duckdb.connect(
        config={"memory_limit": f"{limit}B", "threads": 1, "temp_directory": spill_to}
    )
    try:
        rows = con.sql("select * from read_parquet(?) order by path", params=[src])
        batches = rows.to_arrow_reader(ROW_GROUP)
        with pq.ParquetWriter(dest, batches.schema) as writer:
            for batch in batches:
                writer.write_table(pa.Table.from_batches([batch]), row_group_size=ROW_GROUP)
    finally:
        con.close()
    return dest
