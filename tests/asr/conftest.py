from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from emodata.media import wav_to_float32

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
SR = 16000


def librivox() -> list[tuple[str, np.ndarray, str]]:
    """The five LibriVox clips of Debian's pocketsphinx-testdata with their transcripts."""
    text = (LIBRIVOX / "transcription").read_text()
    out = []
    for m in re.finditer(r"<s> (.*?) </s> \((\S+)\)", text):
        out.append(
            (m.group(2), wav_to_float32((LIBRIVOX / f"{m.group(2)}.wav").read_bytes()), m.group(1))
        )
    if len(out) != 5:
        raise RuntimeError(f"expected 5 LibriVox clips in {LIBRIVOX}: run `make test` set-up")
    return out


def espeak(text: str, tmp: Path, voice: str = "en-us", pad_s: float = 1.0) -> np.ndarray:
    """espeak-ng speech at 16 kHz with ``pad_s`` of silence on both sides."""
    raw = tmp / "espeak.wav"
    out = tmp / "espeak16k.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(raw), "-ac", "1", "-ar", str(SR), str(out)],
        check=True,
    )
    speech = wav_to_float32(out.read_bytes())
    pad = np.zeros(int(pad_s * SR), np.float32)
    return np.concatenate([pad, speech, pad])


def spoken_region(audio: np.ndarray, frame: int = 320, db: float = -40.0) -> tuple[float, float]:
    """First and last 20 ms frame whose RMS is above ``db`` dBFS."""
    n = len(audio) // frame
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    loud = np.nonzero(20 * np.log10(rms) > db)[0]
    return loud[0] * frame / SR, (loud[-1] + 1) * frame / SR


@pytest.fixture(scope="session")
def lavfi_audio(tmp_path_factory):
    def make(spec: str, seconds: float) -> np.ndarray:
        out = tmp_path_factory.mktemp("lavfi") / "a.wav"
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                spec,
                "-t",
                str(seconds),
                "-ac",
                "1",
                "-ar",
                str(SR),
                str(out),
            ],
            check=True,
        )
        return wav_to_float32(out.read_bytes())

    return make
