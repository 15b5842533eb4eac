"""Shared helpers for the benchmark scripts: media generation, process-tree memory and CPU."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
EMODATA = [sys.executable, "-m", "emodata.cli"]


def synthetic_clip(dest: Path, seconds: float, seed: int, size: str = "640x480") -> None:
    """A clip with motion, a hard cut in the middle and a tone: cheap to make, real to decode."""
    half = seconds / 2
    src = (
        f"testsrc2=size={size}:rate=25:duration={half}[a];"
        f"mandelbrot=size={size}:rate=25:start_scale={1 + seed % 7}[m];"
        f"[m]trim=duration={half}[b];[a][b]concat=n=2:v=1[v]"
    )
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-filter_complex",
            src,
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={200 + 37 * seed}:duration={seconds}",
            "-map",
            "[v]",
            "-map",
            "0:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            str(dest),
        ],
        check=True,
    )


def anon_pss(pid: int) -> int:
    """Bytes of the process's own memory (its heap and other anonymous pages, proportionally
    shared): PSS less the mapped files, i.e. less the shared libraries, whose proportional share
    swings as other processes that map them start and exit."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss_Anon:"):
                return int(line.split()[1]) * 1024
    return 0


class TreeMemory:
    """Samples the proportional set size (PSS) of a process and all its descendants, and the
    root's anonymous PSS (``peak_root_anon``)."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_total = 0
        self.peak_root = 0
        self.peak_root_anon = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for p in procs:
                try:
                    pss = p.memory_full_info().pss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                total += pss
                if p.pid == self.root.pid:
                    self.peak_root = max(self.peak_root, pss)
                    try:
                        self.peak_root_anon = max(self.peak_root_anon, anon_pss(p.pid))
                    except OSError:  # it just exited
                        continue
            self.peak_total = max(self.peak_total, total)
            time.sleep(self.interval)


LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


def librivox_speech(dest: Path, seconds: float, offset: int) -> Path:
    """Real read speech (Debian's pocketsphinx-testdata: five LibriVox clips, public domain),
    the clips in rotation from ``offset``, cut to ``seconds``, 16 kHz mono."""
    wavs = sorted(LIBRIVOX.glob("*.wav"))
    if not wavs:
        raise SystemExit("no LibriVox clips: apt-get install pocketsphinx-testdata")
    order = [wavs[(offset + i) % len(wavs)] for i in range(12)]
    inputs = [a for w in order for a in ("-i", str(w))]
    streams = "".join(f"[{i}:a]" for i in range(len(order)))
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            *inputs,
            "-filter_complex",
            f"{streams}concat=n={len(order)}:v=0:a=1[a]",
            "-map",
            "[a]",
            "-t",
            f"{seconds}",
            "-ar",
            "16000",
            "-ac",
            "1",
            str(dest),
        ],
        check=True,
    )
    return dest


@dataclass
class Watched:
    """One command's run: its exit code, wall time, its own CPU seconds and peak RSS (not its
    children's), the CPU seconds of its whole process tree, and of the subtrees whose command
    line matched a tag."""

    returncode: int
    wall_s: float
    cpu_s: float
    peak_rss: int
    tree_cpu_s: float
    tagged_cpu_s: dict[str, float]
    stdout: str
    stderr: str


def _hwm(pid: int) -> int:
    """Peak resident set size so far (VmHWM) in bytes; 0 once the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def run_watched(
    cmd: list[str],
    *,
    tags: dict[str, str] | None = None,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    interval: float = 0.25,
    while_running: Callable[[float], None] | None = None,
    timeout_s: float | None = None,
) -> Watched:
    """Run ``cmd`` and watch it: its own CPU time is read after it exits but before it is
    reaped (a zombie keeps its counters), peak RSS from VmHWM while it runs.

    The tree's CPU time is polled, not taken from the kernel's reaping accounts: Ray's raylet
    reaps its workers without adding their time to any parent's account, so each descendant's
    own time is kept as last seen (accurate to ``interval`` for long-lived processes), FFmpeg
    processes are counted through the account of the worker or driver that waits for them,
    and the driver's account is counted less what its polled children used themselves.
    ``tags`` maps a name to a command-line substring; the subtrees of matching descendants are
    summed per name. ``while_running(elapsed_s)`` is called on every poll. Past ``timeout_s``
    the command is killed (its exit code is then -9)."""
    tags = tags or {}
    seen: dict[str, dict[int, float]] = {name: {} for name in tags}
    tree = _TreePoll()
    peak = 0
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        root = psutil.Process(proc.pid)
        while True:
            # WNOWAIT: wait for the exit but leave the zombie, whose CPU counters stay readable
            done = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if done is not None:
                break
            peak = max(peak, _hwm(proc.pid))
            tree.poll(root)
            _poll_tags(root, tags, seen)
            elapsed = time.perf_counter() - t0
            if while_running is not None:
                while_running(elapsed)
            if timeout_s is not None and elapsed > timeout_s:
                proc.kill()
            time.sleep(interval)
        wall = time.perf_counter() - t0
        times = root.cpu_times()
        returncode = proc.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    return Watched(
        returncode,
        wall,
        times.user + times.system,
        peak,
        tree.total(times),
        {name: sum(per_pid.values()) for name, per_pid in seen.items()},
        stdout,
        stderr,
    )


def _poll_tags(
    root: psutil.Process, tags: dict[str, str], seen: dict[str, dict[int, float]]
) -> None:
    try:
        procs = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            line = " ".join(p.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for name, needle in tags.items():
            if needle not in line:
                continue
            try:
                subtree = [p, *p.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for q in subtree:
                try:
                    t = q.cpu_times()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                seen[name][q.pid] = t.user + t.system


_WAITED = ("ffmpeg", "ffprobe")  # short-lived: counted in the account of the process waiting


class _TreePoll:
    """Last-seen CPU seconds of every descendant of a process (see ``run_watched``)."""

    def __init__(self) -> None:
        self.own: dict[int, float] = {}  # each descendant's own time, FFmpeg left out
        self.waited: dict[int, float] = {}  # Ray workers' accounts of the FFmpeg they waited for
        self.root_children: dict[int, float] = {}  # own time of the root's direct children

    def poll(self, root: psutil.Process) -> None:
        try:
            procs = root.children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for p in procs:
            try:
                with p.oneshot():
                    name, t, parent = p.name(), p.cpu_times(), p.ppid()
                    line = " ".join(p.cmdline()[:1])
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if name in _WAITED:
                continue
            self.own[p.pid] = t.user + t.system
            if parent == root.pid:
                self.root_children[p.pid] = t.user + t.system
            if line.startswith("ray::"):
                self.waited[p.pid] = t.children_user + t.children_system

    def total(self, root_times: psutil._common.pcputimes) -> float:
        """The root's own time, what it waited for less its polled children (its FFmpeg),
        and every descendant's."""
        children = root_times.children_user + root_times.children_system
        root_ffmpeg = max(0.0, children - sum(self.root_children.values()))
        own = root_times.user + root_times.system
        return own + root_ffmpeg + sum(self.own.values()) + sum(self.waited.values())
