"""Hugging Face: the card's front matter, every release sample read through the steps of
``datasets``' webdataset builder (tests/exports/hf_webdataset.py), the nested images of a
release sample read back by the loader, the review app and ``emodata verify``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from emodata import stats
from emodata.exports.hub import license_id, size_category
from emodata.exports.plan import ReleaseOptions
from emodata.loader import dataset
from emodata.review.export import export
from emodata.review.media import load_sample
from emodata.review.store import ReviewStore, store_path
from emodata.review.synth import SynthSpec, make_run
from emodata.verify import verify
from tests.exports import hf_webdataset

ALL = "webdataset,swift,llava,sharegpt,merr,emer"


def _front_matter(release: Path) -> dict:
    text = (release / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def _data_files(release: Path, config: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for entry in config["data_files"]:
        out.setdefault(entry["split"], []).extend(
            str(p) for p in sorted(release.glob(entry["path"]))
        )
    return out


@pytest.fixture(scope="module")
def split_release(people_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hub") / "release"
    opts = ReleaseOptions.parse(ALL, "train=0.8,test=0.2")
    export(str(people_run), str(out), options=opts)
    return out


def test_front_matter_names_every_split_and_format(split_release):
    meta = _front_matter(split_release)
    assert meta["license"] == "other"  # the synthetic sources carry three licences
    assert meta["size_categories"] == ["n<1K"]
    assert "video-classification" in meta["task_categories"]
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert set(configs) == {
        "default", "llava", "sharegpt", "emer",
        *(f"swift_{k}" for k in ("attribute", "caption", "emotion", "qa", "rationale")),
    }  # fmt: skip
    assert configs["default"]["data_files"] == [
        {"split": "train", "path": "shards/*-train.tar"},
        {"split": "test", "path": "shards/*-test.tar"},
    ]
    for name, config in configs.items():
        for split, files in _data_files(split_release, config).items():
            assert files, (name, split)
    assert configs["llava"]["data_files"] == [  # in the order of --split
        {"split": "train", "path": "llava/train.json"},
        {"split": "test", "path": "llava/test.json"},
    ]
    rows = _data_files(split_release, configs["emer"])["train"]
    with open(rows[0], newline="") as f:
        assert next(csv.reader(f)) == ["name", "subtitle", "reason", "openset"]


def test_datasets_reads_every_sample_of_every_split(split_release):
    config = next(c for c in _front_matter(split_release)["configs"] if c["default"] is True)
    tables = hf_webdataset.load(_data_files(split_release, config))
    rows = stats.query(str(split_release), "select key, split from idx")
    for split in ("train", "test"):
        want = sorted(r["key"] for r in rows if r["split"] == split)
        assert sorted(tables[split].column("__key__").to_pylist()) == want
    table = tables["train"]
    assert set(table.column_names) == {"__key__", "__url__", "json", "mp4", "wav", "images.tar"}
    first = table.slice(0, 1).to_pylist()[0]
    doc = load_sample(str(split_release), {**next(
        r for r in stats.query(str(split_release), "select * from idx")
        if r["key"] == first["__key__"]
    )}).doc  # fmt: skip
    assert first["json"]["release"]["split"] == doc["release"]["split"] == "train"
    assert first["json"]["key"] == doc["key"]
    assert first["mp4"][4:8] == b"ftyp"


def test_a_reviewed_release_loads_too(reviewed, tmp_path):
    """Review provenance on some samples only, critic reasons on some: nothing trips the
    inference of the json column (its null and empty values are left out of the file)."""
    out = tmp_path / "rel"
    export(str(reviewed["run"]), str(out))
    config = _front_matter(out)["configs"][0]
    assert config["data_files"] == [{"split": "train", "path": "shards/*.tar"}]
    table = hf_webdataset.load(_data_files(out, config))["train"]
    assert table.num_rows == 59 - len(reviewed["critic_rejected"])
    doc = next(r["json"] for r in table.to_pylist() if r["__key__"] == reviewed["fixed"])
    assert doc["annotation"]["emotion"]["label"] == reviewed["label"]


def test_release_json_drops_nulls_but_keeps_review_originals(reviewed, tmp_path):
    run = reviewed["run"]
    bare = stats.query(str(run), "select key from idx where qa_count is null order by key")
    store = ReviewStore(store_path(str(run)))
    store.submit(bare[0]["key"], "carol", "correct", sample_version="v", edits={"label": "happy"})
    store.close()
    out = tmp_path / "rel"
    export(str(run), str(out))
    rows = {r["key"]: r for r in stats.query(str(out), "select * from idx")}
    doc = load_sample(str(out), rows[bare[0]["key"]]).doc
    assert rows[bare[0]["key"]]["emotion_label"] == "happy"
    review = doc["release"]["review"]
    assert review["original"] == {"label": None}  # null: the model had no label
    assert review["corrected"] == {"label": "happy"}
    other = load_sample(str(out), rows[bare[1]["key"]]).doc
    assert "release" not in other and "annotation" not in other  # absent: null or empty
    assert rows[bare[1]["key"]]["review"] is None  # the index keeps its nulls


def test_a_run_s_own_shards_would_not_load(synth_run):
    """Samples with and without face crops among the first five: datasets refuses them."""
    shards = sorted(str(p) for p in (synth_run / "shards").glob("*.tar"))
    with pytest.raises(ValueError, match="don't share the same prefix"):
        hf_webdataset.load({"train": shards})


@pytest.fixture(scope="module")
def framed(tmp_path_factory) -> tuple[Path, Path]:
    """A run whose samples have 2 sampled frames each and, mostly, a face crop; its release."""
    base = tmp_path_factory.mktemp("framed")
    run, release = base / "run", base / "release"
    make_run(str(run), SynthSpec(samples=12, pool=3, frame_rate=2.0, wav_every=2))
    ReviewStore(store_path(str(run))).close()
    export(str(run), str(release), options=ReleaseOptions(critic_rejected=True))
    return run, release


def test_release_images_are_nested_and_still_addressable(framed):
    run, release = framed
    src = {r["key"]: r for r in stats.query(str(run), "select * from idx")}
    for s in dataset(str(release)):
        mine = load_sample(str(run), src[s["key"]])
        assert len(s["frames"]) == 2
        assert s["faces"] == list(mine.faces.values())
        if mine.wav is None:  # a video-only clip: an empty WAV keeps every sample's members
            assert s["audio"].size == 0 and not s["meta"]["source"]["has_audio"]
        else:
            assert s["audio"].size > 0
    for row in stats.query(str(release), "select * from idx"):
        assert load_sample(str(release), row).faces == load_sample(str(run), src[row["key"]]).faces
        names = json.loads(row["shard_members"])
        assert f"{row['key']}.frame001.jpg" in names and f"{row['key']}.images.tar" in names
    report = verify(str(release))
    assert report.ok, report.lines()
    tables = hf_webdataset.load({"train": sorted(str(p) for p in (release / "shards").glob("*"))})
    assert tables["train"].num_rows == 12


def test_licence_and_size_categories():
    assert license_id(["CC-BY-4.0", "cc-by-4.0"]) == "cc-by-4.0"
    assert license_id(["ODbL-1.0"]) == "odbl"
    assert license_id(["CC-BY-4.0", "(unknown)"]) == "other"
    assert license_id(["(unknown)"]) == license_id([]) == "unknown"
    assert license_id(["proprietary"]) == "other"
    assert [size_category(n) for n in (5, 1000, 99_999, 2_000_000)] == [
        "n<1K", "1K<n<10K", "10K<n<100K", "1M<n<10M"
    ]  # fmt: skip
