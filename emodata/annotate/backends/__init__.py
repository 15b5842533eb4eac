"""Model backends behind one interface: a batch of chat requests in, one response each out."""

from __future__ import annotations

from emodata.annotate.backends.base import Backend, Request, Response
from emodata.annotate.settings import BackendConfig


def make_backend(cfg: BackendConfig) -> Backend:
    """Build the backend a config names; heavy imports happen inside each backend's setup."""
    if cfg.kind == "openai":
        from emodata.annotate.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(cfg)
    if cfg.kind == "transformers":
        from emodata.annotate.backends.transformers_backend import TransformersBackend

        return TransformersBackend(cfg)
    from emodata.annotate.backends.vllm_backend import VLLMBackend

    return VLLMBackend(cfg)


__all__ = ["Backend", "Request", "Response", "make_backend"]
