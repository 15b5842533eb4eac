"""Annotation quality figures on a small synthetic index with a known confusion."""

from __future__ import annotations

import datetime
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from emodata import layout, quality
from emodata.schemas import index_schema

# (manifest label, annotated label, verdict, revision requests, rejection reasons, conflict)
ROWS = [
    ("happy", "happy", "accepted", [], [], False),
    ("happy", "happy", "revised", ["label_supported: no modality [claim: x]"], [], True),
    ("happy", "neutral", "accepted", [], [], False),
    ("sad", "sad", "revised", ["conflict_explained: a", "label_supported: b"], [], True),
    ("sad", "happy", "accepted", [], [], False),
    ("Neutral ", "neutral", "accepted", [], [], None),
    ("angry", "sad", "rejected", ["no_evidence_neutral: a"], ["no_evidence_neutral: b"], False),
    (None, "neutral", "accepted", [], [], False),
    ("", "neutral", "accepted", [], [], False),
]


def _filler() -> dict:
    """A value for every non-nullable index column, so only the columns under test vary."""
    out = {}
    for f in index_schema():
        if f.nullable:
            out[f.name] = None
        elif pa.types.is_struct(f.type):
            out[f.name] = {}
        elif pa.types.is_string(f.type):
            out[f.name] = "x"
        elif pa.types.is_boolean(f.type):
            out[f.name] = False
        elif pa.types.is_timestamp(f.type):
            out[f.name] = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
        else:
            out[f.name] = 0
    return out


def _index(tmp_path):
    rows = []
    for i, (gold, pred, verdict, requests, reasons, conflict) in enumerate(ROWS):
        failed = 1 if verdict == "rejected" else 0
        checks = {
            "cues_exist": {"runs": 1 + bool(requests), "failed": 0},
            "label_supported": {"runs": 1 + bool(requests), "failed": failed + bool(requests)},
        }
        rows.append(
            _filler()
            | {
                "key": f"k{i}",
                "label": gold,
                # the first two manifest labels came through ingest.label_map
                "source_meta": json.dumps({"label_original": f"orig-{gold}"}) if i < 2 else None,
                "emotion_label": pred,
                "valence": 0.1 * i,
                "arousal": 0.0,
                "emotion_confidence": 0.5,
                "critic_verdict": verdict,
                "critic_reasons": json.dumps(reasons),
                "critic_requests": json.dumps(requests),
                "critic_checks": json.dumps(checks),
                "modality_conflict": conflict,
                "fields_measured": 2,
                "fields_model": 6,
                "stage_status": {"annotate": "ok"},
            }
        )
    rows.append(_filler() | {"key": "not-annotated", "label": "sad", "stage_status": {}})
    (tmp_path / layout.INDEX).mkdir(parents=True)
    table = pa.Table.from_pylist(rows, schema=index_schema())
    pq.write_table(table, tmp_path / layout.INDEX / "shard-000000.parquet")
    # readers count only index fragments whose shard exists
    (tmp_path / layout.SHARDS).mkdir()
    (tmp_path / layout.SHARDS / "shard-000000.tar").write_bytes(b"")
    return str(tmp_path)


def test_quality_figures_on_a_known_confusion(tmp_path):
    q = quality.quality(_index(tmp_path))
    assert q["kept"] == {
        "annotated": 9,
        "accepted": 6,
        "revised": 2,
        "rejected": 1,
        "kept_share": round(8 / 9, 3),
    }
    by = {(r["verdict"], r["reason"]): r["clips"] for r in q["verdicts"]}
    assert by == {
        ("accepted", "(none)"): 6,
        ("revised", "label_supported"): 2,
        ("revised", "conflict_explained"): 1,
        ("rejected", "no_evidence_neutral"): 1,
    }
    checks = {r["check_id"]: r for r in q["checks"]}
    assert checks["cues_exist"]["pass_rate"] == 1.0
    assert (checks["label_supported"]["runs"], checks["label_supported"]["failed"]) == (12, 4)
    assert {r["label"]: r["clips"] for r in q["labels"]} == {"neutral": 4, "happy": 3, "sad": 2}
    m = q["modalities"]
    assert (m["clips_with_summary"], m["conflicts"], m["conflict_share"]) == (8, 2, 0.25)
    assert m["measured_share"] == 0.25
    # 7 labelled pairs (None and "" are unlabelled; "Neutral " is neutral): 4 correct
    a = q["agreement"]
    assert (a["clips"], a["correct"], a["accuracy"]) == (7, 4, round(4 / 7, 3))
    f1 = {"happy": 4 / 6, "neutral": 2 / 3, "sad": 2 / 4, "angry": 0.0}
    assert a["macro_f1"] == pytest.approx(sum(f1.values()) / 4, abs=1e-3)
    assert a["mapped_labels"] == sum(bool(g and g.strip()) for g, *_ in ROWS[:2])
    assert a["confusion"] == [
        {"manifest_label": "angry", "happy": 0, "neutral": 0, "sad": 1},
        {"manifest_label": "happy", "happy": 2, "neutral": 1, "sad": 0},
        {"manifest_label": "neutral", "happy": 0, "neutral": 1, "sad": 0},
        {"manifest_label": "sad", "happy": 1, "neutral": 0, "sad": 1},
    ]


def test_the_card_and_stats_carry_an_annotation_quality_section(tmp_path):
    from click.testing import CliRunner

    from emodata.cli import main
    from emodata.report import quality_section

    out = _index(tmp_path)
    text = quality_section(quality.quality(out))
    assert text.startswith("## Annotation quality")
    assert "kept (accepted or revised): **8 of 9** (89%)" in text
    assert "macro-F1 0.458" in text and "| angry | 0 | 0 | 1 |" in text
    assert "manifest labels mapped from another taxonomy by `ingest.label_map`" in text
    res = CliRunner().invoke(main, ["stats", out])
    assert res.exit_code == 0, res.output
    assert "== annotation quality" in res.output and "macro_f1" in res.output


def test_no_quality_section_without_annotations(tmp_path):
    from emodata.report import quality_section

    (tmp_path / layout.INDEX).mkdir()
    assert quality.quality(str(tmp_path)) is None
    assert quality_section(None) == ""
