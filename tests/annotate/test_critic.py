"""The critic's deterministic checks catch planted inconsistencies and pass consistent trees."""

from __future__ import annotations

import pytest

from emodata.annotate import evidence
from emodata.annotate.critic import ground
from emodata.annotate.settings import DEFAULT_TAXONOMY
from tests.annotate.records import faceless, good_tree, silent_frowning, smiling


def failed(tree, record) -> dict[str, str]:
    checks = ground(tree, evidence.build(record), DEFAULT_TAXONOMY)
    return {c.name: c.detail for c in checks if not c.ok}


def test_a_consistent_tree_passes_every_check():
    assert failed(good_tree(), smiling()) == {}


def test_consistent_trees_on_silent_and_faceless_clips_pass():
    tree = good_tree()
    tree["expressions"] = [
        {
            "modality": "facial",
            "track": "t0",
            "description": "a frown",
            "start_s": 0,
            "end_s": 5,
            "cues": ["face.t0.expression"],
        }
    ]
    tree["emotion"] = {
        "label": "sad",
        "terms": ["down"],
        "valence": -0.6,
        "arousal": -0.2,
        "confidence": 0.6,
    }
    tree["rationale"] = [
        {"claim": "The face is not smiling; it frowns.", "cues": ["face.t0.expression"]}
    ]
    tree["caption"] = "A person frowns in silence."
    assert failed(tree, silent_frowning()) == {}

    tree = good_tree()
    tree["expressions"] = []
    tree["emotion"] = {
        "label": "neutral",
        "terms": [],
        "valence": 0.0,
        "arousal": 0.0,
        "confidence": 0.3,
    }
    tree["rationale"] = [{"claim": "Bright, still image.", "cues": ["visual.brightness"]}]
    tree["caption"] = "An empty scene."
    assert failed(tree, faceless()) == {}


def test_a_cited_cue_that_does_not_exist_is_caught():
    tree = good_tree()
    tree["rationale"][1]["cues"] = ["audio.laughter"]
    bad = failed(tree, smiling())
    assert list(bad) == ["cues_exist"]
    assert "audio.laughter" in bad["cues_exist"]


def test_a_smile_the_expression_scores_do_not_show_is_caught():
    tree = good_tree()
    tree["emotion"] = {
        "label": "sad",
        "terms": [],
        "valence": -0.5,
        "arousal": 0.0,
        "confidence": 0.5,
    }
    tree["expressions"] = [tree["expressions"][0]]  # "a broad smile" on t0
    tree["rationale"] = [{"claim": "Sad eyes.", "cues": ["face.t0.expression"]}]
    tree["caption"] = "A person."
    bad = failed(tree, silent_frowning())
    assert set(bad) == {"expressions_measured"}
    assert "happy" in bad["expressions_measured"] and "0.01" in bad["expressions_measured"]


def test_speech_claimed_on_a_silent_clip_is_caught():
    tree = good_tree()
    tree["expressions"] = [
        {
            "modality": "facial",
            "track": "t0",
            "description": "downcast eyes",
            "start_s": 0,
            "end_s": 5,
            "cues": ["face.t0.expression"],
        }
    ]
    tree["emotion"] = {
        "label": "sad",
        "terms": [],
        "valence": -0.5,
        "arousal": 0.0,
        "confidence": 0.5,
    }
    tree["rationale"] = [{"claim": "She looks sad.", "cues": ["face.t0.expression"]}]
    tree["caption"] = "A woman says goodbye, looking sad."
    bad = failed(tree, silent_frowning())
    assert set(bad) == {"speech_measured"}
    assert "caption" in bad["speech_measured"]


def test_a_label_outside_the_taxonomy_is_caught():
    tree = good_tree()
    tree["emotion"]["label"] = "elated"
    bad = failed(tree, smiling())
    assert set(bad) == {"label_in_taxonomy"}


@pytest.mark.parametrize("label,valence", [("happy", -0.7), ("sad", 0.6), ("neutral", 0.9)])
def test_valence_contradicting_the_label_is_caught(label, valence):
    tree = good_tree()
    tree["emotion"]["label"] = label
    tree["emotion"]["valence"] = valence
    record = smiling() if label != "sad" else silent_frowning()
    if label == "sad":
        tree["expressions"], tree["caption"] = [], "A person."
        tree["rationale"] = [{"claim": "Low expression.", "cues": ["face.t0.expression"]}]
    bad = failed(tree, record)
    assert "valence_matches_label" in bad


def test_facial_claims_without_a_face_and_unknown_tracks_are_caught():
    tree = good_tree()
    tree["rationale"] = [{"claim": "Bright.", "cues": ["visual.brightness"]}]
    tree["expressions"] = [tree["expressions"][0] | {"cues": ["visual.brightness"]}]
    assert "faces_exist" in failed(tree, faceless())
    tree = good_tree()
    tree["expressions"][0]["track"] = "t7"
    assert "faces_exist" in failed(tree, smiling())


def test_expression_times_outside_the_clip_are_caught():
    tree = good_tree()
    tree["expressions"][0]["end_s"] = 42.0
    assert set(failed(tree, smiling())) == {"times_in_clip"}


def test_numbers_are_clamped_to_their_schema_bounds():
    from emodata.annotate.engine import clamp
    from emodata.annotate.prompts import output_schema

    schema = output_schema("reasoner", ["happy"])
    value = {
        "emotion": {"valence": 1.7, "arousal": -3, "confidence": 0.5, "label": "happy"},
        "expressions": [{"start_s": -2.0, "end_s": 1.0}],
        "caption": "x",
    }
    out = clamp(value, schema)
    assert out["emotion"]["valence"] == 1 and out["emotion"]["arousal"] == -1
    assert out["expressions"][0]["start_s"] == 0 and out["caption"] == "x"


def test_quoted_scores_are_not_claims():
    tree = good_tree()
    tree["expressions"][0]["description"] = "facial expression scores happy 0.96, surprise 0.01"
    assert failed(tree, smiling()) == {}
    tree["expressions"][0]["description"] = "a surprised look"
    assert "expressions_measured" in failed(tree, smiling())
