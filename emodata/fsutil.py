"""Local access to inputs that may live on any fsspec filesystem (local paths, s3://, ...)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import fsspec

_CACHE = Path(os.environ.get("EMODATA_CACHE", tempfile.gettempdir())) / "emodata-inputs"


def storable_text(path: str) -> str:
    """``path`` as text that Parquet and JSON can hold, for the index, the ledger and caches.

    A file name that is not valid UTF-8 reaches Python with its bad bytes as lone surrogates
    (``os.fsdecode``); those bytes are written as ``\\xNN`` (``caf\\xe9.mp4``). The real path
    stays in the record and is what FFmpeg opens. Every other name is returned unchanged.
    """
    try:
        raw = path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no file system produced (e.g. from JSON)
        return path.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def local_path(path: str, cache_key: str | None = None) -> str:
    """A local file for ``path``: the path itself, or a cached download of a remote object.

    Remote objects are fetched once per node (keyed by content id when known) so that many clips
    cut from one long source do not download it many times.
    """
    if not is_url(path):
        return path.removeprefix("file://")
    key = cache_key or hashlib.sha256(path.encode()).hexdigest()[:20]
    suffix = Path(path.split("?")[0]).suffix
    dest = _CACHE / f"{key}{suffix}"
    if dest.exists():
        return str(dest)
    _CACHE.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    fs, p = fsspec.core.url_to_fs(path)
    fs.get_file(p, str(tmp))
    os.replace(tmp, dest)
    return str(dest)


def sha256_file(path: str, chunk: int = 4 * 1024 * 1024) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
