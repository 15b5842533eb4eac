from __future__ import annotations

import json

import fsspec
import pandas as pd
import pytest

from emodata.config import load_config
from emodata.validate import Checkpoints, write_report


@pytest.fixture(scope="module")
def checkpoints():
    return Checkpoints(load_config(overrides={"segment.max_clip_s": 10}).dump())


def _rows(**over):
    base = {
        "key": "0" * 32,
        "source_id": "s",
        "duration_s": 5.0,
        "video_bytes": 10,
        "width": 4,
        "height": 4,
        "start_s": 0.0,
    }
    base.update(over)
    return base


def test_row_level_failures_name_the_rows(checkpoints):
    frame = pd.DataFrame(
        [_rows(), _rows(duration_s=30.0), _rows(key="not-a-key"), _rows(video_bytes=0)]
    )
    bad = checkpoints.check_rows("write", frame)
    assert sorted(bad) == [1, 2, 3]
    assert "duration_s" in bad[1] and "30.0" in bad[1]
    assert "key" in bad[2]


def test_batch_level_catches_duplicate_keys(checkpoints, tmp_path):
    from emodata.schemas import index_schema

    cols = {name: [None, None] for name in index_schema().names}
    cols.update(
        key=["a" * 32, "a" * 32],
        source_id=["s", "s"],
        shard=["x", "x"],
        duration_s=[5.0, 5.0],
        end_s=[5.0, 5.0],
    )
    failures = checkpoints.check_batch("final", pd.DataFrame(cols))
    kinds = {f.expectation for f in failures}
    assert "expect_column_values_to_be_unique" in kinds
    write_report(failures, 2, fsspec.filesystem("file"), str(tmp_path))
    assert "expect_column_values_to_be_unique" in (tmp_path / "validation_report.md").read_text()
    assert json.loads((tmp_path / "validation_report.json").read_text())


def test_clean_batch_passes(checkpoints):
    from emodata.schemas import index_schema

    cols = {name: ["v"] for name in index_schema().names}
    cols.update(key=["a" * 32], duration_s=[5.0], end_s=[5.0])
    assert checkpoints.check_batch("final", pd.DataFrame(cols)) == []
