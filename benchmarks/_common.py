"""Shared helpers for the benchmark scripts: media generation and process-tree memory."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
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


class TreeMemory:
    """Samples the proportional set size (PSS) of a process and all its descendants."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_total = 0
        self.peak_root = 0
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
            self.peak_total = max(self.peak_total, total)
            time.sleep(self.interval)
