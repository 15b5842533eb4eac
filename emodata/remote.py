"""Remote inputs (``https://``, ``s3://``, any fsspec URL): bounded waits and a private cache.

Every remote open gets connect and read timeouts (``ingest.remote_timeout_s``): a server that
accepts and never answers, or stalls in the middle of a body, is an ``ItemError`` with reason
``remote_timeout`` after that long without a byte, never a hung driver. A slow server that keeps
sending is not cut off: the limit is on silence, not on the whole transfer.

Downloads go to a cache private to the user (``~/.cache/emodata/inputs``, mode 0700;
``EMODATA_CACHE`` moves it). Files are stored by content (``by-content/<sha256>``); a URL finds
its file only through the object's version as the server states it (ETag, Content-MD5,
Last-Modified, size), so an object that changed is downloaded again. An object whose server
gives no version at all is downloaded by every run. Clips cut after ingest ask for the content
ingest hashed, so every clip of a source comes from the bytes ingest saw.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import fsspec

from emodata.errors import ItemError, Reason
from emodata.fsutil import is_url, sha256_file

log = logging.getLogger(__name__)

#: the default of ``ingest.remote_timeout_s``
DEFAULT_TIMEOUT_S = 30.0
_VERSION_FIELDS = ("ETag", "Content-MD5", "LastModified", "Last-Modified", "mtime", "generation")

T = TypeVar("T")


def storage_options(url: str, timeout_s: float) -> dict[str, Any]:
    """fsspec options that bound every wait on ``url``'s file system."""
    protocol = url.split("://", 1)[0].lower() if "://" in url else "file"
    if protocol in ("http", "https"):
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s)
        return {"client_kwargs": {"timeout": timeout}}
    if protocol in ("s3", "s3a"):
        return {"config_kwargs": {"connect_timeout": timeout_s, "read_timeout": timeout_s}}
    if protocol in ("gs", "gcs"):
        return {"timeout": timeout_s}
    return {}


def url_to_fs(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[Any, str]:
    """``fsspec.core.url_to_fs`` with the timeouts of ``storage_options``."""
    return fsspec.core.url_to_fs(url, **storage_options(url, timeout_s))


def bounded(url: str, timeout_s: float, what: str, call: Callable[[], T]) -> T:
    """Run ``call`` (a remote operation on ``url``); a timeout becomes a ``remote_timeout``."""
    try:
        return call()
    except Exception as e:
        if not timed_out(e):
            raise
        raise ItemError(
            Reason.REMOTE_TIMEOUT,
            f"{what} {url}: no answer within {timeout_s:g}s (ingest.remote_timeout_s)",
        ) from None


def timed_out(error: BaseException) -> bool:
    """Whether ``error`` is, or was caused by, a connect/read timeout (fsspec's HTTP ``info``
    reports one as FileNotFoundError raised from aiohttp's TimeoutError)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, TimeoutError):  # aiohttp's and botocore's timeouts are
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def object_version(info: dict[str, Any]) -> str:
    """The object's version as its store states it; "" when it states none but a size."""
    stamps = [f"{k}={info[k]}" for k in _VERSION_FIELDS if info.get(k)]
    return ";".join([*stamps, f"size={info.get('size')}"]) if stamps else ""


def cache_dir() -> Path:
    """The user's input cache, created private (0700)."""
    env = os.environ.get("EMODATA_CACHE")
    if env:
        root = Path(env) / "emodata-inputs"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(base) / "emodata" / "inputs"
    for sub in ("by-content", "by-url"):
        (root / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    if root.stat().st_mode & 0o077:
        os.chmod(root, 0o700)  # a cache made by an older version, or by a umask
    return root


def local_path(path: str, timeout_s: float = DEFAULT_TIMEOUT_S, sha256: str | None = None) -> str:
    """A local file for ``path``: the path itself, or a cached download of a remote object.

    ``sha256`` (known after ingest) asks for exactly that content: a cached copy is used, or the
    object is downloaded and must still hash to it.
    """
    if not is_url(path):
        return path.removeprefix("file://")
    root = cache_dir()
    suffix = Path(path.split("?")[0]).suffix
    if sha256:
        dest = root / "by-content" / f"{sha256}{suffix}"
        if dest.exists():
            return str(dest)
        tmp = _download(path, timeout_s, root)
        got = sha256_file(str(tmp))
        if got != sha256:
            tmp.unlink()
            raise ItemError(
                Reason.IO_ERROR,
                f"{path} changed since it was ingested (sha256 {got[:12]}, ingest saw "
                f"{sha256[:12]}): run again to ingest its new content",
            )
        os.replace(tmp, dest)
        return str(dest)
    fs, p = url_to_fs(path, timeout_s)
    version = object_version(bounded(path, timeout_s, "asking about", lambda: fs.info(p)))
    pointer = root / "by-url" / hashlib.sha256(f"{path}\n{version}".encode()).hexdigest()
    if version and pointer.exists():
        dest = root / "by-content" / f"{pointer.read_text().strip()}{suffix}"
        if dest.exists():
            return str(dest)
    tmp = _download(path, timeout_s, root)
    digest = sha256_file(str(tmp))
    dest = root / "by-content" / f"{digest}{suffix}"
    os.replace(tmp, dest)
    if version:
        _write_atomic(pointer, digest)
    return str(dest)


def _download(url: str, timeout_s: float, root: Path) -> Path:
    """``url`` into a fresh temporary file in the cache; nothing is left behind on failure."""
    fs, p = url_to_fs(url, timeout_s)
    tmp = root / f".part-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        bounded(url, timeout_s, "downloading", lambda: fs.get_file(p, str(tmp)))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    tmp.write_text(text)
    os.replace(tmp, path)
