"""Label spaces: packaged maps cover the taxonomy, the exported label reaches index and formats
while the original stays, valence/arousal quadrants, and clear errors for unknown or unmapped."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from emodata import stats
from emodata.annotate.settings import DEFAULT_TAXONOMY
from emodata.cues.face import LABELS as FER_LABELS
from emodata.exports import labels
from emodata.exports.plan import ReleaseOptions
from emodata.review.export import ExportError, export
from emodata.review.media import load_sample
from tests.conftest import run_cli


@pytest.mark.parametrize("name", ["ekman7", "merr9"])
def test_packaged_maps_cover_the_default_taxonomy(name):
    space = labels.load(name)
    for label in {*DEFAULT_TAXONOMY, *FER_LABELS}:
        assert space.apply(label, None, None) in space.labels
    assert len(space.labels) == int(name[-1])
    assert labels.load("ekman7").apply("contempt", None, None) == "disgust"
    assert labels.load("merr9").apply("disgust", None, None) == "contempt"


@pytest.mark.parametrize(
    "va, quadrant",
    [((0.6, 0.3), "HVHA"), ((0.6, -0.3), "HVLA"), ((-0.6, 0.7), "LVHA"), ((-0.5, -0.4), "LVLA"),
     ((0.05, -0.09), "neutral"), ((0.0, -0.2), "HVLA"), (None, None)],
)  # fmt: skip
def test_va_quadrants(va, quadrant):
    space = labels.load("va_quadrants")
    v, a = va if va else (None, None)
    assert space.apply("happy", v, a) == quadrant


def test_unknown_set_and_bad_files(tmp_path):
    with pytest.raises(labels.LabelError, match="unknown label set; known: ekman7, merr9"):
        labels.load("ekman6")
    bad = tmp_path / "bad.json"
    bad.write_text('{"labels": ["a"], "map": {"happy": "b"}}')
    with pytest.raises(labels.LabelError, match=r"targets \['b'\] are not in its 'labels'"):
        labels.load(str(bad))
    bad.write_text("[1, 2]")
    with pytest.raises(labels.LabelError, match="expected a JSON object"):
        labels.load(str(bad))
    tiny = labels.LabelSpace("tiny", ["happy"], "tiny.json", {"happy": "happy"})
    with pytest.raises(labels.LabelError, match=r"fear \(2 samples\), joy \(1 samples\)"):
        labels.check(tiny, Counter({"fear": 2, "joy": 1, "happy": 4}))


def _rows(release) -> dict[str, dict]:
    return {r["key"]: r for r in stats.query(str(release), "select * from idx")}


def test_ekman7_export_keeps_the_original(reviewed, tmp_path):
    out = tmp_path / "rel"
    opts = ReleaseOptions.parse("webdataset,llava,merr,emer,swift", labels="ekman7")
    export(str(reviewed["run"]), str(out), options=opts)
    space = labels.load("ekman7")
    rows = _rows(out)
    for row in rows.values():
        assert row["export_label"] == space.apply(row["emotion_label"], None, None)
        assert load_sample(str(out), row).doc["release"]["export_label"] == row["export_label"]
    fixed = rows[reviewed["fixed"]]
    assert fixed["emotion_label"] == fixed["export_label"] == reviewed["label"]  # review, mapped
    merr = json.loads((out / "merr" / "MERR_fine_grained.json").read_text())
    assert {k: v["pseu_emotion"] for k, v in merr.items()} == {
        k: r["export_label"] for k, r in rows.items()
    }
    llava = json.loads((out / "llava" / "llava.json").read_text())
    for item in llava:
        assert item["conversations"][1]["value"].startswith(rows[item["id"]]["export_label"])
    emotion = (out / "swift" / "emotion.jsonl").read_text()
    assert "angry, disgust, fear, happy, sad, surprise, neutral" in emotion  # the target space
    card = (out / "README.md").read_text()
    assert "## Labels" in card and "**ekman7** label space" in card
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["release"]["label_space"]["name"] == "ekman7"


def test_va_quadrants_export(reviewed, tmp_path):
    out = tmp_path / "rel"
    export(str(reviewed["run"]), str(out), options=ReleaseOptions.parse(labels="va_quadrants"))
    space = labels.load("va_quadrants")
    rows = _rows(out)
    assert {r["export_label"] for r in rows.values()} - {None} <= set(space.labels)
    for r in rows.values():
        assert r["export_label"] == space.apply(None, r["valence"], r["arousal"])
    assert len({r["export_label"] for r in rows.values() if r["valence"] is not None}) >= 3


@pytest.mark.slow
def test_unmapped_labels_stop_the_export(reviewed, tmp_path):
    mapping = tmp_path / "two.json"
    mapping.write_text(json.dumps({"happy": "positive", "surprise": "positive", "sad": "negative"}))
    with pytest.raises(ExportError, match=r"not mapped by label set two .*angry \(\d+ samples\)"):
        export(str(reviewed["run"]), str(tmp_path / "r"), options=ReleaseOptions.parse(
            labels=str(mapping)))  # fmt: skip
    assert not (tmp_path / "r").exists()
    proc = run_cli("export", str(reviewed["run"]), "--out", str(tmp_path / "r"), "--labels",
                   str(mapping), check=False)  # fmt: skip
    assert proc.returncode == 1 and "neutral (" in proc.stderr and "disgust (" in proc.stderr
    proc = run_cli("export", str(reviewed["run"]), "--out", str(tmp_path / "r"), "--labels",
                   "plutchik", check=False)  # fmt: skip
    assert proc.returncode == 1 and "'plutchik': unknown label set" in proc.stderr
