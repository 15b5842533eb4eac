"""The webdataset part of a release: the project's shard writer, keeping each sample's index row.

Release index rows are the run's rows plus the release columns of
``schemas/release.schema.json`` (``review`` provenance, and ``split``, ``near_dup_group``,
``identity_clusters``, ``export_label`` when the export asks for them).
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from emodata import layout
from emodata.records import Item
from emodata.schemas import release_schema
from emodata.writer import ShardWriter


class ReleaseWriter(ShardWriter):
    """The project's shard writer, keeping each sample's original index row plus release columns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows_by_key: dict[str, dict[str, Any]] = {}

    def _index_row(self, item: Item, offsets: dict[str, list[int]], size: int) -> dict[str, Any]:
        row = self.rows_by_key.pop(item.key)
        row.update(
            shard=layout.shard_name(self.seq, self.tag),
            shard_members=json.dumps(offsets, sort_keys=True),
            sample_bytes=size,
        )
        return row

    def _write_parquet(self, table: pa.Table, sub: str, name: str) -> None:
        if sub == layout.INDEX:
            table = pa.Table.from_pylist(self._rows, schema=release_schema())
        super()._write_parquet(table, sub, name)
