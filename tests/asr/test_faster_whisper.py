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

MODELS = ["whisper-tiny.en", "whisper-base"]
# Word edges are snapped to the VAD speech spans (+0.1 s), so they stay close to the voice.
EDGE_S = 0.25


@pytest.fixture(scope="module", params=MODELS)
def backend(request):
    b = make_backend(TranscribeConfig(model=request.param))
    b.load()
    return b


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
def test_librivox_wer_and_word_times(backend, index):
    name, audio, reference = librivox()[index]
    t = backend.transcribe(audio)
    assert wer(reference, t.text) <= 0.25, (name, t.text)
    assert t.language == "en" and 0.8 <= t.speech_ratio <= 1.0
    _check_times(t, audio)


def test_librivox_mean_wer(backend):
    scores = [wer(ref, backend.transcribe(a).text) for _, a, ref in librivox()]
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


def test_long_clip_words_stay_ordered_and_inside(backend):
    clips = librivox()
    gap = np.zeros(SR, np.float32)
    audio = np.concatenate([x for _, a, _ in clips * 3 for x in (a, gap)])  # ~88 s
    t = backend.transcribe(audio)
    assert len(t.words) > 150
    assert all(0 <= w.start <= w.end <= t.duration_s for w in t.words)
    assert all(a.start <= b.start for a, b in zip(t.words, t.words[1:], strict=False))


def test_non_english_language_is_detected(tmp_path):
    b = make_backend(TranscribeConfig(model="whisper-base"))
    b.load()
    audio = espeak("Guten Morgen, ich habe heute keine Zeit für das Treffen.", tmp_path, voice="de")
    t = b.transcribe(audio)
    assert t.language == "de" and t.text
