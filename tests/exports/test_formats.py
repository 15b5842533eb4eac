"""Every trainer format from one reviewed run: records valid against their schemas, the same
samples in every format as in the webdataset release, reviews applied, media paths that resolve."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from emodata import stats
from emodata.exports.answers import prompt, templates
from emodata.exports.plan import ReleaseOptions
from emodata.review.export import export
from emodata.review.media import load_sample
from emodata.schemas import load_json
from tests.conftest import run_cli

ALL = "webdataset,swift,llava,sharegpt,merr,emer"


def _validator(fmt: str) -> jsonschema.protocols.Validator:
    schema = load_json(f"exports/{fmt}.schema.json")
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _release_keys(release: Path) -> list[str]:
    files = sorted((release / "index").glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]).column("key").to_pylist()


def _media_resolves(folder: Path, rel: str) -> bool:
    """As the recipes open a relative path: joined to a folder (ms-swift's ROOT_IMAGE_DIR or
    working directory, LLaVA's --video_folder, LLaMA-Factory's media_dir)."""
    return not Path(rel).is_absolute() and (folder / rel).resolve().is_file()


@pytest.fixture
def release(reviewed, tmp_path) -> tuple[Path, dict, dict]:
    out = tmp_path / "release"
    res = export(str(reviewed["run"]), str(out), options=ReleaseOptions.parse(ALL))
    return out, res.as_dict(), reviewed


def test_every_format_validates_and_holds_the_same_samples(release):
    out, res, rev = release
    keys = _release_keys(out)
    n = len(keys)
    # samples without an annotation tree cannot be rendered: they leave every format
    assert res["counts"]["excluded_no_annotation"] == 60 - rev["annotated"]
    assert res["counts"]["excluded_rejected"] == 1
    critic = rev["critic_rejected"]
    assert res["counts"]["excluded_critic_rejected"] == len(critic) > 0
    assert n == rev["annotated"] - 1 - len(critic) == res["counts"]["exported"]
    assert rev["rejected"] not in keys and not critic & set(keys)

    swift = _validator("swift")
    swift_ids: dict[str, set[str]] = {}
    for path in sorted((out / "swift").glob("*.jsonl")):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        for line in lines:
            swift.validate(line)
            assert _media_resolves(out, line["videos"][0])
        swift_ids[path.stem] = {line["id"] for line in lines}
    assert set(swift_ids) == {"attribute", "caption", "emotion", "qa", "rationale"}
    assert swift_ids["emotion"] == set(keys)  # one emotion line per sample
    assert set().union(*swift_ids.values()) == set(keys)
    qa_lines = (out / "swift" / "qa.jsonl").read_text().splitlines()
    assert len(qa_lines) == 3 * n  # one line per QA pair (3 per synthetic tree)
    assert res["formats"]["swift"]["records_qa"] == 3 * n

    llava = json.loads((out / "llava" / "llava.json").read_text())
    v = _validator("llava")
    for item in llava:
        v.validate(item)
        roles = [t["from"] for t in item["conversations"]]
        assert roles == ["human", "gpt"] * (len(roles) // 2)
        assert _media_resolves(out, item["video"])
    assert [i["id"] for i in llava] == keys

    share = json.loads((out / "sharegpt" / "sharegpt.json").read_text())
    v = _validator("sharegpt")
    for item in share:
        v.validate(item)
        assert _media_resolves(out / "sharegpt", item["videos"][0])
    assert len(share) == n
    info = json.loads((out / "sharegpt" / "dataset_info.json").read_text())
    assert info["emodata"]["file_name"] == "sharegpt.json"
    assert info["emodata"]["formatting"] == "sharegpt"
    assert info["emodata"]["columns"] == {"messages": "conversations", "videos": "videos"}

    merr = json.loads((out / "merr" / "MERR_fine_grained.json").read_text())
    _validator("merr").validate(merr)
    assert list(merr) == keys
    txt = [x.split(" ") for x in (out / "merr" / "MERR_fine_grained.txt").read_text().splitlines()]
    assert [t[0] for t in txt] == keys
    assert all(int(t[1]) == 10 and t[2] == merr[t[0]]["pseu_emotion"] for t in txt)  # 1 s, 10 fps

    with (out / "emer" / "emer.csv").open(newline="") as f:
        emer = list(csv.DictReader(f))
    assert list(emer[0]) == ["name", "subtitle", "reason", "openset"]
    assert [r["name"] for r in emer] == keys
    for r in emer:
        terms = r["openset"].split(", ")
        assert terms[0] == merr[r["name"]]["pseu_emotion"] and len(terms) == len(set(terms))

    media = sorted(p.name for p in (out / "media").iterdir())
    assert media == sorted([f"{k}.mp4" for k in keys] + [f"{k}.wav" for k in keys])
    for name in ("swift", "llava", "sharegpt", "merr", "emer"):
        assert res["formats"][name]["samples"] == n, name


def test_reviews_reach_the_formats(release):
    out, _, rev = release
    key, label = rev["fixed"], rev["label"]
    llava = {i["id"]: i for i in json.loads((out / "llava" / "llava.json").read_text())}
    turns = [t["value"] for t in llava[key]["conversations"]]
    assert turns[1].startswith(f"{label} (valence ")  # emotion first
    assert turns[3].startswith("1. ") and turns[3].endswith(f"So the emotion is {label}.")
    assert turns[5] == "A reviewer's caption."  # caption after emotion and rationale
    assert "An adult." in turns  # the corrected QA answer
    merr = json.loads((out / "merr" / "MERR_fine_grained.json").read_text())[key]
    assert merr["pseu_emotion"] == label and merr["AU_list"] == [] == merr["peak_AU_list"]
    assert merr["smp_reason_caption"].startswith("A reviewer's caption. The face scores")
    assert merr["visual_prior_list"] and "median pitch" in merr["audio_prior_list"]


def test_merr_peak_index_is_the_main_face_s_strongest_expression(release):
    out, _, _ = release
    merr = json.loads((out / "merr" / "MERR_fine_grained.json").read_text())
    peaks = {}
    for row in stats.query(str(out), "select * from idx"):
        doc = load_sample(str(out), row).doc
        series = doc["cues"]["tracks"][0]["series"] if doc.get("cues") else []
        # FER order: angry, disgust, fear, happy, sad, surprise, neutral (the last is left out)
        best = max(series, key=lambda p: max(p["expression"][:6]), default={"t": 0.0})
        peaks[row["key"]] = round(best["t"] * row["fps"])
    assert {k: r["peak_index"] for k, r in merr.items()} == peaks
    assert len(set(peaks.values())) > 1


def test_prompts_come_from_templates_deterministically(release, reviewed, tmp_path):
    out, _, _ = release
    again = tmp_path / "again"
    export(str(reviewed["run"]), str(again), options=ReleaseOptions.parse("llava,swift"))
    for rel in ("llava/llava.json", "swift/emotion.jsonl", "swift/qa.jsonl"):
        assert (out / rel).read_bytes() == (again / rel).read_bytes(), rel
    lines = [json.loads(x) for x in (out / "swift" / "emotion.jsonl").read_text().splitlines()]
    asked = {line["messages"][0]["content"] for line in lines}
    assert len(asked) == len(templates("emotion")) > 1  # every variant in use
    assert all("happy, sad, angry" in a for a in asked)  # the run's taxonomy is named
    assert prompt("qa", "k", question="Why?") == "Why?"


@pytest.mark.slow
def test_cli_formats_and_unknown_format(reviewed, tmp_path):
    run = str(reviewed["run"])
    proc = run_cli("export", run, "--out", str(tmp_path / "r"), "--format", "emer,llava", "--json")
    formats = json.loads(proc.stdout)["formats"]
    assert set(formats) == {"emer", "llava", "media"}
    assert (tmp_path / "r" / "shards").is_dir()  # the webdataset release carries the index
    bad = run_cli(
        "export", run, "--out", str(tmp_path / "b"), "--format", "llava,bogus", check=False
    )
    assert bad.returncode == 1 and "bogus" in bad.stderr and "known: webdataset" in bad.stderr
    assert not (tmp_path / "b").exists()
