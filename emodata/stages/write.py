"""write: the last stage, on the workers. Row-level checkpoints, then shards, index and ledger.

Each write task receives a batch of finished clips with their media, checks them against the
row-level suites of every stage boundary they crossed (a failing row is ledgered here, as the
stage that produced it), writes its own shards, index fragments and ledger fragment
(:class:`emodata.writer.ShardWriter`: tmp then rename, the index fragment last as the completion
marker) and returns one small status row per clip. No media goes back to the driver.

File numbers need no coordination: a batch of k clips writes at most k files (a shard holds at
least one clip; a ledger-only fragment only when some clip failed), so the batch numbers them
from the run's first free number plus the planned place of its first clip. Two batches never
share a number, and a task that Ray runs again (a worker lost, a node gone) gets the same
numbers for the same clips: it rewrites its files instead of adding a second copy of its clips
to the index. Numbers have gaps; only their order and uniqueness matter.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import fsspec

from emodata.config import WriteConfig
from emodata.errors import Reason
from emodata.lease import check_held
from emodata.records import ClipRecord, Item, Outcome, Source
from emodata.stages.base import Resources, Stage
from emodata.writer import LedgerBook, ShardWriter


def number_clips(clips: list[Item], first: int = 0) -> int:
    """Give each planned clip its place (``write_order``); returns the next free place."""
    for n, clip in enumerate(clips, first):
        clip.record.work["write_order"] = n
    return first + len(clips)


class RowChecks:
    """The row-level suites of the run's boundaries, built once per worker process (importing
    great_expectations takes seconds) and only when a batch arrives; pickled as its settings."""

    _built: ClassVar[dict[str, Any]] = {}  # per process: settings digest -> Checkpoints
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        config: dict[str, Any],
        suites_dir: str | None,
        boundaries: list[str],
        built: Any = None,
        extra: list[dict[str, Any]] | None = None,
    ) -> None:
        self.config, self.suites_dir, self.boundaries = config, suites_dir, boundaries
        self.extra = extra or []  # plugin stages' suites, as data
        self.digest = hashlib.sha1(
            json.dumps([config, suites_dir, self.extra], sort_keys=True, default=str).encode()
        ).hexdigest()
        if built is not None:  # the driver's own, for runs on its threads
            RowChecks._built[self.digest] = built

    def __getstate__(self) -> dict[str, Any]:
        keep = ("config", "suites_dir", "boundaries", "extra", "digest")
        return {k: getattr(self, k) for k in keep}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _checkpoints(self) -> Any:
        with RowChecks._lock:
            got = RowChecks._built.get(self.digest)
            if got is None:
                from emodata.validate import Checkpoints

                got = Checkpoints(self.config, self.suites_dir, self.extra)
                RowChecks._built[self.digest] = got
            return got

    def apply(self, items: list[Item]) -> None:
        """Fail the items a row-level expectation rejects, boundary by boundary in stage order;
        mark the rest validated."""
        import pandas as pd

        from emodata.validate import row_view

        ok = [i for i in items if i.ok]
        if not ok:
            return
        checkpoints = self._checkpoints()
        # a clip's row is the same at every boundary: projected once, checked by each suite
        rows = [row_view(i.key, i.record) for i in ok]
        with RowChecks._lock:  # one great_expectations context per process: one check at a time
            for boundary in self.boundaries:
                if not ok:
                    break
                frame = pd.DataFrame(rows)
                for pos, why in checkpoints.check_rows(boundary, frame).items():
                    ok[pos].fail("validate", Reason.EXPECTATION_FAILED, why)
                rows = [r for r, i in zip(rows, ok, strict=True) if i.ok]
                ok = [i for i in ok if i.ok]
        for item in ok:
            item.mark("validate")


@dataclass
class WriteTarget:
    """Where and how a run writes: what every write task needs, small enough to pickle."""

    output: str
    write: WriteConfig
    run_id: str
    fingerprint: str
    first_seq: int  # the first file number no earlier run used
    checks: RowChecks | None = None
    extra_columns: tuple[tuple[str, str], ...] = ()  # index columns of plugin stages


def prior_ledger(items: list[Item]) -> dict[tuple[str, str, str], tuple[int, set[str]]]:
    """What earlier runs ledgered for these items' sources (``ledger_prior``, attached when
    the driver picked the source), in :class:`LedgerBook`'s form."""
    prior: dict[tuple[str, str, str], tuple[int, set[str]]] = {}
    for item in items:
        for source_path, key, stage, attempts, reasons in item.record.work.get("ledger_prior", ()):
            prior[(source_path, key, stage)] = (attempts, set(reasons))
    return prior


class WriteStage(Stage):
    """Checks, shards and fragments for one batch; returns one status row per clip."""

    name = "write"
    timed = False

    def __init__(self, target: WriteTarget) -> None:
        self.target = target
        # a task never packs more than one shard's worth: small shards (tests, a trial run)
        # then finish one by one instead of all at the end
        self.batch_size = min(target.write.samples_per_task, target.write.max_shard_samples)
        self.resources = Resources(cpus=target.write.cpus_per_task)

    def process(self, items: list[Item]) -> list[Item]:
        t = self.target
        if t.checks is not None:
            t.checks.apply(items)
        fs, root = fsspec.core.url_to_fs(t.output)
        root = root.rstrip("/")
        numbers = itertools.count(t.first_seq + min(i.record.work["write_order"] for i in items))
        writer = ShardWriter(
            fs,
            root,
            first_seq=0,
            max_bytes=t.write.max_shard_bytes,
            max_samples=t.write.max_shard_samples,
            include_frames=t.write.include_frames,
            run_id=t.run_id,
            config_fingerprint=t.fingerprint,
            ledger=LedgerBook(prior_ledger(items), t.run_id),
            seqs=numbers.__next__,
            extra_columns=t.extra_columns,
            fence=functools.partial(check_held, fs, root, t.run_id),
        )
        where: dict[str, str | None] = {}
        try:
            for item in items:
                where[item.key] = writer.add(item)
            writer.close()
        except BaseException:
            writer.abort()  # the open shard goes; finished ones are rewritten by a retry
            raise
        new_rows = writer.ledger.new_keys
        return [status(item, where.get(item.key), item.key in new_rows) for item in items]


def status(item: Item, shard: str | None, ledgered: bool) -> Item:
    """What the driver hears of a clip: outcome, timings, shard; no media, no annotation."""
    rec = ClipRecord(
        source=Source(id=item.record.source.id),
        outcome=Outcome(error=item.error, timings=item.record.outcome.timings),
        work={"shard": shard, "ledgered": ledgered},
    )
    return Item(item.key, rec)
