"""What ``datasets.load_dataset("webdataset", data_files=...)`` does with a set of shards, step by
step, for a machine without the ``datasets`` package.

It follows the packaged builder (``datasets/packaged_modules/webdataset/webdataset.py`` and
``Features.encode_example``): members are grouped into examples by WebDataset's
``base_plus_ext`` regex (key = name up to the first dot, field = the rest); ``.json`` fields are
decoded; the features are inferred from the first five examples of the first archive of the last
split given, which must all have the same fields, by concatenating one Arrow table per example
with ``promote_options="default"``; every example of every split is then encoded against those
features (a missing field becomes None, a field or struct key the features lack is dropped) and
written as Arrow with the inferred types. Any step that raises in ``datasets`` raises here.
"""

from __future__ import annotations

import json
import re
import tarfile
from itertools import islice
from typing import Any

import pyarrow as pa

_BASE_PLUS_EXT = re.compile(r"^((?:.*/|)[^.]+)[.]([^/]*)$")
FIRST = 5


def examples(tar_path: str):
    current: dict[str, Any] = {}
    with tarfile.open(tar_path) as tar:
        for member in tar:
            if not member.isfile():
                continue
            m = _BASE_PLUS_EXT.match(member.name)
            if not m:
                continue
            key, field = m.group(1), m.group(2)
            if current and current["__key__"] != key:
                yield current
                current = {}
            data = tar.extractfile(member).read()
            current["__key__"], current["__url__"] = key, tar_path
            current[field] = json.loads(data) if field.rsplit(".", 1)[-1] == "json" else data
    if current:
        yield current


def _encode(schema: pa.DataType, obj: Any) -> Any:
    if isinstance(schema, pa.StructType):
        if obj is None:
            return None
        return {f.name: _encode(f.type, obj.get(f.name)) for f in schema}
    if isinstance(schema, (pa.ListType, pa.LargeListType)) and obj is not None:
        return [_encode(schema.value_type, o) for o in obj]
    return obj


def load(data_files: dict[str, list[str]]) -> dict[str, pa.Table]:
    """Split -> the table ``datasets`` would build (binary media columns stay bytes)."""
    last = list(data_files.values())[-1]
    first = list(islice(examples(last[0]), FIRST))
    if any(ex.keys() != first[0].keys() for ex in first):
        raise ValueError(
            "The TAR archives of the dataset should be in WebDataset format, but the files in "
            "the archive don't share the same prefix or the same types."
        )
    tables = [pa.Table.from_pylist([ex]) for ex in first]
    schema = pa.concat_tables(tables, promote_options="default").schema
    out = {}
    for split, paths in data_files.items():
        rows = [
            {f.name: _encode(f.type, ex.get(f.name)) for f in schema}
            for path in paths
            for ex in examples(path)
        ]
        out[split] = pa.Table.from_pylist(rows, schema=schema)
    return out
