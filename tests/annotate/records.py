"""Sample records shaped like the pipeline's sample JSON, for annotate unit tests."""

from __future__ import annotations

import copy
from typing import Any

from emodata.cues.modality import summarise
from emodata.cues.record import WordsCues

_SMILING: dict[str, Any] = {
    "key": "c0ffee00000000000000000000000001",
    "duration_s": 6.0,
    "has_audio": True,
    "transcript": {
        "text": "I am so glad you came today.",
        "language": "en",
        "speech_ratio": 0.8,
        "segments": [
            {
                "start": 0.0,
                "end": 2.0,
                "text": "I am so glad you came today.",
                "words": [
                    {"word": w, "start": 0.3 * i, "end": 0.3 * i + 0.25}
                    for i, w in enumerate(["I", "am", "so", "glad", "you", "came", "today."])
                ],
            }
        ],
    },
    "faces": {
        "main_track": 0,
        "frame_rate": 1.0,
        "tracks": [{"id": 0, "quality": {"presence": 1.0, "size_px": 74.0}, "frames": []}],
    },
    "cues": {
        "visual": {"brightness": 0.46, "colorfulness": 69.0, "motion": 0.02},
        "audio": {
            "loudness_db": -23.0,
            "f0_median_hz": 180.0,
            "f0_iqr_hz": 30.0,
            "speech_rate_wps": 3.4,
        },
        "tracks": [
            {
                "track": 0,
                "expression_mean": {
                    "angry": 0.0,
                    "disgust": 0.0,
                    "fear": 0.0,
                    "happy": 0.96,
                    "neutral": 0.03,
                    "sad": 0.0,
                    "surprise": 0.01,
                },
                "mouth_open": 0.15,
                "brow_raise": 0.26,
                "eye_open": 0.33,
            }
        ],
    },
}


def summary(
    face: dict[str, float] | None, voice_arousal: float | None, words: dict[str, Any] | None
) -> dict[str, Any]:
    """The cues stage's modality summary of these measurements, as the sample JSON has it
    (``words`` as the sample JSON has the words' cues)."""
    said = None if words is None else WordsCues.from_dict(words)
    return summarise(face, voice_arousal, said).to_dict()


def smiling() -> dict[str, Any]:
    """A talking, smiling face: happy scores, speech, loudness and pitch."""
    return copy.deepcopy(_SMILING)


def silent_frowning() -> dict[str, Any]:
    """No speech at all, one face whose expression scores say sad, not happy."""
    rec = smiling()
    rec["key"] = "c0ffee00000000000000000000000002"
    rec["transcript"] = {"text": "", "language": None, "speech_ratio": 0.0, "segments": []}
    rec["cues"]["audio"] = {"loudness_db": -60.0}
    rec["cues"]["tracks"][0]["expression_mean"] = {
        "angry": 0.02,
        "disgust": 0.0,
        "fear": 0.03,
        "happy": 0.01,
        "neutral": 0.14,
        "sad": 0.79,
        "surprise": 0.01,
    }
    return rec


def faceless() -> dict[str, Any]:
    """Faces ran and found nobody; no transcribe stage either."""
    rec = smiling()
    rec["key"] = "c0ffee00000000000000000000000003"
    del rec["transcript"]
    rec["faces"] = {"main_track": None, "tracks": []}
    rec["cues"]["tracks"] = []
    return rec


def good_tree() -> dict[str, Any]:
    """A tree that the smiling record supports in every claim."""
    return {
        "attributes": [],
        "expressions": [
            {
                "modality": "facial",
                "track": "t0",
                "description": "a broad smile",
                "start_s": 0.0,
                "end_s": 6.0,
                "cues": ["face.t0.expression"],
            },
            {
                "modality": "vocal",
                "track": "",
                "description": "says she is glad, lively pitch",
                "start_s": 0.0,
                "end_s": 2.0,
                "cues": ["speech.transcript", "audio.pitch"],
            },
        ],
        "emotion": {
            "label": "happy",
            "terms": ["glad", "warm"],
            "valence": 0.8,
            "arousal": 0.5,
            "confidence": 0.8,
        },
        "rationale": [
            {"claim": "She is smiling throughout.", "cues": ["face.t0.expression"]},
            {"claim": "She says she is glad.", "cues": ["speech.transcript"]},
        ],
        "caption": "A woman smiles and says she is glad you came.",
    }


def measured() -> dict[str, Any]:
    """The smiling record with everything the cues stage measures: apparent age and gender,
    per-frame expression scores, words' valence, vocal arousal and the modality summary."""
    rec = smiling()
    track = rec["cues"]["tracks"][0]
    track["apparent"] = {
        "age": 33.0,
        "age_range": [26.0, 41.0],
        "gender": "female",
        "gender_prob": 0.87,
        "frames": 6,
    }
    happy = [0.0, 0.0, 0.0, 0.96, 0.0, 0.01, 0.03]
    track["series"] = [{"t": float(t), "expression": happy} for t in range(1, 6)]
    words = {
        "valence": 0.6115,
        "emotions": {"joy": 0.5, "trust": 0.5},
        "emotion_words": 2,
        "segments": [{"segment": 0, "start": 0.0, "end": 2.0, "valence": 0.6115}],
    }
    rec["cues"]["words"] = words
    rec["cues"]["voice"] = {"arousal": 0.412}
    rec["cues"]["modality"] = summary(track["expression_mean"], 0.412, words)
    return rec


def conflicted() -> dict[str, Any]:
    """A smiling face reading a sad sentence: face and words disagree on valence."""
    rec = measured()
    rec["key"] = "c0ffee00000000000000000000000004"
    text = "I miss the old house so much."
    rec["transcript"]["text"] = text
    rec["transcript"]["segments"][0]["text"] = text
    words = {
        "valence": -0.4515,
        "emotions": {"sadness": 1.0},
        "emotion_words": 1,
        "segments": [{"segment": 0, "start": 0.0, "end": 2.0, "valence": -0.4515}],
    }
    rec["cues"]["words"] = words
    face = rec["cues"]["tracks"][0]["expression_mean"]
    rec["cues"]["modality"] = summary(face, 0.412, words)
    assert rec["cues"]["modality"]["conflict"]
    return rec


def empty_scene() -> dict[str, Any]:
    """A street with nobody in it and no speech: faces found nothing, the transcript is empty."""
    rec = smiling()
    rec["key"] = "c0ffee00000000000000000000000005"
    rec["transcript"] = {"text": "", "language": None, "speech_ratio": 0.0, "segments": []}
    rec["faces"] = {"main_track": None, "tracks": []}
    rec["cues"]["tracks"] = []
    rec["cues"]["audio"] = {"loudness_db": -48.0}
    rec["cues"]["modality"] = summary(None, None, None)
    return rec


def neutral_tree() -> dict[str, Any]:
    """What the empty scene supports: neutral, near-zero valence, low confidence, no face."""
    return {
        "attributes": [],
        "expressions": [],
        "emotion": {
            "label": "neutral",
            "terms": ["calm"],
            "valence": 0.0,
            "arousal": -0.2,
            "confidence": 0.3,
        },
        "rationale": [
            {"claim": "Nobody is visible and nothing is said.", "cues": ["faces.count"]},
            {"claim": "A moderate, still image.", "cues": ["visual.brightness", "visual.motion"]},
        ],
        "conflict": "",
        "caption": "An empty street scene with no people and no speech.",
    }
