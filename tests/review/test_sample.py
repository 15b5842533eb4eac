"""The sample page's data: words, cue series and tree parts, with any part missing."""

from __future__ import annotations

import jsonschema
import numpy as np
import pytest

from emodata import stats
from emodata.cues.face import LABELS
from emodata.media import float32_to_wav
from emodata.review import sample as sv
from emodata.review.media import load_sample
from emodata.schemas import load_json


def _docs(run_dir):
    rows = stats.query(str(run_dir), "select * from idx order by key")
    return [load_sample(str(run_dir), r).doc for r in rows]


def test_synthetic_trees_follow_the_schema(run_dir):
    schema = load_json("annotation.schema.json")
    trees = [d["annotation"] for d in _docs(run_dir) if d.get("annotation")]
    assert len(trees) > 40
    for tree in trees:
        jsonschema.validate(tree, schema)


def test_missing_parts_give_empty_values(run_dir):
    docs = _docs(run_dir)
    bare = next(d for d in docs if not d.get("transcript") and not d.get("faces"))
    assert sv.transcript_words(bare) == [] and sv.transcript_text(bare) == ""
    assert sv.expression_series(bare) == []
    assert sv.face_tracks(bare) == ([], None)
    unannotated = next(d for d in docs if d.get("annotation") is None)
    assert sv.annotation(unannotated) is None
    summary = sv.tree_summary(None)
    assert summary["label"] is None and summary["qa"] == [] and summary["reasons"] == []
    assert sv.audio_series(None) == []


def test_words_and_expressions(run_dir):
    doc = next(d for d in _docs(run_dir) if d.get("transcript") and d.get("faces"))
    words = sv.transcript_words(doc)
    assert [w["word"] for w in words] == sv.transcript_text(doc).split()
    assert all(w["start"] <= w["end"] for w in words)
    series = sv.expression_series(doc)
    assert series and set(series[0]) == {"t", *LABELS}
    top = doc["annotation"]["emotion"]["label"] if doc.get("annotation") else None
    if top:
        assert max(LABELS, key=lambda lab: np.mean([p[lab] for p in series])) == top


def test_audio_series_measures_pitch_and_loudness():
    t = np.arange(16000) / 16000
    wav = float32_to_wav((0.5 * np.sin(2 * np.pi * 200 * t)).astype(np.float32))
    rows = sv.audio_series(wav)
    assert len(rows) == 10
    assert all(r["pitch_hz"] == pytest.approx(200, rel=0.03) for r in rows)
    assert all(r["loudness_db"] == pytest.approx(-9.03, abs=0.2) for r in rows)  # 0.5/sqrt(2)
    silent = sv.audio_series(float32_to_wav(np.zeros(8000, np.float32)))
    assert all(r["pitch_hz"] is None for r in silent)


def test_diff_edits_keeps_only_changes():
    orig = {
        "label": "happy",
        "valence": 0.5,
        "arousal": 0.1,
        "caption": "c",
        "rationale": [{"claim": "x", "cues": ["c1"]}],
        "qa": [{"question": "q", "answer": "a"}, {"question": "q2", "answer": "b"}],
    }
    same = {**orig, "qa_answers": ["a", "b"]}
    assert sv.diff_edits(orig, same) == {}
    edited = {
        **same,
        "label": "sad",
        "valence": -0.25,
        "rationale": [{"claim": "y", "cues": ["c1"]}],
        "qa_answers": ["a", "new"],
    }
    assert sv.diff_edits(orig, edited) == {
        "label": "sad",
        "valence": -0.25,
        "rationale": [{"claim": "y", "cues": ["c1"]}],
        "qa": {"1": "new"},
    }
