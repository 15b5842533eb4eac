"""A persistent response cache keyed by content.

The key hashes (clip id, agent, prompt version, model id, input hash); the input hash covers the
rendered messages, the output schema and the sampling settings. Upstream agents' outputs are
part of a downstream agent's input, so editing one agent's prompt re-runs that agent and those
after it, and nothing before it. One small JSON file per entry, written atomically, so any
number of actors (and an fsspec URL such as s3://) can share the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from typing import Any

import fsspec

log = logging.getLogger(__name__)


def input_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cache_key(clip: str, agent: str, prompt_version: str, model_id: str, inputs: str) -> str:
    return input_hash([clip, agent, prompt_version, model_id, inputs])


class ResponseCache:
    def __init__(self, url: str) -> None:
        self.fs, self.root = fsspec.core.url_to_fs(url)
        self.root = self.root.rstrip("/")
        self.fs.makedirs(self.root, exist_ok=True)
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> str:
        return f"{self.root}/{key[:2]}/{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        try:
            with self.fs.open(path, "rb") as f:
                entry = json.loads(f.read())
        except FileNotFoundError:
            self.misses += 1
            return None
        except ValueError:
            log.warning("ignoring a corrupt cache entry %s", path)
            self.misses += 1
            return None
        self.hits += 1
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        path = self._path(key)
        tmp = f"{self.root}/{key[:2]}/.{key}.{uuid.uuid4().hex[:8]}.tmp"
        self.fs.makedirs(f"{self.root}/{key[:2]}", exist_ok=True)
        with self.fs.open(tmp, "wb") as f:
            f.write(json.dumps(entry, sort_keys=True).encode())
        self.fs.mv(tmp, path)
