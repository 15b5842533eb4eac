"""The whisperx backend, offline: real Whisper weights for the text; word alignment through a
tiny randomly initialised wav2vec2 CTC model built here (it proves the alignment code path and
its bookkeeping, not timing quality: its output is noise, so times are checked for bounds and
order only)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from emodata.asr.wer import wer
from emodata.asr.whisperx_backend import WhisperXConfig
from emodata.stages.transcribe import make_backend

from .conftest import SR, espeak, librivox, spoken_region


@pytest.fixture(scope="module", autouse=True)
def offline(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setenv("TRANSFORMERS_OFFLINE", "1")
    yield
    mp.undo()


@pytest.fixture(scope="module")
def tiny_wav2vec2(tmp_path_factory):
    """A 1-layer wav2vec2 CTC model with a character vocabulary, saved with its processor."""
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    d = tmp_path_factory.mktemp("w2v2")
    chars = ["<pad>", "<s>", "</s>", "<unk>", "|", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ'"]
    (d / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(chars)}))
    tok = Wav2Vec2CTCTokenizer(str(d / "vocab.json"), word_delimiter_token="|")
    fe = Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=SR,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=False,
    )
    cfg = Wav2Vec2Config(
        vocab_size=len(chars),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        conv_dim=(32,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        pad_token_id=0,
    )
    Wav2Vec2ForCTC(cfg).save_pretrained(d)
    Wav2Vec2Processor(feature_extractor=fe, tokenizer=tok).save_pretrained(d)
    return str(d)


# Loading whisperx (torch, its VAD and the Whisper weights) takes longer than a quick test may:
# every test that loads it is marked slow.
@pytest.fixture(scope="module")
def backend():
    b = make_backend(WhisperXConfig(model="whisper-tiny.en"))
    b.load()
    return b


@pytest.mark.slow
def test_librivox_and_espeak_wer(backend, tmp_path):
    scores = []
    for _, audio, ref in librivox():
        t = backend.transcribe(audio)
        assert t.backend == "whisperx" and t.language == "en"
        assert t.extra == {"aligned": False, "diarized": False}
        assert t.words == [] and t.segments
        assert all(0 <= s.start <= s.end <= t.duration_s for s in t.segments)
        scores.append(wer(ref, t.text))
    assert max(scores) <= 0.25 and np.mean(scores) <= 0.08, scores
    text = "You promised me you would call and you did not call at all."
    assert wer(text, backend.transcribe(espeak(text, tmp_path)).text) <= 0.25


@pytest.mark.slow
def test_silence_is_empty(backend):
    t = backend.transcribe(np.zeros(2 * SR, np.float32))
    assert t.text == "" and t.speech_ratio == 0.0


@pytest.mark.slow
def test_alignment_path_gives_ordered_words_inside_speech(tiny_wav2vec2):
    b = make_backend(WhisperXConfig(model="whisper-tiny.en", align_model=tiny_wav2vec2))
    b.load()
    _, audio, ref = librivox()[0]
    t = b.transcribe(audio)
    assert t.extra["aligned"] is True
    assert wer(ref, t.text) <= 0.25
    words = t.words
    assert len(words) >= len(ref.split()) - 2
    on, off = spoken_region(audio)
    assert all(on - 0.25 <= w.start <= w.end <= off + 0.25 for w in words)
    assert all(a.start <= b.start for a, b in itertools.pairwise(words))


def test_missing_extra_names_it(monkeypatch):
    import sys

    from emodata.asr.whisperx_backend import require_whisperx

    monkeypatch.setitem(sys.modules, "whisperx", None)  # as if the extra were not installed
    with pytest.raises(ImportError, match=r"emodata\[whisperx\]"):
        require_whisperx()
