"""The typed record that flows between stages, and the deterministic ids it carries.

An ``Item`` is metadata (``record``, JSON-serialisable) plus media members (``blobs``, bytes keyed
by WebDataset extension such as ``mp4``, ``wav`` or ``frame003.jpg``). Stages never see Ray types:
the Ray adapter converts items to and from Arrow rows.
"""

from __future__ import annotations

import json
import pickle
import uuid
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from emodata.errors import ItemError, Reason, kind_of
from emodata.redact import redact

_NAMESPACE = uuid.UUID("6f1d3a52-8f0e-4b7c-9a51-2d7e0c4b9e11")


def clip_key(source_id: str, start_s: float, end_s: float) -> str:
    """Stable clip id: the same source and span always give the same key."""
    return uuid.uuid5(_NAMESPACE, f"{source_id}:{round(start_s * 1000)}:{round(end_s * 1000)}").hex


@dataclass
class Item:
    key: str
    record: dict[str, Any] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)

    @property
    def error(self) -> dict[str, Any] | None:
        return self.record.get("error")

    @property
    def ok(self) -> bool:
        return self.record.get("error") is None

    def fail(self, stage: str, reason: Reason, message: str) -> Item:
        """Mark the item as filtered or failed; it travels on so the writer can ledger it."""
        self.record["error"] = {
            "stage": stage,
            "reason": str(reason),
            "kind": str(kind_of(reason)),
            "message": redact(message)[:2000],
        }
        self.blobs = {}
        return self

    def fail_with(self, stage: str, err: ItemError) -> Item:
        return self.fail(stage, err.reason, err.message)

    def mark(self, stage: str, status: str = "ok") -> None:
        self.record.setdefault("stage_status", {})[stage] = status


# keys are bytes: an input's key is its path, which may hold the lone surrogates of a file name
# that is not UTF-8 (os.fsdecode); surrogateescape carries it through Arrow unchanged
ITEM_SCHEMA = pa.schema(
    [pa.field("key", pa.binary()), pa.field("record", pa.string()), pa.field("blobs", pa.binary())]
)


def items_to_table(items: list[Item]) -> pa.Table:
    return pa.table(
        {
            "key": [i.key.encode("utf-8", "surrogateescape") for i in items],
            "record": [json.dumps(i.record, sort_keys=True) for i in items],
            "blobs": [pickle.dumps(i.blobs, protocol=5) for i in items],
        },
        schema=ITEM_SCHEMA,
    )


def table_to_items(table: pa.Table) -> list[Item]:
    cols = table.to_pydict()
    return [
        Item(key=k.decode("utf-8", "surrogateescape"), record=json.loads(r), blobs=pickle.loads(b))
        for k, r, b in zip(cols["key"], cols["record"], cols["blobs"], strict=True)
    ]
