"""Driver-side preparation of the annotate stage, before any actor starts.

Model names are resolved (and fetched) once here, not by every actor at once; a backend that
asks for a local vLLM server (``serve: true``) gets one started here and stopped when the run
ends, and its actors receive the server's URL. A ``vllm`` backend gets its engine actors started
here, once for the run, when Ray is running (the runner starts it first); its actors receive the
engines' name, and the engines are ended, their counts kept, when the run ends. The response
cache defaults to the run's ``_state/llm_cache``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emodata.annotate.settings import AnnotateConfig
from emodata.errors import ConfigError
from emodata.redact import watch_env

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


@contextlib.contextmanager
def prepare(cfg: AnnotateConfig, output: str) -> Iterator[AnnotateSession]:
    from emodata.models import ModelError, model_path

    _need("jsonschema")
    cfg = cfg.model_copy(deep=True)
    used = {cfg.agents[a].backend for a in cfg.agents if cfg.agents[a].enabled}
    session = AnnotateSession(cfg, cfg.cache_dir or f"{output.rstrip('/')}/_state/llm_cache")
    with contextlib.ExitStack() as stack:
        stack.callback(_log_engines, session)
        for name in sorted(used):
            b = cfg.backends[name]
            where = f"annotate.backends.{name}"
            watch_env(b.api_key_env)
            if b.kind == "openai" and b.serve is None:
                b.serve = not (b.base_url or os.environ.get("OPENAI_BASE_URL"))
            if b.kind == "openai":
                _need("openai")
            if b.kind == "transformers":
                _need("transformers")
                _need("lmformatenforcer")
            if b.kind in {"transformers", "vllm"} or b.serve:
                if Path(b.model).suffix == ".gguf" and Path(b.model).is_file():
                    continue
                try:
                    resolved = model_path(b.model)
                except ModelError as e:
                    raise ConfigError(f"{where}.model: {e}") from None
            if b.kind == "vllm":
                from emodata.annotate.backends.vllm_backend import start_engines, vllm_python

                if not b.image_uri:
                    vllm_python(b.venv)  # fails early, with how to install it
                b.model = resolved
                if _ray_running():
                    log.info("annotate: starting the vLLM engine(s) of %s for the run", where)
                    group = start_engines(
                        b,
                        f"vllm-{name}-{secrets.token_hex(4)}",
                        images_per_prompt=cfg.frames_per_clip + 1 if b.vision else 0,
                    )
                    stack.callback(group.close)
                    session.engines[name] = group
                    b.engine = group.name
                    b.num_gpus = 0.0  # the engines hold the GPUs; the actors only send requests
            elif b.kind == "transformers":
                b.model = resolved
            elif b.serve:
                from emodata.llm.vllm_server import VLLMError, VLLMServer, kv_cache_gib_for

                log.info("annotate: starting a local vLLM server for %s", b.model)
                try:
                    server = stack.enter_context(
                        VLLMServer(
                            resolved,
                            served_model_name=b.model,
                            max_model_len=b.max_model_len,
                            venv=b.venv,
                            kv_cache_gib=b.kv_cache_gib
                            or kv_cache_gib_for(
                                Path(resolved), b.concurrency, min(b.max_model_len, 3072), b.dtype
                            ),
                            threads=b.threads,
                            # the perceiver's frames and the main face crop
                            images_per_prompt=cfg.frames_per_clip + 1 if b.vision else 0,
                        )
                    )
                except VLLMError as e:
                    raise ConfigError(f"{where}: {e}") from None
                b.base_url = server.base_url
                b.serve = False
        yield session


def _ray_running() -> bool:
    import ray

    return ray.is_initialized()


def _log_engines(session: AnnotateSession) -> None:
    if session.engines:
        log.info("annotate: vLLM engines of the run: %s", session.engine_counts())
