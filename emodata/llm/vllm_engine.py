"""vLLM engines that live for a whole run: Ray actors running in vLLM's own environment.

An engine actor loads its model once and then answers every agent round of every batch, so a run
pays vLLM's start-up (about a minute on CPU; weights and CUDA graphs on a GPU) once per engine,
not once per round. vLLM pins torch and transformers versions that cannot share the main
``.venv``, so the actor runs under another interpreter through Ray's per-actor runtime
environment (``runtime_env={"py_executable": ".venv-vllm/bin/python", "env_vars": ...}``), or in
a vLLM container image on a cluster (``image_uri``).

emodata is not installed in vLLM's environment, so this module imports only the standard
library and ray at the top, and vllm inside the actor. Its class travels to the actor by value
(``ray.cloudpickle.register_pickle_by_value``): nothing has to be importable there but ray and
vllm, which also holds for an image that has never seen emodata (``working_dir`` or
``py_modules`` would not: Ray refuses them beside ``image_uri``).

Request rows are plain dicts: ``{"id", "messages", "max_tokens", "temperature", "json_schema"}``;
each answer is ``{"id", "text", "prompt_tokens", "completion_tokens", "latency_s",
"finish_reason", "error"}``. A request the engine rejects (a bad schema, a prompt past the
context) gets ``error`` set; the others in its call are still answered.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from typing import Any

import ray

log = logging.getLogger(__name__)

#: Ray namespace of the named engine actors, so actors of any job on the cluster find them.
NAMESPACE = "emodata"

#: Models come from local folders; nothing phones home.
ENGINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    # the engine's start-up chatter would flood the run's console (Ray forwards actor output);
    # its failures still reach the driver as the actor's error
    "VLLM_LOGGING_LEVEL": "WARNING",
}


def _answer(rid: str, error: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "text": fields.get("text", ""),
        "prompt_tokens": fields.get("prompt_tokens", 0),
        "completion_tokens": fields.get("completion_tokens", 0),
        "latency_s": fields.get("latency_s", 0.0),
        "finish_reason": fields.get("finish_reason"),
        "error": error,
    }


def _external_id(request_id: str) -> str:
    """The id ``LLM`` numbered a request with: queueing returns the engine's internal id, that
    number plus a random suffix (``"7-1a2b3c4d"``), while its output carries the number."""
    return request_id.split("-", 1)[0]


def _cpu_threads(threads: int | None) -> dict[str, str]:
    """Bind the engine's compute threads to this node's cores (``threads`` of them; all by
    default). vLLM's CPU build otherwise keeps one core for its scheduler: half of 2 cores."""
    cores = sorted(os.sched_getaffinity(0))
    n = len(cores) if threads is None else max(1, min(threads, len(cores)))
    return {
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
        "VLLM_CPU_OMP_THREADS_BIND": ",".join(str(c) for c in cores[:n]),
        "OMP_NUM_THREADS": str(n),
    }


class VLLMEngine:
    """One vLLM engine (``vllm.LLM``) for one model, loaded when the actor starts."""

    def __init__(
        self, model: str, engine_kwargs: dict[str, Any], cpu: bool, threads: int | None
    ) -> None:
        if cpu:
            # set before vllm is imported: its engine process reads them when it starts
            os.environ.update(_cpu_threads(threads))
        from vllm import LLM

        started = time.monotonic()
        self.llm = LLM(model=model, **engine_kwargs)
        self.load_s = round(time.monotonic() - started, 2)
        self.counts = {"starts": 1, "calls": 0, "requests": 0, "errors": 0, "tokens": 0}
        self.busy_s = 0.0
        log.info("vllm engine: %s loaded in %.1f s", model, self.load_s)

    def stats(self) -> dict[str, Any]:
        """Starts (one per actor: a restarted process would be a new actor), calls, load time."""
        return {
            **self.counts,
            "pid": os.getpid(),
            "node": ray.get_runtime_context().get_node_id(),
            "load_s": self.load_s,
            "busy_s": round(self.busy_s, 2),
        }

    def _params(self, row: dict[str, Any]) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        messages = row.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ValueError("messages must be a non-empty list")
        schema = row.get("json_schema")
        return SamplingParams(
            max_tokens=int(row.get("max_tokens") or 256),
            temperature=float(row.get("temperature") or 0.0),
            structured_outputs=None if schema is None else StructuredOutputsParams(json=schema),
        )

    def generate(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One answer per row, in order; a row the engine rejects gets an error, not a crash.

        Each row is queued on its own (``enqueue_chat``: vLLM checks a request as it queues it,
        a bad schema or a prompt past the context fails that request alone), then all of them
        decode together (``wait_for_completion``)."""
        started = time.monotonic()
        self.counts["calls"] += 1
        self.counts["requests"] += len(rows)
        out: list[dict[str, Any] | None] = [None] * len(rows)
        queued: dict[str, int] = {}
        for i, row in enumerate(rows):
            try:
                (request_id,) = self.llm.enqueue_chat(
                    [row["messages"]], [self._params(row)], use_tqdm=False
                )
            except Exception as e:  # that request's failure; the others go on
                out[i] = _answer(str(row.get("id")), f"{type(e).__name__}: {e}")
                continue
            queued[_external_id(request_id)] = i
        try:
            done = self.llm.wait_for_completion(use_tqdm=False) if queued else []
        except Exception as e:  # the engine failed as a whole: every queued request says why
            log.warning("vllm engine: a call failed:\n%s", traceback.format_exc())
            for i in queued.values():
                out[i] = _answer(str(rows[i].get("id")), f"engine failed: {type(e).__name__}: {e}")
            done = []
        latency = round(time.monotonic() - started, 3)
        for o in done:
            i = queued.get(_external_id(o.request_id))
            if i is None:
                continue  # not this call's (none should be left over from an earlier one)
            first = o.outputs[0] if o.outputs else None
            tokens = len(first.token_ids) if first is not None else 0
            self.counts["tokens"] += tokens
            out[i] = _answer(
                str(rows[i].get("id")),
                None if first is not None else "the engine returned no output",
                text=first.text if first is not None else "",
                prompt_tokens=len(o.prompt_token_ids or []),
                completion_tokens=tokens,
                latency_s=latency,
                finish_reason=first.finish_reason if first is not None else None,
            )
        answers = [
            a if a is not None else _answer(str(rows[i].get("id")), "the engine returned nothing")
            for i, a in enumerate(out)
        ]
        self.counts["errors"] += sum(a["error"] is not None for a in answers)
        self.busy_s += time.monotonic() - started
        return answers


def engine_runtime_env(
    python: str | None, image_uri: str | None, env_vars: dict[str, str]
) -> dict[str, Any]:
    """The engine actor's runtime environment: vLLM's interpreter on this machine's layout (the
    same path on every node), or a container image that has vLLM and the same Ray and Python."""
    env = {**ENGINE_ENV, **env_vars}
    if image_uri:
        return {"image_uri": image_uri, "env_vars": env}
    if not python:
        raise ValueError("an engine needs either vLLM's python or an image")
    return {"py_executable": python, "env_vars": env}


class EngineGroup:
    """The engine actors of one backend: started and named by the run's driver, found by name
    by the annotate actors, killed when the run ends (their last stats kept)."""

    def __init__(self, name: str, count: int) -> None:
        self.name = name
        self.count = count
        self.handles: list[Any] = []
        self.final: list[dict[str, Any]] = []

    def names(self) -> list[str]:
        return [f"{self.name}-{i}" for i in range(self.count)]

    def start(
        self,
        model: str,
        engine_kwargs: dict[str, Any],
        runtime_env: dict[str, Any],
        num_cpus: float,
        num_gpus: float,
        threads: int | None = None,
        named: bool = True,
    ) -> EngineGroup:
        """Create the actors (they load in parallel); ``ready`` waits for them."""
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
        actor = ray.remote(VLLMEngine)
        for name in self.names():
            options: dict[str, Any] = {
                "num_cpus": num_cpus,
                "num_gpus": num_gpus,
                "runtime_env": runtime_env,
                "max_restarts": 0,  # a dead engine fails its requests; it is not silently reloaded
            }
            if named:
                options.update(name=name, namespace=NAMESPACE)
            handle = actor.options(**options).remote(model, engine_kwargs, num_gpus == 0, threads)
            self.handles.append(handle)
        return self

    def attach(self) -> EngineGroup:
        """The handles of engines another process started, by name; a LookupError names an
        engine that is gone."""
        for name in self.names():
            try:
                self.handles.append(ray.get_actor(name, namespace=NAMESPACE))
            except ValueError:
                raise LookupError(f"no vLLM engine actor {name!r} in this Ray cluster") from None
        return self

    def ready(self, timeout_s: float) -> list[dict[str, Any]]:
        """Wait for every engine to load; raises (with the actor's error) if one did not."""
        return ray.get([h.stats.remote() for h in self.handles], timeout=timeout_s)

    def stats(self, timeout_s: float = 30) -> list[dict[str, Any]]:
        return ray.get([h.stats.remote() for h in self.handles], timeout=timeout_s)

    def close(self) -> None:
        """Keep the engines' last stats, then end them."""
        if not self.handles:
            return
        try:
            self.final = self.stats()
        except Exception as e:  # a dead engine has no stats; the run still ends them all
            log.warning("vllm engine: no stats from %s: %s", self.name, e)
        for handle in self.handles:
            ray.kill(handle, no_restart=True)
        self.handles = []


__all__ = ["ENGINE_ENV", "NAMESPACE", "EngineGroup", "VLLMEngine", "engine_runtime_env"]
