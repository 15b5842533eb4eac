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
