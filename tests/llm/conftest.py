"""Shared fixtures for the local LLM tests: the converted SmolLM2 folder and the vLLM venv."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emodata.llm.vllm_server import vllm_venv
from emodata.models.registry import resolve

MODEL = "smollm2-135m-instruct"

# A label an annotator might ask for: an enum, a bounded number, nothing else.
EMOTION_SCHEMA = {
    "type": "object",
    "properties": {
        "emotion": {"type": "string", "enum": ["happy", "sad", "angry", "surprised", "neutral"]},
        "intensity": {"type": "integer", "minimum": 1, "maximum": 5},
    },
    "required": ["emotion", "intensity"],
    "additionalProperties": False,
}
EMOTION_MESSAGES = [
    {"role": "system", "content": "You label the emotion of a speaker. Answer in JSON."},
    {"role": "user", "content": "Transcript: 'We won! I can't believe we actually won!'"},
]


def assert_schema_valid(text: str, schema: dict) -> dict:
    import jsonschema

    value = json.loads(text)
    jsonschema.validate(value, schema)
    return value


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The converted Hugging Face folder (set-up pulls it; converted here when it has not)."""
    return resolve(MODEL)


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    """.venv-vllm's interpreter; the error says to run infra/vllm_env.sh when it is missing."""
    return vllm_venv() / "bin" / "python"
