"""segment: scene cuts plus min/max clip length -> normalized MP4, 16 kHz WAV, sampled frames.

Two steps so that one long source spreads over many workers: ``ScenePlanStage`` decodes a small
copy once to find cuts and emits one item per planned clip; ``SegmentStage`` encodes each clip.
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from dataclasses import dataclass
from typing import Any

from emodata.config import SegmentConfig
from emodata.errors import ItemError, Reason
from emodata.fingerprint import frame_hashes
from emodata.media import EncodedClip, EncodeSpec, encode_clip, scene_cuts
from emodata.records import ClipSpan, Item, clip_key
from emodata.remote import DEFAULT_TIMEOUT_S, local_path
from emodata.stages.base import Resources, Stage


@dataclass(frozen=True)
class PlannedClip:
    start_s: float
    end_s: float
    boundary: str  # "start", "scene" or "split"


def plan_clips(
    duration: float, cuts: list[float], min_s: float, max_s: float, eps: float = 0.05
) -> tuple[list[PlannedClip], list[tuple[float, float]]]:
    """Split [0, duration] at scene cuts, drop scenes below ``min_s``, split those above ``max_s``.

    Returns (clips, dropped scenes). Long scenes are cut into equal parts so that no tail is tiny.
    """
    inner = [c for c in sorted(set(cuts)) if eps < c < duration - eps]
    bounds = [0.0, *inner, duration]
    clips: list[PlannedClip] = []
    dropped: list[tuple[float, float]] = []
    for a, b in itertools.pairwise(bounds):
        length = b - a
        if length + 1e-6 < min_s:
            dropped.append((round(a, 3), round(b, 3)))
            continue
        parts = max(1, math.ceil(length / max_s - 1e-9))
        step = length / parts
        for i in range(parts):
            start = round(a + i * step, 3)
            end = round(b if i == parts - 1 else a + (i + 1) * step, 3)
            boundary = "split" if i else ("start" if a == 0.0 else "scene")
            clips.append(PlannedClip(start, end, boundary))
    return clips, dropped


def encode_spec(c: SegmentConfig, threads: int | None = None) -> EncodeSpec:
    """The FFmpeg settings of the segment config (``threads`` overrides, 0 = FFmpeg's choice)."""
    return EncodeSpec(
        short_side=c.short_side,
        fps=c.fps,
        frame_rate=c.frame_rate,
        crf=c.crf,
        preset=c.preset,
        audio_rate=c.audio_rate,
        threads=c.threads if threads is None else threads,
        timeout_s=c.timeout_s,
        decode_threads=c.decode_threads,
    )


@dataclass
class ScenePlanStage(Stage):
    config: SegmentConfig
    remote_timeout_s: float = DEFAULT_TIMEOUT_S
    name = "segment"
    timed = False

    def process_item(self, item: Item) -> list[Item]:
        rec = item.record
        source = rec.source
        src = local_path(source.path, self.remote_timeout_s, source.sha256)
        cuts = scene_cuts(
            src, self.config.scene_threshold, self.config.timeout_s, self.config.decode_threads
        )
        clips, dropped = plan_clips(
            source.duration_s, cuts, self.config.min_clip_s, self.config.max_clip_s
        )
        done = set(rec.work.pop("done_keys", None) or [])

        def planned(start_s: float, end_s: float, **span: Any) -> Item:
            clip = copy.deepcopy(rec)  # every clip gets its own record: stages add to it
            clip.clip = ClipSpan(start_s=start_s, end_s=end_s, **span)
            return Item(clip_key(source.id, start_s, end_s), clip)

        out: list[Item] = []
        for a, b in dropped:
            out.append(
                planned(a, b).fail(
                    self.name,
                    Reason.SCENE_TOO_SHORT,
                    f"scene {a:.2f}-{b:.2f}s is shorter than segment.min_clip_s="
                    f"{self.config.min_clip_s}",
                )
            )
        for index, clip in enumerate(clips):
            if clip_key(source.id, clip.start_s, clip.end_s) in done:
                continue
            out.append(
                planned(
                    clip.start_s,
                    clip.end_s,
                    count=len(clips),
                    index=index,
                    duration_s=round(clip.end_s - clip.start_s, 3),
                    boundary=clip.boundary,
                )
            )
        return out


@dataclass
class SegmentStage(Stage):
    config: SegmentConfig
    remote_timeout_s: float = DEFAULT_TIMEOUT_S
    name = "segment"

    def __post_init__(self) -> None:
        self.resources = Resources(cpus=self.config.cpus_per_task)

    def process_item(self, item: Item) -> list[Item]:
        span = item.record.clip
        c = self.config
        spec = encode_spec(c)
        t0 = time.perf_counter()
        source = item.record.source
        src = local_path(source.path, self.remote_timeout_s, source.sha256)
        clip = encode_clip(src, span.start_s, span.end_s, source.has_audio, spec)
        _check_media(clip, span.end_s - span.start_s, c.max_duration_gap_s)
        item.blobs["mp4"] = clip.mp4
        if clip.wav is not None:
            item.blobs["wav"] = clip.wav
        for i, frame in enumerate(clip.frames):
            item.blobs[f"frame{i:03d}.jpg"] = frame
        # the clip's near-duplicate signature (emodata.fingerprint), used by export
        span.frame_hashes = frame_hashes(clip.frames)
        span.width, span.height, span.fps = clip.width, clip.height, c.fps
        span.frame_rate, span.num_frames = c.frame_rate, len(clip.frames)
        span.video_bytes, span.audio_bytes = len(clip.mp4), len(clip.wav or b"")
        span.video_duration_s, span.audio_duration_s = clip.video_duration_s, clip.audio_duration_s
        span.encode_seconds = round(time.perf_counter() - t0, 3)
        item.mark(self.name)
        return [item]


def _check_media(clip: EncodedClip, length_s: float, max_gap_s: float) -> None:
    """A clip is its source's decoded picture and sound for exactly its length: FFmpeg's decode
    errors and an MP4 or WAV of another length are the source's fault, ledgered as such."""
    if clip.decode_errors:
        shown = " | ".join(clip.decode_errors[:3])
        raise ItemError(
            Reason.DECODE_ERROR,
            f"FFmpeg reported {len(clip.decode_errors)} error line(s) decoding the source: {shown}",
        )
    for what, got in (("MP4 video", clip.video_duration_s), ("WAV", clip.audio_duration_s)):
        if got is not None and abs(got - length_s) > max_gap_s:
            raise ItemError(
                Reason.DURATION_MISMATCH,
                f"the {what} is {got:.3f}s for a {length_s:.3f}s clip "
                f"(segment.max_duration_gap_s={max_gap_s})",
            )
