"""The content ids a run has kept, for dedup over all its windows, on disk instead of in the
driver's memory.

A run takes its inputs a window at a time, and a copy of a file met in an earlier window is a
duplicate too, so the run must remember every content id it kept. Held in a dict, that is one
entry per source on the driver (about 0.2 KiB each: 20 GB for a hundred million inputs). Here
the ids live in a DuckDB table in a file of the run's own: DuckDB's buffer manager keeps its
memory under ``memory_limit`` and spills the rest to disk, and a window's ids are looked up in
one join. The table has no index: DuckDB's ART index does not spill, so it would bring the
memory back; a window's lookup is a scan instead, which grows with the run (0.4 s per window of
5,000 at three million ids here: ``benchmarks/dedup_set.py``).

The set is the run's: a rerun skips the sources already written and meets their copies again,
so nothing of it needs to outlive the run.
"""

from __future__ import annotations

import pyarrow as pa

from emodata.scratch import Scratch


class ContentIds:
    """Content id -> the path that was kept for it, over a run's windows."""

    def __init__(self, memory_limit: str = "64MB") -> None:
        self._db = Scratch("emodata-dedup-", memory_limit)
        self._db.execute("create table kept (id varchar not null, path varchar not null)")
        self.count = 0

    def first_paths(self, ids: list[str]) -> dict[str, str]:
        """The kept path of each of ``ids`` that an earlier window kept."""
        if not ids or not self.count:
            return {}
        asked = pa.table({"id": pa.array(sorted(set(ids)), pa.string())})
        rows = self._db.execute(
            "select kept.id, kept.path from kept join asked using (id)", asked=asked
        )
        return dict(rows)

    def add(self, kept: dict[str, str]) -> None:
        """Remember ``kept`` (content id -> path; ids not kept before)."""
        if not kept:
            return
        new = pa.table({"id": list(kept), "path": list(kept.values())})
        self._db.execute("insert into kept select id, path from new", new=new)
        self.count += len(kept)

    def close(self) -> None:
        self._db.close()
