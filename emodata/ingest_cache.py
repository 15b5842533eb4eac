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

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from emodata import arrowio, layout
from emodata.fsutil import storable_text, write_atomic
from emodata.records import ClipRecord, Item, record_json

COLUMNS = ("path", "fp", "record")


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
        self.new: list[pa.Table] = []  # this window's probed rows, a batch at a time
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
        ``records``: their records as JSON where the caller has them (its table's column, whose
        buffers the cache then shares). Failures are retried and not kept; decisions (filtered
        inputs) are."""
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
        self.new.append(table if all(keep) else table.filter(pa.array(keep)))

    def save(self) -> None:
        """This window's new rows as one fragment, sorted by path (tmp then rename)."""
        table = pa.concat_tables(self.new) if self.new else None
        self.new = []
        if table is None or not table.num_rows:
            return
        table = table.sort_by("path")
        folder = f"{self.root}/{layout.INGEST_CACHE}"
        self.fs.makedirs(folder, exist_ok=True)
        path = f"{folder}/part-{self.run_id}-{self.saved:06d}.parquet"
        write_atomic(
            self.fs, path, lambda f: pq.write_table(table, f, row_group_size=4096)
        )  # small row groups: a window's lookup skips most of them
        self.files.append(path)
        self.saved += 1
