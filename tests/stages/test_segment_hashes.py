"""The segment stage stores each sampled frame's dHash: the clip's near-duplicate signature."""

from __future__ import annotations

import re

from emodata.config import SegmentConfig
from emodata.fingerprint import dhash
from emodata.records import ClipRecord, ClipSpan, Item, Source
from emodata.stages.segment import SegmentStage


def test_segment_records_one_hash_per_sampled_frame(ffmpeg_clip):
    path = ffmpeg_clip(duration=3.0)
    record = ClipRecord(Source(path=str(path), has_audio=True), ClipSpan(start_s=0.0, end_s=3.0))
    (out,) = SegmentStage(SegmentConfig(frame_rate=2.0)).process([Item("k", record)])
    hashes = out.record.clip.frame_hashes
    frames = [out.blobs[k] for k in sorted(out.blobs) if k.startswith("frame")]
    assert len(hashes) == len(frames) == out.record.clip.num_frames == 6
    assert all(re.fullmatch("[0-9a-f]{16}", h) for h in hashes)
    assert hashes == [dhash(f) for f in frames]
