"""Item 10 of issue 13: names read from the index are confined to the run's folders.

Before the fix, an index row's ``shard`` column was joined to ``DIR/shards/`` as it was: a row
with ``shard = "../../secret.txt"`` (and member offsets into that file) made the review app
read and show that file (serving it under ``/media``), ``emodata export`` copied it into the
release as a sample, and the loader handed ``DIR/shards/../../secret.txt`` to WebDataset. A
sample key like ``../../evil`` would likewise have named ``RELEASE/media/../../evil.mp4``.
Now every such name, local or on an object store, goes through :func:`emodata.layout.inside`;
a bad row is reported (an error box naming the key; the export leaves the sample out and
counts it; the loader leaves it out and logs it) and the file outside is never opened, which
an audit hook on ``open`` proves.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from emodata import layout, loader, stats
from emodata.balanced import BalancedSamples
from emodata.exports.plan import ReleaseOptions
from emodata.review.export import export
from emodata.review.media import load_sample
from emodata.review.store import ReviewStore, store_path
from emodata.review.synth import SynthSpec, make_run
from emodata.verify import verify
from tests import test_s3 as s3_server
from tests.conftest import ROOT, run_cli

s3_env = s3_server.s3_env  # moto's S3 server, a module fixture
SECRET = b'{"secret": "TOP SECRET"}'
APP = str(ROOT / "annotator_ui" / "app.py")

_opened: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _opened is not None and isinstance(args[0], str | bytes | Path):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # audit hooks cannot be removed: this one records only inside opened()


@pytest.fixture
def opened() -> Iterator[list[str]]:
    """Every path this process opens while the test runs."""
    global _opened
    _opened = []
    try:
        yield _opened
    finally:
        _opened = None


def _tamper(index: Path, edit) -> None:
    rows = pq.read_table(index).to_pylist()
    edit(rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(index)), index)


@pytest.fixture(scope="module")
def tampered(tmp_path_factory) -> dict:
    """A run whose index names a file outside ``shards/`` in one row (with offsets into it) and
    has a key that leads out of a folder in another; the secret file sits next to the run."""
    run = tmp_path_factory.mktemp("paths") / "run"
    make_run(str(run), SynthSpec(samples=8, shard_samples=8))
    secret = run.parent / "secret.txt"
    secret.write_bytes(SECRET)
    index = sorted((run / layout.INDEX).glob("*.parquet"))[0]
    keys = {}

    def edit(rows: list[dict]) -> None:
        bad_shard, bad_key = rows[0], rows[1]
        keys["shard"] = bad_shard["key"]
        bad_shard["shard"] = "../../secret.txt"
        bad_shard["shard_members"] = json.dumps({f"{bad_shard['key']}.json": [0, len(SECRET)]})
        old = bad_key["key"]
        keys["key"] = bad_key["key"] = "../../evil"
        members = json.loads(bad_key["shard_members"])
        bad_key["shard_members"] = json.dumps(
            {"../../evil" + n.removeprefix(old): v for n, v in members.items()}
        )

    _tamper(index, edit)
    ReviewStore(store_path(str(run))).close()
    return {"run": run, "secret": str(secret), "bad_shard": keys["shard"], "bad_key": keys["key"]}


def test_names_that_leave_the_folder_are_refused(tmp_path):
    shards = tmp_path / "run" / "shards"
    shards.mkdir(parents=True)
    (tmp_path / "outside.tar").write_bytes(b"x")
    (shards / "link.tar").symlink_to(tmp_path / "outside.tar")
    local = fsspec.filesystem("file")
    root = str(tmp_path / "run")
    assert layout.shard_path(local, root, "shard-000001.tar") == str(shards / "shard-000001.tar")
    for bad in ("../../secret.txt", "../outside.tar", "/etc/passwd", "link.tar", "", ".", None):
        with pytest.raises(layout.UnsafePath):
            layout.shard_path(local, root, bad)
    # object stores: the stripped path, normalised with posixpath
    s3 = fsspec.filesystem("memory")
    inside = layout.shard_path(s3, "bucket/run", "a/../shard-1.tar")
    assert inside == "bucket/run/shards/shard-1.tar"
    for bad in ("../../secret.txt", "../shards-other/x.tar", "/bucket/run/shards/x", "x/../.."):
        with pytest.raises(layout.UnsafePath, match="leads outside bucket/run/shards"):
            layout.shard_path(s3, "bucket/run", bad)


def test_review_app_names_the_row_and_never_opens_the_file(tampered, monkeypatch, opened):
    monkeypatch.setenv("EMODATA_REVIEW_DIR", str(tampered["run"]))
    monkeypatch.delenv("EMODATA_REVIEW_TOKEN", raising=False)
    monkeypatch.delenv("EMODATA_REVIEW_STORE", raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.query_params["key"] = tampered["bad_shard"]
    at.switch_page("views/sample.py").run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and tampered["bad_shard"] in errors[0], errors
    assert "leads outside the run's shards/ folder" in errors[0]
    assert "TOP SECRET" not in str([m.value for m in at.markdown]) and not at.get("video")
    assert tampered["secret"] not in opened


def test_export_leaves_the_sample_out_counts_it_and_never_opens_the_file(
    tampered, tmp_path, opened, caplog
):
    release = tmp_path / "release"
    with caplog.at_level(logging.WARNING):
        result = export(
            str(tampered["run"]), str(release), options=ReleaseOptions.parse("webdataset,llava")
        )
    assert tampered["secret"] not in opened
    assert result.counts["excluded_unsafe_path"] == 2
    assert result.counts["exported"] + result.counts["excluded_no_annotation"] == 6
    assert "2 unsafe_path" in result.render().split("left out: ")[1]
    assert "2 whose index row names a path outside the run" in (release / "README.md").read_text()
    assert tampered["bad_shard"] in caplog.text and "'../../evil'" in caplog.text
    released = {r["key"] for r in stats.query(str(release), "select key from idx")}
    assert tampered["bad_shard"] not in released and "../../evil" not in released
    everything = b"".join(p.read_bytes() for p in release.rglob("*") if p.is_file())
    assert b"TOP SECRET" not in everything and b"evil" not in everything
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release"]  # nothing written beside


@pytest.mark.slow
def test_export_cli_prints_the_reason(tampered, tmp_path):
    proc = run_cli("export", str(tampered["run"]), "--out", str(tmp_path / "release"))
    assert "2 unsafe_path" in proc.stdout.split("left out: ")[1]
    assert "leads outside" in proc.stderr and tampered["bad_shard"] in proc.stderr


def test_loader_leaves_the_row_out(tampered, opened, caplog):
    run = str(tampered["run"])
    with caplog.at_level(logging.WARNING):
        urls, keys = loader.select(run)
        balanced = BalancedSamples(run, loader.select_sql(None), "source_dataset",
                                   to_sample=loader.to_sample)  # fmt: skip
    assert tampered["bad_shard"] not in keys and len(keys) == 7
    assert all(u.startswith(str(Path(run, "shards").resolve())) for u in urls), urls
    drawn = {r["key"] for rows in balanced.rows.values() for r in rows}
    assert tampered["bad_shard"] not in drawn and len(drawn) == 7
    assert [balanced[i]["key"] for i in range(len(balanced))]  # every draw reads a real shard
    assert caplog.text.count(tampered["bad_shard"]) == 2
    assert tampered["secret"] not in opened


def test_verify_names_the_row(tampered, opened):
    report = verify(str(tampered["run"]))
    assert any("'../../secret.txt'" in line for line in report.lines()), report.lines()
    assert tampered["secret"] not in opened


@pytest.mark.slow
def test_object_store_run_confines_its_shards_too(s3_env, tmp_path):
    """The same tampering on S3 (moto's server): the normalised path must stay under the root."""
    fs = fsspec.filesystem("s3")
    fs.mkdir("paths-bucket")
    run = "s3://paths-bucket/runs/run"
    make_run(run, SynthSpec(samples=4, shard_samples=4))
    fs.pipe("paths-bucket/runs/secret.txt", SECRET)
    index = tmp_path / "index.parquet"
    name = fs.ls("paths-bucket/runs/run/index")[0]
    fs.get(name, str(index))
    bad = {}

    def edit(rows: list[dict]) -> None:
        bad["key"] = rows[0]["key"]
        rows[0]["shard"] = "../../secret.txt"
        rows[0]["shard_members"] = json.dumps({f"{rows[0]['key']}.json": [0, len(SECRET)]})

    _tamper(index, edit)
    fs.put(str(index), name)
    urls, keys = loader.select(run)
    assert bad["key"] not in keys and len(keys) == 3
    assert urls and all(u.startswith("s3://paths-bucket/runs/run/shards/") for u in urls), urls
    assert len([s for s in loader.dataset(run)]) == 3
    row = stats.query(run, f"select * from idx where key = '{bad['key']}'")[0]
    with pytest.raises(layout.UnsafePath, match="leads outside paths-bucket/runs/run/shards"):
        load_sample(run, row)
