"""The content ids a run has kept, for dedup over all its windows, on disk instead of in the
driver's memory.

A run takes its inputs a window at a time, and a copy of a file met in an earlier window is a
duplicate too, so the run must remember every content id it kept. Held in a dict, that is one
entry per source on the driver (about 0.2 KiB each: 20 GB for a hundred million inputs). Here
the ids live in an SQLite table in a file of the run's own, keyed by id (a B-tree): a lookup
reads the few pages on the path to each id, and SQLite's page cache (``CACHE_KIB``) bounds the
memory, whatever the number of ids; the operating system's page cache keeps the rest of the file
warm. A DuckDB table, used before, had no index (DuckDB's ART index does not spill), so each
window's lookup scanned every id kept so far (0.4 s per window of 5,000 at three million ids),
and its memory grew by 4 MiB from 1,000 to 8,000 ids (1.2 MiB with this table):
``benchmarks/dedup_set.py``.

The set is the run's: a rerun skips the sources already written and meets their copies again,
so nothing of it needs to outlive the run (no journal, no syncs).
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
from pathlib import Path

CACHE_KIB = 8 << 10  # SQLite's page cache for the table
LOOKUP = 500  # ids per query (SQLite's bound on a statement's parameters was 999 before 3.32)


class ContentIds:
    """Content id -> the path that was kept for it, over a run's windows."""

    def __init__(self, cache_kib: int = CACHE_KIB) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="emodata-dedup-")
        self._con = sqlite3.connect(
            self.folder / "kept.sqlite", isolation_level=None, check_same_thread=False
        )
        for pragma in ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{int(cache_kib)}"):
            self._con.execute(f"pragma {pragma}")
        self._con.execute(
            "create table kept (id text primary key, path text not null) without rowid"
        )
        self._lock = threading.Lock()  # the first window may be ingested on another thread
        self.count = 0

    @property
    def folder(self) -> Path:
        """The temporary folder that holds the table's file (gone after ``close``)."""
        return Path(self._dir.name)

    def first_paths(self, ids: list[str]) -> dict[str, str]:
        """The kept path of each of ``ids`` that an earlier window kept."""
        if not ids or not self.count:
            return {}
        asked = sorted(set(ids))  # in key order: neighbouring lookups share pages
        found: dict[str, str] = {}
        with self._lock:
            for at in range(0, len(asked), LOOKUP):
                part = asked[at : at + LOOKUP]
                marks = ",".join("?" * len(part))
                rows = self._con.execute(f"select id, path from kept where id in ({marks})", part)
                found.update(rows)
        return found

    def add(self, kept: dict[str, str]) -> None:
        """Remember ``kept`` (content id -> path; ids not kept before)."""
        if not kept:
            return
        with self._lock:
            self._con.execute("begin")
            try:
                self._con.executemany("insert into kept values (?, ?)", sorted(kept.items()))
            except BaseException:
                self._con.execute("rollback")
                raise
            self._con.execute("commit")
        self.count += len(kept)

    def close(self) -> None:
        with self._lock:
            self._con.close()
        self._dir.cleanup()
