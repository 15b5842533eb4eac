"""Names of everything a run writes under DIR, in one place."""

from __future__ import annotations

import os
import posixpath
import re

SHARDS = "shards"
INDEX = "index"
FAILURES = "failures"
STATE = "_state"
MANIFEST = "manifest.json"
CARD = "README.md"
VALIDATION_REPORT = "validation_report.md"
VALIDATION_JSON = "validation_report.json"
INGEST_CACHE = f"{STATE}/ingest"  # fragments, one per window a run probed (emodata.ingest_cache)
LEGACY_INGEST_CACHE = f"{STATE}/ingest.parquet"  # the single file older versions rewrote
LEASE = f"{STATE}/lease.json"
DROPPED = f"{STATE}/dropped"
CORRUPT = f"{STATE}/corrupt"

# shard-000012.tar (older runs) or shard-000012-1f0c2a.tar (the writer's run tag)
# (numbers past 999999 take more digits)
_SEQ = re.compile(r"(?:shard|part)-(\d{6,})(?:-[0-9a-z]+)?\.(?:tar|parquet)$")


class UnsafePath(ValueError):
    """A name read from the index or a sample would lead outside the folder it belongs in."""


def inside(folder: str, name: object, *, local: bool) -> str:
    """``folder/name``, refused (:class:`UnsafePath`) unless it stays inside ``folder``.

    Names come from data (an index row's ``shard``, a sample's key) and are never trusted as
    paths: ``../../secret.txt``, an absolute path or a symlink out of the folder would otherwise
    let a damaged or edited index read (and export) any file the process can open. Local paths
    are resolved (symlinks followed) before the check; object-store paths (``bucket/run/...``,
    as fsspec strips them) are normalised with :mod:`posixpath`, which is all they have.
    """
    if not isinstance(name, str) or not name or "\x00" in name:
        raise UnsafePath(f"{name!r} is not a file name inside {folder}")
    if local:
        base = os.path.realpath(folder)
        path = os.path.realpath(os.path.join(base, name))
        ok = os.path.commonpath([base, path]) == base and path != base
    else:
        base = posixpath.normpath(folder)
        path = posixpath.normpath(posixpath.join(base, name))
        ok = path.startswith(base.rstrip("/") + "/")
    if os.path.isabs(name) or not ok:
        raise UnsafePath(f"{name!r} leads outside {folder}")
    return path


def is_local(fs: object) -> bool:
    """Whether an fsspec filesystem is this machine's (so paths can be resolved)."""
    protocol = getattr(fs, "protocol", ())
    return bool({"file", "local"} & set((protocol,) if isinstance(protocol, str) else protocol))


def shard_path(fs: object, root: str, shard: object) -> str:
    """Where the shard an index row names lives: always inside the run's ``shards/``."""
    return inside(f"{root.rstrip('/')}/{SHARDS}", shard, local=is_local(fs))


def run_tag(run_id: str) -> str:
    """The short, unique tail of a run id (``20260101T000000Z-1f0c2a`` -> ``1f0c2a``).

    It goes into every file name a run writes so that two writers can never pick the same name,
    even if they ever meet in one folder; the sequence number in front keeps names in order.
    """
    return re.sub(r"[^0-9a-z]", "", run_id.lower().rsplit("-", 1)[-1])[:12]


def _stem(prefix: str, seq: int, tag: str | None) -> str:
    return f"{prefix}-{seq:06d}-{tag}" if tag else f"{prefix}-{seq:06d}"


def shard_name(seq: int, tag: str | None = None) -> str:
    return _stem("shard", seq, tag) + ".tar"


def index_name(seq: int, tag: str | None = None) -> str:
    return _stem("shard", seq, tag) + ".parquet"


def ledger_name(seq: int, tag: str | None = None) -> str:
    return _stem("part", seq, tag) + ".parquet"


def shard_of_index(name: str) -> str:
    """``index/shard-000003-ab12.parquet`` -> ``shard-000003-ab12.tar`` (its shard's name)."""
    return name.rsplit("/", 1)[-1].removesuffix(".parquet") + ".tar"


def ledger_of_shard(name: str) -> str:
    """The ledger fragment written together with a shard (same sequence number and tag)."""
    return (
        "part-" + name.rsplit("/", 1)[-1].removeprefix("shard-").removesuffix(".tar") + ".parquet"
    )


def seq_of(name: str) -> int | None:
    m = _SEQ.search(name)
    return int(m.group(1)) if m else None


def tmp_name(name: str) -> str:
    """Temporary sibling name: hidden, so readers globbing ``*.tar`` never see partial files."""
    return f".{name}.tmp"
