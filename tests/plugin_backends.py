"""Backends added from outside emodata, one module, as docs/extending.md ("Adding a backend")
walks through: an annotate backend ``kind: fixed`` that answers every request with the same
text, and an ASR backend ``backend: silent`` that hears no speech. Stand-ins for a model;
tests/test_backend_registry.py names this module in ``plugins``."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from emodata.annotate.backends.base import Backend, Request, Response
from emodata.annotate.settings import LLM_BACKENDS, BackendConfig
from emodata.asr.base import SAMPLE_RATE, Transcript
from emodata.backends import BackendSpec
from emodata.config import ASR_BACKENDS, TranscribeConfig


class FixedConfig(BackendConfig):
    """``annotate.backends.NAME``: ``kind``, ``model`` and ``vision`` from the base, and its own."""

    kind: Literal["fixed"] = "fixed"
    reply: str = Field("{}", description="The text every request gets back.")


class FixedBackend(Backend):
    def __init__(self, cfg: FixedConfig) -> None:
        self.cfg = cfg
        self.model_id = f"fixed:{cfg.model}"
        self.vision = cfg.vision

    def generate(self, requests: list[Request]) -> list[Response]:
        return [Response(r.id, text=self.cfg.reply) for r in requests]


LLM_BACKENDS.register(BackendSpec("fixed", FixedConfig, FixedBackend))


class SilentConfig(TranscribeConfig):
    backend: Literal["silent"] = "silent"


class SilentBackend:
    name = "silent"

    def __init__(self, model: str) -> None:
        self.model = model

    def load(self) -> None: ...

    def transcribe(self, audio: np.ndarray) -> Transcript:
        return Transcript.empty(round(len(audio) / SAMPLE_RATE, 3), self.model, self.name)


ASR_BACKENDS.register(BackendSpec("silent", SilentConfig, lambda c: SilentBackend(c.model)))
