"""WhisperX: batched faster-whisper over pyannote VAD chunks, wav2vec2 word alignment when an
alignment model is available, optional diarization with a user-provided Hugging Face token.

Lives in the ``whisperx`` extra (it pins torch~=2.8). Without an alignment model the transcript
has segment times but no words (``aligned`` is false in the transcript's ``extra``). Chosen with
``transcribe.backend: whisperx``, registered at the bottom.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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
_PUNKT_FILES = ("collocations.tab", "sent_starters.txt", "abbrev_types.txt", "ortho_context.tab")


def require_whisperx():
    try:
        import whisperx
    except ImportError:
        raise ImportError(
            "the whisperx backend needs the whisperx extra: pip install 'emodata[whisperx]'"
        ) from None
    return whisperx


def ensure_punkt(root: Path) -> None:
    """whisperx.align splits sentences with NLTK Punkt and downloads its data when missing.

    Where NLTK data is not installed, point NLTK at an untrained Punkt (empty parameters: it
    still splits on sentence punctuation) so alignment never reaches for the network.
    """
    import nltk

    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
        return
    except LookupError:
        pass
    lang_dir = root / "tokenizers" / "punkt_tab" / "english"
    lang_dir.mkdir(parents=True, exist_ok=True)
    for name in _PUNKT_FILES:
        (lang_dir / name).touch()
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))


@dataclass
class WhisperXBackend:
    model_dir: str
    model_name: str
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 1
    batch_size: int = 8
    beam_size: int = 5
    language: str | None = None
    align_model_dir: str | None = None
    diarize: bool = False
    name: str = "whisperx"
    _align: dict[str, Any] = field(default_factory=dict)

    def load(self) -> None:
        wx = require_whisperx()
        self._wx = wx
        self.model = wx.load_model(
            self.model_dir,
            self.device,
            compute_type=self.compute_type,
            language=self.language,
            vad_method="pyannote",
            threads=self.cpu_threads,
            asr_options={"beam_size": self.beam_size},
        )
        if self.align_model_dir:
            from emodata.models import models_dir

            ensure_punkt(models_dir() / "nltk_data")
        self._diarizer = None
        if self.diarize:
            token = os.environ.get("HF_TOKEN")
            if not token:
                raise RuntimeError("transcribe.diarize needs a Hugging Face token in HF_TOKEN")
            from whisperx.diarize import DiarizationPipeline

            self._diarizer = DiarizationPipeline(token=token, device=self.device)

    def _aligner(self, language: str) -> tuple[Any, Any]:
        if language not in self._align:
            self._align[language] = self._wx.load_align_model(
                language_code=language,
                device=self.device,
                model_name=self.align_model_dir,
                model_cache_only=True,
            )
        return self._align[language]

    def transcribe(self, audio: np.ndarray) -> Transcript:
        audio = as_float32(audio)
        duration = len(audio) / SAMPLE_RATE
        if duration < 0.1 or not np.any(audio):
            return Transcript.empty(round(duration, 3), self.model_name, self.name)
        spans = speech_spans(audio)
        if not spans:
            return Transcript.empty(round(duration, 3), self.model_name, self.name)
        result = self.model.transcribe(audio, batch_size=self.batch_size, language=self.language)
        language = result.get("language")
        raw = [s for s in result["segments"] if s.get("text", "").strip()]
        aligned = False
        if raw and self.align_model_dir and language:
            model, meta = self._aligner(language)
            raw = self._wx.align(raw, model, meta, audio, self.device)["segments"]
            aligned = True
        if raw and self._diarizer is not None:
            raw = self._wx.assign_word_speakers(self._diarizer(audio), {"segments": raw})[
                "segments"
            ]
        segments = [
            Segment(
                start=float(s["start"]),
                end=float(s["end"]),
                text=s["text"].strip(),
                words=[
                    Word(
                        float(w["start"]),
                        float(w["end"]),
                        w["word"].strip(),
                        float(w.get("score", 0.0)),
                    )
                    for w in s.get("words", [])
                    if "start" in w and "end" in w  # digits and symbols may not align
                ],
            )
            for s in raw
        ]
        segments = clamp_words(snap_to_speech(segments, spans), duration)
        text = " ".join(s.text for s in segments).strip()
        return Transcript(
            language=language if text else None,
            language_probability=None,
            text=text,
            segments=segments,
            speech_ratio=speech_ratio(sum(b - a for a, b in spans), duration),
            duration_s=round(duration, 3),
            model=self.model_name,
            backend=self.name,
            extra={"aligned": aligned, "diarized": self._diarizer is not None},
        )


class WhisperXConfig(TranscribeConfig):
    backend: Literal["whisperx"] = "whisperx"
    align_model: str | None = Field(
        None, description="wav2vec2 CTC alignment model (registry name or directory)."
    )
    diarize: bool = Field(False, description="Speaker labels (needs HF_TOKEN).")


def _build(c: WhisperXConfig) -> WhisperXBackend:
    from emodata.models import model_path

    return WhisperXBackend(
        model_dir=model_path(c.model),
        model_name=c.model,
        device="cuda" if c.on_cuda() else "cpu",
        compute_type=c.resolved_compute_type(),
        cpu_threads=c.threads,
        batch_size=c.batch_size,
        beam_size=c.beam_size,
        language=c.language,
        align_model_dir=model_path(c.align_model) if c.align_model else None,
        diarize=c.diarize,
    )


def _check_models(c: WhisperXConfig) -> None:
    check_models(c, ("model", "align_model"))


ASR_BACKENDS.register(
    BackendSpec(
        "whisperx",
        WhisperXConfig,
        _build,
        requires=(Requirement("whisperx", "whisperx"),),
        preflight=_check_models,
    )
)
