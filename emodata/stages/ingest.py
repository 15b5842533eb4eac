"""ingest: content hash -> stable source id, ffprobe metadata, rejection with a reason."""

from __future__ import annotations

import os
from dataclasses import dataclass

from emodata.config import IngestConfig
from emodata.errors import ItemError, Reason
from emodata.fsutil import sha256_file
from emodata.media import probe
from emodata.records import Item
from emodata.remote import local_path
from emodata.stages.base import Stage


@dataclass
class IngestStage(Stage):
    """Input: a record with ``source.path`` and ``source.meta``; ingest fills the rest of
    ``source``."""

    config: IngestConfig
    name = "ingest"
    timed = False

    def process_item(self, item: Item) -> list[Item]:
        src = item.record.source
        path = src.path
        try:
            local = local_path(path, self.config.remote_timeout_s)
            size = os.path.getsize(local)
        except FileNotFoundError:
            raise ItemError(Reason.MISSING, f"{path} does not exist") from None
        except OSError as e:
            raise ItemError(Reason.IO_ERROR, f"cannot read {path}: {e}") from None
        src.size_bytes = size
        if size == 0:
            raise ItemError(Reason.ZERO_BYTE, "the file is empty")
        digest = sha256_file(local)
        src.sha256, src.id = digest, digest[:20]
        info = probe(local, self.config.probe_timeout_s)
        src.duration_s = round(info.duration_s, 3)
        src.format, src.video_codec = info.format_name, info.video_codec
        src.width, src.height = info.width, info.height
        src.fps = round(info.fps, 3) if info.fps else None
        src.has_audio = info.has_audio
        if not info.has_video and info.has_audio:
            raise ItemError(Reason.AUDIO_ONLY, "audio only: no video stream")
        if not info.has_video:
            raise ItemError(
                Reason.NOT_VIDEO, f"no video stream (format {info.format_name or 'unknown'})"
            )
        if info.duration_s <= 0:
            raise ItemError(Reason.UNREADABLE, "no duration could be read")
        if self.config.require_audio and not info.has_audio:
            raise ItemError(Reason.NO_AUDIO, "no audio stream and ingest.require_audio is set")
        lo, hi = self.config.min_duration_s, self.config.max_duration_s
        if info.duration_s < lo:
            raise ItemError(
                Reason.TOO_SHORT,
                f"{info.duration_s:.2f}s is below ingest.min_duration_s={lo}",
            )
        if info.duration_s > hi:
            raise ItemError(
                Reason.TOO_LONG,
                f"{info.duration_s:.0f}s is above ingest.max_duration_s={hi}",
            )
        item.mark(self.name)
        return [item]
