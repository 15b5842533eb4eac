"""Export: corrections land in the release (index and shard JSON), rejected samples do not."""

from __future__ import annotations

import json
import tarfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from emodata import stats
from emodata.exports.plan import ReleaseOptions
from emodata.review.export import ExportError, export
from emodata.review.media import load_sample
from tests.conftest import run_cli


def _keys(run_dir) -> list[str]:
    return [r["key"] for r in stats.query(str(run_dir), "select key from idx order by key")]


def _release_rows(release) -> dict[str, dict]:
    """Rows of the release index, read as plain Parquet (the ``review`` column included)."""
    files = sorted((release / "index").glob("*.parquet"))
    rows = pa.concat_tables([pq.read_table(f) for f in files]).to_pylist() if files else []
    return {r["key"]: r for r in rows}


def _json_from_tar(release, row) -> dict:
    with tarfile.open(release / "shards" / row["shard"]) as tar:
        return json.load(tar.extractfile(f"{row['key']}.json"))


def _annotated(run_dir) -> list[dict]:
    return stats.query(
        str(run_dir), "select * from idx where emotion_label is not null order by key"
    )


def test_release_applies_corrections_and_drops_rejected(run_dir, store, tmp_path):
    rows = _annotated(run_dir)
    fixed, rejected, accepted = rows[0], rows[1], rows[2]
    store.submit(
        fixed["key"],
        "alice",
        "correct",
        sample_version="v",
        edits={
            "label": "sad" if fixed["emotion_label"] != "sad" else "fear",
            "valence": -0.75,
            "caption": "A reviewer's caption.",
            "qa": {"1": "reviewed answer"},
            "rationale": [{"claim": "reviewed claim", "cues": ["c1"]}],
        },
    )
    store.submit(rejected["key"], "alice", "reject", reason="no face", sample_version="v")
    store.submit(accepted["key"], "bob", "accept", sample_version="v")
    release = tmp_path / "release"
    result = export(str(run_dir), str(release))
    reviewed = {fixed["key"], rejected["key"], accepted["key"]}
    critic = _critic_rejected(run_dir) - reviewed
    assert critic, "the synthetic run has trees the critic rejected"
    assert result.counts["exported"] == 59 - len(critic)
    assert result.counts["excluded_rejected"] == 1
    assert result.counts["excluded_critic_rejected"] == len(critic)

    out = _release_rows(release)
    assert rejected["key"] not in out
    assert set(out) == set(_keys(run_dir)) - {rejected["key"]} - critic
    new = out[fixed["key"]]
    assert (
        new["emotion_label"] in ("sad", "fear") and new["emotion_label"] != fixed["emotion_label"]
    )
    assert new["valence"] == -0.75 and new["caption"] == "A reviewer's caption."
    review = json.loads(new["review"])
    assert review["status"] == "corrected" and review["reviewers"] == ["alice"]
    assert review["original"]["label"] == fixed["emotion_label"]
    assert review["original"]["valence"] == fixed["valence"]
    assert review["original"]["caption"] == fixed["caption"]
    # the shard's JSON member carries the same corrections, and the offsets in the index are real
    for doc in (_json_from_tar(release, new), load_sample(str(release), new).doc):
        tree = doc["annotation"]
        assert tree["emotion"]["label"] == new["emotion_label"]
        assert tree["emotion"]["valence"] == -0.75
        assert tree["caption"] == "A reviewer's caption."
        assert tree["qa"][1]["answer"] == "reviewed answer"
        assert tree["rationale"] == [{"claim": "reviewed claim", "cues": ["c1"]}]
        assert doc["release"]["review"]["original"]["qa"] == {"1": fixed["emotion_label"]}
        assert doc["source"]["meta"]["source_dataset"] == fixed["source_dataset"]
    assert json.loads(out[accepted["key"]]["review"])["status"] == "accepted"
    unreviewed = out[next(r["key"] for r in rows[3:] if r["key"] not in critic)]
    assert unreviewed["review"] is None
    assert unreviewed["emotion_label"] == next(
        r["emotion_label"] for r in rows if r["key"] == unreviewed["key"]
    )
    # media bytes pass through untouched
    src = load_sample(str(run_dir), fixed)
    assert load_sample(str(release), new).mp4 == src.mp4
    card = (release / "README.md").read_text()
    assert "## Human review" in card and "1 rejected" in card
    assert f"{len(critic)} unreviewed with a tree the critic rejected" in card
    assert f"{59 - len(critic)} clips" in card
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["release"]["counts"]["exported"] == 59 - len(critic)
    assert not list(tmp_path.glob(".release*")), "the temporary folder is renamed away"


def _critic_rejected(run_dir) -> set[str]:
    query = "select key from idx where critic_verdict = 'rejected'"
    return {r["key"] for r in stats.query(str(run_dir), query)}


def test_critic_rejected_trees_ship_only_when_kept_or_asked(run_dir, store, tmp_path):
    critic = sorted(_critic_rejected(run_dir))
    kept, dropped = critic[0], critic[1]
    store.submit(kept, "alice", "accept", sample_version="v")  # a reviewer overrides the critic
    export(str(run_dir), str(tmp_path / "r1"))
    out = _release_rows(tmp_path / "r1")
    assert kept in out and dropped not in out
    assert not set(critic[1:]) & set(out)

    options = ReleaseOptions(critic_rejected=True)
    result = export(str(run_dir), str(tmp_path / "r2"), options=options)
    assert result.counts["excluded_critic_rejected"] == 0
    assert set(critic) <= set(_release_rows(tmp_path / "r2"))


def test_reviewed_only_and_min_agreement(run_dir, store, tmp_path):
    rows = _annotated(run_dir)
    a, b, c = rows[0]["key"], rows[1]["key"], rows[2]["key"]
    for who in ("alice", "bob"):
        store.submit(a, who, "accept", sample_version="v")  # two reviewers agree
    store.submit(b, "alice", "accept", sample_version="v")
    store.submit(b, "bob", "correct", sample_version="v", edits={"label": "neutral"})
    store.submit(b, "carol", "accept", sample_version="v")  # 2 of 3 agree: 1/3 of pairs
    store.submit(c, "alice", "accept", sample_version="v")  # one reviewer: no agreement
    rel = tmp_path / "reviewed"
    res = export(str(run_dir), str(rel), reviewed_only=True)
    assert set(_release_rows(rel)) == {a, b, c}
    assert res.counts["excluded_unreviewed"] == 57
    strict = tmp_path / "strict"
    res = export(str(run_dir), str(strict), reviewed_only=True, min_agreement=0.5)
    assert set(_release_rows(strict)) == {a}
    assert res.counts["excluded_below_min_agreement"] == 2
    # a majority keeps b; the label goes with the majority (the model's)
    assert _release_rows(rel)[b]["emotion_label"] == rows[1]["emotion_label"]


def test_unresolved_conflict_stays_out(run_dir, store, tmp_path):
    key = _annotated(run_dir)[0]["key"]
    store.submit(key, "alice", "accept", sample_version="v")
    store.submit(key, "bob", "reject", reason="wrong person", sample_version="v")
    res = export(str(run_dir), str(tmp_path / "rel"))
    assert key not in _release_rows(tmp_path / "rel")
    assert res.counts["excluded_unresolved_conflict"] == 1


def test_refuses_existing_release_and_bad_threshold(run_dir, store, tmp_path):
    store.submit(_keys(run_dir)[0], "alice", "accept", sample_version="v")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("keep me")
    with pytest.raises(ExportError, match="not empty"):
        export(str(run_dir), str(taken))
    assert (taken / "x").read_text() == "keep me"
    with pytest.raises(ExportError, match="min-agreement"):
        export(str(run_dir), str(tmp_path / "r"), min_agreement=2)


def test_no_store_means_nothing_reviewed(run_dir, tmp_path):
    with pytest.raises(ExportError, match="no review store"):
        export(str(run_dir), str(tmp_path / "r"))


@pytest.mark.slow
def test_export_cli_and_release_is_a_loadable_run(run_dir, store, tmp_path):
    keys = _keys(run_dir)
    store.submit(keys[0], "alice", "reject", reason="duplicate", sample_version="v")
    release = tmp_path / "rel"
    proc = run_cli("export", str(run_dir), "--out", str(release), "--reviewed-only", "--json")
    counts = json.loads(proc.stdout)["counts"]
    assert counts == {"excluded_rejected": 1, "excluded_unreviewed": 59}
    # stats over an empty release still work
    assert stats.summary(str(release))["clips"]["clips"] == 0
    args = ("export", str(run_dir), "--out", str(tmp_path / "all"), "--include-critic-rejected")
    proc = run_cli(*args)
    assert "59 samples exported" in proc.stdout
    rows = _release_rows(tmp_path / "all")
    assert keys[0] not in rows
    # the release is a run folder like any other: the status command reads it
    status = run_cli("status", str(tmp_path / "all"))
    assert "59 clips" in status.stdout
