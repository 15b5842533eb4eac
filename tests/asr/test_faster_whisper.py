"""Real Whisper weights (from the model registry) on real speech with known transcripts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from emodata.asr.wer import wer
from emodata.config import TranscribeConfig
from emodata.samples import SENTENCES
from emodata.stages.transcribe import make_backend

from .conftest import SR, espeak, librivox, spoken_region

# whisper-base's tests (a larger model, several seconds per clip on CPU) run with the slow ones.
MODELS = ["whisper-tiny.en", pytest.param("whisper-base", marks=pytest.mark.slow)]
# Word edges are snapped to the VAD speech spans (+0.1 s), so they stay close to the voice.
EDGE_S = 0.25


@pytest.fixture(scope="module")
def loaded():
    """Whisper backends by model name, each loaded once for this file."""
    backends = {}

    def get(model: str):
        if model not in backends:
            backends[model] = make_backend(TranscribeConfig(model=model))
            backends[model].load()
        return backends[model]

    return get


@pytest.fixture(scope="module", params=MODELS)
def backend(request, loaded):
    return loaded(request.param)


@pytest.fixture(scope="module")
def librivox_transcripts(backend) -> list:
    """The five LibriVox clips, each transcribed once per model: the per-clip checks and the
    mean WER read the same transcripts."""
    return [(name, audio, ref, backend.transcribe(audio)) for name, audio, ref in librivox()]


def _check_times(t, audio):
    on, off = spoken_region(audio)
    words = t.words
    assert words, "no words"
    assert all(on - EDGE_S <= w.start <= w.end <= off + EDGE_S for w in words), (
        on,
        off,
        [(w.start, w.end) for w in words],
    )
    assert all(a.start <= b.start for a, b in itertools.pairwise(words))


@pytest.mark.parametrize("index", range(5))
def test_librivox_wer_and_word_times(librivox_transcripts, index):
    name, audio, reference, t = librivox_transcripts[index]
    assert wer(reference, t.text) <= 0.25, (name, t.text)
    assert t.language == "en" and 0.8 <= t.speech_ratio <= 1.0
    _check_times(t, audio)


def test_librivox_mean_wer(librivox_transcripts):
    scores = [wer(ref, t.text) for _, _, ref, t in librivox_transcripts]
    assert np.mean(scores) <= 0.08, scores


@pytest.mark.parametrize("label,text", SENTENCES[:6], ids=[s[0] for s in SENTENCES[:6]])
def test_espeak_wer_and_word_times(backend, tmp_path, label, text):
    audio = espeak(text, tmp_path, pad_s=1.0)
    t = backend.transcribe(audio)
    assert wer(text, t.text) <= 0.25, t.text
    speech_s = len(audio) / SR - 2.0
    assert t.speech_ratio == pytest.approx(speech_s / (len(audio) / SR), abs=0.12)
    _check_times(t, audio)


def test_silence_gives_an_empty_transcript(backend, lavfi_audio):
    for audio in (np.zeros(3 * SR, np.float32), lavfi_audio("anoisesrc=a=0.002:c=white", 3)):
        t = backend.transcribe(audio)
        assert t.text == "" and t.words == [] and t.speech_ratio < 0.05


def test_music_only_is_not_speech(backend, lavfi_audio):
    t = backend.transcribe(lavfi_audio("sine=frequency=440:beep_factor=4", 6))
    assert t.speech_ratio < 0.1
    assert len(t.words) <= 2


def test_half_second_clip(backend, tmp_path):
    audio = espeak("Hello.", tmp_path, pad_s=0.0)[: SR // 2]
    t = backend.transcribe(audio)
    assert t.duration_s == pytest.approx(0.5, abs=0.01)
    assert all(0 <= w.start <= w.end <= 0.5 for w in t.words)


@pytest.mark.slow
def test_long_clip_words_stay_ordered_and_inside(backend):
    clips = librivox()
    gap = np.zeros(SR, np.float32)
    audio = np.concatenate([x for _, a, _ in clips * 3 for x in (a, gap)])  # ~88 s
    t = backend.transcribe(audio)
    assert len(t.words) > 150
    assert all(0 <= w.start <= w.end <= t.duration_s for w in t.words)
    assert all(a.start <= b.start for a, b in zip(t.words, t.words[1:], strict=False))


@pytest.mark.slow
def test_non_english_language_is_detected(loaded, tmp_path):
    b = loaded("whisper-base")
    audio = espeak("Guten Morgen, ich habe heute keine Zeit für das Treffen.", tmp_path, voice="de")
    t = b.transcribe(audio)
    assert t.language == "de" and t.text
