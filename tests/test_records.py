"""The typed clip record: one value stored once, serialised once per boundary, read back whole;
the index row is its declared projection; the flat records of older runs still read."""

from __future__ import annotations

import json

import pytest

from emodata import projection
from emodata.asr.base import Transcript
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
        cues=cues,
        annotation=annotation,
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
