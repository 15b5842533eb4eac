"""Can an output folder be written? One line naming the problem and the fix, not a traceback.

Checked before any work (a file where the folder should be, a read-only or unwritable folder),
and used to explain an ``OSError`` that a write raises later (a full disk, a folder remounted
read-only) in the same words.
"""

from __future__ import annotations

import errno
import os

import fsspec
from fsspec.implementations.local import LocalFileSystem

from emodata.errors import OutputError

_FULL = {errno.ENOSPC, errno.EDQUOT}
_DENIED = {errno.EACCES, errno.EPERM}
_NOT_A_FOLDER = {errno.ENOTDIR, errno.EEXIST}


def require_folder(fs: fsspec.AbstractFileSystem, root: str, flag: str) -> None:
    """Make ``root`` (and its parents) or raise OutputError before anything is written."""
    in_the_way = file_in_the_way(fs, root)
    if in_the_way is not None:
        raise OutputError(not_a_folder(flag, root, in_the_way))
    try:
        fs.makedirs(root, exist_ok=True)
    except OSError as e:
        raise OutputError(explain(e, flag, root) or f"{flag} {root}: {e}") from None
    if isinstance(fs, LocalFileSystem) and not os.access(root, os.W_OK):
        why = "read-only filesystem" if _read_only_mount(root) else "no write permission"
        raise OutputError(
            f"{flag} {root} cannot be written ({why}): choose a writable folder"
            + ("" if why.startswith("read-only") else " or fix its permissions")
        )


def file_in_the_way(fs: fsspec.AbstractFileSystem, root: str) -> str | None:
    """The path, ``root`` or one of its parents, that is a file where a folder must be."""
    path = root.rstrip("/")
    while path:
        if fs.exists(path):
            return None if fs.isdir(path) else path
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if parent == path:
            return None
        path = parent
    return None


def not_a_folder(flag: str, root: str, file: str) -> str:
    where = f"{file} is a file" if file == root.rstrip("/") else f"{file} (in its path) is a file"
    return f"{flag} {root}: {where}, not a folder: choose a folder path"


def explain(
    e: OSError, flag: str, root: str, after: str = "", scope: str | None = None
) -> str | None:
    """One line for an OSError met while writing under ``root`` (None: not such a problem, or
    about a path outside ``scope``, default ``root``, e.g. an input). ``after`` says what
    happens next."""
    where = str(e.filename) if e.filename else root
    if e.filename and not str(e.filename).startswith((scope or root).rstrip("/")):
        return None
    tail = f"; {after}" if after else ""
    if e.errno in _FULL:
        writing = f" (writing {e.filename})" if e.filename else ""
        return (
            f"no space left on the device of {flag} {root}{writing}: free some space or choose "
            f"another {flag}{tail}"
        )
    if e.errno == errno.EROFS:
        return f"{where} is on a read-only filesystem: choose a writable {flag}{tail}"
    if e.errno in _DENIED:
        return f"no permission to write {where}: fix its permissions or choose another {flag}{tail}"
    if e.errno in _NOT_A_FOLDER:
        return f"{where}: a file is where a folder should be: choose another {flag}{tail}"
    return None


def explain_url(
    e: OSError, flag: str, url: str, after: str = "", sibling: bool = False
) -> str | None:
    """:func:`explain` for a folder given as a URL or a path (as on the command line);
    ``sibling``: also errors in the folder next to it (a release's hidden work folder)."""
    _, root = fsspec.core.url_to_fs(url)
    root = root.rstrip("/")
    scope = root.rsplit("/", 1)[0] if sibling and "/" in root else None
    return explain(e, flag, root, after, scope)


def _read_only_mount(path: str) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False
