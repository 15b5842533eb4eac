"""Driver-side preparation of the annotate stage, before any actor starts.

Model names are resolved (and fetched) once here, not by every actor at once; a backend that
asks for a local vLLM server (``serve: true``) gets one started here and stopped when the run
ends, and its actors receive the server's URL. The response cache defaults to the run's
``_state/llm_cache``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from emodata.annotate.settings import AnnotateConfig
from emodata.errors import ConfigError
from emodata.redact import watch_env

log = logging.getLogger(__name__)


@dataclass
class AnnotateSession:
    config: AnnotateConfig
    cache_url: str


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
    with contextlib.ExitStack() as stack:
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
                from emodata.annotate.backends.vllm_backend import vllm_python

                vllm_python(b.venv)  # fails early, with how to install it
                b.model = resolved
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
        cache = cfg.cache_dir or f"{output.rstrip('/')}/_state/llm_cache"
        yield AnnotateSession(cfg, cache)
