"""vLLM in-process on Ray actors that live for the whole run, in vLLM's own environment.

vLLM pins torch and transformers versions that conflict with whisperx, so it lives in its own
environment (``.venv-vllm`` here; the same path on every node, or a container image on a
cluster). The engine runs in a Ray actor started under that environment's interpreter
(``emodata.llm.vllm_engine``): a run's driver starts the engines once (``start_engines``, from
``emodata.annotate.session.prepare``) and names them; every annotate actor finds them by name
and sends each agent round to one of them as a list of plain request dicts. Outside a run the
backend starts its own engine, and a local Ray if none is running, and ends both on ``close``.

``kind: vllm``, registered at the bottom.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from emodata.annotate.backends.base import Backend, Request, Response
from emodata.annotate.session import Preparing, resolve_model
from emodata.annotate.settings import LLM_BACKENDS, LocalVLLMConfig
from emodata.backends import BackendSpec
from emodata.errors import ConfigError
from emodata.models import model_path

log = logging.getLogger(__name__)

#: Tokens a request may take, prompt and answer, when the KV cache is sized from the model.
TOKENS_PER_REQUEST = 3072


class VLLMConfig(LocalVLLMConfig):
    kind: Literal["vllm"] = "vllm"
    timeout_s: float = Field(
        300, gt=0, description="Per request (an engine call waits this per request it holds)."
    )
    batch_size: int = Field(
        16,
        ge=1,
        description="Requests an engine decodes together (vLLM's max_num_seqs); an agent round "
        "sends up to annotate.batch_size of them per agent.",
    )
    num_gpus: float = Field(
        0.0,
        ge=0,
        description="GPUs per engine actor (the annotate actors then need none); 0 runs on CPU.",
    )
    image_uri: str | None = Field(
        None,
        description="Run the engine actors in this container image (vLLM with the run's Ray and "
        "Python versions) instead of `venv`.",
    )
    engines: int = Field(1, ge=1, description="Engine actors the run keeps for this backend.")
    engine_cpus: float = Field(
        0.0,
        ge=0,
        description="CPUs each engine actor reserves in Ray. 0: on CPU the engine computes while "
        "the annotate actors that reserved CPUs wait on it, and reserving more would take the "
        "CPUs the segment tasks were left; give 1 or more on a GPU or a large cluster.",
    )
    start_timeout_s: float = Field(
        900, gt=0, description="How long an engine may take to load its model."
    )
    engine: str | None = Field(
        None,
        description="Set by the run to the name of its engine actors; None: the backend starts "
        "its own engine (and a local Ray if none is running).",
    )
    address: str | None = Field(
        None, description="Outside a run: the Ray cluster to start the engine on."
    )

    def actor_gpus(self) -> float:
        return self.num_gpus  # 0 once the run's engines hold the GPUs (prepare)


def request_row(r: Request) -> dict[str, Any]:
    """A request as the engine actor and ``vllm_batch.py`` take it (plain JSON data)."""
    return {
        "id": r.id,
        "messages": r.messages,
        "max_tokens": r.max_tokens,
        "temperature": r.temperature,
        "json_schema": r.schema,
    }


def vllm_python(venv: str | None) -> str:
    """The vLLM environment's interpreter, or a ConfigError that says how to make one."""
    from emodata.llm.vllm_server import VLLMError, vllm_venv

    if venv:
        exe = Path(venv) / "bin" / "python"
        if not exe.is_file():
            raise ConfigError(f"annotate backend venv {venv} has no bin/python")
        return str(exe)
    try:
        return str(vllm_venv() / "bin" / "python")
    except VLLMError as e:
        raise ConfigError(str(e)) from None


def engine_kwargs(cfg: VLLMConfig, images_per_prompt: int = 0) -> dict[str, Any]:
    """``vllm.LLM`` arguments: the configured dtype (float32 on CPU: bfloat16 answers nonsense
    without AVX512), eager mode on CPU (compiling takes minutes and its cache fails to reload;
    a GPU keeps its CUDA graphs, captured once per engine), xgrammar structured outputs with
    compact JSON (small models otherwise spend their token budget on whitespace)."""
    kwargs: dict[str, Any] = {
        "dtype": cfg.dtype,
        "enforce_eager": cfg.num_gpus == 0,
        "max_model_len": cfg.max_model_len,
        "max_num_seqs": cfg.batch_size,
        "structured_outputs_config": {"backend": "xgrammar", "disable_any_whitespace": True},
    }
    if 0 < cfg.num_gpus < 1:  # a share of a GPU: take that share of its memory
        kwargs["gpu_memory_utilization"] = round(0.9 * cfg.num_gpus, 3)
    if images_per_prompt:
        kwargs["limit_mm_per_prompt"] = {"image": images_per_prompt}
    return kwargs


def start_engines(
    cfg: VLLMConfig, name: str, images_per_prompt: int = 0, named: bool = True
) -> Any:
    """Start ``cfg.engines`` engine actors on the running Ray and wait until each has loaded
    its model; an engine that cannot start is a ConfigError with its reason."""
    from emodata.llm.vllm_engine import EngineGroup, engine_runtime_env
    from emodata.llm.vllm_server import kv_cache_gib_for

    model = model_path(cfg.model)
    kwargs = engine_kwargs(cfg, images_per_prompt)
    if cfg.num_gpus == 0:  # on a GPU vLLM sizes its cache from gpu_memory_utilization
        kv = cfg.kv_cache_gib or kv_cache_gib_for(
            Path(model), cfg.batch_size, min(cfg.max_model_len, TOKENS_PER_REQUEST), cfg.dtype
        )
        kwargs["kv_cache_memory_bytes"] = int(kv * 2**30)
    python = None if cfg.image_uri else vllm_python(cfg.venv)
    where = cfg.image_uri or python
    log.info("vllm: starting %d engine(s) for %s under %s", cfg.engines, model, where)
    group = EngineGroup(name, cfg.engines).start(
        model,
        kwargs,
        engine_runtime_env(python, cfg.image_uri, {}),
        num_cpus=cfg.engine_cpus,
        num_gpus=cfg.num_gpus,
        threads=cfg.threads,
        named=named,
    )
    try:
        stats = group.ready(cfg.start_timeout_s)
    except Exception as e:  # the actor's own error (or the timeout), said once, then stopped
        group.close()
        raise ConfigError(f"the vLLM engine for {model} did not start under {where}: {e}") from e
    for s in stats:
        log.info("vllm: engine %s ready (loaded in %.1f s)", group.name, s["load_s"])
    return group


class VLLMBackend(Backend):
    def __init__(self, cfg: VLLMConfig) -> None:
        self.cfg = cfg
        self.model_id = f"vllm:{Path(cfg.model).name}"
        self.structured = True
        self.vision = cfg.vision
        self.group: Any = None
        self._own = False  # engines this backend started (outside a run), ended on close
        self._ray_started = False
        self._turn = secrets.randbelow(cfg.engines)  # spreads the annotate actors over engines

    def setup(self) -> None:
        if self.group is not None:
            return
        import ray

        from emodata.llm.vllm_engine import EngineGroup

        if self.cfg.engine:
            if not ray.is_initialized():
                raise ConfigError(
                    f"the vLLM engines {self.cfg.engine} belong to a Ray cluster this process "
                    "is not connected to (leave `engine` unset to start one here)"
                )
            try:
                self.group = EngineGroup(self.cfg.engine, self.cfg.engines).attach()
            except LookupError as e:
                raise ConfigError(f"{e} (it ended, or the run that started it did)") from None
            return
        if not ray.is_initialized():
            log.info("vllm: no Ray running; starting %s", self.cfg.address or "a local one")
            ray.init(
                address=self.cfg.address or "local",
                include_dashboard=False,
                configure_logging=False,
            )
            self._ray_started = True
        self.group = start_engines(self.cfg, f"vllm-{secrets.token_hex(4)}", named=False)
        self._own = True

    def engine_stats(self) -> list[dict[str, Any]]:
        """Per engine: starts, calls, requests, errors, tokens, load and busy seconds."""
        if self.group is None:
            return []
        return self.group.final if not self.group.handles else self.group.stats()

    def generate(self, requests: list[Request]) -> list[Response]:
        if not requests:
            return []
        if self.group is None:
            self.setup()
        import ray

        handles = self.group.handles
        index = self._turn % len(handles)
        self._turn += 1
        rows = [request_row(r) for r in requests]
        engine = self.group.names()[index]
        log.info("vllm: %d request(s) to engine %s", len(requests), engine)
        try:
            got = ray.get(
                handles[index].generate.remote(rows),
                timeout=max(600.0, self.cfg.timeout_s * len(requests)),
            )
        except ray.exceptions.RayError as e:  # a dead or stuck engine: every request says why
            why = f"vllm engine {engine} failed: {type(e).__name__}: {e}"
            log.error("%s", why)
            return [Response(r.id, error=why[-600:]) for r in requests]
        out = []
        for r, row in zip(requests, got, strict=True):
            out.append(
                Response(
                    r.id,
                    text=row["text"] if row["error"] is None else None,
                    prompt_tokens=int(row["prompt_tokens"]),
                    completion_tokens=int(row["completion_tokens"]),
                    latency_s=float(row["latency_s"]),
                    error=row["error"],
                    meta={"engine": engine, "finish_reason": row["finish_reason"]},
                )
            )
        return out

    def close(self) -> None:
        if self._own and self.group is not None:
            self.group.close()
        if self._ray_started:
            import ray

            ray.shutdown()
            self._ray_started = False


def prepare(b: VLLMConfig, ctx: Preparing) -> None:
    """On the driver: the model fetched once and the vLLM environment found; with Ray up, the
    run's engine actors started once, for the actors to find by name (and hold the GPUs)."""
    resolved = resolve_model(b, ctx.where)
    if resolved is None:
        return
    if not b.image_uri:
        vllm_python(b.venv)  # fails early, with how to install it
    b.model = resolved
    import ray

    if not ray.is_initialized():
        return
    log.info("annotate: starting the vLLM engine(s) of %s for the run", ctx.where)
    group = start_engines(
        b, f"vllm-{ctx.name}-{secrets.token_hex(4)}", images_per_prompt=ctx.images_per_prompt
    )
    ctx.stack.callback(group.close)
    ctx.session.engines[ctx.name] = group
    b.engine = group.name
    b.num_gpus = 0.0  # the engines hold the GPUs; the actors only send requests


# vLLM itself lives in its own environment (checked by ``prepare``), not in an extra
LLM_BACKENDS.register(BackendSpec("vllm", VLLMConfig, VLLMBackend, prepare=prepare))

__all__ = [
    "VLLMBackend",
    "VLLMConfig",
    "engine_kwargs",
    "request_row",
    "start_engines",
    "vllm_python",
]
