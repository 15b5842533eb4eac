"""Local access to inputs that may live on any fsspec filesystem (local paths, s3://, ...)."""

from __future__ import annotations

import hashlib


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


def sha256_file(path: str, chunk: int = 4 * 1024 * 1024) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
