"""Affect cues on inputs whose answer is known: the astronaut (a smiling woman in her 30s) and
Tom Hanks (a man) for apparent age and gender, sentences of known polarity (negated ones
included) for words' valence, loud-fast-high versus quiet-slow-low espeak-ng speech for vocal
arousal, and a smiling face reading a sad sentence for a modality conflict."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from emodata.annotate.evidence import build
from emodata.asr.base import Transcript
from emodata.config import CuesConfig, FacesConfig
from emodata.cues.arousal import vocal_arousal
from emodata.cues.audio import SR, audio_cues
from emodata.cues.demographics import age_summary
from emodata.cues.modality import summarise
from emodata.cues.record import Apparent, AudioCues, WordsCues
from emodata.cues.words import WordsAffect
from emodata.media import wav_to_float32
from emodata.projection import index_fields
from emodata.records import ClipRecord, ClipSpan, Item
from emodata.stages.cues import CuesStage
from emodata.stages.faces import FacesStage, encode_jpeg

IMAGES = Path(next(iter(importlib.util.find_spec("insightface").submodule_search_locations)))
HANKS = IMAGES / "data" / "images" / "Tom_Hanks_54745.png"
SAD = "I miss the old house. I feel so lonely and empty now."
HAPPY = "What a wonderful day, I love this so much!"


@pytest.fixture(scope="module")
def stages():
    faces, cues = FacesStage(FacesConfig()), CuesStage(CuesConfig())
    faces.setup()
    cues.setup()
    return faces, cues


@pytest.fixture(scope="module")
def words():
    w = WordsAffect()
    w.load()
    return w


def _apparent(stages, img: np.ndarray) -> Apparent:
    faces_stage, cues_stage = stages
    frames = [img, img]
    faces, _ = faces_stage.analyse(frames, 1.0)
    (track,) = cues_stage.track_cues(frames, faces)
    assert track.apparent is not None
    return track.apparent


def test_astronaut_is_a_woman_in_her_thirties(stages):
    app = _apparent(stages, data.astronaut()[0:300, 80:400].copy())
    assert app.gender == "female" and app.gender_prob > 0.7  # measured 0.83
    assert 25 <= app.age <= 45  # measured 32.9
    lo, hi = app.age_range
    assert lo <= app.age <= hi and app.frames == 2


def test_tom_hanks_is_a_man(stages):
    app = _apparent(stages, cv2.cvtColor(cv2.imread(str(HANKS)), cv2.COLOR_BGR2RGB))
    assert app.gender == "male" and app.gender_prob > 0.9  # measured 0.98
    assert 25 <= app.age <= 60  # measured 41.9


def test_age_is_the_expectation_over_bins():
    p = np.zeros(81)
    p[30], p[40] = 0.5, 0.5
    assert age_summary(p) == {"age": 35.0, "age_low": 30.0, "age_high": 40.0}


@pytest.mark.parametrize(
    ("text", "sign"),
    [
        ("I am happy", 1),
        ("I am not happy", -1),
        ("This is the worst day of my life", -1),
        ("It isn't bad at all", 1),
        (SAD, -1),
        (HAPPY, 1),
        ("The meeting is at three.", 0),
    ],
)
def test_words_valence_has_the_known_sign(words, text, sign):
    v = words.valence(text)
    assert (v > 0.2) if sign > 0 else (v < -0.2) if sign < 0 else abs(v) < 0.05


def test_words_emotions_skip_negated_words(words):
    emotions, n = words.emotions("I feel so lonely and afraid")
    assert n == 2 and emotions["sadness"] > 0 and emotions["fear"] > emotions["sadness"]
    assert words.emotions("I am not afraid")[1] == 0
    measured = words.measure(
        Transcript.from_dict(
            {"text": f"{HAPPY} {SAD}", "segments": [{"text": HAPPY}, {"text": SAD}]}
        )
    )
    assert [s.valence > 0 for s in measured.segments] == [True, False]
    assert measured.top_emotion in {"joy", "sadness"}
    assert words.measure(Transcript.from_dict({"text": "", "segments": []})) is None
    assert words.measure(None) is None


def _espeak(tmp: Path, name: str, *flags: str) -> np.ndarray:
    wav, out = tmp / f"{name}.wav", tmp / f"{name}16.wav"
    text = "I told you the results would arrive today and they finally did."
    subprocess.run(["espeak-ng", "-v", "en-us", *flags, "-w", str(wav), text], check=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-ar", str(SR), "-ac", "1", str(out)],
        check=True,
    )
    audio = wav_to_float32(out.read_bytes())
    # the transcript's speech ratio from the audio itself: share of 100 ms windows above -45 dB
    w = audio[: len(audio) // (SR // 10) * (SR // 10)].reshape(-1, SR // 10).astype(np.float64)
    active = float((20 * np.log10(np.sqrt((w**2).mean(1)) + 1e-10) > -45).mean())
    words = [{"word": x} for x in text.split()]
    transcript = {
        "text": text,
        "duration_s": len(audio) / SR,
        "speech_ratio": active,
        "segments": [{"text": text, "words": words}],
    }
    return audio_cues(audio, Transcript.from_dict(transcript))


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="needs espeak-ng")
def test_loud_fast_high_speech_is_more_aroused(tmp_path):
    excited = vocal_arousal(_espeak(tmp_path, "hi", "-a", "190", "-s", "220", "-p", "80"))
    calm = vocal_arousal(_espeak(tmp_path, "lo", "-a", "40", "-s", "110", "-p", "20"))
    assert excited.arousal > 0.3 and calm.arousal < -0.3  # measured +0.62, -0.77
    for k in ("loudness", "pitch_level", "speech_rate"):
        assert excited.components[k] > calm.components[k]


def test_voice_needs_a_voice_and_pitch_follows_the_register():
    assert vocal_arousal(AudioCues(loudness_db=-20.0)).arousal is None
    cues = AudioCues(loudness_db=-26.0, f0_median_hz=210.0, f0_iqr_st=3.0)
    assert vocal_arousal(cues, "female").arousal == 0.0
    assert vocal_arousal(cues, "male").arousal > 0.3


def test_modalities_in_agreement_and_in_conflict():
    smile = {"happy": 0.8, "neutral": 0.2, "sad": 0.0}
    agree = summarise(smile, 0.3, WordsCues(valence=0.6, emotions={"joy": 1.0}))
    assert not agree.conflict and agree.measured == ["face", "voice", "words"]
    assert agree.words is not None and agree.words.top is None  # no top_emotion measured
    assert "top" not in agree.to_dict()["voice"]  # a voice names no label
    clash = summarise(smile, None, WordsCues(valence=-0.45))
    assert clash.conflict and clash.conflicts[0].modalities == ["face", "words"]
    assert clash.conflicts[0].dimension == "valence"
    assert not summarise(None, None, None).conflict


def test_smiling_face_reading_a_sad_sentence_is_a_conflict(stages, words):
    faces_stage, cues_stage = stages
    frames = [data.astronaut()[0:300, 80 + 10 * i : 400 + 10 * i].copy() for i in range(3)]
    blobs = {f"frame{i:03d}.jpg": encode_jpeg(f) for i, f in enumerate(frames)}

    def run(key: str, text: str) -> ClipRecord:
        words = [{"word": w} for w in text.split()]
        segments = [{"start": 0.0, "end": 2.5, "text": text, "words": words}]
        record = ClipRecord(
            clip=ClipSpan(duration_s=3.0, frame_rate=1.0),
            transcript=Transcript.from_dict({"text": text, "segments": segments}),
        )
        (item,) = faces_stage.process([Item(key, record, dict(blobs))])
        (item,) = cues_stage.process([item])
        return item.record

    sad_record, happy_record = run("sad", SAD), run("happy", HAPPY)
    sad, happy = index_fields(sad_record), index_fields(happy_record)
    assert sad["modality_conflict"] and sad["modality_conflicts"] == '["valence:face-words"]'
    assert not happy["modality_conflict"] and happy["modality_conflicts"] == "[]"
    assert sad["main_gender"] == "female" and 25 <= sad["main_age"] <= 45
    assert sad["cue_words_valence"] < 0 < happy["cue_words_valence"]
    assert sad["cue_voice_arousal"] is None  # no audio
    ev = build(sad_record)
    for cue in (
        "face.t0.age",
        "face.t0.gender",
        "words.valence",
        "words.emotions",
        "words.s0.valence",
        "modality.face",
        "modality.words",
        "modality.conflict",
    ):
        assert cue in ev.cues, cue
    assert "female" in ev.cues["face.t0.gender"]["text"]
    assert "disagree" in ev.cues["modality.conflict"]["text"]
    assert "disagree" not in build(happy_record).cues["modality.conflict"]["text"]
