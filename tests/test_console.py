"""The terminal side of `emodata run`: the live view, the plain lines, library output in a log."""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import sys
import time

import fsspec
import pytest

from emodata import console, progress
from emodata.records import Outcome

from .conftest import NO_LLM_STAGES, ROOT

# What Ray Data's non-TTY progress prints every 10 s, and other library noise seen in runs.
NOISE = re.compile(
    r"Operator \d|logging_progress|Running Dataset|Execution plan|streaming_executor|"
    r"TensorFlow Lite|FutureWarning|DeprecationWarning|core_worker|raylet|Started a local Ray"
)


def _progress(tmp_path, view=None) -> progress.Progress:
    return progress.Progress(fsspec.filesystem("file"), str(tmp_path), "r1", every_s=0, view=view)


def test_phases_count_rate_eta_and_failures(tmp_path):
    p = _progress(tmp_path)
    p.start_phase("ingest", total=4)
    p.tick(3, failed=1)
    snap = p.snapshot()["phases"]["ingest"]
    assert snap["done"] == 3 and snap["total"] == 4 and snap["failed"] == 1
    assert snap["per_s"] > 0 and snap["eta_s"] is not None
    p.start_phase("process", total=2)
    assert p.snapshot()["phases"]["ingest"]["eta_s"] is None  # ended
    p.item(Outcome(timings={"segment": 1.0, "faces": 3.0}), ok=True)
    p.item(Outcome(error={"stage": "faces", "reason": "internal_error"}), ok=False)
    snap = p.snapshot()
    assert snap["phases"]["process"]["done"] == 2 and snap["phases"]["process"]["failed"] == 1
    assert p.stage_share() == {"faces": 0.75, "segment": 0.25}
    assert progress.read(str(tmp_path))["phases"]["process"]["done"] == 2


def test_plain_view_prints_each_phase_end_each_activity_and_every_few_seconds(tmp_path):
    out = io.StringIO()
    view = console.PlainView(out, every_s=3600)
    p = _progress(tmp_path, view)
    p.set(activity="starting Ray")
    p.start_phase("ingest", total=10)
    for _ in range(10):
        p.tick()
    p.start_phase("process", total=5)
    p.stages = ["segment", "faces"]
    p.stage_done = {"segment": [4, 1], "faces": [2, 0]}
    p.item(Outcome(timings={"segment": 1.0}), ok=True)
    assert len(out.getvalue().splitlines()) == 2  # ticks within every_s print nothing
    view.every_s = 0
    p.tick()
    p.start_phase("done")
    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"\[\s*0s\] starting Ray", lines[0])
    assert re.match(r"\[\s*\d+s\] ingest\s+10/10 inputs\s+[\d.]+/s\s+in 0s$", lines[1])
    assert "process  2/5 clips" in lines[2] and "ETA" in lines[2]
    assert lines[2].endswith("out of segment 4 (1 failed) → faces 2")
    assert "process  2/5 clips" in lines[-1] and len(lines) == 4, lines


def test_plain_view_follows_a_phase_that_goes_on_beside_the_next(tmp_path):
    """The driver plans sources while their first clips encode: both phases are open, each
    printed, and the plan's last line comes when it ends, not when process starts."""
    out = io.StringIO()
    view = console.PlainView(out, every_s=3600)
    p = _progress(tmp_path, view)
    p.start_phase("plan", total=3)
    p.tick()
    p.start_phase("process", total=2, alongside=True)
    assert p.is_open("plan") and p.is_open("process")
    assert out.getvalue() == ""  # plan has not ended: no final line for it yet
    p.tick(phase="plan")
    p.grow("process", 2)
    p.item(Outcome(), ok=True)
    view.every_s = 0
    p.tick(0)
    lines = out.getvalue().splitlines()
    assert "plan     2/3 sources" in lines[-2] and "process  1/4 clips" in lines[-1], lines
    p.tick(phase="plan")
    p.end_phase("plan")
    assert not p.is_open("plan") and p.is_open("process")
    assert "plan     3/3 sources" in out.getvalue().splitlines()[-2]
    assert p.snapshot()["phases"]["plan"]["eta_s"] is None  # ended


def test_plain_view_shows_worker_notes_and_says_a_stalled_phase_is_alive(tmp_path):
    out = io.StringIO()
    view = console.PlainView(out, every_s=0, alive_s=3600)
    p = _progress(tmp_path, view)
    p.stages = ["annotate"]
    p.start_phase("process", total=4)
    p.stage_notes({"annotate": "annotate: 4 reasoner call(s) on the model, waiting"})
    p.tick(0)
    p.stage_notes({"annotate": "annotate: 4 reasoner call(s) on the model, waiting"})  # no news
    p.tick(0)
    lines = out.getvalue().splitlines()
    assert [x for x in lines if "reasoner" in x] == [
        lines[0][: lines[0].index("]") + 1] + " annotate: 4 reasoner call(s) on the model, waiting"
    ]
    assert sum("process  0/4 clips" in x for x in lines) == 1  # the same line is not repeated
    view.alive_s = 0  # ... until alive_s has passed
    p.tick(0)
    assert sum("process  0/4 clips" in x for x in out.getvalue().splitlines()) == 2


def test_live_view_renders_every_started_phase_and_the_stage_mix(tmp_path):
    out = io.StringIO()
    view = console.LiveView(out)
    p = _progress(tmp_path)
    p.start_phase("ingest", total=3)
    p.tick(3)
    p.start_phase("process", total=8)
    p.stages = ["segment", "transcribe"]
    p.stage_done = {"segment": [5, 0], "transcribe": [2, 0]}
    p.item(Outcome(timings={"segment": 2.0, "transcribe": 6.0}), ok=True)
    view.refresh(p)
    view.console.width = 120
    view.console.print(view._render())
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())
    assert "ingest" in text and "3/3 inputs" in text and "in " in text
    assert "1/8 clips" in text and "ETA" in text
    assert "out of segment 5 → transcribe 2" in text
    assert "transcribe 75% · segment 25%" in text
    assert "plan" not in text  # a phase that has not started is not drawn


def test_quiet_output_sends_fd_writes_to_the_log(tmp_path):
    """C libraries and child processes write to fds 1 and 2: those land in the log file."""
    script = (
        "import os, subprocess, sys\n"
        "from pathlib import Path\n"
        "from emodata.console import quiet_output\n"
        f"with quiet_output(Path({str(tmp_path / 'run.log')!r})) as term:\n"
        "    os.write(1, b'fd one\\n'); os.write(2, b'fd two\\n')\n"
        "    print('python print'); subprocess.run(['echo', 'child'])\n"
        "    term.write('for the person\\n')\n"
        "print('after')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    log = (tmp_path / "run.log").read_text()
    for text in ("fd one", "fd two", "python print", "child"):
        assert text in log and text not in proc.stdout + proc.stderr
    assert proc.stderr == "for the person\n"
    assert proc.stdout == "after\n"


def _tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", "emodata-test", *args], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.slow
def test_a_run_in_a_terminal_fits_one_screen_with_no_library_noise(samples_dir, tmp_path):
    """What a person sees: a demo-sized run in a 100x30 terminal (tmux), read back as a screen."""
    out = tmp_path / "out"
    cmd = " ".join(
        shlex.quote(a)
        for a in (
            sys.executable,
            "-m",
            "emodata.cli",
            "run",
            "--input",
            str(samples_dir / "manifest.csv"),
            "--output",
            str(out),
            "--num-cpus",
            "2",
            "--stages",
            NO_LLM_STAGES,
        )
    )
    rows = 30
    env = f"cd {shlex.quote(str(ROOT))} && RAY_AUTH_MODE=disabled"
    _tmux(
        "new-session",
        "-d",
        "-s",
        "run",
        "-x",
        "100",
        "-y",
        str(rows),
        f"{env} {cmd}; echo __END__ rc=$?; sleep 600",
    )
    try:
        deadline = time.monotonic() + 600
        screen = ""
        while time.monotonic() < deadline:
            screen = _tmux("capture-pane", "-p", "-t", "run", "-S", "-")
            if "__END__" in screen:
                break
            time.sleep(2)
        history = _tmux("capture-pane", "-p", "-t", "run", "-S", "-")
    finally:
        subprocess.run(["tmux", "-L", "emodata-test", "kill-server"], check=False)
    assert "__END__ rc=0" in history, history
    printed = history[: history.index("__END__")].rstrip("\n").splitlines()
    assert not [line for line in printed if NOISE.search(line)], history
    assert len(printed) <= rows, f"{len(printed)} lines:\n{history}"
    text = "\n".join(printed)
    for phase in ("ingest", "plan", "process", "validate"):
        assert re.search(rf"^{phase}\s", text, re.M), text
    assert "clips written" in text and "_state/logs/run-" in text
    logs = list((out / "_state" / "logs").glob("run-*.log"))
    assert len(logs) == 1 and NOISE.search(logs[0].read_text())


@pytest.mark.slow
def test_a_run_in_a_pipe_prints_plain_lines(demo_run):
    """The shared run (tests/conftest.py) went through a pipe (CI, `ray job logs`): a plain
    line per phase on stderr, the summary on stdout, the library noise in the log."""
    stderr = (demo_run.parent / "cli.stderr").read_text()
    stdout = (demo_run.parent / "cli.stdout").read_text()
    assert not NOISE.search(stderr + stdout), stderr
    lines = stderr.splitlines()
    assert lines and all(re.match(r"\[\s*\d+(s|m\d\ds)\] \w+", line) for line in lines), stderr
    for phase in ("ingest", "plan", "process", "validate"):
        assert any(f"] {phase} " in line for line in lines), stderr
    assert "clips written" in stdout
    logs = list((demo_run / "_state" / "logs").glob("run-*.log"))
    assert len(logs) == 1 and NOISE.search(logs[0].read_text())
    assert os.path.getsize(logs[0]) > 0
