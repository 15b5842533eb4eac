"""A stage added in one file plus its suite (docs/examples, as docs/extending.md describes),
registered by naming its module in ``plugins``: config section, order, index column, row checks,
and a real run through Ray with it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile

import pyarrow.parquet as pq
import pytest

from emodata.config import load_config
from emodata.errors import ConfigError, Reason
from emodata.stages import registry
from emodata.stages.write import RowChecks, WriteStage, WriteTarget, number_clips
from tests.conftest import EMODATA, ROOT, hold_lease
from tests.test_writer import _item

EXAMPLES = ROOT / "docs" / "examples"


@pytest.fixture(autouse=True)
def _examples_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))


def test_unknown_sections_and_fields_are_named():
    with pytest.raises(ConfigError, match=r"sharpness: unknown section .*plugins"):
        load_config(overrides={"sharpness.min_variance": 3})
    with pytest.raises(ConfigError, match=r"sharpness\.min_varianse: Extra inputs"):
        load_config(overrides={"plugins": ["sharpness_stage"], "sharpness.min_varianse": 3})
    with pytest.raises(ConfigError, match=r"plugins: cannot import 'no_such_plugin'"):
        load_config(overrides={"plugins": ["no_such_plugin"]})


def test_the_plugin_stage_is_composed_in_its_place():
    stages = ["ingest", "segment", "faces", "sharpness", "transcribe", "write", "validate"]
    cfg = load_config(overrides={"plugins": ["sharpness_stage"], "stages": stages})
    assert cfg.section("sharpness").min_variance == 0.0  # its defaults, as a section
    assert [s.name for s in registry.clip_stages(cfg.stages)] == [
        "transcribe",
        "sharpness",
        "faces",
    ]
    assert registry.index_columns(cfg.stages) == [("frame_sharpness", "float64")]
    assert cfg.dump()["sharpness"] == {"min_variance": 0.0, "cpus_per_task": 0.5}
    spec = registry.get("sharpness")
    stage = spec.build(cfg.section("sharpness"), cfg, registry.RunContext())
    assert stage.resources.cpus == 0.5


@pytest.mark.slow  # builds great_expectations' suites: seconds of CPU
def test_its_suite_checks_rows_in_the_write_task(tmp_path):
    cfg = load_config(
        overrides={
            "plugins": ["sharpness_stage"],
            "stages": ["ingest", "segment", "sharpness", "write", "validate"],
            "sharpness.min_variance": 5.0,
        }
    )
    clips = [_item(0, 2_000), _item(1, 2_000)]
    clips[0].record.extra["frame_sharpness"] = 40.0
    clips[1].record.extra["frame_sharpness"] = 1.5  # blurrier than min_variance
    number_clips(clips)
    boundaries = ["ingest", "segment", "sharpness", "write"]
    hold_lease(tmp_path, "20260101T000000Z-abc123")
    target = WriteTarget(
        output=str(tmp_path),
        write=cfg.write,
        run_id="20260101T000000Z-abc123",
        fingerprint="f",
        first_seq=0,
        checks=RowChecks(cfg.dump(), None, boundaries, extra=registry.suites(cfg.stages)),
        extra_columns=tuple(registry.index_columns(cfg.stages)),
    )
    out = WriteStage(target).process(clips)
    assert out[0].ok
    assert out[1].error["reason"] == str(Reason.EXPECTATION_FAILED)
    assert "rows.sharpness" in out[1].error["message"]
    assert pq.read_table(tmp_path / "index").column("frame_sharpness").to_pylist() == [40.0]


@pytest.mark.slow
def test_a_run_with_the_plugin_stage_fills_its_column(samples_dir, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("talk_000_happy.mp4", "scene_cut_two_speakers.mp4"):
        shutil.copy(samples_dir / name, inputs)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EXAMPLES), *sys.path])}
    args = ["run", "--input", str(inputs), "--output", str(out), "--num-cpus", "2"]
    args += ["--stages", "ingest,segment,sharpness,write,validate"]
    args += ["--set", "plugins=[sharpness_stage]"]
    proc = subprocess.run(
        [*EMODATA, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    index = pq.read_table(out / "index").to_pylist()
    assert len(index) >= 3
    assert all(r["frame_sharpness"] is not None and r["frame_sharpness"] > 0 for r in index)
    with tarfile.open(next((out / "shards").glob("*.tar"))) as tar:
        doc = json.loads(tar.extractfile(next(m for m in tar if m.name.endswith(".json"))).read())
    assert (
        doc["extra"]["frame_sharpness"] > 0 and doc["outcome"]["stage_status"]["sharpness"] == "ok"
    )
    run = json.loads((out / "manifest.json").read_text())
    assert run["config"]["sharpness"]["min_variance"] == 0.0
    assert run["runs"][-1]["validation"] == "passed"
