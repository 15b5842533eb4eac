"""What a run is doing: DIR/progress.json for other machines, and a live view for this terminal.

The driver reports phases (ingest, plan, process, validate) with done/total counts and every
finished clip. :class:`Progress` rewrites ``DIR/progress.json`` every few seconds (``emodata
status DIR`` reads it, from any machine that sees DIR) and hands the same state to a view
(``emodata.console``) that draws it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import fsspec

from emodata.fsutil import write_atomic
from emodata.records import Outcome

log = logging.getLogger(__name__)

PROGRESS = "progress.json"
PHASES = ("ingest", "plan", "process", "validate")
PHASE_UNITS = {"ingest": "inputs", "plan": "sources", "process": "clips", "validate": "checks"}


class View(Protocol):
    def refresh(self, progress: Progress, force: bool = False) -> None: ...


@dataclass
class PhaseState:
    total: int | None = None
    done: int = 0
    failed: int = 0
    started: float | None = None
    ended: float | None = None
    spent: float = 0.0  # earlier stretches of a phase that goes on window after window

    def elapsed(self, now: float) -> float:
        if self.started is None:
            return 0.0
        return self.spent + (self.ended or now) - self.started

    def rate(self, now: float) -> float:
        t = self.elapsed(now)
        return self.done / t if t > 0 else 0.0

    def eta(self, now: float) -> float | None:
        """Seconds left at the phase's rate so far; None before the first item."""
        if self.total is None or self.ended is not None:
            return None
        left = max(0, self.total - self.done)
        if left == 0:
            return 0.0
        r = self.rate(now)
        return left / r if r > 0 else None


class Progress:
    def __init__(
        self,
        fs: fsspec.AbstractFileSystem,
        root: str,
        run_id: str,
        every_s: float = 5.0,
        view: View | None = None,
    ) -> None:
        self.fs, self.path, self.run_id, self.every_s = fs, f"{root}/{PROGRESS}", run_id, every_s
        self.view = view
        self.t0 = time.monotonic()
        self.started = datetime.now(UTC).isoformat()
        self.phase = "starting"
        self.phases: dict[str, PhaseState] = {p: PhaseState() for p in PHASES}
        self.inputs = 0
        self.planned = 0
        self.skipped = 0
        self.written = 0
        self.failed: Counter[str] = Counter()
        self.stage_seconds: Counter[str] = Counter()
        self.stage_counts: Counter[str] = Counter()
        #: the process phase's stages in order, and items out of each (done, failed) so far
        self.stages: list[str] = []
        self.stage_done: dict[str, list[int]] = {}
        self.activity = ""
        self._notes: dict[str, str] = {}
        self._last = 0.0
        # the driver's threads (driver-side ingest, the stage-count poller) report too
        self._lock = threading.RLock()

    def set(self, **fields: Any) -> None:
        for k, v in fields.items():
            setattr(self, k, v)
        self.flush(force=True)

    def start_phase(
        self, name: str, total: int | None = None, more: bool = False, alongside: bool = False
    ) -> None:
        """End the open phases and start ``name`` with ``total`` units of work; ``more``: go
        on with ``name`` where its last stretch ended (the next window of inputs), its counts
        and time kept and ``total`` its new total. ``alongside``: the open phases go on too
        (the driver plans sources while their first clips encode), each ended by its own
        :meth:`end_phase`."""
        now = time.monotonic()
        for state in self.phases.values():
            if not alongside and state.started is not None and state.ended is None:
                state.ended = now
        self.phase = name
        if name in self.phases:  # "done" ends the last phase and starts none
            state = self.phases[name]
            if more and state.started is not None:
                state.spent = state.elapsed(now)
            else:
                state.done, state.failed, state.spent = 0, 0, 0.0
            state.total = total
            state.started, state.ended = now, None
        self.flush(force=True)

    def end_phase(self, name: str | None = None) -> None:
        """Phase ``name``'s work is over (by default the current phase's, the next one not
        started yet)."""
        state = self.phases.get(name or self.phase)
        if state is not None and state.started is not None and state.ended is None:
            state.ended = time.monotonic()
        self.flush(force=True)

    def stage_notes(self, notes: dict[str, str]) -> None:
        """The workers' latest note per stage: a new one becomes the current activity."""
        with self._lock:
            fresh = [text for stage, text in notes.items() if self._notes.get(stage) != text]
            self._notes = dict(notes)
            if fresh:
                self.activity = fresh[-1]

    def is_open(self, name: str) -> bool:
        state = self.phases.get(name)
        return state is not None and state.started is not None and state.ended is None

    def tick(self, done: int = 1, failed: int = 0, phase: str | None = None) -> None:
        """``done`` units of ``phase`` (the current phase by default) finished, ``failed`` of
        them with a failure."""
        state = self.phases.get(phase or self.phase)
        if state is not None:
            state.done += done
            state.failed += failed
        self.flush()

    def grow(self, phase: str, more: int) -> None:
        """``more`` units of work for ``phase``, found while it runs (clips planned)."""
        state = self.phases[phase]
        state.total = (state.total or 0) + more

    def item(self, outcome: Outcome, ok: bool) -> None:
        """One clip finished (written, or failed with a reason)."""
        if ok:
            self.written += 1
        else:
            err = outcome.error or {}
            self.failed[f"{err.get('stage', '?')}/{err.get('reason', '?')}"] += 1
        for stage, seconds in outcome.timings.items():
            self.stage_seconds[stage] += float(seconds)
            self.stage_counts[stage] += 1
        self.tick(failed=0 if ok else 1, phase="process")

    def _stage_order(self) -> list[str]:
        """Stages in pipeline order, then any others as they were first seen."""
        return [*self.stages, *(s for s in self.stage_counts if s not in self.stages)]

    def stage_share(self) -> dict[str, float]:
        """Share of the clips' stage time spent in each stage, largest first."""
        total = sum(self.stage_seconds.values())
        if total <= 0:
            return {}
        return {s: v / total for s, v in self.stage_seconds.most_common()}

    def snapshot(self, state: str = "running") -> dict[str, Any]:
        now = time.monotonic()
        elapsed = now - self.t0
        done = self.written + sum(self.failed.values())
        phases = {}
        for name, ph in self.phases.items():
            if ph.started is None:
                continue
            eta = ph.eta(now)
            if name == "process" and ph.ended is None and self.stages:
                # clips reach the driver only after the last stage: time the last stage instead
                through = self.stage_done.get(self.stages[-1], [0, 0])[0]
                ahead = PhaseState(ph.total, max(ph.done, through), 0, ph.started)
                eta = ahead.eta(now)
            phases[name] = {
                "done": ph.done,
                "total": ph.total,
                "failed": ph.failed,
                "per_s": round(ph.rate(now), 3),
                "eta_s": None if eta is None else round(eta, 1),
                "elapsed_s": round(ph.elapsed(now), 1),
            }
        return {
            "run_id": self.run_id,
            "state": state,
            "phase": self.phase,
            "started_at": self.started,
            "updated_at": datetime.now(UTC).isoformat(),
            "elapsed_s": round(elapsed, 1),
            "inputs": self.inputs,
            "phases": phases,
            "clips": {
                "planned": self.planned,
                "already_done": self.skipped,
                "written": self.written,
                "failed": sum(self.failed.values()),
                "queued": max(0, self.planned - done),
            },
            "clips_per_s": round(self.written / elapsed, 3) if elapsed > 0 else 0.0,
            "stage_seconds_per_clip": {
                s: round(self.stage_seconds[s] / self.stage_counts[s], 3)
                for s in self._stage_order()
                if self.stage_counts[s]
            },
            "failures": dict(self.failed.most_common()),
            "stages": {s: list(self.stage_done.get(s, [0, 0])) for s in self.stages},
            "activity": self.activity,
        }

    def flush(self, force: bool = False, state: str = "running") -> None:
        with self._lock:
            if self.view is not None:
                self.view.refresh(self, force=force)
            now = time.monotonic()
            if not force and now - self._last < self.every_s:
                return
            self._last = now
            text = json.dumps(self.snapshot(state), indent=2) + "\n"
            write_atomic(self.fs, self.path, text.encode("utf-8"))


def read(out_dir: str) -> dict[str, Any] | None:
    fs, root = fsspec.core.url_to_fs(out_dir)
    path = f"{root.rstrip('/')}/{PROGRESS}"
    if not fs.exists(path):
        return None
    with fs.open(path, "r") as f:
        text = f.read()
    try:
        return json.loads(text)
    except ValueError as e:
        log.warning("%s is unreadable (%s); the next run rewrites it", path, e)
        return None
