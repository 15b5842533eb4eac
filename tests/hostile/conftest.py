"""Inputs for the hostile cases, made on the spot: tiny lavfi clips and a quick run's arguments."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

#: The lightest real pipeline: no models, only FFmpeg and the writer.
QUICK = ["--num-cpus", "2", "--stages", "ingest,segment,write"]


def make_clips(folder: Path, n: int, seconds: float = 2.0, first_freq: int = 300) -> Path:
    """``n`` distinct 160x120 clips with a tone (distinct content, so no duplicates)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        freq = first_freq + 37 * i
        subprocess.run(
            [
                "ffmpeg", "-v", "error", "-y",
                "-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=25:duration={seconds}",
                "-f", "lavfi", "-i", f"sine=frequency={freq}:duration={seconds}",
                "-vf", f"hue=h={freq}",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-shortest", str(folder / f"clip_{freq}.mp4"),
            ],
            check=True,
        )  # fmt: skip
    return folder


@pytest.fixture
def clips(tmp_path):
    """Factory: a folder of ``n`` small distinct clips under the test's tmp_path."""

    def make(name: str, n: int, first_freq: int = 300) -> Path:
        return make_clips(tmp_path / name, n, first_freq=first_freq)

    return make


@pytest.fixture
def small_disk(tmp_path):
    """Factory: a real tmpfs of ``size`` (e.g. "200k") mounted under tmp_path, read-only if
    asked; unmounted after the test. Skips where mounting is not permitted (not root)."""
    mounted: list[Path] = []

    def mount(name: str, size: str, read_only: bool = False) -> Path:
        point = tmp_path / name
        point.mkdir()
        opts = f"size={size}" + (",ro" if read_only else "")
        res = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)],
            capture_output=True,
            text=True,
            check=False,
        )
        if res.returncode != 0:
            pytest.skip(f"mounting a tmpfs is not permitted here: {res.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def remount(point: Path, size: str) -> None:
    """Grow (or shrink) a tmpfs made by ``small_disk``."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(point)], check=True)
