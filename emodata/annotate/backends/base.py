"""The backend interface: requests and responses in the OpenAI chat format."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    id: str
    messages: list[dict[str, Any]]
    schema: dict[str, Any] | None = None
    schema_name: str = "output"
    max_tokens: int = 256
    temperature: float = 0.0


@dataclass
class Response:
    id: str
    text: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    attempts: int = 1  # transport attempts, retries included
    image_tokens: int = 0  # of prompt_tokens, those the images became (where the backend knows)
    error: str | None = None  # set when no text came back after every retry
    meta: dict[str, Any] = field(default_factory=dict)


class Backend(ABC):
    """One model behind one interface. ``setup()`` loads or connects, once per worker."""

    #: Stable model identity for cache keys, prices and provenance.
    model_id: str = ""
    #: True when the backend constrains decoding to the request's JSON schema.
    structured: bool = False
    #: True when image parts in messages reach the model.
    vision: bool = False

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Load the model or open the connection."""

    @abstractmethod
    def generate(self, requests: list[Request]) -> list[Response]:
        """One response per request, in order; failures are responses with ``error`` set."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model, stop a server this backend started."""
