"""export --where: a DuckDB query over the run's index selects the release's samples."""

from __future__ import annotations

import json

import pytest

from emodata import stats
from emodata.exports.plan import ReleaseOptions
from emodata.review.export import ExportError, export
from tests.conftest import run_cli

WHERE = "critic_verdict is not null and face_tracks > 0 and asr_speech_ratio > 0.3"


def _keys(path) -> set[str]:
    return {r["key"] for r in stats.query(str(path), "select key from idx")}


def test_where_selects_and_is_recorded(reviewed, tmp_path):
    run, out = reviewed["run"], tmp_path / "rel"
    want = {r["key"] for r in stats.query(str(run), f"select key from idx where {WHERE}")}
    assert 0 < len(want) < 60
    res = export(str(run), str(out), options=ReleaseOptions.parse("webdataset,emer", where=WHERE))
    # the review still applies, and unreviewed trees the critic rejected stay out
    assert _keys(out) == want - {reviewed["rejected"]} - reviewed["critic_rejected"]
    assert res.counts["excluded_where"] == 60 - len(want)
    rows = stats.query(str(out), "select * from idx")
    assert rows and all(r["face_tracks"] > 0 and r["asr_speech_ratio"] > 0.3 for r in rows)
    emer = (out / "emer" / "emer.csv").read_text().splitlines()
    assert len(emer) == len(_keys(out)) + 1
    card = (out / "README.md").read_text()
    assert "## Selection" in card and WHERE in card
    assert json.loads((out / "manifest.json").read_text())["release"]["where"] == WHERE


def test_where_takes_a_select_of_keys(reviewed, tmp_path):
    run = reviewed["run"]
    query = "select key from idx order by duration_s desc, key limit 5"
    export(str(run), str(tmp_path / "r"), options=ReleaseOptions.parse(where=query))
    want = {r["key"] for r in stats.query(str(run), query)} - {reviewed["rejected"]}
    assert _keys(tmp_path / "r") == want - reviewed["critic_rejected"]


@pytest.mark.slow
def test_a_bad_query_is_named(reviewed, tmp_path):
    run = str(reviewed["run"])
    with pytest.raises(ExportError, match=r"--where 'no_such_column > 1' is not a valid query"):
        export(run, str(tmp_path / "r"), options=ReleaseOptions.parse(where="no_such_column > 1"))
    assert not (tmp_path / "r").exists()
    proc = run_cli("export", run, "--out", str(tmp_path / "r"), "--where", "duration_s >>> 2",
                   check=False)  # fmt: skip
    assert proc.returncode == 1 and "--where 'duration_s >>> 2'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_query_that_selects_nothing_gives_an_empty_release(reviewed, tmp_path):
    opts = ReleaseOptions.parse("webdataset,llava", "train=0.5,test=0.5", labels="ekman7",
                                dedup="near", where="duration_s < 0")  # fmt: skip
    res = export(str(reviewed["run"]), str(tmp_path / "r"), options=opts)
    assert res.counts["exported"] == 0 and res.counts["excluded_where"] == 60
    assert res.splits == {} and _keys(tmp_path / "r") == set()
    assert "0 samples exported" in res.render()
