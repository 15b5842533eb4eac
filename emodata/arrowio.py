"""Arrow reads of a run's Parquet files that never call back into Python from Arrow's threads.

Arrow reads a Parquet file on its own thread pools (pre-buffering, read-ahead) and DuckDB scans a
registered dataset on its threads. Handed a Python file object or an fsspec filesystem, those
threads take the GIL to read, and to let go of the Python object when the read is over. When one
of them does so while the process exits (a command that read a few index fragments, then stopped
with an error, say), the interpreter is already shutting down, the thread is ended where it
stands, and the C++ runtime aborts the process (``terminate called without an active exception``,
exit status -6) after the command has said what it had to say.

So local files are opened with Arrow's own filesystem, and a remote file is read into memory first
(state files are small); only a remote dataset still goes through fsspec, and its DuckDB
connection is closed before the command ends (see :func:`emodata.stats.connection`).
"""

from __future__ import annotations

import fsspec
import pyarrow as pa
import pyarrow.fs as pafs
from fsspec.implementations.local import LocalFileSystem


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return isinstance(fs, LocalFileSystem)


def filesystem(fs: fsspec.AbstractFileSystem) -> pafs.FileSystem:
    """Arrow's own filesystem for a local ``fs``; fsspec's wrapped for Arrow otherwise."""
    if is_local(fs):
        return pafs.LocalFileSystem()
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs))


def open_input(fs: fsspec.AbstractFileSystem, path: str) -> pa.NativeFile:
    """``path`` open for Arrow: a native file when local, the file's bytes in memory otherwise.
    FileNotFoundError when it is not there."""
    if is_local(fs):
        return pafs.LocalFileSystem().open_input_file(path)
    return reader(fs.cat_file(path))


def reader(data: bytes) -> pa.BufferReader:
    """``data`` to read with Arrow, copied into memory Arrow owns: ``pa.BufferReader(data)`` would
    keep the Python bytes, and the thread that frees them would need the GIL."""
    sink = pa.BufferOutputStream()
    sink.write(data)
    return pa.BufferReader(sink.getvalue())
