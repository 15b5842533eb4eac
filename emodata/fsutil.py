"""Local access to inputs that may live on any fsspec filesystem (local paths, s3://, ...)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import IO

import fsspec

from emodata.layout import tmp_name

log = logging.getLogger(__name__)


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


def write_atomic(
    fs: fsspec.AbstractFileSystem, path: str, data: bytes | Callable[[IO[bytes]], None]
) -> None:
    """Write ``path`` under a hidden temporary name and rename it: readers see the old file or
    the whole new one. When the write fails (a full disk, a read-only folder) the temporary file
    is removed, so nothing half-written is left behind, and the error goes on."""
    head, name = path.rsplit("/", 1)
    tmp = f"{head}/{tmp_name(name)}"
    try:
        with fs.open(tmp, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                data(f)
        fs.mv(tmp, path)
    except BaseException:
        remove_quietly(fs, tmp)
        raise


def remove_quietly(fs: fsspec.AbstractFileSystem, path: str, recursive: bool = False) -> None:
    """Remove a temporary file (or folder) while another error is on its way out: that error
    matters more, so a failure here is logged, not raised."""
    try:
        if fs.exists(path):
            fs.rm(path, recursive=recursive)
    except OSError as e:
        log.warning("could not remove the temporary file %s: %s", path, e)
