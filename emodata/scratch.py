"""A DuckDB database in a temporary file of the run: tables the driver would otherwise hold in
its memory (the inputs of a run, the content ids kept for dedup).

DuckDB's buffer manager keeps its memory under ``memory_limit`` and spills the rest to the file.
Nothing here outlives the run: the file goes with ``close``.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa


class Scratch:
    """One connection to a temporary DuckDB file, shared by the driver's threads."""

    def __init__(self, prefix: str, memory_limit: str = "64MB") -> None:
        self._dir = tempfile.TemporaryDirectory(prefix=prefix)
        self._config = {"memory_limit": memory_limit, "threads": 1}
        self._con = duckdb.connect(f"{self._dir.name}/scratch.duckdb", config=self._config)
        self._lock = threading.Lock()  # the first window may be ingested on another thread

    @property
    def folder(self) -> Path:
        """The temporary folder that holds the database file (gone after ``close``)."""
        return Path(self._dir.name)

    def execute(self, sql: str, params: list[Any] | None = None, **tables: pa.Table) -> list[Any]:
        """Run ``sql`` with ``tables`` visible under their names; its rows."""
        with self._lock:
            for name, table in tables.items():
                self._con.register(name, table)
            try:
                cursor = self._con.execute(sql, params or [])
                return cursor.fetchall() if cursor.description else []
            finally:
                for name in tables:
                    self._con.unregister(name)

    def reopen(self) -> None:
        """Close the database and open it again: DuckDB keeps the memory of a large query
        (a sort of every input, say) until its connection closes; the tables stay in the file."""
        with self._lock:
            self._con.close()
            self._con = duckdb.connect(f"{self._dir.name}/scratch.duckdb", config=self._config)

    def close(self) -> None:
        with self._lock:
            self._con.close()
        self._dir.cleanup()
