"""Cues on inputs whose answer is known: a smiling face, a tone of known pitch and level,
dark versus bright frames, still versus moving frames, a known speech rate."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from emodata.asr.base import Transcript
from emodata.config import CuesConfig, FacesConfig
from emodata.cues.audio import SR, audio_cues, loudness, pitch_track
from emodata.cues.face import geometry
from emodata.cues.visual import visual_cues
from emodata.projection import index_fields
from emodata.records import Item
from emodata.stages.cues import CuesStage
from emodata.stages.faces import FacesStage, encode_jpeg


@pytest.fixture(scope="module")
def stages():
    faces, cues = FacesStage(FacesConfig()), CuesStage(CuesConfig())
    faces.setup()
    cues.setup()
    return faces, cues


def tone(freq: float, seconds: float, db: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (10 ** (db / 20) * np.sqrt(2) * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_smiling_face_ranks_happy_first(stages):
    faces_stage, cues_stage = stages
    frames = [data.astronaut()[0:300, 80:400].copy() for _ in range(3)]
    faces, _ = faces_stage.analyse(frames, 1.0)
    (track,) = cues_stage.track_cues(frames, faces)
    scores = track.expression_mean
    ranked = sorted(scores, key=scores.get, reverse=True)
    assert ranked[0] == "happy" and scores["happy"] > 0.5
    assert 0 < track.mouth_open < 0.5 and 0.15 < track.eye_open < 0.5
    assert len(track.series) == 3 and len(track.series[0].expression) == 7


def test_geometry_opens_with_the_mouth():
    pts = np.zeros((68, 2))
    pts[36:42] = [[0, 0], [1, -1], [2, -1], [3, 0], [2, 1], [1, 1]]
    pts[42:48] = pts[36:42] + np.array([10.0, 0.0])
    pts[17:27, 1] = -4
    pts[62], pts[66] = [6, 10], [6, 11]
    closed = geometry(pts)
    pts[66] = [6, 15]
    opened = geometry(pts)
    assert opened["mouth_open"] == pytest.approx(closed["mouth_open"] * 5)
    assert closed["eye_open"] == pytest.approx(2 / 3, abs=1e-3)
    assert closed["brow_raise"] == pytest.approx(0.4, abs=1e-3)


def test_pitch_and_loudness_of_a_tone():
    audio = tone(220.0, 2.0, -20.0)
    f0 = pitch_track(audio)
    assert np.nanmedian(f0) == pytest.approx(220.0, abs=2.0)
    mean_db, max_db = loudness(audio)
    assert mean_db == pytest.approx(-20.0, abs=0.5) and max_db == pytest.approx(-20.0, abs=0.5)
    cues = audio_cues(audio, None)
    assert cues.f0_median_hz == pytest.approx(220.0, abs=2.0) and cues.voiced_ratio > 0.9
    silent = audio_cues(np.zeros(SR, np.float32), None)
    assert silent.loudness_db is None and silent.f0_median_hz is None


def test_speech_rate_from_transcript_words():
    transcript = {
        "speech_ratio": 0.5,
        "duration_s": 8.0,
        "segments": [{"words": [{"word": w} for w in ["one", "two", "three", "four", "six"]]}],
    }
    cues = audio_cues(None, Transcript.from_dict(transcript))
    assert cues.speech_rate_wps == pytest.approx(5 / 4)


def test_visual_cues_separate_dark_bright_still_moving():
    img = data.astronaut()
    dark = [(img * 0.1).astype(np.uint8)] * 3
    still = [img] * 3
    moving = [np.roll(img, 40 * i, axis=1) for i in range(3)]
    grey = [cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)] * 2
    assert visual_cues(dark).brightness < 0.1 < visual_cues(still).brightness
    assert visual_cues(still).motion == 0.0 < visual_cues(moving).motion
    assert visual_cues(grey).colorfulness < 1 < visual_cues(still).colorfulness
    assert visual_cues([]).brightness is None


def test_stage_runs_with_and_without_upstream_outputs(stages):
    faces_stage, cues_stage = stages
    frames = [data.astronaut()[0:300, 80 + 10 * i : 400 + 10 * i].copy() for i in range(3)]
    blobs = {f"frame{i:03d}.jpg": encode_jpeg(f) for i, f in enumerate(frames)}
    (with_faces,) = faces_stage.process([Item("a", {"frame_rate": 1.0}, dict(blobs))])
    (bare,) = cues_stage.process([Item("b", {}, dict(blobs))])
    (full,) = cues_stage.process([with_faces])
    got, none = index_fields(full.record), index_fields(bare.record)
    assert got["main_expression"] == "happy" and got["main_expression_score"] > 0.5
    assert bare.ok and none["main_expression"] is None and bare.record.cues.tracks == []
    assert none["cue_loudness_db"] is None and 0 < none["cue_brightness"] < 1
