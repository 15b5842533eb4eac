"""Item 12: an API key never lands in the ledger, the logs or anything else under DIR.

Before: an endpoint whose 401 body echoes the Authorization header put the full key into
``failures/*.parquet`` (and the message was logged as it came).
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow.parquet as pq
import pytest

from emodata.errors import Reason
from emodata.records import Item
from emodata.redact import MASK, RedactingFilter, redact, watch_env
from tests.conftest import run_cli

# Not shaped like sk-...: only the configured api_key_env can catch it.
KEY = "k3y-9f8e7d6c5b4a3928-zyx"


class EchoServer:
    """Answers every request 401, quoting the Authorization header and the bare key back."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                auth = self.headers.get("Authorization", "")
                seen.append(auth)
                token = auth.removeprefix("Bearer ")
                body = json.dumps(
                    {
                        "error": {
                            "message": f"Incorrect API key provided: {token}. "
                            f"You sent Authorization: {auth}",
                            "type": "invalid_request_error",
                        }
                    }
                ).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> EchoServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_redact_masks_configured_values_and_known_shapes(monkeypatch):
    monkeypatch.setenv("MY_LLM_CREDENTIAL", KEY)
    assert KEY in redact(f"key {KEY}")  # not watched yet, not secret-shaped
    watch_env("MY_LLM_CREDENTIAL")
    assert redact(f"key {KEY}!") == f"key {MASK}!"
    assert redact("Authorization: Bearer abc.def-123") == f"Authorization: Bearer {MASK}"
    assert redact("sk-proj-AbC123xyz789 failed") == f"sk-{MASK} failed"
    assert redact('{"api_key": "zzzzzzzz"}') == f'{{"api_key": "{MASK}"}}'
    item = Item("/in/a.mp4", {"path": "/in/a.mp4"}).fail("annotate", Reason.LLM_ERROR, KEY)
    assert item.error["message"] == MASK


def test_log_records_are_redacted(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "got %s", (KEY,), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == f"got {MASK}"


@pytest.mark.slow
def test_echoed_key_lands_nowhere_under_dir(tmp_path, clips, monkeypatch):
    inputs = clips("in", 1)
    out = tmp_path / "out"
    monkeypatch.setenv("MY_LLM_CREDENTIAL", KEY)  # the run's subprocess inherits it
    with EchoServer() as server:
        res = run_cli(
            "run", "--input", str(inputs), "--output", str(out), "--num-cpus", "2",
            "--stages", "ingest,segment,annotate,write",
            "--set", "annotate.backends.default.kind=openai",
            "--set", "annotate.backends.default.model=test-model",
            "--set", f"annotate.backends.default.base_url={server.base_url}",
            "--set", "annotate.backends.default.api_key_env=MY_LLM_CREDENTIAL",
            "--set", "annotate.backends.default.max_retries=0",
        )  # fmt: skip
    assert server.seen and server.seen[0] == f"Bearer {KEY}"  # the key did go out, and came back
    ledger = pq.read_table(out / "failures").to_pylist()
    assert [(r["stage"], r["reason"]) for r in ledger] == [("annotate", "llm_error")]
    assert "AuthenticationError 401" in ledger[0]["message"] and MASK in ledger[0]["message"]
    assert KEY not in res.stdout + res.stderr
    for path in out.rglob("*"):
        if not path.is_file():
            continue
        assert KEY.encode() not in path.read_bytes(), path
        if path.suffix == ".parquet":
            assert KEY not in str(pq.read_table(path).to_pylist()), path
