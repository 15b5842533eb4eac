from __future__ import annotations

import pytest

from emodata.config import load_config, parse_override
from emodata.errors import ConfigError


def test_defaults_are_valid():
    cfg = load_config()
    assert cfg.stages == [
        "ingest",
        "segment",
        "transcribe",
        "faces",
        "cues",
        "annotate",
        "write",
        "validate",
    ]
    assert cfg.segment.min_clip_s <= cfg.segment.max_clip_s


def test_flags_override_yaml(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("segment:\n  max_clip_s: 12\n  short_side: 240\n")
    cfg = load_config(f, {"segment.max_clip_s": 8})
    assert cfg.segment.max_clip_s == 8
    assert cfg.segment.short_side == 240


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"segment.max_clip_s": -1}, "segment.max_clip_s"),
        ({"segmnt.max_clip_s": 3}, "segmnt"),
        ({"write.max_shard_bytes": "lots"}, "write.max_shard_bytes"),
        ({"validate.nope": 1}, "validate.nope"),
        ({"stages": ["ingest", "bogus"]}, "stages"),
        ({"segment.min_clip_s": 30, "segment.max_clip_s": 10}, "segment"),
    ],
)
def test_errors_name_the_field(overrides, field):
    with pytest.raises(ConfigError) as e:
        load_config(overrides=overrides)
    assert str(e.value).startswith(field)


def test_yaml_errors(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("segment: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(f)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_segment_requires_write():
    with pytest.raises(ConfigError, match="needs 'write'"):
        load_config(overrides={"stages": ["ingest", "segment"]})


def test_parse_override_types():
    assert parse_override("segment.max_clip_s=12.5") == ("segment.max_clip_s", 12.5)
    assert parse_override("write.include_frames=false") == ("write.include_frames", False)
    with pytest.raises(ConfigError):
        parse_override("novalue")


def test_fingerprint_ignores_paths():
    a = load_config(overrides={"input": "a", "output": "x"})
    b = load_config(overrides={"input": "b", "output": "y"})
    c = load_config(overrides={"segment.crf": 30})
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_shipped_default_config_matches_the_code():
    from pathlib import Path

    import yaml

    path = Path(__file__).parent.parent / "pipelines" / "default.yaml"
    assert load_config(path).dump() == load_config().dump()
    # and it lists every field, as its header says
    assert yaml.safe_load(path.read_text()) == load_config().dump()
