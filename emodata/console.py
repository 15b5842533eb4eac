"""The terminal side of ``emodata run``: one live view of the run, library noise in a log file.

On a terminal the view is a few lines redrawn in place by rich (a line per phase with done/total,
rate, ETA and failures, then where the clips' time goes); elsewhere (CI, ``ray job logs``, a pipe)
it prints one plain line every few seconds. Everything else the process and its children print
(Ray's operator dumps and warnings, TensorFlow Lite, deprecation warnings) goes to a log file,
unless ``-v``; warnings of emodata itself still reach the terminal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from emodata.progress import PHASE_UNITS, PHASES, Progress


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def phase_cells(name: str, ph: dict) -> list[str]:
    """Counts, rate, ETA and failures of one phase, as the view and the plain line show them."""
    total = "?" if ph["total"] is None else str(ph["total"])
    unit = PHASE_UNITS.get(name, "")
    finished = ph["total"] is not None and ph["done"] >= ph["total"]
    when = f"in {_duration(ph['elapsed_s'])}" if finished else f"ETA {_duration(ph['eta_s'])}"
    return [
        f"{ph['done']}/{total} {unit}",
        f"{ph['per_s']:.2f}/s",
        when,
        f"{ph['failed']} failed" if ph["failed"] else "",
    ]


def stages_text(stages: dict[str, list[int]]) -> str:
    """Clips out of each stage of the process phase so far: where the clips are."""
    if not stages:
        return ""
    parts = [
        f"{name} {done}" + (f" ({failed} failed)" if failed else "")
        for name, (done, failed) in stages.items()
    ]
    return "out of " + " → ".join(parts)


def mix_text(share: dict[str, float], limit: int = 5) -> str:
    if not share:
        return ""
    parts = [f"{stage} {frac:.0%}" for stage, frac in list(share.items())[:limit]]
    return "time per clip: " + " · ".join(parts)


class PlainView:
    """Plain lines for logs, not terminals: the final line of each phase as it ends, each new
    activity, and the current phase every ``every_s`` seconds when it changed (every
    ``alive_s`` when it did not, so a log shows a long step is still running)."""

    def __init__(self, stream: TextIO, every_s: float = 10.0, alive_s: float = 60.0) -> None:
        self.stream, self.every_s, self.alive_s = stream, every_s, alive_s
        self._last = time.monotonic()
        self._phase, self._activity = "", ""
        self._behind: list[str] = []  # earlier phases still open (planning beside encoding)
        self._said, self._said_at = "", 0.0

    def _line(self, snap: dict, phase: str, extra: str = "") -> None:
        ph = snap["phases"].get(phase)
        if ph is None:
            return
        cells = [c for c in phase_cells(phase, ph) if c]
        if phase == "process":
            cells.append(stages_text(snap["stages"]))
        if extra:
            cells.append(extra)
        said = f"{phase:<8} " + "  ".join(c for c in cells if c)
        now = time.monotonic()
        finished = snap["phases"][phase].get("eta_s") == 0
        if said == self._said and (finished or now - self._said_at < self.alive_s):
            return  # said already
        self._said, self._said_at = said, now
        self.stream.write(f"[{_duration(snap['elapsed_s']):>6}] {said}".rstrip() + "\n")
        self.stream.flush()

    def refresh(self, progress: Progress, force: bool = False) -> None:
        now = time.monotonic()
        if progress.phase != self._phase:
            if self._phase:
                self._behind.append(self._phase)  # its last line is due when it ends
            self._phase, self._last = progress.phase, now
        for name in [n for n in self._behind if not progress.is_open(n)]:
            self._behind.remove(name)
            self._line(progress.snapshot(), name)  # how the phase ended
        if progress.activity != self._activity:
            self._activity = progress.activity
            if self._activity:
                self.note(f"[{_duration(now - progress.t0):>6}] {self._activity}")
        if now - self._last >= self.every_s:
            self._last = now
            snap = progress.snapshot()
            for name in [*self._behind, progress.phase]:  # a phase still open beside the current
                self._line(snap, name)

    def note(self, message: str) -> None:
        self.stream.write(message + "\n")
        self.stream.flush()

    def start(self) -> None:
        pass

    def stop(self, progress: Progress | None = None) -> None:
        if progress is not None:
            self.refresh(progress, force=True)


class LiveView:
    """The phases redrawn in place on a terminal (rich ``Live``); left on screen at the end."""

    def __init__(self, stream: TextIO) -> None:
        self.console = Console(file=stream, force_terminal=True, highlight=False)
        self._progress: Progress | None = None
        self._live = Live(
            get_renderable=self._render,
            console=self.console,
            refresh_per_second=4,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def _render(self) -> Group:
        p = self._progress
        if p is None:
            return Group(Text("starting…"))
        snap = p.snapshot()
        table = Table.grid(padding=(0, 2))
        for _ in range(6):
            table.add_column()
        for name in PHASES:
            ph = snap["phases"].get(name)
            if ph is None:
                continue
            total = ph["total"] or 0
            bar = ProgressBar(total=max(total, 1), completed=ph["done"] if total else 0, width=24)
            style = "bold" if name == p.phase else ""
            table.add_row(Text(name, style=style), bar, *phase_cells(name, ph))
        rows: list = [table]
        for extra in (stages_text(snap["stages"]), mix_text(p.stage_share()), snap["activity"]):
            if extra:
                rows.append(Text(extra, style="dim"))
        return Group(*rows)

    def refresh(self, progress: Progress, force: bool = False) -> None:
        self._progress = progress
        if force:
            self._live.refresh()

    def note(self, message: str) -> None:
        self.console.print(escape(message))

    def start(self) -> None:
        self._live.start()

    def stop(self, progress: Progress | None = None) -> None:
        if progress is not None:
            self._progress = progress
        self._live.stop()


class _ViewHandler(logging.Handler):
    """emodata's own warnings, shown above the live view."""

    def __init__(self, view: PlainView | LiveView) -> None:
        super().__init__(logging.WARNING)
        self.view = view

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.view.note(f"{record.levelname.lower()}: {record.getMessage()}")
        except Exception:  # a broken terminal must not end the run; logging reports it
            self.handleError(record)


def make_view(stream: TextIO) -> PlainView | LiveView:
    return LiveView(stream) if stream.isatty() else PlainView(stream)


@contextlib.contextmanager
def quiet_output(log_file: Path | None) -> Iterator[TextIO]:
    """Send everything written to fds 1 and 2 (by Python, C libraries and child processes) to
    ``log_file``; yield a stream on the original stderr for the view. ``None``: no redirect."""
    if log_file is None:
        yield sys.stderr
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    terminal = os.fdopen(os.dup(saved[2]), "w", buffering=1, encoding="utf-8", errors="replace")
    target = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for fd in (1, 2):
            os.dup2(target, fd)
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(target)
        terminal.close()


@contextlib.contextmanager
def attached(view: PlainView | LiveView) -> Iterator[PlainView | LiveView]:
    """Start ``view`` and show emodata's warnings through it until the block ends."""
    handler = _ViewHandler(view)
    logger = logging.getLogger("emodata")
    logger.addHandler(handler)
    view.start()
    try:
        yield view
    finally:
        logger.removeHandler(handler)
        view.stop()
