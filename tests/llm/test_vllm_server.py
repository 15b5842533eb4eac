"""A real vLLM OpenAI-compatible server (.venv-vllm, CPU) answering the real SmolLM2 model."""

from __future__ import annotations

import os
import stat
import time

import pytest

from emodata.llm.vllm_server import VENV_ENV, VLLMError, VLLMServer, vllm_venv

from .conftest import EMOTION_MESSAGES, EMOTION_SCHEMA, assert_schema_valid


def test_missing_venv_says_how_to_make_it(monkeypatch, tmp_path):
    monkeypatch.setenv(VENV_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(VLLMError, match=r"infra/vllm_env\.sh.*make setup"):
        vllm_venv()


def _fake_vllm(tmp_path, script: str):
    """A venv whose python runs ``script`` (sh), and a model folder, for start-up failures."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake = venv / "bin" / "python"
    fake.write_text("#!/bin/sh\n" + script)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    return venv, model


def _group_gone(pgid: int, within_s: float = 5) -> bool:
    """True once no process of the group is left (killed children may be reaped a bit later)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_a_server_that_dies_reports_its_log(tmp_path):
    venv, model = _fake_vllm(
        tmp_path, "echo 'loading...'\necho 'ValueError: no CPU backend' >&2\nexit 3\n"
    )
    server = VLLMServer(model, venv=venv, log_path=tmp_path / "server.log", ready_timeout_s=30)
    started = time.monotonic()
    with pytest.raises(VLLMError) as e, server:
        pass
    assert time.monotonic() - started < 10
    assert "exited with code 3" in str(e.value) and "ValueError: no CPU backend" in str(e.value)
    assert server.port is not None and server.base_url.endswith(f":{server.port}/v1")


def test_a_server_never_ready_is_stopped_with_its_whole_group(tmp_path):
    # the "server" leaves a child behind (as vLLM's engine core process is) and never answers
    venv, model = _fake_vllm(tmp_path, "sleep 300 &\necho 'still loading'\nsleep 300\n")
    server = VLLMServer(model, venv=venv, log_path=tmp_path / "server.log", ready_timeout_s=2)
    with pytest.raises(VLLMError, match=r"not ready after 2 s[\s\S]*still loading"):
        server.start()
    assert server.pid is not None
    assert _group_gone(server.pid)


def test_a_folder_without_config_is_refused(tmp_path):
    with pytest.raises(VLLMError, match="not a Hugging Face model folder"):
        VLLMServer(tmp_path).start()


@pytest.fixture(scope="module")
def server(smollm2_dir, vllm_python, tmp_path_factory):
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    with VLLMServer(smollm2_dir, served_model_name="smollm2", log_path=log) as s:
        yield s
    assert s.pid is not None and _group_gone(s.pid)


@pytest.mark.slow
def test_chat_completion(server):
    import openai

    assert server.model == "smollm2" and server.base_url.startswith("http://127.0.0.1:")
    client = openai.OpenAI(base_url=server.base_url, api_key="none")
    r = client.chat.completions.create(
        model=server.model,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=20,
        temperature=0,
    )
    assert "Paris" in r.choices[0].message.content
    assert r.usage.prompt_tokens > 0 and 0 < r.usage.completion_tokens <= 20


@pytest.mark.slow
def test_json_schema_response_is_valid(server):
    import openai

    client = openai.OpenAI(base_url=server.base_url, api_key="none")
    for temperature in (0.0, 1.0):
        r = client.chat.completions.create(
            model=server.model,
            messages=EMOTION_MESSAGES,
            max_tokens=80,
            temperature=temperature,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "emotion", "schema": EMOTION_SCHEMA, "strict": True},
            },
        )
        value = assert_schema_valid(r.choices[0].message.content, EMOTION_SCHEMA)
        assert value["emotion"] in EMOTION_SCHEMA["properties"]["emotion"]["enum"]
