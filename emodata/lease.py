"""An exclusive lease on an output folder: one run writes DIR at a time.

The lease is ``DIR/_state/lease.json`` (run id, owner, host, pid, heartbeat). It is created
atomically: ``O_CREAT | O_EXCL`` on a local disk; on an object store a write that fails if the
object exists (fsspec's ``xb`` mode, conditional writes on S3), else a write that is read back to
see who won. A background thread refreshes the heartbeat every few seconds. A lease whose
heartbeat is older than ``stale_s``, or whose pid is dead on this same host, is stale and is
taken over; anything else stops the second run before it touches DIR.

A dead driver's workers can outlive it by a moment: a write task that was running when the
driver was killed may still try to finish its shard. Two things keep such a straggler from
committing clips the next run is about to redo. Every writer checks the lease right before it
commits (:func:`check_held`; a writer whose run no longer holds the lease drops its files), and
a run that takes a lease over waits until the old run's temporary files have stopped changing
(:meth:`Lease.settle`) before it reads what is done.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import fsspec
from fsspec.implementations.local import LocalFileSystem

from emodata import layout
from emodata.fsutil import write_atomic

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
STALE_S = float(os.environ.get("EMODATA_LEASE_STALE_S", 60))
SETTLE_S = float(os.environ.get("EMODATA_LEASE_SETTLE_S", 2))

F = TypeVar("F", bound=Callable[..., Any])


class LeaseHeld(RuntimeError):
    """Another live run holds the folder's lease."""


class LeaseLost(RuntimeError):
    """This run's lease was taken over: it must not commit another file to the folder."""


def check_held(fs: fsspec.AbstractFileSystem, root: str, run_id: str) -> None:
    """Raise :class:`LeaseLost` unless ``run_id`` holds DIR's lease: a writer calls it right
    before each commit (a rename, a completion marker), so a straggler of a run that was taken
    over commits nothing after the new holder has looked at the folder."""
    current = read(fs, root)
    if current is None or current.run_id != run_id:
        now = current.describe() if current is not None else "nobody (it was removed)"
        raise LeaseLost(
            f"run {run_id} no longer holds the lease on {root} (held by {now}); it stops "
            "writing there, and the run holding the lease redoes its unfinished clips"
        )


@dataclass
class Holder:
    run_id: str
    owner: str
    host: str
    pid: int
    started_at: str
    heartbeat: float  # unix seconds, the holder's clock

    @classmethod
    def me(cls, run_id: str) -> Holder:
        try:
            owner = getpass.getuser()
        except (KeyError, OSError):
            owner = str(os.getuid()) if hasattr(os, "getuid") else "?"
        now = time.time()
        return cls(run_id, owner, socket.gethostname(), os.getpid(), _iso(now), now)

    def age(self) -> float:
        return max(0.0, time.time() - self.heartbeat)

    def dead_reason(self, stale_s: float = STALE_S) -> str | None:
        """Why this holder is gone (None while it may still be writing)."""
        if self.host == socket.gethostname():
            if self.pid == os.getpid():
                if self.run_id not in _LIVE:
                    return "an earlier run in this process that ended without releasing it"
            elif not _pid_alive(self.pid):
                return f"pid {self.pid} is not running on this host"
        if self.age() > stale_s:
            return f"no heartbeat for {self.age():.0f}s (stale after {stale_s:.0f}s)"
        return None

    def describe(self) -> str:
        return (
            f"run {self.run_id} (pid {self.pid} on host {self.host}, user {self.owner}, "
            f"heartbeat {self.age():.0f}s ago)"
        )


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _encode(h: Holder) -> bytes:
    return (json.dumps({**asdict(h), "heartbeat_at": _iso(h.heartbeat)}, indent=2) + "\n").encode()


def read(fs: fsspec.AbstractFileSystem, root: str) -> Holder | None:
    """The current holder of DIR's lease, or None (no lease, or an unreadable one)."""
    path = f"{root.rstrip('/')}/{layout.LEASE}"
    try:
        with fs.open(path, "rb") as f:
            d = json.loads(f.read())
        return Holder(**{k: d[k] for k in Holder.__dataclass_fields__})
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as e:
        log.warning("%s is unreadable (%s); treating it as stale", path, e)
        return Holder("?", "?", "?", -1, "", 0.0)


def _create(fs: fsspec.AbstractFileSystem, path: str, body: bytes, run_id: str) -> bool:
    """Write ``path`` only if it does not exist; True when this call created it."""
    if isinstance(fs, LocalFileSystem):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        return True
    try:
        with fs.open(path, "xb") as f:
            f.write(body)
        return True
    except FileExistsError:
        return False
    except (ValueError, NotImplementedError, TypeError, OSError) as e:
        log.debug("%s: no exclusive create (%s); writing and reading back", path, e)
    if fs.exists(path):
        return False
    with fs.open(path, "wb") as f:
        f.write(body)
    time.sleep(1.0)  # let a racing writer's object land before we look
    holder = read(fs, path.removesuffix(f"/{layout.LEASE}"))
    return holder is not None and holder.run_id == run_id


_LIVE: dict[str, Lease] = {}  # run id -> lease held by this process


class Lease:
    """Hold DIR's lease for one run: ``acquire()``, heartbeat in the background, ``release()``."""

    def __init__(
        self,
        fs: fsspec.AbstractFileSystem,
        root: str,
        run_id: str,
        *,
        stale_s: float = STALE_S,
        every_s: float = HEARTBEAT_S,
        settle_s: float = SETTLE_S,
    ) -> None:
        self.fs, self.root, self.run_id = fs, root.rstrip("/"), run_id
        self.path = f"{self.root}/{layout.LEASE}"
        self.stale_s, self.every_s, self.settle_s = stale_s, every_s, settle_s
        self.holder = Holder.me(run_id)
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> Lease:
        self.fs.makedirs(f"{self.root}/{layout.STATE}", exist_ok=True)
        taken: Holder | None = None
        for _ in range(5):
            if _create(self.fs, self.path, _encode(self.holder), self.run_id):
                break
            other = read(self.fs, self.root)
            if other is None:
                continue  # released between our two looks
            why = other.dead_reason(self.stale_s)
            if why is None:
                raise LeaseHeld(
                    f"{self.root} is being written by {other.describe()}; wait for it, or pass "
                    "--force-unlock after checking it is dead"
                )
            log.warning("taking over the lease of %s: %s", other.describe(), why)
            self._take_over(other)
            taken = other
        else:
            raise LeaseHeld(f"{self.root}: could not take the lease ({self.path} keeps changing)")
        if taken is not None and (taken.host, taken.pid) != (self.holder.host, self.holder.pid):
            self.settle(taken)  # another process's run: its workers may still be finishing
        _LIVE[self.run_id] = self
        self.thread_id = threading.get_ident()
        self._thread = threading.Thread(target=self._beat, name="emodata-lease", daemon=True)
        self._thread.start()
        return self

    def _take_over(self, stale: Holder) -> None:
        """Remove a stale lease, making sure it is still the one judged stale."""
        if not isinstance(self.fs, LocalFileSystem):
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(self.path)
            return
        aside = f"{self.path}.{self.run_id}.stale"
        try:
            os.rename(self.path, aside)  # atomic: of two takers, one wins
        except FileNotFoundError:
            return
        with open(aside, "rb") as f:
            body = f.read()
        os.unlink(aside)
        try:
            seen = json.loads(body)
        except ValueError:
            return
        if (seen.get("run_id"), seen.get("heartbeat")) != (stale.run_id, stale.heartbeat):
            # its holder beat between our look and the rename: it is alive, give it back
            _create(self.fs, self.path, body, seen.get("run_id", ""))
            raise LeaseHeld(f"{self.root} is being written by run {seen.get('run_id')}")

    def settle(self, old: Holder) -> None:
        """Wait for ``old``'s stragglers: at least ``settle_s``, then while any temporary file
        with its run's tag still changes (a commit that passed :func:`check_held` just before
        the takeover), at most ``stale_s`` in all."""
        tag = layout.run_tag(old.run_id)
        if not tag:
            return
        start = time.monotonic()
        seen: dict[str, tuple[Any, ...]] = {}
        quiet_since = start
        while True:
            now_seen = self._in_flight(tag)
            if now_seen != seen:
                seen, quiet_since = now_seen, time.monotonic()
            now = time.monotonic()
            if now - start >= self.settle_s and (not seen or now - quiet_since >= self.settle_s):
                return
            if now - start >= self.stale_s:
                log.warning(
                    "run %s's temporary files in %s still change after %.0fs; going on",
                    old.run_id,
                    self.root,
                    now - start,
                )
                return
            time.sleep(min(0.2, self.settle_s / 4 or 0.05))

    def _in_flight(self, tag: str) -> dict[str, tuple[Any, ...]]:
        """Temporary files of the run tagged ``tag``: name -> (size, modification time)."""
        found: dict[str, tuple[Any, ...]] = {}
        for sub in (layout.SHARDS, layout.INDEX, layout.FAILURES):
            try:
                entries = self.fs.ls(f"{self.root}/{sub}", detail=True)
            except FileNotFoundError:
                continue
            for e in entries:
                name = e["name"].rsplit("/", 1)[-1]
                if name.startswith(".") and f"-{tag}." in name:
                    when = e.get("mtime", e.get("LastModified", e.get("last_modified")))
                    found[name] = (e.get("size"), when)
        return found

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.refresh()
            except OSError as e:  # a full disk: the next beat retries, the writer reports it
                log.warning("lease heartbeat not written: %s", e)
            except Exception:  # a failed heartbeat must not kill the run; the next one retries
                log.exception("lease heartbeat failed")

    def refresh(self) -> None:
        current = read(self.fs, self.root)
        if current is None or current.run_id != self.run_id:
            if not self.lost:
                log.error(
                    "lost the lease on %s to %s; this run's files keep their own names",
                    self.root,
                    current.describe() if current else "nobody",
                )
            self.lost = True
            return
        self.holder.heartbeat = time.time()
        write_atomic(self.fs, self.path, _encode(self.holder))

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        _LIVE.pop(self.run_id, None)
        current = read(self.fs, self.root)
        if current is not None and current.run_id == self.run_id:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(self.path)


def acquire(fs: fsspec.AbstractFileSystem, root: str, run_id: str) -> Lease:
    """Take DIR's lease for ``run_id`` or raise LeaseHeld; released by ``@releasing``."""
    return Lease(fs, root, run_id).acquire()


def releasing(fn: F) -> F:
    """Release every lease ``fn`` took in this thread, however it ends."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        before = set(_LIVE)
        me = threading.get_ident()
        try:
            return fn(*args, **kwargs)
        finally:
            for run_id in [r for r in _LIVE if r not in before]:
                lease = _LIVE.get(run_id)
                if lease is not None and lease.thread_id == me:
                    lease.release()

    return wrapper  # type: ignore[return-value]


def force_unlock(out_dir: str) -> Holder | None:
    """Remove DIR's lease whoever holds it (``--force-unlock``); returns the holder removed."""
    fs, root = fsspec.core.url_to_fs(out_dir)
    holder = read(fs, root)
    if holder is not None:
        log.warning("removing the lease of %s (--force-unlock)", holder.describe())
        with contextlib.suppress(FileNotFoundError):
            fs.rm(f"{root.rstrip('/')}/{layout.LEASE}")
    return holder


def liveness(out_dir: str) -> tuple[Holder | None, str | None]:
    """(holder, why it is dead or None if it looks alive) for ``emodata status``."""
    fs, root = fsspec.core.url_to_fs(out_dir)
    holder = read(fs, root)
    return holder, (holder.dead_reason() if holder is not None else None)
