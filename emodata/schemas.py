"""Loads the schema files in ``schemas/``; code and tests read them, nothing restates them."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

_SCALARS = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "timestamp[ms, UTC]": pa.timestamp("ms", tz="UTC"),
}


def schemas_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "schemas", here / "_schemas"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"schemas directory not found next to {here}")


@cache
def load_json(name: str) -> dict[str, Any]:
    return json.loads((schemas_dir() / name).read_text(encoding="utf-8"))


def arrow_type(spec: Any) -> pa.DataType:
    if isinstance(spec, dict) and "struct" in spec:
        return pa.struct([pa.field(f, pa.string()) for f in spec["struct"]])
    return _SCALARS[spec]


@cache
def arrow_schema(name: str) -> pa.Schema:
    spec = load_json(name)
    return pa.schema(
        [
            pa.field(c["name"], arrow_type(c["type"]), nullable=c["nullable"])
            for c in spec["columns"]
        ],
        metadata={"schema": spec["name"], "version": str(spec["version"])},
    )


def index_schema() -> pa.Schema:
    return arrow_schema("index.schema.json")


@cache
def release_columns() -> tuple[pa.Field, ...]:
    """The columns a release's index adds to the run's (``release.schema.json``)."""
    return tuple(arrow_schema("release.schema.json"))


def release_schema() -> pa.Schema:
    """The index schema of a release: the run's columns, then the release's."""
    schema = index_schema()
    for f in release_columns():
        schema = schema.append(f)
    return schema


def ledger_schema() -> pa.Schema:
    return arrow_schema("ledger.schema.json")


def stage_status_fields() -> list[str]:
    return [f.name for f in index_schema().field("stage_status").type]
