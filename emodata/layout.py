"""Names of everything a run writes under DIR, in one place."""

from __future__ import annotations

import re

SHARDS = "shards"
INDEX = "index"
FAILURES = "failures"
STATE = "_state"
MANIFEST = "manifest.json"
CARD = "README.md"
VALIDATION_REPORT = "validation_report.md"
VALIDATION_JSON = "validation_report.json"
INGEST_CACHE = f"{STATE}/ingest.parquet"

_SEQ = re.compile(r"(?:shard|part)-(\d{6})\.(?:tar|parquet)$")


def shard_name(seq: int) -> str:
    return f"shard-{seq:06d}.tar"


def index_name(seq: int) -> str:
    return f"shard-{seq:06d}.parquet"


def ledger_name(seq: int) -> str:
    return f"part-{seq:06d}.parquet"


def seq_of(name: str) -> int | None:
    m = _SEQ.search(name)
    return int(m.group(1)) if m else None


def tmp_name(name: str) -> str:
    """Temporary sibling name: hidden, so readers globbing ``*.tar`` never see partial files."""
    return f".{name}.tmp"
