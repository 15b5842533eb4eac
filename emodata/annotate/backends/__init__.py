"""Model backends behind one interface: a batch of chat requests in, one response each out.

Each kind (openai, vllm, transformers, or a plugin's) is declared in ``LLM_BACKENDS``
(``emodata.annotate.settings``) with its config model and factory.
"""

from __future__ import annotations

from emodata.annotate.backends.base import Backend, Request, Response
from emodata.annotate.settings import LLM_BACKENDS, BackendConfig


def make_backend(cfg: BackendConfig) -> Backend:
    """Build the backend a config names; heavy imports happen inside each backend's setup."""
    return LLM_BACKENDS.build(cfg)


__all__ = ["Backend", "Request", "Response", "make_backend"]
