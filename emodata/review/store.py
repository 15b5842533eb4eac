"""The review store: every annotator decision is one append-only row in SQLite (WAL mode).

Why SQLite: several annotators (Streamlit sessions, threads, even separate app processes on the
same host) write at once, and nothing may be lost if the app restarts. WAL lets readers go on
while one writer commits; ``busy_timeout`` makes writers queue instead of failing; every commit
is synced (``synchronous=FULL``). Rows are never updated or deleted (triggers refuse it): a
reviewer who changes their mind adds a newer row, and two reviewers editing the same sample both
keep their rows. A decision records the last decision on the sample its author had seen
(``base_id``); decisions by others made after it are listed in ``conflicts`` so the app can show
them instead of silently overwriting.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emodata import __version__

REVIEW_DIR = "review"
STORE_NAME = "decisions.sqlite"
DECISIONS = ("accept", "reject", "correct")
EDITABLE = ("label", "valence", "arousal", "caption", "rationale", "qa")
SCHEMA_VERSION = 1

_DDL = """
create table if not exists meta (name text primary key, value text not null);
create table if not exists decisions (
    id integer primary key autoincrement,
    uid text not null unique,
    sample_key text not null,
    reviewer text not null,
    decided_at text not null,
    decision text not null check (decision in ('accept', 'reject', 'correct')),
    reason text,
    edits text not null default '{}',
    sample_version text not null,
    base_id integer not null default 0,
    conflicts text not null default '[]',
    app_version text not null
);
create index if not exists decisions_key on decisions (sample_key, id);
create index if not exists decisions_reviewer on decisions (reviewer, id);
create trigger if not exists decisions_no_update before update on decisions
begin select raise(abort, 'review decisions are append-only'); end;
create trigger if not exists decisions_no_delete before delete on decisions
begin select raise(abort, 'review decisions are append-only'); end;
"""


class ReviewError(ValueError):
    """A decision that cannot be recorded as given (bad decision kind, bad edits, no reviewer)."""


@dataclass(frozen=True)
class Decision:
    id: int
    uid: str
    sample_key: str
    reviewer: str
    decided_at: str
    decision: str
    reason: str | None
    edits: dict[str, Any]
    sample_version: str
    base_id: int
    conflicts: list[int] = field(default_factory=list)

    @property
    def keeps(self) -> bool:
        return self.decision != "reject"


def store_path(out_dir: str, override: str | None = None) -> Path:
    """Where the store of a run lives: ``DIR/review/decisions.sqlite`` for a local DIR.

    Object stores cannot host SQLite, so a remote DIR needs an explicit local ``override``.
    """
    if override:
        return Path(override)
    if "://" in out_dir and not out_dir.startswith("file://"):
        raise ReviewError(f"{out_dir} is remote: pass --store PATH for the review store")
    return Path(out_dir.removeprefix("file://")) / REVIEW_DIR / STORE_NAME


def validate_edits(decision: str, edits: dict[str, Any], reason: str | None) -> None:
    """Reject malformed decisions before they reach the store."""
    if decision not in DECISIONS:
        raise ReviewError(f"decision must be one of {DECISIONS}, not {decision!r}")
    unknown = set(edits) - set(EDITABLE)
    if unknown:
        raise ReviewError(f"not editable: {sorted(unknown)}")
    if decision == "correct" and not edits:
        raise ReviewError("a correction needs at least one edited field")
    if decision != "correct" and edits:
        raise ReviewError(f"only corrections carry edits, not {decision!r}")
    if decision == "reject" and not (reason or "").strip():
        raise ReviewError("a rejection needs a reason")
    for dim in ("valence", "arousal"):
        if dim in edits and not (
            isinstance(edits[dim], int | float) and -1.0 <= float(edits[dim]) <= 1.0
        ):
            raise ReviewError(f"{dim} must be a number in [-1, 1]")
    for text in ("label", "caption"):
        if text in edits and not (isinstance(edits[text], str) and edits[text].strip()):
            raise ReviewError(f"{text} must be non-empty text")
    if "rationale" in edits and not (
        isinstance(edits["rationale"], list)
        and all(isinstance(r, dict) and isinstance(r.get("claim"), str) for r in edits["rationale"])
    ):
        raise ReviewError("rationale must be a list of {claim, cues}")
    if "qa" in edits and not (
        isinstance(edits["qa"], dict)
        and all(str(k).isdigit() and isinstance(v, str) for k, v in edits["qa"].items())
    ):
        raise ReviewError("qa edits must map a QA index to its corrected answer")


def _row(r: sqlite3.Row) -> Decision:
    return Decision(
        id=r["id"],
        uid=r["uid"],
        sample_key=r["sample_key"],
        reviewer=r["reviewer"],
        decided_at=r["decided_at"],
        decision=r["decision"],
        reason=r["reason"],
        edits=json.loads(r["edits"]),
        sample_version=r["sample_version"],
        base_id=r["base_id"],
        conflicts=json.loads(r["conflicts"]),
    )


class ReviewStore:
    """Append-only decisions in one SQLite file; safe across threads and processes."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        con = self._con()
        con.executescript(_DDL)  # idempotent; runs in its own transaction
        with self._tx() as con:
            con.execute(
                "insert or ignore into meta (name, value) values ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    # -- connections --------------------------------------------------------------------------
    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(
                self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=True
            )
            con.row_factory = sqlite3.Row
            con.execute("pragma journal_mode=wal")
            con.execute(f"pragma busy_timeout={int(self.busy_timeout_s * 1000)}")
            con.execute("pragma synchronous=full")
            con.execute("pragma foreign_keys=on")
            self._local.con = con
        return con

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock up front (no upgrade deadlocks)."""
        con = self._con()
        con.execute("begin immediate")
        try:
            yield con
        except BaseException:
            con.execute("rollback")
            raise
        con.execute("commit")

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    def journal_mode(self) -> str:
        return self._con().execute("pragma journal_mode").fetchone()[0]

    # -- writes -------------------------------------------------------------------------------
    def submit(
        self,
        sample_key: str,
        reviewer: str,
        decision: str,
        *,
        sample_version: str,
        reason: str | None = None,
        edits: dict[str, Any] | None = None,
        base_id: int = 0,
        uid: str | None = None,
    ) -> Decision:
        """Record one decision; returns it with the conflicting decisions of others, if any.

        ``base_id`` is the newest decision on the sample the reviewer saw when deciding. A retry
        with the same ``uid`` returns the row already stored instead of adding a second one.
        """
        reviewer = reviewer.strip()
        if not reviewer:
            raise ReviewError("a decision needs a reviewer name")
        edits = dict(edits or {})
        validate_edits(decision, edits, reason)
        uid = uid or uuid.uuid4().hex
        with self._tx() as con:
            done = con.execute("select * from decisions where uid = ?", (uid,)).fetchone()
            if done is not None:
                return _row(done)
            newer = [
                r[0]
                for r in con.execute(
                    "select id from decisions where sample_key = ? and id > ? and reviewer != ?"
                    " order by id",
                    (sample_key, base_id, reviewer),
                )
            ]
            cur = con.execute(
                "insert into decisions (uid, sample_key, reviewer, decided_at, decision, reason,"
                " edits, sample_version, base_id, conflicts, app_version)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    uid,
                    sample_key,
                    reviewer,
                    datetime.now(UTC).isoformat(timespec="microseconds"),
                    decision,
                    (reason or "").strip() or None,
                    json.dumps(edits, sort_keys=True),
                    sample_version,
                    int(base_id),
                    json.dumps(newer),
                    __version__,
                ),
            )
            row = con.execute("select * from decisions where id = ?", (cur.lastrowid,)).fetchone()
        return _row(row)

    # -- reads --------------------------------------------------------------------------------
    def latest_id(self, sample_key: str | None = None) -> int:
        if sample_key is None:
            sql, args = "select coalesce(max(id), 0) from decisions", ()
        else:
            sql = "select coalesce(max(id), 0) from decisions where sample_key = ?"
            args = (sample_key,)
        return int(self._con().execute(sql, args).fetchone()[0])

    def history(self, sample_key: str) -> list[Decision]:
        rows = self._con().execute(
            "select * from decisions where sample_key = ? order by id", (sample_key,)
        )
        return [_row(r) for r in rows]

    def since(self, after_id: int = 0, limit: int | None = None) -> list[Decision]:
        """Decisions with id > ``after_id`` in commit order (incremental readers use this)."""
        sql = "select * from decisions where id > ? order by id"
        args: tuple[Any, ...] = (after_id,)
        if limit is not None:
            sql += " limit ?"
            args = (after_id, int(limit))
        return [_row(r) for r in self._con().execute(sql, args)]

    def all(self) -> list[Decision]:
        return self.since(0)

    def count(self) -> int:
        return int(self._con().execute("select count(*) from decisions").fetchone()[0])

    def reviewers(self) -> list[str]:
        return [
            r[0] for r in self._con().execute("select distinct reviewer from decisions order by 1")
        ]
