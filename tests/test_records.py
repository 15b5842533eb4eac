"""The typed clip record: one value stored once, serialised once per boundary, read back whole;
the index row is its declared projection; the flat records of older runs still read."""

from __future__ import annotations

import json

import pytest

from emodata import projection
from emodata.annotate.record import Annotation, Check, Emotion, QAPair
from emodata.asr.base import Transcript
from emodata.cues.face import LABELS
from emodata.cues.record import Apparent, Cues, FramePoint, ModalityAffect, TrackCues
from emodata.faces.record import FaceFrame, Faces, FaceTrack, Pose
from emodata.records import (
    ClipRecord,
    ClipSpan,
    Item,
    Outcome,
    Source,
    items_to_table,
    record_json,
    table_to_items,
)
from emodata.schemas import index_schema, load_json
from emodata.writer import sample_json


def _record() -> ClipRecord:
    faces = {
        "backend": "dlib",
        "main_track": 1,
        "faces_per_frame": [1, 2, 2],
        "tracks": [
            {"id": 0, "quality": {"size_px": 40.0, "presence": 0.3}},
            {"id": 1, "quality": {"size_px": 90.0, "presence": 1.0}},
        ],
    }
    mean = {"angry": 0.05, "happy": 0.7, "neutral": 0.25}
    cues = {
        "visual": {"brightness": 0.4, "colorfulness": 20.0, "motion": 0.01},
        "audio": {"loudness_db": -20.0, "f0_median_hz": 190.0, "speech_rate_wps": 2.5},
        "tracks": [
            {"track": 0, "top_expression": "sad", "expression_mean": {"sad": 0.9}},
            {
                "track": 1,
                "top_expression": "happy",
                "expression_mean": mean,
                "apparent": {"age": 31.0, "gender": "female"},
            },
        ],
        "words": {"valence": -0.6},
        "voice": {"arousal": 0.3},
        "modality": {
            "conflict": True,
            "conflicts": [{"dimension": "valence", "modalities": ["face", "words"]}],
        },
    }
    provenance = {
        agent: {
            "backend": "openai",
            "model": "m",
            "prompt_version": "v1",
            "prompt_sha256": "x",
            "calls": calls,
            "cached": 0,
            "prompt_tokens": 100 * calls,
            "completion_tokens": 10 * calls,
            "latency_s": 0.5 * calls,
            "cost_usd": 0.001 * calls,
        }
        for agent, calls in (("reasoner", 2), ("critic", 1))
    }
    annotation = {
        "emotion": {"label": "sad", "terms": ["low"], "valence": -0.5, "arousal": 0.1},
        "caption": "A woman speaks.",
        "qa": [{"question": "q", "answer": "a"}] * 3,
        "critic": {"verdict": "revised", "reasons": [], "requests": ["r"], "check_runs": {}},
        "sources": {"emotion": "model", "caption": "rendered", "expressions[0]": "measured"},
        "provenance": provenance,
    }
    annotation["critic"]["check_runs"] = {"cues_exist": [2, 0], "label_supported": [2, 1]}
    transcript = {
        "language": "en",
        "text": "so sad",
        "speech_ratio": 0.5,
        "segments": [{"words": [{"start": 0.1, "end": 0.4}, {"start": 0.5, "end": 0.9}]}],
        "model": "whisper-base",
        "backend": "faster-whisper",
    }
    return ClipRecord(
        source=Source(
            path="/in/a.mp4",
            meta={"source_dataset": "MELD", "label": "sad", "speaker": "x"},
            sha256="ab" * 32,
            id="ab" * 10,
            duration_s=12.0,
            has_audio=True,
        ),
        clip=ClipSpan(index=1, count=3, start_s=4.0, end_s=8.0, duration_s=4.0, fps=25.0),
        transcript=Transcript.from_dict(transcript),
        faces=Faces.from_dict(faces),
        cues=Cues.from_dict(cues),
        annotation=Annotation.from_dict(annotation),
        outcome=Outcome(stage_status={"ingest": "ok", "annotate": "ok"}, timings={"faces": 1.5}),
        extra={"frame_sharpness": 12.5},
        work={"write_order": 7},
    )


def test_the_record_round_trips_through_its_dict_and_the_arrow_boundary():
    rec = _record()
    assert ClipRecord.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec
    item = Item("k", rec, {"mp4": b"\x00" * 10, "wav": b"RIFF"})
    (back,) = table_to_items(items_to_table([item]))
    assert back == item
    # unset fields stay off the wire: a record just listed is its path and nothing else
    assert json.loads(record_json(ClipRecord(Source(path="/in/b.mp4")))) == {
        "source": {"path": "/in/b.mp4"}
    }


def test_the_sample_json_is_the_record_without_run_bookkeeping():
    item = Item("k", _record(), {"mp4": b"1", "frame000.jpg": b"2"})
    doc = sample_json(item)
    assert doc["key"] == "k" and doc["members"] == ["frame000.jpg", "mp4"]
    assert "work" not in doc and doc["clip"]["start_s"] == 4.0
    assert ClipRecord.from_dict(json.loads(json.dumps(doc))) == ClipRecord.from_dict(
        {**item.record.to_dict(), "work": {}}
    )


def test_every_index_column_is_declared_and_projected_from_the_record():
    columns = load_json("index.schema.json")["columns"]
    assert [c["name"] for c in columns] == index_schema().names
    assert all(c["from"] for c in columns)
    row = projection.index_fields(_record())
    assert set(row) | set(projection.written_columns()) == set(index_schema().names)
    expected = {
        "source_id": "ab" * 10,
        "source_dataset": "MELD",
        "label": "sad",
        "license": None,
        "source_meta": '{"speaker": "x"}',
        "clip_index": 1,
        "source_clip_count": 3,
        "has_audio": True,
        "asr_text": "so sad",
        "asr_word_count": 2,
        "face_tracks": 2,
        "face_max_per_frame": 2,
        "main_face_size_px": 90.0,  # the main track's, not the first's
        "main_expression": "happy",
        "main_expression_score": 0.7,
        "main_age": 31.0,
        "main_gender": "female",
        "cue_words_valence": -0.6,
        "modality_conflicts": '["valence:face-words"]',
        "emotion_label": "sad",
        "emotion_terms": '["low"]',
        "qa_count": 3,
        "critic_requests": '["r"]',
        "critic_checks": json.dumps(
            {"cues_exist": {"runs": 2, "failed": 0}, "label_supported": {"runs": 2, "failed": 1}},
            sort_keys=True,
        ),
        "fields_measured": 2,
        "fields_model": 1,
        "annotate_models": '{"critic": "m@v1", "reasoner": "m@v1"}',
        "annotate_calls": 3,
        "annotate_prompt_tokens": 300,
        "annotate_latency_s": 1.5,
        "annotate_cost_usd": 0.003,
        "stage_status": {"ingest": "ok", "annotate": "ok"},
    }
    assert {k: row[k] for k in expected} == expected
    assert json.loads(row["annotate_tokens"])["reasoner"] == {
        "calls": 2,
        "cached": 0,
        "prompt_tokens": 200,
        "completion_tokens": 20,
        "latency_s": 1.0,
    }
    assert projection.index_fields(_record(), ("frame_sharpness",))["frame_sharpness"] == 12.5


def test_a_clip_without_later_stages_projects_nulls():
    rec = ClipRecord(Source(path="/in/a.mp4", id="s"), ClipSpan(start_s=0.0, end_s=2.0))
    row = projection.index_fields(rec)
    later = [c for c in row if c.startswith(("asr_", "face", "main_", "cue_", "annotate_"))]
    later += ["emotion_label", "qa_count", "critic_verdict", "modality_conflict"]
    assert later and all(row[c] is None for c in later), {c: row[c] for c in later}


def test_the_flat_records_of_older_runs_read_as_typed_records():
    """A sample JSON from before the record was typed: flat fields and copies for the index."""
    old = {
        "key": "k",
        "members": ["mp4"],
        "source_path": "/in/a.mp4",
        "source_id": "s",
        "source_dataset": "MELD",
        "source_meta": '{"speaker": "x"}',
        "start_s": 1.0,
        "clip_index": 0,
        "segment_seconds": 0.2,
        "emotion_label": "sad",  # a copy of the tree's label: the projection has it
        "annotation": {"emotion": {"label": "sad"}},
        "stage_status": {"ingest": "ok"},
        "frame_sharpness": 3.0,  # a plugin stage's field
        "review": {"status": "accepted"},
    }
    rec = ClipRecord.from_dict(old)
    assert rec.source == Source(path="/in/a.mp4", id="s", meta={"source_dataset": "MELD",
                                                                 "speaker": "x"})  # fmt: skip
    assert (rec.clip.start_s, rec.clip.index, rec.clip.encode_seconds) == (1.0, 0, 0.2)
    assert rec.outcome.stage_status == {"ingest": "ok"} and rec.extra == {"frame_sharpness": 3.0}
    assert rec.release == {"review": {"status": "accepted"}}
    assert projection.index_fields(rec)["emotion_label"] == "sad"
    # a driver-side record of an older ingest cache: path and meta as they were
    cached = ClipRecord.from_dict({"path": "/in/b.mp4", "meta": {"label": "x"}, "has_audio": True})
    assert cached.source == Source(path="/in/b.mp4", meta={"label": "x"}, has_audio=True)


def test_an_unknown_function_in_the_schema_is_named(monkeypatch):
    spec = {"columns": [{"name": "odd", "type": "string", "nullable": True, "from": "x|nope"}]}
    monkeypatch.setattr(projection, "load_json", lambda name: spec)
    projection._plan.cache_clear()
    try:
        with pytest.raises(ValueError, match="odd reads through an unknown function 'nope'"):
            projection.index_fields(ClipRecord())
    finally:
        projection._plan.cache_clear()


def test_the_transcript_is_typed_down_to_its_words():
    doc = _record().to_dict()
    doc["transcript"]["segments"][0]["words"][0]["speaker"] = "A"  # a newer writer's field
    rec = ClipRecord.from_dict(json.loads(json.dumps(doc)))
    t = rec.transcript
    assert isinstance(t, Transcript) and t.text == "so sad" and t.language == "en"
    assert [(w.start, w.end) for w in t.words] == [(0.1, 0.4), (0.5, 0.9)]
    assert "speaker" not in rec.to_dict()["transcript"]["segments"][0]["words"][0]
    assert projection.index_fields(rec)["asr_word_count"] == 2
    assert ClipRecord.from_dict({"source": {"path": "x"}, "transcript": None}).transcript is None


LABELS_SCORES = [0.01, 0.0, 0.02, 0.9, 0.01, 0.03, 0.03]  # a smile, in face.LABELS order


def _cues_document() -> dict:
    """A cues document as the cues stage writes it: a track with age and gender, one whose
    frames were too small for them (no ``female_prob``), frames with and without landmarks
    (geometry keys absent), a frame that could not be scored, a voice summary without ``top``."""
    happy = LABELS_SCORES
    return {
        "visual": {
            "brightness": 0.4521,
            "colorfulness": 33.17,
            "hue_mean_deg": 21.5,
            "hue_spread": 0.4127,
            "motion": 0.0213,
        },
        "audio": {
            "loudness_db": -24.31,
            "loudness_max_db": -12.02,
            "f0_median_hz": 201.3,
            "f0_iqr_hz": 31.4,
            "f0_iqr_st": 2.71,
            "voiced_ratio": 0.5512,
            "speech_rate_wps": 2.871,
        },
        "tracks": [
            {
                "track": 0,
                "expression_mean": dict(zip(LABELS, happy, strict=True)),
                "top_expression": "happy",
                "mouth_open": 0.1512,
                "eye_open": 0.2811,
                "brow_raise": 0.2604,
                "apparent": {
                    "age": 32.9,
                    "age_range": [26.0, 41.0],
                    "gender": "female",
                    "gender_prob": 0.83,
                    "female_prob": 0.83,
                    "frames": 2,
                },
                "series": [
                    {
                        "t": 0.0,
                        "expression": happy,
                        "mouth_open": 0.1512,
                        "eye_open": 0.2811,
                        "brow_raise": 0.2604,
                    },
                    {"t": 1.0, "expression": None},
                ],
            },
            {
                "track": 3,
                "expression_mean": None,
                "top_expression": None,
                "mouth_open": None,
                "eye_open": None,
                "brow_raise": None,
                "apparent": {
                    "age": None,
                    "age_range": None,
                    "gender": None,
                    "gender_prob": None,
                    "frames": 0,
                },
                "series": [{"t": 0.5, "expression": None}],
            },
        ],
        "words": {
            "valence": -0.4515,
            "emotions": {"sadness": 1.0},
            "emotion_words": 1,
            "top_emotion": "sadness",
            "segments": [
                {"segment": 0, "start": 0.0, "end": 2.5, "valence": -0.4515, "top_emotion": None}
            ],
        },
        "voice": {
            "arousal": 0.412,
            "components": {"loudness": 0.28, "pitch_level": -0.1, "speech_rate": 0.495},
            "f0_ref_hz": 210.0,
        },
        "modality": {
            "face": {
                "labels": {"happy": 0.9, "neutral": 0.1},
                "top": "happy",
                "valence": 0.72,
                "arousal": 0.45,
            },
            "voice": {"labels": None, "valence": None, "arousal": 0.412},
            "words": {
                "labels": {"sadness": 1.0},
                "top": "sadness",
                "valence": -0.4515,
                "arousal": None,
            },
            "conflicts": [
                {
                    "dimension": "valence",
                    "modalities": ["face", "words"],
                    "values": {"face": 0.72, "words": -0.4515},
                }
            ],
            "conflict": True,
            "measured": ["face", "voice", "words"],
        },
    }


def test_the_cues_are_typed_down_to_their_tracks_and_frames():
    doc = _cues_document()
    rec = ClipRecord.from_dict({"source": {"path": "x"}, "cues": json.loads(json.dumps(doc))})
    cues = rec.cues
    assert isinstance(cues, Cues) and cues.to_dict() == doc
    # the same JSON, key for key: no key the stage leaves out appears as null
    assert json.dumps(rec.to_dict()["cues"], sort_keys=True) == json.dumps(doc, sort_keys=True)
    assert cues.audio.f0_median_hz == 201.3 and cues.visual.motion == 0.0213
    main = cues.track(0)
    assert isinstance(main, TrackCues) and main.top_expression == "happy"
    assert main.apparent == Apparent(32.9, [26.0, 41.0], "female", 0.83, 0.83, 2)
    scored, unscored = main.series
    assert scored == FramePoint(0.0, LABELS_SCORES, 0.1512, 0.2811, 0.2604)
    assert unscored == FramePoint(1.0) and "mouth_open" not in unscored.to_dict()
    assert cues.track(3).apparent.female_prob is None and cues.track(7) is None
    assert cues.words.segments[0].valence == -0.4515 and cues.voice.arousal == 0.412
    m = cues.modality
    assert m.get("voice") == ModalityAffect(arousal=0.412) and m.face.top == "happy"
    assert m.conflicts[0].values == {"face": 0.72, "words": -0.4515} and m.measured[-1] == "words"
    # a newer writer's keys are left out; an older writer's missing ones read as None
    newer = json.loads(json.dumps(doc))
    newer["tracks"][0]["pose"] = {"yaw": 3.0}
    newer["tracks"][0]["series"][0]["blink"] = True
    newer["modality"]["face"]["dominance"] = 0.1
    newer["laughter"] = 0.2
    assert Cues.from_dict(newer).to_dict() == doc
    old = Cues.from_dict({"visual": {"brightness": 0.5}, "audio": {}, "tracks": []})
    assert old.visual.motion is None and old.words is None and old.modality is None
    assert old.to_dict()["audio"] == dict.fromkeys(doc["audio"])
    assert ClipRecord.from_dict({"source": {"path": "x"}, "cues": None}).cues is None


def _tree() -> dict:
    """An affective tree as the annotate stage writes it (every key it fills)."""
    return {
        "attributes": [
            {
                "subject": "t0",
                "age_range": "25-35",
                "gender_presentation": "feminine",
                "appearance": "",
                "context": "",
                "cues": ["face.t0.age", "face.t0.gender"],
            }
        ],
        "expressions": [
            {
                "modality": "facial",
                "track": "t0",
                "description": "sad expression",
                "start_s": 0,
                "end_s": 3.5,
                "cues": ["face.t0.expression"],
            },
            {
                "modality": "vocal",
                "track": "",
                "description": "low voice",
                "start_s": 0.0,
                "end_s": 4.0,
                "cues": ["voice.arousal"],
            },
        ],
        "emotion": {
            "label": "sad",
            "terms": ["low", "tired"],
            "valence": -0.5,
            "arousal": -0.2,
            "confidence": 0.7,
        },
        "rationale": [{"claim": "The face is sad.", "cues": ["face.t0.expression"]}],
        "conflict": "",
        "caption": "A woman speaks quietly.",
        "qa": [{"kind": "emotion", "question": "Which emotion?", "answer": "Sad."}],
        "sources": {"attributes[0].age_range": "measured", "emotion": "model"},
        "critic": {
            "verdict": "revised",
            "reasons": [],
            "revisions": 1,
            "requests": ["label_supported: nothing measured supports happy"],
            "checks": [
                {"name": "cues_exist", "ok": True, "detail": "", "claim": ""},
                {"name": "label_supported", "ok": True, "detail": "", "claim": ""},
            ],
            "check_runs": {"cues_exist": [2, 0], "label_supported": [2, 1]},
        },
        "cues": {
            "face.t0.expression": {"text": "main face: sad 0.62", "value": {"sad": 0.62}},
            "voice.arousal": {"text": "voice arousal -0.20", "value": -0.2},
        },
        "provenance": {
            "reasoner": {
                "backend": "openai",
                "model": "m",
                "prompt_version": "v1",
                "prompt_sha256": "0123456789abcdef",
                "calls": 2,
                "cached": 0,
                "prompt_tokens": 900,
                "completion_tokens": 80,
                "latency_s": 1.25,
                "cost_usd": 0.0,
            }
        },
    }


def test_the_annotation_is_typed_down_to_its_steps_and_checks():
    tree = _tree()
    doc = {"source": {"path": "x"}, "annotation": tree}
    rec = ClipRecord.from_dict(json.loads(json.dumps(doc)))
    a = rec.annotation
    assert isinstance(a, Annotation) and isinstance(a.emotion, Emotion)
    assert (a.emotion.label, a.emotion.valence, a.critic.verdict) == ("sad", -0.5, "revised")
    assert a.expressions[0].track == "t0" and a.expressions[1].modality == "vocal"
    assert a.rationale[0].cues == ["face.t0.expression"] and a.attributes[0].age_range == "25-35"
    assert a.qa == [QAPair("emotion", "Which emotion?", "Sad.")]
    assert a.critic.checks[1] == Check("label_supported", True)
    assert a.critic.check_runs["label_supported"] == [2, 1]
    # written back key for key (an int start stays an int), and read again as the same tree
    out = rec.to_dict()["annotation"]
    assert json.dumps(out, sort_keys=True) == json.dumps(tree, sort_keys=True)
    assert ClipRecord.from_dict(rec.to_dict()) == rec
    row = projection.index_fields(rec)
    assert (row["emotion_label"], row["qa_count"], row["critic_requests"]) == (
        "sad",
        1,
        json.dumps(tree["critic"]["requests"]),
    )
    # a newer writer's keys are left out; a tree of an older run (no conflict, no attribute
    # cues, no requests or check runs) writes out as it was and projects nulls for them
    newer = _tree()
    newer["emotion"]["intensity"] = 0.9
    newer["critic"]["model_verdict"] = "ok"
    newer["qa"][0]["difficulty"] = "easy"
    back = Annotation.from_dict(newer).to_dict()
    assert "intensity" not in back["emotion"] and "model_verdict" not in back["critic"]
    assert back == tree
    older = _tree()
    del older["conflict"], older["attributes"][0]["cues"]
    del older["critic"]["requests"], older["critic"]["check_runs"], older["critic"]["checks"]
    assert Annotation.from_dict(older).to_dict() == older
    row = projection.index_fields(
        ClipRecord.from_dict({"source": {"path": "x"}, "annotation": older})
    )
    assert row["critic_requests"] is None and row["critic_checks"] is None
    assert ClipRecord.from_dict({"source": {"path": "x"}, "annotation": None}).annotation is None


def _faces_doc() -> dict:
    """A faces document as the stage writes it (dlib: 68 points beside the fixed frame keys)."""
    frame = {
        "t": 0.5,
        "box": [10.0, 12.5, 90.0, 96.0],
        "score": 0.998,
        "kps": [[30.1, 40.0], [60.2, 40.5], [45.0, 55.0], [35.0, 70.0], [58.0, 70.2]],
        "pose": {"yaw": -3.5, "pitch": 2.0, "roll": 0.9},
        "landmarks68": [[float(i), float(i)] for i in range(68)],
    }
    quality = {"presence": 0.667, "size_px": 80.0, "sharpness": 143.2, "score": 0.998}
    quality |= {"yaw": -3.5, "pitch": 2.0, "roll": 0.9}
    track = {
        "id": 1,
        "frames": [frame, {**frame, "t": 1.0}],
        "quality": quality,
        "crops": ["face1_0.jpg", "face1_1.jpg"],
        "crop_frames": [1, 2],
        "embedding": [0.1, -0.2, 0.3],
    }
    return {
        "backend": "dlib",
        "frame_rate": 2.0,
        "frames": 3,
        "faces_per_frame": [0, 1, 1],
        "tracks": [track],
        "main_track": 1,
        "embedding_model": "dlib-resnet-128",
    }


def test_the_faces_are_typed_down_to_their_frames():
    doc = {**_record().to_dict(), "faces": _faces_doc()}
    rec = ClipRecord.from_dict(json.loads(json.dumps(doc)))
    f = rec.faces
    assert isinstance(f, Faces) and f.backend == "dlib" and f.main_track == 1
    assert isinstance(f.main, FaceTrack) and f.main is f.tracks[0] and f.track(0) is None
    frame = f.main.frames[0]
    assert isinstance(frame, FaceFrame) and frame.pose == Pose(yaw=-3.5, pitch=2.0, roll=0.9)
    assert frame.box[2] == 90.0 and len(frame.landmarks68) == 68
    assert f.main.quality.size_px == 80.0 and f.main.crop_frames == [1, 2]
    # the document comes back key for key, in the order the stage wrote it
    assert json.dumps(rec.to_dict()["faces"]) == json.dumps(_faces_doc())
    assert projection.index_fields(rec)["main_face_size_px"] == 80.0
    assert projection.index_fields(rec)["face_max_per_frame"] == 1

    # a newer writer's keys are left out; a backend's own per-frame keys are kept
    newer = _faces_doc()
    newer["detector_version"] = 2
    newer["tracks"][0]["person"] = 7
    newer["tracks"][0]["quality"]["blur"] = 0.1
    newer["tracks"][0]["frames"][0]["gaze"] = [0.1, 0.2]
    back = ClipRecord.from_dict({**doc, "faces": newer}).to_dict()["faces"]
    assert "detector_version" not in back and "person" not in back["tracks"][0]
    assert "blur" not in back["tracks"][0]["quality"]
    assert back["tracks"][0]["frames"][0]["gaze"] == [0.1, 0.2]

    # partial documents (older or hand-made) read with empty values; none stays none
    partial = Faces.from_dict({"main_track": 0, "tracks": [{"id": 0, "quality": {}}]})
    assert partial.main.frames == [] and partial.main.quality.presence is None
    assert partial.main.embedding is None and partial.faces_per_frame == []
    assert ClipRecord.from_dict({"source": {"path": "x"}, "faces": None}).faces is None
