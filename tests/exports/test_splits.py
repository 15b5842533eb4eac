"""Splits: whole sources and whole people per split, per-split files in every format, a leakage
check that reads the written release (and does catch a leak), and the loader's ``split=``."""

from __future__ import annotations

import json
from collections import defaultdict

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from emodata import stats
from emodata.exports import splits
from emodata.exports.plan import ReleaseOptions
from emodata.loader import dataset
from emodata.review.export import export
from emodata.review.media import load_sample
from tests.conftest import run_cli

RATIOS = "train=0.7,val=0.15,test=0.15"


@pytest.fixture(scope="module")
def split_release(people_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("rel") / "release"
    opts = ReleaseOptions.parse("webdataset,swift,llava,sharegpt,merr,emer", RATIOS, seed=0)
    return out, export(str(people_run), str(out), options=opts)


def _rows(release) -> list[dict]:
    return stats.query(str(release), "select * from idx order by key")


def test_no_source_or_person_in_two_splits(split_release):
    out, res = split_release
    rows = _rows(out)
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    want = {s: sum(r["split"] == s for r in rows) for s in ("train", "val", "test")}
    assert list(res.splits.items()) == list(want.items())  # in the order of --split
    where: dict[str, set] = defaultdict(set)
    persons = set()
    for r in rows:
        where[f"source:{r['source_id']}"].add(r["split"])
        doc = load_sample(str(out), r).doc
        assert doc["release"]["split"] == r["split"]
        clusters = doc["release"].get("identity_clusters", [])  # [] pruned
        assert json.loads(r["identity_clusters"]) == clusters
        person = (doc.get("extra") or {}).get("synth_person")  # the synthetic ground truth
        if person is not None:
            where[f"person:{person}"].add(r["split"])
            persons.add(person)
    assert all(len(s) == 1 for s in where.values()), where
    assert res.checks["identity_clusters"] == len(persons)
    assert res.checks["leakage"] == {
        "samples": 0,
        "sources": 0,
        "identities": 0,
        "near_dup_groups": 0,
    }
    # the ratios are met as closely as whole people allow
    assert 0.45 < res.splits["train"] / len(rows) < 0.9 and res.splits["val"] > 0
    # shards and index fragments are per split
    for r in rows:
        assert r["shard"].endswith(f"-{r['split']}.tar")
    card = (out / "README.md").read_text()
    assert "## Splits" in card and "more than one split: none" in card
    assert f"Identity clusters: **{len(persons)}**" in card
    assert "| label | train | val | test |" in card  # labels per split


def test_every_format_is_split_the_same_way(split_release):
    out, res = split_release
    keys = defaultdict(set)
    for r in _rows(out):
        keys[r["split"]].add(r["key"])
    for split, want in keys.items():
        llava = json.loads((out / "llava" / f"{split}.json").read_text())
        assert {i["id"] for i in llava} == want
        assert all(i["video"] == f"media/{i['id']}.mp4" for i in llava)
        lines = (out / "swift" / split / "emotion.jsonl").read_text().splitlines()
        swift = [json.loads(line) for line in lines]
        assert {x["id"] for x in swift} == want
        assert all(x["videos"] == [f"media/{x['id']}.mp4"] for x in swift)
        merr = json.loads((out / "merr" / split / "MERR_fine_grained.json").read_text())
        assert set(merr) == want
        assert len((out / "emer" / f"{split}.csv").read_text().splitlines()) == len(want) + 1
        assert len(json.loads((out / "sharegpt" / f"{split}.json").read_text())) == len(want)
        assert res.formats["llava"][f"samples_{split}"] == len(want)
    info = json.loads((out / "sharegpt" / "dataset_info.json").read_text())
    assert set(info) == {f"emodata_{s}" for s in keys}
    assert info["emodata_val"]["file_name"] == "val.json"


def test_loader_reads_one_split(split_release):
    out, _ = split_release
    want = {r["key"] for r in _rows(out) if r["split"] == "val"}
    got = {s["key"] for s in dataset(str(out), split="val")}
    assert got == want
    some = {s["key"] for s in dataset(str(out), "duration_s > 0", split="test")}
    assert some and not some & want


def test_loader_split_needs_a_split_release(people_run):
    with pytest.raises(ValueError, match="has no splits"):
        dataset(str(people_run), split="train")


def test_seeds_change_the_assignment_reproducibly(people_run, tmp_path):
    def assignment(seed: int, name: str) -> dict[str, str]:
        opts = ReleaseOptions.parse(None, RATIOS, seed=seed, critic_rejected=True)
        export(str(people_run), str(tmp_path / name), options=opts)
        return {r["key"]: r["split"] for r in _rows(tmp_path / name)}

    a, b, c = assignment(0, "a"), assignment(0, "b"), assignment(7, "c")
    assert a == b and a != c


def test_assign_keeps_units_whole_and_near_the_ratios():
    unit_of = np.repeat(np.arange(100), 3)
    got = splits.assign(unit_of, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=1)
    per_unit = defaultdict(set)
    for u, s in zip(unit_of, got, strict=True):
        per_unit[int(u)].add(s)
    assert all(len(s) == 1 for s in per_unit.values())
    assert [got.count(s) for s in ("train", "val", "test")] == [240, 30, 30]


def test_leakage_check_catches_a_leak():
    con = duckdb.connect()
    rows = [
        {"key": "a", "split": "train", "source_id": "s1", "identity_clusters": "[1]"},
        {"key": "b", "split": "val", "source_id": "s2", "identity_clusters": "[1, 2]"},
        {"key": "c", "split": "val", "source_id": "s1", "identity_clusters": None},
        {"key": "d", "split": "test", "source_id": "s3", "identity_clusters": "[3]"},
    ]
    con.register("idx", pa.Table.from_pylist(rows))
    leaks = splits.leakage(con)
    assert leaks == {"samples": 3, "sources": 1, "identities": 1, "near_dup_groups": 0}


@pytest.mark.parametrize(
    "text, message",
    [
        ("train=0.8,val=0.1", "must sum to 1"),
        ("Train=1", "not a split name"),
        ("train=x", "not NAME=RATIO"),
        ("train=0.5,train=0.5", "each name once"),
    ],
)
def test_bad_split_specs(text, message):
    with pytest.raises(ValueError, match=message):
        splits.parse_split(text)


@pytest.mark.slow
def test_cli_split_json_and_errors(people_run, tmp_path):
    proc = run_cli("export", str(people_run), "--out", str(tmp_path / "r"), "--split", RATIOS,
                   "--set", "identity.dlib_max_distance=0.5", "--json")  # fmt: skip
    out = json.loads(proc.stdout)
    assert sum(out["splits"].values()) == out["counts"]["exported"]
    assert out["checks"]["leakage"]["samples"] == 0 and out["checks"]["identity_clusters"] > 0
    bad = run_cli("export", str(people_run), "--out", str(tmp_path / "b"), "--set",
                  "identity.dlib_max=1", check=False)  # fmt: skip
    assert bad.returncode == 1 and "identity.dlib_max" in bad.stderr
    bad = run_cli("export", str(people_run), "--out", str(tmp_path / "b"), "--split", "a=2",
                  check=False)  # fmt: skip
    assert bad.returncode == 1 and "--split" in bad.stderr


def test_a_split_the_units_cannot_fill_is_reported_not_hidden():
    from emodata.exports.card import off_target, summary_line

    per_split = {"train": 15, "val": 5, "test": 0}
    ratios = {"train": 0.7, "val": 0.2, "test": 0.1}
    off = off_target(per_split, ratios)
    assert off == {"test": {"share": 0.0, "target": 0.1}}
    text = summary_line(per_split, {"units": 3, "leakage": {"samples": 0}, "off_target": off})
    assert "splits: train 15, val 5, test 0" in text
    assert "warning: split test holds 0% of the samples (asked 10%): 3 units" in text
    assert off_target({"train": 80, "test": 20}, {"train": 0.8, "test": 0.2}) == {}


def test_an_empty_split_is_left_out_of_the_hub_configs(tmp_path):
    import yaml

    from emodata.exports.plan import ReleaseOptions
    from emodata.review.export import export
    from emodata.review.store import ReviewStore, store_path
    from emodata.review.synth import SynthSpec, make_run

    run = tmp_path / "run"
    make_run(str(run), SynthSpec(samples=12, shard_samples=16, people=3, clips_per_source=2))
    ReviewStore(store_path(str(run))).close()
    out = tmp_path / "rel"
    result = export(str(run), str(out), options=ReleaseOptions.parse("webdataset", "a=0.9,b=0.1"))
    empty = [s for s, n in result.splits.items() if n == 0]
    assert empty == ["b"] and set(result.checks["off_target"]) >= {"b"}
    assert "warning: split b holds 0%" in result.render()
    meta = yaml.safe_load((out / "README.md").read_text().split("---\n", 2)[1])
    default = next(c for c in meta["configs"] if c["config_name"] == "default")
    assert [f["split"] for f in default["data_files"]] == ["a"]
