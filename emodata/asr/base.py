"""The transcript every ASR backend returns, and the interface a backend implements."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

SAMPLE_RATE = 16000


@dataclass
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass
class Segment:
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)


@dataclass
class Transcript:
    language: str | None
    language_probability: float | None
    text: str
    segments: list[Segment]
    speech_ratio: float
    duration_s: float
    model: str
    backend: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        """The transcript from ``to_dict`` output (a sample JSON's ``transcript``); keys it
        does not know (a newer writer's) are left out, missing ones take empty values."""
        segments = [
            Segment(
                start=float(s.get("start") or 0.0),
                end=float(s.get("end") or 0.0),
                text=s.get("text") or "",
                words=[
                    Word(
                        start=float(w.get("start") or 0.0),
                        end=float(w.get("end") or 0.0),
                        word=w.get("word") or "",
                        probability=float(w.get("probability") or 0.0),
                    )
                    for w in s.get("words") or []
                ],
            )
            for s in data.get("segments") or []
        ]
        return cls(
            language=data.get("language"),
            language_probability=data.get("language_probability"),
            text=data.get("text") or "",
            segments=segments,
            speech_ratio=float(data.get("speech_ratio") or 0.0),
            duration_s=float(data.get("duration_s") or 0.0),
            model=data.get("model") or "",
            backend=data.get("backend") or "",
            extra=dict(data.get("extra") or {}),
        )

    @classmethod
    def empty(cls, duration_s: float, model: str, backend: str) -> Transcript:
        """No speech (or no audio at all): an empty transcript, not an error."""
        return cls(None, None, "", [], 0.0, duration_s, model, backend)


def clamp_words(segments: list[Segment], duration_s: float) -> list[Segment]:
    """Keep times inside [0, duration], words in order, and round them to milliseconds."""
    last = 0.0
    for seg in segments:
        seg.start = round(min(max(seg.start, 0.0), duration_s), 3)
        seg.end = round(min(max(seg.end, seg.start), duration_s), 3)
        for w in seg.words:
            w.start = round(min(max(w.start, last, 0.0), duration_s), 3)
            w.end = round(min(max(w.end, w.start), duration_s), 3)
            w.probability = round(w.probability, 4)
            last = w.start
    return segments


def snap_to_speech(
    segments: list[Segment], spans: list[tuple[float, float]], pad: float = 0.1
) -> list[Segment]:
    """Move word edges that fall in silence onto the nearest voiced span (VAD).

    Whisper tends to start the first word of a chunk early and stretch the last one into the
    pause after it; the voice activity detector knows where speech actually is.
    """
    if not spans:
        return segments
    for seg in segments:
        for w in seg.words:
            mid = (w.start + w.end) / 2
            a, b = min(
                spans,
                key=lambda s: 0.0 if s[0] <= mid <= s[1] else min(abs(mid - s[0]), abs(mid - s[1])),
            )
            w.start = min(max(w.start, a - pad), b + pad)
            w.end = min(max(w.end, w.start), b + pad)
        if seg.words:
            seg.start, seg.end = seg.words[0].start, max(w.end for w in seg.words)
    return segments


class AsrBackend(Protocol):
    name: str

    def load(self) -> None:
        """Load the model (once per worker)."""

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """16 kHz mono float32 audio -> transcript with word times."""


def speech_ratio(voiced_s: float, duration_s: float) -> float:
    if duration_s <= 0:
        return 0.0
    return round(min(1.0, max(0.0, voiced_s / duration_s)), 4)


def as_float32(audio: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(audio, dtype=np.float32)


def check_models(config: Any, settings: tuple[str, ...] = ("model",)) -> None:
    """The models a transcribe config names, found (or fetched) on the driver before any work."""
    from emodata.errors import ConfigError
    from emodata.models import ModelError, model_path

    for setting in settings:
        name = getattr(config, setting)
        try:
            if name:
                model_path(name)
        except ModelError as e:
            raise ConfigError(f"transcribe.{setting}: {e}") from None
