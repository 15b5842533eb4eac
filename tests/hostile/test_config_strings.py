"""Item 14: free strings that reach FFmpeg (or a model) are validated when the config loads.

Before: ``--set segment.preset=';rm'`` was accepted and every clip was ledgered ``ffmpeg_error``.
"""

from __future__ import annotations

import pytest

from emodata.config import load_config
from emodata.errors import ConfigError
from tests.conftest import run_cli


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("segment.preset", ";rm", "segment.preset"),
        ("segment.preset", "veryfast -y /tmp/x", "segment.preset"),
        ("transcribe.compute_type", "int8;", "transcribe.compute_type"),
        ("transcribe.language", "en -f", "transcribe.language"),
        ("ingest.extensions", [".mp4", "mp4;rm"], "ingest.extensions"),
    ],
)
def test_bad_strings_fail_at_load_naming_the_field(key, value, named):
    with pytest.raises(ConfigError, match=named):
        load_config(None, {key: value})


def test_good_values_still_load():
    cfg = load_config(
        None,
        {"segment.preset": "placebo", "transcribe.language": "en", "ingest.extensions": [".MP4"]},
    )
    assert cfg.segment.preset == "placebo" and cfg.transcribe.language == "en"


def test_cli_refuses_a_bad_preset_before_any_work(tmp_path):
    out = tmp_path / "out"
    res = run_cli(
        "run", "--input", str(tmp_path), "--output", str(out), "--set", "segment.preset=;rm",
        check=False,
    )  # fmt: skip
    assert res.returncode == 2
    assert "segment.preset" in res.stderr and "ultrafast" in res.stderr
    assert not out.exists()
