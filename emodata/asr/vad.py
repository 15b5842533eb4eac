"""Voiced spans from Silero VAD (the ONNX model bundled with faster-whisper).

Both backends measure speech the same way: the speech ratio and the snapping of word edges use
these spans, with little padding, so they describe speech rather than the context around it.
"""

from __future__ import annotations

import numpy as np

from emodata.asr.base import SAMPLE_RATE


def speech_spans(audio: np.ndarray) -> list[tuple[float, float]]:
    from faster_whisper import vad

    opts = vad.VadOptions(min_silence_duration_ms=300, speech_pad_ms=30)
    return [
        (s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE)
        for s in vad.get_speech_timestamps(audio, opts)
    ]
