"""Any OpenAI-compatible chat endpoint: OpenAI itself, ``vllm serve``, llama.cpp's server.

Many requests are in flight at once (``concurrency`` threads per actor). Transient failures
(429, 5xx, timeouts, dropped connections) are retried with exponential backoff, honouring the
server's Retry-After. Structured output uses ``response_format`` with the agent's JSON schema;
a server that refuses it is asked again without, and the engine validates and repairs instead.
The API key is read from the environment and never logged or written.

``kind: openai``, the default annotate backend, registered at the bottom. With no endpoint
configured the run starts a local vLLM server for it (``serve``) in its ``prepare`` hook.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import tenacity
from pydantic import Field

from emodata.annotate.backends.base import Backend, Request, Response
from emodata.annotate.prompts import schema_hint
from emodata.annotate.session import Preparing, resolve_model
from emodata.annotate.settings import LLM_BACKENDS, LocalVLLMConfig
from emodata.backends import BackendSpec
from emodata.errors import ConfigError
from emodata.redact import install_log_filter, redact, watch_env
from emodata.stages.registry import Requirement

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0


class _AskAgain(Exception):
    """The endpoint refused ``response_format``: the same request goes again without it."""


def _retry_after(err: Exception) -> float | None:
    response = getattr(err, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("retry-after") if hasattr(headers, "get") else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class OpenAIConfig(LocalVLLMConfig):
    """An OpenAI-compatible endpoint; the vLLM settings are those of the local server ``serve``
    starts."""

    kind: Literal["openai"] = "openai"
    base_url: str | None = Field(None, description="Endpoint (…/v1); None reads OPENAI_BASE_URL.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Env var holding the key.")
    serve: bool | None = Field(
        None,
        description="Start a local vLLM server for `model` and stop it after the run; None does "
        "so when no base_url or OPENAI_BASE_URL is given.",
    )
    concurrency: int = Field(8, ge=1, description="Requests in flight per actor.")
    timeout_s: float = Field(
        300,
        gt=0,
        description="Per request; a full-length tree from a local CPU server with 8 requests "
        "in flight takes minutes.",
    )
    max_retries: int = Field(4, ge=0, description="On 429, 5xx, timeouts and dropped connections.")
    backoff_s: float = Field(1.0, ge=0, description="First retry delay; doubles, Retry-After wins.")
    structured: Literal["auto", "json_schema", "prompt"] = Field(
        "auto",
        description="json_schema: server-side structured output; prompt: validate and repair; "
        "auto: json_schema, falling back to prompt if the server refuses it.",
    )


class OpenAIBackend(Backend):
    def __init__(self, cfg: OpenAIConfig) -> None:
        self.cfg = cfg
        self.model_id = f"openai:{cfg.model}"
        self.vision = cfg.vision
        self.structured = cfg.structured != "prompt"
        self._client: Any = None
        self._lock = threading.Lock()

    def setup(self) -> None:
        try:
            import openai
        except ImportError as e:
            raise RuntimeError("the openai backend needs: pip install 'emodata[llm]'") from e
        base_url = self.cfg.base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise RuntimeError(
                "the openai backend needs an endpoint: set annotate.backends.<name>.base_url, "
                "or OPENAI_BASE_URL (a run starts a local vLLM server itself when neither is set)"
            )
        watch_env(self.cfg.api_key_env)  # an endpoint may echo the key back in an error
        install_log_filter()
        key = os.environ.get(self.cfg.api_key_env) or "EMPTY"
        self._client = openai.OpenAI(
            base_url=base_url, api_key=key, max_retries=0, timeout=self.cfg.timeout_s
        )
        self._errors = openai

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def generate(self, requests: list[Request]) -> list[Response]:
        if self._client is None:
            self.setup()
        if len(requests) <= 1:
            return [self._one(r) for r in requests]
        with ThreadPoolExecutor(min(self.cfg.concurrency, len(requests))) as pool:
            return list(pool.map(self._one, requests))

    def _kwargs(self, req: Request) -> dict[str, Any]:
        messages = req.messages
        if req.schema is not None and not self.structured:
            system = messages[0]
            messages = [
                {**system, "content": system["content"] + schema_hint(req.schema)},
                *messages[1:],
            ]
        kw: dict[str, Any] = {
            "model": self.cfg.model,
            "messages": messages,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
        }
        if req.schema is not None and self.structured:
            kw["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": req.schema_name, "schema": req.schema, "strict": True},
            }
        return kw

    def _transient(self, err: Exception) -> bool:
        o = self._errors
        if isinstance(err, o.APITimeoutError | o.APIConnectionError | o.RateLimitError):
            return True
        status = getattr(err, "status_code", None)
        return isinstance(err, o.APIStatusError) and status is not None and status >= 500

    def _one(self, req: Request) -> Response:
        """One request with retries: tenacity waits the server's Retry-After when it sends
        one, else an exponential backoff from ``backoff_s`` (capped at MAX_BACKOFF_S); only
        transient errors are retried, at most ``max_retries`` times. A schema the endpoint
        refuses (``structured: auto``) is asked again without it and costs no attempt."""
        tries = 0

        def call() -> Any:
            nonlocal tries
            tries += 1
            kwargs = self._kwargs(req)
            try:
                return self._client.chat.completions.create(**kwargs)
            except Exception as err:
                if "response_format" in kwargs and self._refused_schema(err):
                    tries -= 1
                    raise _AskAgain from err
                raise

        backoff = tenacity.wait_exponential(multiplier=self.cfg.backoff_s, max=MAX_BACKOFF_S)

        def wait(state: tenacity.RetryCallState) -> float:
            err = state.outcome.exception() if state.outcome else None
            if isinstance(err, _AskAgain):
                return 0.0
            after = _retry_after(err)
            return min(MAX_BACKOFF_S, backoff(state) if after is None else after)

        def log_retry(state: tenacity.RetryCallState) -> None:
            err = state.outcome.exception() if state.outcome else None
            if not isinstance(err, _AskAgain):
                log.warning(
                    "%s on %s; retry %d in %.1f s",
                    _describe(err), req.id, tries, state.upcoming_sleep,
                )  # fmt: skip

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(
                lambda e: isinstance(e, _AskAgain) or self._transient(e)
            ),
            stop=lambda state: tries > self.cfg.max_retries,
            wait=wait,
            before_sleep=log_retry,
            reraise=True,
        )
        t0 = time.perf_counter()
        try:
            for attempt in retrying:
                with attempt:
                    t0 = time.perf_counter()
                    out = call()
        except Exception as err:  # the last attempt's error, or one not worth retrying
            return Response(req.id, attempts=tries, error=_describe(err))
        usage = out.usage
        choice = out.choices[0] if out.choices else None
        text = choice.message.content if choice is not None else None
        return Response(
            req.id,
            text=text or "",
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            latency_s=time.perf_counter() - t0,
            attempts=tries,
            meta={"finish_reason": getattr(choice, "finish_reason", None)},
        )

    def _refused_schema(self, err: Exception) -> bool:
        """auto mode: a 400 on a structured request switches this backend to prompt mode."""
        if self.cfg.structured != "auto" or not isinstance(err, self._errors.BadRequestError):
            return False
        if _LENGTH_ERROR.search(str(err)):  # a prompt past the context, not a refused schema
            return False
        with self._lock:
            if self.structured:
                log.warning(
                    "endpoint refused response_format (%s); validating instead", _describe(err)
                )
                self.structured = False
        return True


_LENGTH_ERROR = re.compile(r"max_tokens|context length|maximum context|too long", re.IGNORECASE)


def _describe(err: Exception) -> str:
    status = getattr(err, "status_code", None)
    name = type(err).__name__
    msg = redact(str(getattr(err, "message", "") or err))[:300]
    return f"{name} {status}: {msg}" if status else f"{name}: {msg}"


def prepare(b: OpenAIConfig, ctx: Preparing) -> None:
    """On the driver: the key's value kept out of logs, and with no endpoint configured a local
    vLLM server for the run, whose URL the actors receive."""
    watch_env(b.api_key_env)
    if b.serve is None:
        b.serve = not (b.base_url or os.environ.get("OPENAI_BASE_URL"))
    if not b.serve:
        return
    resolved = resolve_model(b, ctx.where)
    if resolved is None:
        return
    from emodata.llm.vllm_server import VLLMError, VLLMServer, kv_cache_gib_for

    log.info("annotate: starting a local vLLM server for %s", b.model)
    try:
        server = ctx.stack.enter_context(
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
                images_per_prompt=ctx.images_per_prompt,
            )
        )
    except VLLMError as e:
        raise ConfigError(f"{ctx.where}: {e}") from None
    b.base_url = server.base_url
    b.serve = False


LLM_BACKENDS.register(
    BackendSpec(
        "openai",
        OpenAIConfig,
        OpenAIBackend,
        requires=(Requirement("openai", "llm"),),
        prepare=prepare,
    )
)
