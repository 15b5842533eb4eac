"""``datasets.load_dataset("webdataset", data_files=...)`` on a release, as a trainer calls it.

Returns each split as the Arrow table ``datasets`` wrote, read without decoding the media
columns (``mp4``/``wav`` stay bytes), so the tests look at what the library stored.
"""

from __future__ import annotations

import tempfile
from typing import Any

import pyarrow as pa


def load(data_files: dict[str, list[str]]) -> dict[str, pa.Table]:
    from datasets import load_dataset

    with tempfile.TemporaryDirectory(prefix="hf-cache-") as cache:
        loaded = load_dataset("webdataset", data_files=data_files, cache_dir=cache)
        return {split: _bytes_table(ds) for split, ds in loaded.items()}


def _bytes_table(ds: Any) -> pa.Table:
    """The split's table, media columns as their stored bytes (read before the cache goes)."""
    table = ds.data.table
    columns = {}
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        if pa.types.is_struct(col.type) and col.type.get_field_index("bytes") >= 0:
            col = col.field("bytes")
        columns[name] = col
    return pa.table(columns)
