"""vLLM in-process on Ray actors, through Ray Data's LLM processor, from its own environment.

vLLM pins torch and transformers versions that conflict with whisperx, so it lives in its own
environment (``.venv-vllm`` here; its own image or Ray runtime environment on a cluster). The
stage boundary is a JSONL file of chat requests: each round of the agent graph is written out,
``emodata/llm/vllm_batch.py`` runs it under that environment's interpreter with
``ray.data.llm.build_processor`` and writes one response line per request. Nothing from
emodata is imported on that side.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
import time
from pathlib import Path

from emodata.annotate.backends.base import Backend, Request, Response
from emodata.annotate.settings import BackendConfig
from emodata.errors import ConfigError
from emodata.models import model_path

log = logging.getLogger(__name__)

SCRIPT = Path(__file__).resolve().parents[2] / "llm" / "vllm_batch.py"


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


class VLLMBackend(Backend):
    def __init__(self, cfg: BackendConfig) -> None:
        self.cfg = cfg
        self.model_id = f"vllm:{Path(cfg.model).name}"
        self.structured = True
        self.vision = cfg.vision
        self._python = ""
        self._model = ""

    def setup(self) -> None:
        self._python = vllm_python(self.cfg.venv)
        self._model = model_path(self.cfg.model)

    def generate(self, requests: list[Request]) -> list[Response]:
        if not requests:
            return []
        if not self._python:
            self.setup()
        with tempfile.TemporaryDirectory(prefix="emodata-vllm-") as tmp:
            src, dst = Path(tmp) / "requests.jsonl", Path(tmp) / "responses.jsonl"
            with src.open("w", encoding="utf-8") as f:
                for r in requests:
                    row = {
                        "id": r.id,
                        "messages": r.messages,
                        "max_tokens": r.max_tokens,
                        "temperature": r.temperature,
                        "json_schema": r.schema,
                    }
                    f.write(json.dumps(row) + "\n")
            cmd = [
                self._python,
                str(SCRIPT),
                "--model",
                self._model,
                "--input",
                str(src),
                "--output",
                str(dst),
                "--batch-size",
                str(self.cfg.batch_size),
                "--max-model-len",
                str(self.cfg.max_model_len),
                "--num-cpus",
                "1",
            ]
            if self.cfg.address:
                cmd += ["--address", self.cfg.address]
            env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "VIRTUAL_ENV"))}
            env["RAY_AUTH_MODE"] = "disabled"
            t0 = time.perf_counter()
            log.info("vllm: %d request(s) through Ray Data's LLM processor", len(requests))
            proc = subprocess.run(
                cmd,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=max(600.0, self.cfg.timeout_s * len(requests)),
            )
            wall = time.perf_counter() - t0
            if proc.returncode != 0 or not dst.exists():
                tail = (proc.stderr or proc.stdout)[-1500:]
                why = f"vllm batch exited {proc.returncode}: {tail}"
                log.error("%s", why)
                return [Response(r.id, error=why[-600:]) for r in requests]
            got = {}
            for line in dst.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                got[row["id"]] = row
        log.info("vllm: batch of %d done in %.1f s", len(requests), wall)
        out = []
        for r in requests:
            row = got.get(r.id)
            if row is None:
                out.append(Response(r.id, error="no response line for this request"))
                continue
            out.append(
                Response(
                    r.id,
                    text=row.get("text"),
                    prompt_tokens=int(row.get("prompt_tokens") or 0),
                    completion_tokens=int(row.get("completion_tokens") or 0),
                    latency_s=float(row.get("latency_s") or 0.0),
                    error=row.get("error"),
                )
            )
        return out


__all__ = ["VLLMBackend", "vllm_python"]
