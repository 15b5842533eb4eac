"""A manifest's labels in another taxonomy are mapped into the run's (``ingest.label_map``)."""

from __future__ import annotations

import json

import pytest

from emodata import manifest_labels, stats
from emodata.annotate.settings import DEFAULT_TAXONOMY
from emodata.discover import SourceRef
from emodata.errors import ConfigError
from tests.conftest import run_cli
from tests.hostile.conftest import QUICK, make_clips


def _refs(*labels):
    return [SourceRef(f"/v/{i}.mp4", {"label": lab, "x": i}) for i, lab in enumerate(labels)]


@pytest.mark.parametrize("name", manifest_labels.known())
def test_packaged_maps_target_the_default_taxonomy(name):
    lmap = manifest_labels.load(name)
    lmap.check(DEFAULT_TAXONOMY, {})  # raises on a target the taxonomy lacks
    assert lmap.mapping


def test_labels_are_mapped_and_the_original_kept():
    out = manifest_labels.apply(_refs("Joy", " sadness ", None, ""), "meld", DEFAULT_TAXONOMY)
    assert [r.meta["label"] for r in out] == ["happy", "sad", None, ""]
    assert out[0].meta["label_original"] == "Joy" and out[0].meta["x"] == 0
    assert "label_original" not in out[2].meta


def test_a_label_with_no_counterpart_leaves_the_run_label_empty():
    (doubt,) = manifest_labels.apply(_refs("doubt"), "merr9", DEFAULT_TAXONOMY)
    assert doubt.meta["label"] is None and doubt.meta["label_original"] == "doubt"


def test_unmapped_labels_are_named_with_counts():
    with pytest.raises(ConfigError, match=r"'boredom' \(2 rows\)"):
        manifest_labels.apply(_refs("joy", "boredom", "Boredom"), "meld", DEFAULT_TAXONOMY)


def test_targets_outside_the_taxonomy_are_refused(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"map": {"joy": "elated"}}))
    with pytest.raises(ConfigError, match=r"targets \['elated'\] are not in annotate.taxonomy"):
        manifest_labels.apply(_refs("joy"), str(path), DEFAULT_TAXONOMY)


@pytest.mark.parametrize(
    ("text", "named"),
    [("not json", "not a readable JSON file"), ('{"map": {"a": 3}}', "expected")],
)
def test_bad_map_files_are_named(tmp_path, text, named):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=named):
        manifest_labels.load(str(path))
    with pytest.raises(ConfigError, match="packaged: cremad, meld, merr9"):
        manifest_labels.load("no-such-map")


def _manifest(tmp_path, labels):
    clips = make_clips(tmp_path / "media", len(labels))
    rows = ["path,label"] + [
        f"{p},{lab}" for p, lab in zip(sorted(clips.iterdir()), labels, strict=True)
    ]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "m.csv"


@pytest.mark.slow
def test_a_run_indexes_run_labels(tmp_path):
    manifest = _manifest(tmp_path, ["joy", "anger"])
    out = tmp_path / "out"
    run_cli("run", "--input", str(manifest), "--output", str(out), *QUICK,
            "--set", "ingest.label_map=meld")  # fmt: skip
    rows = stats.query(str(out), "select label, source_meta from idx order by label")
    assert [r["label"] for r in rows] == ["angry", "happy"]
    assert [json.loads(r["source_meta"])["label_original"] for r in rows] == ["anger", "joy"]


@pytest.mark.slow
def test_a_run_with_unmapped_labels_stops_before_any_work(tmp_path):
    manifest = _manifest(tmp_path, ["joy", "boredom"])
    out = tmp_path / "out"
    proc = run_cli("run", "--input", str(manifest), "--output", str(out), *QUICK,
                   "--set", "ingest.label_map=meld", check=False)  # fmt: skip
    assert proc.returncode != 0
    assert "does not map the manifest labels 'boredom' (1 row)" in proc.stderr
    assert not (out / "shards").exists() or not any((out / "shards").iterdir())
