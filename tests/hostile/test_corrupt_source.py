"""Item 2: a corrupt source gives a ledger entry, not a bad clip.

Before: 60 KB of random bytes written into the middle of a 3 s MP4 gave a clip whose WAV was
much shorter than the clip (1.44 s for 3.0 s with this seed; the README promises WAV time equals
clip time); FFmpeg's decode errors were dropped, nothing was ledgered and ``validate`` passed it.
"""

from __future__ import annotations

import random
import subprocess

import pandas as pd
import pytest

from emodata.config import RunConfig
from emodata.media import encode_clip
from emodata.records import ClipRecord, Item
from emodata.stages.ingest import IngestStage
from emodata.stages.segment import ScenePlanStage, SegmentStage, encode_spec
from emodata.validate import Checkpoints, row_view
from tests.conftest import run_cli
from tests.hostile.conftest import QUICK, make_clips


@pytest.fixture
def corrupt(tmp_path):
    """A 3 s testsrc2 + sine MP4 with 60 KB of seeded random bytes over its middle."""
    folder = make_clips(tmp_path / "in", 1, seconds=3.0)
    path = folder / "clip_300.mp4"
    data = bytearray(path.read_bytes())
    mid = len(data) // 2 - 30_000
    data[mid : mid + 60_000] = random.Random(13).randbytes(60_000)
    path.write_bytes(bytes(data))
    return path


def _segment(path) -> list[Item]:
    cfg = RunConfig()
    (source,) = IngestStage(cfg.ingest).process([Item(str(path), {"path": str(path)})])
    assert source.ok, source.error
    return [
        SegmentStage(cfg.segment).process([c])[0]
        for c in ScenePlanStage(cfg.segment).process([source])
    ]


def test_ffmpeg_finishes_but_reports_the_damage(corrupt):
    clip = encode_clip(str(corrupt), 0.0, 3.0, True, encode_spec(RunConfig().segment))
    assert clip.audio_duration_s < 2.9  # what used to be written as a 3 s clip
    assert any("Error while decoding stream" in line for line in clip.decode_errors)
    assert all(str(corrupt) not in line for line in clip.decode_errors)


def test_a_corrupt_source_is_a_decode_error(corrupt):
    (item,) = _segment(corrupt)
    assert item.error["reason"] == "decode_error" and item.error["kind"] == "filtered"
    assert item.error["message"].startswith("FFmpeg reported ")
    assert "error line(s) decoding the source: " in item.error["message"]
    assert item.blobs == {}


def test_a_short_video_stream_is_a_duration_mismatch(tmp_path):
    path = tmp_path / "short_video.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=2",
         "-f", "lavfi", "-i", "sine=frequency=300:duration=3", "-c:v", "libx264",
         "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)],
        check=True,
    )  # fmt: skip
    (item,) = _segment(path)
    assert item.error["reason"] == "duration_mismatch"
    assert item.error["message"].startswith("the MP4 video is 2.000s for a 3.0")
    assert item.error["message"].endswith("clip (segment.max_duration_gap_s=0.1)")


def test_the_row_checkpoint_checks_media_durations():
    checkpoints = Checkpoints(RunConfig().dump())
    good = {"source_id": "s", "duration_s": 3.0, "video_bytes": 10, "width": 160, "height": 120,
            "start_s": 0.0, "video_duration_s": 3.04, "audio_duration_s": 3.0}  # fmt: skip
    short_wav = {**good, "audio_duration_s": 1.444}
    no_audio = {**good, "audio_duration_s": None}
    frame = pd.DataFrame(
        [
            row_view(f"{i:032x}", ClipRecord.from_dict(rec))
            for i, rec in enumerate([good, short_wav, no_audio])
        ]
    )
    bad = checkpoints.check_rows("write", frame)
    assert list(bad) == [1]
    assert "media_duration_gap_s" in bad[1] and "1.556" in bad[1]


@pytest.mark.slow
def test_a_run_ledgers_the_corrupt_source_and_writes_the_rest(corrupt):
    make_clips(corrupt.parent, 1, first_freq=600)
    out = corrupt.parent.parent / "out"
    res = run_cli("run", "--input", str(corrupt.parent), "--output", str(out),
                  *QUICK[:-1], "ingest,segment,write,validate")  # fmt: skip
    assert "2 inputs, 1 clips written" in res.stdout
    assert "segment/decode_error=1" in res.stdout
