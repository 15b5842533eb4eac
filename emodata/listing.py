"""The inputs of a run, on disk instead of in the driver's memory.

A folder listing or a manifest goes into a DuckDB table in a temporary file of the run as it is
read (``emodata.scratch``), ten thousand inputs at a time; ``seal`` then puts each path once in
its final order (sorted by path for folders and globs, file order for manifests) and numbers
the inputs, and the runner reads them back a window at a time. A Python list of ``SourceRef``
cost the driver 0.72 KiB per input (70 GB for a hundred million inputs); the table costs it
0.034 KiB per input (``benchmarks/input_listing.py``).

Paths are stored as their bytes (``os.fsencode``): a file name that is not UTF-8 comes back as
the same ``str`` (``os.fsdecode``), so the file is opened by its real name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from emodata.scratch import Scratch


@dataclass(frozen=True)
class SourceRef:
    path: str
    meta: dict[str, Any] = field(default_factory=dict)
    #: the manifest row (from 1) that named this input; None for folders and globs
    row: int | None = None


#: inputs buffered in memory before they go to the table (~0.7 KiB each while they wait)
BATCH = 1024

_SCHEMA = pa.schema(
    [("n", pa.int64()), ("path", pa.binary()), ("meta", pa.string()), ("row", pa.int64())]
)


class InputList:
    """A run's inputs in order, each path once. Fill with ``add``, then ``seal``; read with
    ``window`` (or iterate, for small lists), and ``close`` at the end of the run."""

    def __init__(self) -> None:
        self._db = Scratch("emodata-inputs-")
        self._db.execute("create table raw (n bigint, path blob, meta varchar, row bigint)")
        self._pending: list[SourceRef] = []
        self._added = 0
        self._count: int | None = None

    def add(self, ref: SourceRef) -> None:
        if self._count is not None:
            raise RuntimeError("the input list is sealed")
        self._pending.append(ref)
        if len(self._pending) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        refs, self._pending = self._pending, []
        if not refs:
            return
        first = self._added
        self._added += len(refs)
        batch = pa.table(
            {
                "n": pa.array(range(first, self._added), pa.int64()),
                "path": [os.fsencode(r.path) for r in refs],
                "meta": [json.dumps(r.meta) if r.meta else None for r in refs],
                "row": pa.array([r.row for r in refs], pa.int64()),
            },
            schema=_SCHEMA,
        )
        self._db.execute("insert into raw select * from batch", batch=batch)

    def seal(self, by_path: bool) -> list[tuple[SourceRef, SourceRef]]:
        """Fix the order (``by_path``: sorted by path; else as added), keep each path's first
        input, and return the later ones, each with the input it repeats."""
        self._flush()
        order = "path" if by_path else "n"
        self._db.execute(
            "create table inputs as "
            f"select row_number() over (order by {order}) - 1 as k, n, path, meta, row from ("
            "  select * from raw qualify row_number() over (partition by path order by n) = 1"
            ") order by k"
        )
        self._count = self._db.execute("select count(*) from inputs")[0][0]
        repeats = self._db.execute(
            "select r.path, r.meta, r.row, i.path, i.meta, i.row from raw r "
            "join inputs i on r.path = i.path and r.n > i.n order by r.n"
        )
        self._db.execute("drop table raw")
        self._db.reopen()  # hands back the sort's memory (~0.5 KiB per input up to the limit)
        return [(_ref(*row[:3]), _ref(*row[3:])) for row in repeats]

    def __len__(self) -> int:
        if self._count is None:
            raise RuntimeError("seal the input list before reading it")
        return self._count

    def window(self, start: int, stop: int) -> list[SourceRef]:
        """Inputs ``start`` to ``stop`` (exclusive) in the sealed order."""
        len(self)  # sealed
        rows = self._db.execute(
            "select path, meta, row from inputs where k >= ? and k < ? order by k", [start, stop]
        )
        return [_ref(*row) for row in rows]

    def batches(self, start: int, stop: int, size: int) -> Iterator[list[SourceRef]]:
        """Inputs ``start`` to ``stop`` (exclusive), ``size`` at a time: a window read so holds
        one batch of them in memory, not the window."""
        for at in range(start, min(stop, len(self)), size):
            yield self.window(at, min(at + size, stop))

    def __iter__(self) -> Iterator[SourceRef]:
        for batch in self.batches(0, len(self), BATCH):
            yield from batch

    def __getitem__(self, k: int) -> SourceRef:
        if not -len(self) <= k < len(self):
            raise IndexError(k)
        k %= len(self)
        return self.window(k, k + 1)[0]

    def close(self) -> None:
        self._db.close()


def _ref(path: bytes, meta: str | None, row: int | None) -> SourceRef:
    return SourceRef(os.fsdecode(path), json.loads(meta) if meta else {}, row)
