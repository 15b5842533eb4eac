"""faster-whisper (CTranslate2): int8 on CPU, float16 on CUDA; bundled Silero VAD.

The default ASR backend (``transcribe.backend: faster-whisper``), registered at the bottom.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from emodata.asr.base import (
    SAMPLE_RATE,
    Segment,
    Transcript,
    Word,
    as_float32,
    check_models,
    clamp_words,
    snap_to_speech,
    speech_ratio,
)
from emodata.asr.vad import speech_spans
from emodata.backends import BackendSpec
from emodata.config import ASR_BACKENDS, TranscribeConfig
from emodata.stages.registry import Requirement

log = logging.getLogger(__name__)


def require_faster_whisper():
    try:
        import faster_whisper
    except ImportError:
        raise ImportError(
            "the faster-whisper backend needs the asr extra: pip install 'emodata[asr]'"
        ) from None
    return faster_whisper


@dataclass
class FasterWhisperBackend:
    model_dir: str
    model_name: str
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 1
    beam_size: int = 5
    vad: bool = True
    language: str | None = None
    name: str = "faster-whisper"

    def load(self) -> None:
        fw = require_faster_whisper()
        self.model = fw.WhisperModel(
            self.model_dir,
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=self.cpu_threads,
            local_files_only=True,
        )

    def transcribe(self, audio: np.ndarray) -> Transcript:
        audio = as_float32(audio)
        duration = len(audio) / SAMPLE_RATE
        if duration < 0.1 or not np.any(audio):
            return Transcript.empty(round(duration, 3), self.model_name, self.name)
        spans = speech_spans(audio) if self.vad else [(0.0, duration)]
        if not spans:
            return Transcript.empty(round(duration, 3), self.model_name, self.name)
        segments, info = self.model.transcribe(
            audio,
            language=self.language,
            beam_size=self.beam_size,
            word_timestamps=True,
            vad_filter=self.vad,
            condition_on_previous_text=False,
        )
        out = [
            Segment(
                start=float(s.start),
                end=float(s.end),
                text=s.text.strip(),
                words=[
                    Word(float(w.start), float(w.end), w.word.strip(), float(w.probability))
                    for w in (s.words or [])
                ],
            )
            for s in segments
        ]
        out = [s for s in out if s.text]
        if self.vad:
            out = snap_to_speech(out, spans)
        out = clamp_words(out, duration)
        text = " ".join(s.text for s in out).strip()
        voiced = sum(b - a for a, b in spans)
        return Transcript(
            language=info.language if text else None,
            language_probability=round(float(info.language_probability), 4) if text else None,
            text=text,
            segments=out,
            speech_ratio=speech_ratio(voiced, duration),
            duration_s=round(duration, 3),
            model=self.model_name,
            backend=self.name,
        )


class FasterWhisperConfig(TranscribeConfig):
    backend: Literal["faster-whisper"] = "faster-whisper"
    vad: bool = Field(True, description="Decode only the voiced spans (Silero VAD).")


def _build(c: FasterWhisperConfig) -> FasterWhisperBackend:
    from emodata.models import model_path

    return FasterWhisperBackend(
        model_dir=model_path(c.model),
        model_name=c.model,
        device="cuda" if c.on_cuda() else "cpu",
        compute_type=c.resolved_compute_type(),
        cpu_threads=c.threads,
        beam_size=c.beam_size,
        vad=c.vad,
        language=c.language,
    )


ASR_BACKENDS.register(
    BackendSpec(
        "faster-whisper",
        FasterWhisperConfig,
        _build,
        requires=(Requirement("faster_whisper", "asr"),),
        preflight=check_models,
    )
)
