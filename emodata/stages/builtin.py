"""The built-in clip stages, declared for the registry (``emodata.stages.registry``).

Their config sections are ``RunConfig``'s own and their index columns and suites are in
``schemas/``; what each declares here is how to build it, what it needs installed and what to
check before any work.
"""

from __future__ import annotations

from typing import Any

from emodata.errors import ConfigError
from emodata.stages.registry import Requirement, RunContext, StageSpec, register


def _check_asr(cfg: Any) -> None:
    """The ASR backend installed and its model files found, before any work."""
    from emodata.config import ASR_BACKENDS

    ASR_BACKENDS.check(cfg.transcribe, "transcribe")


def _check_faces(cfg: Any) -> None:
    """The face backend installed and its models found, before any work."""
    from emodata.config import FACE_BACKENDS

    FACE_BACKENDS.check(cfg.faces, "faces")


def _check_face_models(cfg: Any) -> None:
    from emodata.models import ModelError, resolve

    for name in ("dlib-landmarks-68", "dlib-face-embedding", "fer2013-expression"):
        try:
            resolve(name)
        except ModelError as e:
            raise ConfigError(f"faces: {e}") from None


def _transcribe(section: Any, cfg: Any, ctx: RunContext):
    from emodata.stages.transcribe import TranscribeStage

    return TranscribeStage(section)


def _faces(section: Any, cfg: Any, ctx: RunContext):
    from emodata.stages.faces import FacesStage

    return FacesStage(section)


def _cues(section: Any, cfg: Any, ctx: RunContext):
    from emodata.stages.cues import CuesStage

    return CuesStage(section)


def _annotate(section: Any, cfg: Any, ctx: RunContext):
    """None when there is nothing to annotate (the backend was not prepared)."""
    from emodata.stages.annotate import AnnotateStage

    if ctx.llm is None:
        return None
    return AnnotateStage(ctx.llm.config, ctx.llm.cache_url)


#: the faces stage aligns crops with insightface whichever backend detects; the backend's own
#: needs are its spec's (``emodata.config.FACE_BACKENDS``)
ALIGN = (Requirement("insightface", "faces"),)

register(StageSpec("transcribe", _transcribe, preflight=_check_asr, rank=10, builtin=True))
register(StageSpec("faces", _faces, requires=ALIGN, preflight=_check_faces, rank=20, builtin=True))
register(
    StageSpec(
        "cues",
        _cues,
        requires=(Requirement("dlib", "faces"), *ALIGN, Requirement("vaderSentiment", "faces")),
        preflight=_check_face_models,
        rank=30,
        builtin=True,
    )
)
LLM = (Requirement("jsonschema", "llm"),)
register(StageSpec("annotate", _annotate, requires=LLM, rank=40, builtin=True))
