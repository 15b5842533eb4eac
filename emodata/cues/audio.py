"""Per-clip audio cues from the 16 kHz mono clip audio and, when present, its transcript."""

from __future__ import annotations

import numpy as np

from emodata.asr.base import Transcript
from emodata.cues.record import AudioCues

SR = 16000
CUES = {
    "loudness_db": "mean RMS level of 100 ms windows above -60 dBFS, dBFS",
    "loudness_max_db": "loudest 100 ms window, dBFS",
    "f0_median_hz": "median fundamental frequency of voiced 40 ms frames (autocorrelation, "
    "60-500 Hz), Hz",
    "f0_iqr_hz": "interquartile range of that f0, Hz (intonation)",
    "f0_iqr_st": "the same range in semitones, 12 log2(q3 / q1): intonation independent of "
    "the voice's register",
    "voiced_ratio": "share of 40 ms frames with a clear pitch",
    "speech_rate_wps": "transcript words per second of voiced speech (transcribe's VAD)",
}


def _windows(audio: np.ndarray, size: int, hop: int) -> np.ndarray:
    if len(audio) < size:
        return np.zeros((0, size), np.float32)
    n = 1 + (len(audio) - size) // hop
    idx = np.arange(size)[None, :] + hop * np.arange(n)[:, None]
    return audio[idx]


def loudness(audio: np.ndarray) -> tuple[float | None, float | None]:
    w = _windows(audio, SR // 10, SR // 10)
    if len(w) == 0:
        return None, None
    db = 20 * np.log10(np.sqrt((w.astype(np.float64) ** 2).mean(axis=1)) + 1e-10)
    active = db[db > -60]
    return (float(active.mean()) if active.size else None), float(db.max())


def pitch_track(audio: np.ndarray, fmin: float = 60, fmax: float = 500) -> np.ndarray:
    """f0 per 40 ms frame (10 ms hop) by normalised autocorrelation; NaN where unvoiced."""
    frames = _windows(audio.astype(np.float64), int(0.04 * SR), int(0.01 * SR))
    lo, hi = int(SR / fmax), int(SR / fmin)
    out = np.full(len(frames), np.nan)
    for i, f in enumerate(frames):
        f = f - f.mean()
        energy = (f**2).sum()
        if energy < 1e-4 * len(f):  # below about -40 dBFS: silence
            continue
        spec = np.fft.rfft(f, 2 * len(f))
        ac = np.fft.irfft(spec * np.conj(spec))[: len(f)]
        ac /= ac[0]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5:
            # parabolic interpolation around the peak for sub-sample precision
            a, b, c = ac[lag - 1], ac[lag], ac[lag + 1] if lag + 1 < len(ac) else ac[lag]
            shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
            out[i] = SR / (lag + shift)
    return out


def audio_cues(audio: np.ndarray | None, transcript: Transcript | None) -> AudioCues:
    out = AudioCues()
    if audio is not None and len(audio):
        mean_db, max_db = loudness(audio)
        out.loudness_db = None if mean_db is None else round(mean_db, 2)
        out.loudness_max_db = None if max_db is None else round(max_db, 2)
        f0 = pitch_track(audio)
        voiced = f0[~np.isnan(f0)]
        out.voiced_ratio = round(float(len(voiced) / max(len(f0), 1)), 4)
        if voiced.size >= 5:
            q1, med, q3 = np.percentile(voiced, [25, 50, 75])
            out.f0_median_hz, out.f0_iqr_hz = round(float(med), 1), round(float(q3 - q1), 1)
            out.f0_iqr_st = round(float(12 * np.log2(q3 / q1)), 2)
    if transcript is not None and transcript.segments:
        words = len(transcript.words)
        voiced_s = transcript.speech_ratio * transcript.duration_s
        if words and voiced_s > 0:
            out.speech_rate_wps = round(words / voiced_s, 3)
    return out
