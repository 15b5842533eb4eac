"""The review queue: filtered, sorted pages of a run's index, straight from Parquet via DuckDB.

Only one page of rows (plus a count) leaves DuckDB per request, so an index of a hundred thousand
samples pages as fast as a small one. Review status lives in the SQLite store, not the index: the
statuses of reviewed samples are kept as a small Arrow table and joined in. Every value a user
types reaches SQL as a bound parameter; sort columns come from a fixed list.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from emodata import stats
from emodata.review.decisions import DecisionIndex, status_of
from emodata.review.store import ReviewStore

NONE = "(none)"
SORTS = {
    "key": "i.key",
    "confidence": "i.emotion_confidence",
    "label": "i.emotion_label",
    "duration": "i.duration_s",
    "dataset": "i.source_dataset",
    "verdict": "i.critic_verdict",
    "status": "status",
    "processed": "i.processed_at",
}
COLUMNS = (
    "i.key, i.source_dataset, i.emotion_label, i.emotion_confidence, i.valence, i.arousal, "
    "i.critic_verdict, coalesce(r.status, 'unreviewed') as status, "
    "coalesce(r.reviewers, 0) as reviewers, i.duration_s, i.caption, i.asr_text"
)
_STATUS_SCHEMA = pa.schema(
    [("key", pa.string()), ("status", pa.string()), ("reviewers", pa.int32())]
)


@dataclass
class Filters:
    """What the queue shows. Empty lists mean "any"; ``confidence`` None means any, nulls too."""

    labels: list[str] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    confidence: tuple[float, float] | None = None
    text: str = ""
    sort: str = "key"
    descending: bool = False


def _in_list(column: str, name: str, values: list[str]) -> tuple[str, dict[str, Any]]:
    """``column`` is one of ``values``; the NONE choice matches NULL."""
    wanted = [v for v in values if v != NONE]
    parts = [f"list_contains(${name}, {column})"] if wanted else []
    if NONE in values:
        parts.append(f"{column} is null")
    return "(" + " or ".join(parts) + ")", ({name: wanted} if wanted else {})


def where_clause(f: Filters) -> tuple[str, dict[str, Any]]:
    """A WHERE clause and its parameters for ``f`` (index aliased ``i``, statuses ``r``)."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    for column, name, values in (
        ("i.emotion_label", "labels", f.labels),
        ("i.critic_verdict", "verdicts", f.verdicts),
        ("coalesce(r.status, 'unreviewed')", "statuses", f.statuses),
        ("i.source_dataset", "datasets", f.datasets),
    ):
        if values:
            sql, p = _in_list(column, name, list(values))
            clauses.append(sql)
            params.update(p)
    if f.confidence is not None:
        clauses.append("i.emotion_confidence between $conf_lo and $conf_hi")
        params.update(conf_lo=float(f.confidence[0]), conf_hi=float(f.confidence[1]))
    if f.text.strip():
        clauses.append(
            "(strpos(lower(coalesce(i.asr_text, '')), $text) > 0"
            " or strpos(lower(coalesce(i.caption, '')), $text) > 0)"
        )
        params["text"] = f.text.strip().lower()
    return (" where " + " and ".join(clauses)) if clauses else "", params


def order_clause(f: Filters) -> str:
    if f.sort not in SORTS:
        raise ValueError(f"sort must be one of {sorted(SORTS)}, not {f.sort!r}")
    direction = "desc" if f.descending else "asc"
    return f" order by {SORTS[f.sort]} {direction} nulls last, i.key asc"


class ReviewQueue:
    """Pages of the index with review status, for one run and its store."""

    def __init__(self, out_dir: str, store: ReviewStore) -> None:
        self.out_dir = out_dir
        self.store = store
        self.decisions = DecisionIndex(store)
        self._lock = threading.Lock()
        self._con = stats.connect(out_dir)
        self._model_labels: dict[str, str | None] = {}
        self._statuses: dict[str, tuple[str, int]] = {}
        self._register_status()
        self.refresh()

    # -- status ---------------------------------------------------------------------------------
    def _register_status(self) -> None:
        keys = list(self._statuses)
        table = pa.table(
            {
                "key": keys,
                "status": [self._statuses[k][0] for k in keys],
                "reviewers": [self._statuses[k][1] for k in keys],
            },
            schema=_STATUS_SCHEMA,
        )
        self._status_table = table  # keep the Arrow buffers alive while DuckDB scans them
        self._con.register("review_status", table)

    def refresh(self) -> None:
        """Pick up decisions written since the last call (by this or any other process)."""
        with self._lock:
            if not self.decisions.refresh():
                return
            missing = [k for k in self.decisions.changed if k not in self._model_labels]
            if missing:
                self._con.register("wanted_keys", pa.table({"key": missing}))
                rows = self._con.execute(
                    "select key, emotion_label from idx where key in (select key from wanted_keys)"
                ).fetchall()
                self._con.unregister("wanted_keys")
                self._model_labels.update(dict.fromkeys(missing))
                self._model_labels.update(dict(rows))
            for k in self.decisions.changed:
                latest = self.decisions.latest(k)
                self._statuses[k] = (status_of(latest, self._model_labels.get(k)), len(latest))
            self.decisions.changed.clear()
            self._register_status()

    def status(self, key: str) -> str:
        self.refresh()
        with self._lock:
            return self._statuses.get(key, ("unreviewed", 0))[0]

    # -- queries --------------------------------------------------------------------------------
    def _query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._con.execute(sql, params or None)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def total(self, f: Filters) -> int:
        """How many samples match ``f``."""
        self.refresh()
        where, params = where_clause(f)
        sql = "select count(*) as n from idx i left join review_status r on r.key = i.key"
        return int(self._query(sql + where, params)[0]["n"])

    def rows(self, f: Filters, offset: int = 0, limit: int = 50) -> list[dict[str, Any]]:
        """One page of samples matching ``f``, in ``f``'s order."""
        self.refresh()
        where, params = where_clause(f)
        return self._query(
            f"select {COLUMNS} from idx i left join review_status r on r.key = i.key"
            f"{where}{order_clause(f)} limit $limit offset $offset",
            {**params, "limit": int(limit), "offset": max(0, int(offset))},
        )

    def page(self, f: Filters, offset: int = 0, limit: int = 50) -> tuple[list[dict], int]:
        """(rows of this page, total rows matching ``f``)."""
        return self.rows(f, offset, limit), self.total(f)

    def key_at(self, f: Filters, position: int) -> str | None:
        rows = self.rows(f, position, 1)
        return rows[0]["key"] if rows else None

    def next_key(self, f: Filters, position: int, current: str) -> tuple[str | None, int]:
        """The sample after ``current`` at ``position`` in the queue, and its position.

        When ``current`` left the filtered set (say, "unreviewed" once reviewed), the next one has
        moved up into its place.
        """
        key = self.key_at(f, position)
        if key == current:
            position += 1
            key = self.key_at(f, position)
        return key, position

    def row(self, key: str) -> dict[str, Any] | None:
        rows = self._query("select * from idx where key = $key", {"key": key})
        return rows[0] if rows else None

    def options(self) -> dict[str, list[str]]:
        """Distinct values for the filter widgets (NONE stands for missing)."""
        out: dict[str, list[str]] = {}
        for name, column in (
            ("labels", "emotion_label"),
            ("verdicts", "critic_verdict"),
            ("datasets", "source_dataset"),
        ):
            rows = self._query(
                f"select distinct coalesce({column}, '{NONE}') as v from idx order by v"
            )
            out[name] = [r["v"] for r in rows]
        return out

    def count(self) -> int:
        return int(self._query("select count(*) as n from idx")[0]["n"])
