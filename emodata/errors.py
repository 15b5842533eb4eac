"""Typed outcomes for items that do not make it into the dataset.

"filtered" is a decision (the input is what it is; a rerun decides the same), "failed" is an
error that a rerun retries. Reasons are an enum so the ledger, stats and tests share one
vocabulary instead of matching message strings.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    FILTERED = "filtered"
    FAILED = "failed"


class Reason(StrEnum):
    ZERO_BYTE = "zero_byte"
    MISSING = "missing"
    TRUNCATED = "truncated"
    UNREADABLE = "unreadable"
    NOT_VIDEO = "not_video"
    AUDIO_ONLY = "audio_only"  # sound but no picture: an .m4a, or an .mp4 without video
    NO_AUDIO = "no_audio"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    DUPLICATE = "duplicate"
    DUPLICATE_MANIFEST_ROW = "duplicate_manifest_row"  # a manifest row naming an input again
    NO_PATH = "no_path"  # a manifest row with an empty path
    SCENE_TOO_SHORT = "scene_too_short"
    FFMPEG_ERROR = "ffmpeg_error"
    DECODE_ERROR = "decode_error"  # FFmpeg finished but reported errors decoding the source
    DURATION_MISMATCH = "duration_mismatch"  # a clip's MP4 or WAV is not the clip's length
    IO_ERROR = "io_error"
    REMOTE_TIMEOUT = "remote_timeout"  # a remote input gave no byte within ingest.remote_timeout_s
    EXPECTATION_FAILED = "expectation_failed"
    LLM_ERROR = "llm_error"  # the model endpoint failed after every retry
    LLM_INVALID_OUTPUT = "llm_invalid_output"  # output broke its schema after every repair
    INTERNAL_ERROR = "internal_error"


# Reasons that describe the input itself; everything else is retried on rerun.
FILTER_REASONS = frozenset(
    {
        Reason.ZERO_BYTE,
        Reason.TRUNCATED,
        Reason.UNREADABLE,
        Reason.NOT_VIDEO,
        Reason.AUDIO_ONLY,
        Reason.NO_AUDIO,
        Reason.TOO_SHORT,
        Reason.TOO_LONG,
        Reason.DUPLICATE,
        Reason.DUPLICATE_MANIFEST_ROW,
        Reason.NO_PATH,
        Reason.SCENE_TOO_SHORT,
        Reason.DECODE_ERROR,
        Reason.DURATION_MISMATCH,
        Reason.EXPECTATION_FAILED,
    }
)


def kind_of(reason: Reason) -> Kind:
    return Kind.FILTERED if reason in FILTER_REASONS else Kind.FAILED


class ItemError(Exception):
    """An expected, per-item problem: recorded in the ledger, never fatal to the run."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class ConfigError(ValueError):
    """A bad config file or flag; the message names the field."""


class InputError(ConfigError):
    """Inputs that cannot be read at all (an empty or broken manifest): the run does not start,
    and the message names the file, the line or row when known, and the fix."""


class ValidationFailed(RuntimeError):
    """A batch-level expectation failed; the run stops and the report is saved."""

    def __init__(self, message: str, report_path: str) -> None:
        super().__init__(message)
        self.report_path = report_path


class OutputError(RuntimeError):
    """An output folder that cannot be written (a file in the way, read-only, no space left);
    the message names the folder and the fix."""
