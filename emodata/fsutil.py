"""Local access to inputs that may live on any fsspec filesystem (local paths, s3://, ...)."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import fsspec

from emodata.layout import tmp_name

log = logging.getLogger(__name__)

_CACHE = Path(os.environ.get("EMODATA_CACHE", tempfile.gettempdir())) / "emodata-inputs"


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
