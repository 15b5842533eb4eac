"""Item 8: unreadable state files are named, set aside in ``_state/corrupt/`` and rebuilt.

Before: a truncated ``index/*.parquet`` fragment or ``_state/ingest.parquet`` stopped every later
run with Arrow's "Parquet magic bytes not found in footer" traceback, naming no file; garbage in
``manifest.json`` failed each run with a JSONDecodeError only after all its work was done.
"""

from __future__ import annotations

import json
import logging
import re

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from emodata import layout, report
from emodata.errors import Reason
from emodata.ingest_cache import IngestCache
from emodata.state import scan
from emodata.writer import LedgerBook, ShardWriter
from tests.conftest import run_cli
from tests.hostile.conftest import QUICK
from tests.hostile.test_shard_loss import _three_shards
from tests.test_writer import _item

_STAMPED = re.compile(r"^\d{8}T\d{6}Z-")


def _truncate(path, keep: int = 300) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def _corrupt_files(root) -> list[str]:
    return sorted(p.name for p in (root / layout.CORRUPT).iterdir())


def test_a_truncated_index_fragment_is_set_aside_and_its_shard_redone(tmp_path, caplog):
    names = _three_shards(tmp_path)
    frag = tmp_path / "index" / names[1].replace(".tar", ".parquet")
    _truncate(frag)
    with caplog.at_level(logging.WARNING):
        prior = scan(fsspec.filesystem("file"), str(tmp_path))
    assert f"{frag} is unreadable (Parquet magic bytes not found in footer)" in caplog.text
    assert f"the clips of {names[1]} are redone" in caplog.text
    (moved,) = _corrupt_files(tmp_path)
    assert _STAMPED.match(moved) and moved.endswith(f"-index-{frag.name}")
    assert prior.corrupt == [(str(frag), str(tmp_path / layout.CORRUPT / moved))]
    assert prior.total_done == 2 and prior.redo_shards == [names[1]]
    # the shard went the way of a lost shard's: kept aside, its clips planned again
    assert (tmp_path / layout.DROPPED / names[1]).exists()
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == [names[0], names[2]]


def test_stats_and_status_count_past_an_unreadable_index_fragment(tmp_path, caplog):
    from emodata import stats

    names = _three_shards(tmp_path)
    frag = tmp_path / "index" / names[1].replace(".tar", ".parquet")
    _truncate(frag)
    with caplog.at_level(logging.WARNING):
        assert stats.summary(str(tmp_path))["clips"]["clips"] == 2
    assert f"{frag} is unreadable (Parquet magic bytes not found in footer)" in caplog.text
    assert "the next `emodata run` into this folder sets it aside" in caplog.text
    res = run_cli("status", str(tmp_path))
    assert "2 clips" in res.stdout and "Traceback" not in res.stderr
    assert run_cli("stats", str(tmp_path)).returncode == 0
    assert frag.exists()  # reading never moves state; a run does


def test_verify_names_an_unreadable_index_fragment(tmp_path):
    names = _three_shards(tmp_path)
    frag = tmp_path / "index" / names[0].replace(".tar", ".parquet")
    _truncate(frag)
    res = run_cli("verify", str(tmp_path), check=False)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stdout.splitlines() == [
        f"{names[0]}: its index fragment is unreadable (Parquet magic bytes not found in footer); "
        f"the next run sets it aside and redoes its clips ({frag})",
        "2 shard(s), 2 clip(s) checked: 1 shard(s) broken, 0 orphan(s)",
    ]


def test_a_truncated_ledger_fragment_is_set_aside(tmp_path, caplog):
    fs = fsspec.filesystem("file")
    ledger = LedgerBook({}, "r")
    w = ShardWriter(fs, str(tmp_path), first_seq=0, max_bytes=10**7, max_samples=1,
                    include_frames=True, run_id="20260101T000000Z-abc123", config_fingerprint="f",
                    ledger=ledger)  # fmt: skip
    bad = _item(7)
    bad.fail("segment", Reason.FFMPEG_ERROR, "boom")
    w.add(bad)
    w.add(_item(1))
    w.close()
    (part,) = (tmp_path / "failures").iterdir()
    _truncate(part, 100)
    with caplog.at_level(logging.WARNING):
        prior = scan(fs, str(tmp_path))
    assert f"{part} is unreadable" in caplog.text and "its ledger rows are lost" in caplog.text
    assert prior.ledger == {} and prior.total_done == 1
    assert not list((tmp_path / "failures").iterdir())
    assert _corrupt_files(tmp_path)[0].endswith(f"-failures-{part.name}")


@pytest.mark.parametrize(
    "name", [layout.LEGACY_INGEST_CACHE, f"{layout.INGEST_CACHE}/part-x.parquet"]
)
def test_a_truncated_ingest_cache_is_set_aside_and_rebuilt(tmp_path, caplog, name):
    fs = fsspec.filesystem("file")
    cache = tmp_path / name
    cache.parent.mkdir(parents=True)
    pq.write_table(pa.table({"path": ["a"], "fp": ["1"], "record": ["{}"]}), cache)
    _truncate(cache, 40)
    with caplog.at_level(logging.WARNING):
        scan(fs, str(tmp_path))
    assert f"{cache} is unreadable" in caplog.text and "its inputs are probed again" in caplog.text
    left = IngestCache(fs, str(tmp_path))
    left.load(["a"])
    assert not cache.exists() and left.files == [] and left.rows == {}
    assert _corrupt_files(tmp_path)[0].endswith("-" + name.replace("/", "-"))


@pytest.mark.parametrize("garbage", ["garbage\n", "[1, 2]", '{"runs": "nope"}'])
def test_a_broken_manifest_is_set_aside_and_its_runs_rebuilt(tmp_path, caplog, garbage):
    fs = fsspec.filesystem("file")
    _three_shards(tmp_path)
    (tmp_path / layout.MANIFEST).write_text(garbage)
    run = {"run_id": "20260102T000000Z-new111", "started_at": "x", "ended_at": "y"}
    with caplog.at_level(logging.WARNING):
        if garbage.startswith('{"runs"'):  # parses: found when the run writes its manifest
            report.write_manifest(fs, str(tmp_path), run, {}, {})
        else:
            prior = scan(fs, str(tmp_path))
            assert prior.rebuilt_runs is not None
            report.write_manifest(fs, str(tmp_path), run, {}, {}, earlier=prior.rebuilt_runs)
    assert f"{tmp_path / layout.MANIFEST} is unreadable" in caplog.text
    runs = json.loads((tmp_path / layout.MANIFEST).read_text())["runs"]
    assert [(r["run_id"], r.get("rebuilt")) for r in runs] == [
        ("20260101T000000Z-abc123", True),  # the run that wrote the index
        ("20260102T000000Z-new111", None),
    ]
    assert _corrupt_files(tmp_path)[0].endswith("-manifest.json")


def test_stats_read_past_a_broken_manifest(tmp_path):
    _three_shards(tmp_path)
    (tmp_path / layout.MANIFEST).write_text("garbage")
    res = run_cli("stats", str(tmp_path))
    assert "Traceback" not in res.stderr and "manifest.json: Expecting value" in res.stderr


@pytest.mark.slow
def test_a_run_after_corruption_rebuilds_everything(tmp_path, clips):
    inputs = clips("in", 3)
    out = tmp_path / "out"
    args = ["run", "--input", str(inputs), "--output", str(out), *QUICK,
            "--set", "write.max_shard_samples=1"]  # fmt: skip
    run_cli(*args)
    frag = sorted((out / "index").iterdir())[1]
    _truncate(frag)
    (cache,) = (out / layout.INGEST_CACHE).iterdir()  # one window: one fragment
    _truncate(cache)
    (out / layout.MANIFEST).write_text("garbage")
    res = run_cli(*args)
    for path in (frag, cache, out / layout.MANIFEST):
        assert f"warning: {path} is unreadable" in res.stderr
    assert "1 clips written, 2 already done" in res.stdout
    assert len(_corrupt_files(out)) == 3
    assert run_cli("verify", str(out)).stdout.strip().endswith("3 shard(s), 3 clip(s) checked: OK")
    assert len(pq.read_table(out / "index").to_pylist()) == 3
    manifest = json.loads((out / layout.MANIFEST).read_text())
    assert len(manifest["runs"]) == 2 and manifest["runs"][0]["rebuilt"]
    assert "**3 clips**" in (out / "README.md").read_text()
    # a third run finds nothing to set aside and nothing to do
    res = run_cli(*args)
    assert "unreadable" not in res.stderr and "0 clips written, 3 already done" in res.stdout
