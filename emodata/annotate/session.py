"""Driver-side preparation of the annotate stage, before any actor starts.

Each backend the agents use is checked (its modules installed) and prepared by its kind's
``prepare`` hook (``emodata.annotate.settings.LLM_BACKENDS``). Model names are resolved (and
fetched) once here, not by every actor at once; an ``openai`` backend that asks for a local vLLM
server (``serve: true``) gets one started here and stopped when the run ends, and its actors
receive the server's URL. A ``vllm`` backend gets its engine actors started here, once for the
run, when Ray is running (the runner starts it first); its actors receive the engines' name, and
the engines are ended, their counts kept, when the run ends. The response cache defaults to the
run's ``_state/llm_cache``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emodata.annotate.settings import LLM_BACKENDS, AnnotateConfig, BackendConfig
from emodata.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class AnnotateSession:
    config: AnnotateConfig
    cache_url: str
    #: the run's vLLM engine actors, by backend name (``emodata.llm.vllm_engine.EngineGroup``)
    engines: dict[str, Any] = field(default_factory=dict)

    def engine_stats(self) -> dict[str, list[dict[str, Any]]]:
        """Per backend, each engine's stats: live during the run, the last ones after it."""
        return {n: g.final if not g.handles else g.stats() for n, g in self.engines.items()}

    def engine_counts(self) -> dict[str, int]:
        """Totals over the run's engines, for the run manifest's counts: one start per engine
        actor however many rounds and batches it answered. Empty when the run has none."""
        if not self.engines:
            return {}
        stats = [s for group in self.engine_stats().values() for s in group]
        return {
            "vllm_engine_actors": sum(g.count for g in self.engines.values()),
            "vllm_engine_starts": sum(s["starts"] for s in stats),
            "vllm_engine_calls": sum(s["calls"] for s in stats),
            "vllm_engine_requests": sum(s["requests"] for s in stats),
        }


def _need(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise ConfigError(f"annotate needs {module}: pip install 'emodata[llm]'") from None


@dataclass
class Preparing:
    """What a backend's ``prepare`` hook gets beside its config (the session's copy, which the
    hook may change: a resolved model directory, a started server's URL)."""

    name: str  # the backend's name in annotate.backends
    where: str  # "annotate.backends.NAME", for messages
    images_per_prompt: int  # images a request may carry (the perceiver's), 0 for text
    stack: contextlib.ExitStack  # what the hook starts, it stops here when the run ends
    session: AnnotateSession


def resolve_model(b: BackendConfig, where: str) -> str | None:
    """The model directory a backend that runs the model itself loads, fetched once here; None
    for a ``.gguf`` file, which loads as it is."""
    from emodata.models import ModelError, model_path

    if Path(b.model).suffix == ".gguf" and Path(b.model).is_file():
        return None
    try:
        return model_path(b.model)
    except ModelError as e:
        raise ConfigError(f"{where}.model: {e}") from None


@contextlib.contextmanager
def prepare(cfg: AnnotateConfig, output: str) -> Iterator[AnnotateSession]:
    """The backends the enabled agents use, each checked (installed) and prepared by its
    kind's ``prepare`` hook (``LLM_BACKENDS``); what the hooks started ends with the block."""
    _need("jsonschema")
    cfg = cfg.model_copy(deep=True)
    used = {cfg.agents[a].backend for a in cfg.agents if cfg.agents[a].enabled}
    session = AnnotateSession(cfg, cfg.cache_dir or f"{output.rstrip('/')}/_state/llm_cache")
    with contextlib.ExitStack() as stack:
        stack.callback(_log_engines, session)
        for name in sorted(used):
            b = cfg.backends[name]
            where = f"annotate.backends.{name}"
            LLM_BACKENDS.check(b, where)
            hook = LLM_BACKENDS.get(b.kind).prepare
            if hook is not None:
                images = cfg.frames_per_clip + 1 if b.vision else 0  # frames and the main face
                hook(b, Preparing(name, where, images, stack, session))
        yield session


def _log_engines(session: AnnotateSession) -> None:
    if session.engines:
        log.info("annotate: vLLM engines of the run: %s", session.engine_counts())
