"""The transcribe stage as plain Python (no Ray): fields, statuses, no-audio clips."""

from __future__ import annotations

import numpy as np

from emodata.config import TranscribeConfig
from emodata.media import float32_to_wav
from emodata.projection import index_fields
from emodata.records import Item
from emodata.stages.transcribe import TranscribeStage
from emodata.validate import row_view

from ..asr.conftest import SR, espeak


def test_stage_adds_transcript_and_index_fields(tmp_path):
    stage = TranscribeStage(TranscribeConfig(model="whisper-tiny.en"))
    assert stage.stateful and stage.resources.cpus == 1.0
    audio = espeak("The meeting starts at nine.", tmp_path)
    speech = Item("k1", {"duration_s": len(audio) / SR}, {"wav": float32_to_wav(audio)})
    silent = Item("k2", {"duration_s": 2.0}, {"wav": float32_to_wav(np.zeros(2 * SR, np.float32))})
    mute = Item("k3", {"duration_s": 3.0}, {"mp4": b"..."})
    stage.setup()
    out = stage.process([speech, silent, mute])
    assert [i.key for i in out] == ["k1", "k2", "k3"] and all(i.ok for i in out)
    rec, silence = index_fields(out[0].record), index_fields(out[1].record)
    assert "meeting" in rec["asr_text"].lower() and rec["asr_language"] == "en"
    assert rec["asr_word_count"] == len(out[0].record.transcript.segments[0].words) > 3
    assert out[0].record.outcome.stage_status["transcribe"] == "ok"
    assert silence["asr_text"] == "" and silence["asr_speech_ratio"] < 0.05
    assert out[2].record.outcome.stage_status["transcribe"] == "no_audio"
    assert out[2].record.transcript.text == ""
    row = row_view("k1", out[0].record)
    assert row["asr_words_ordered"] and 0 <= row["asr_first_word_s"] < row["asr_last_word_end_s"]
