"""A small OpenAI-compatible HTTP server of the tests' own that answers, or fails, on a script.

Each agent (read from the request's ``response_format`` name, or the system prompt) has a queue
of behaviours; the n-th request of that agent takes the n-th behaviour, then ``ok``:

- ``ok``: a schema-valid answer that cites only ``clip.duration``;
- ``429``: Too Many Requests with ``Retry-After: 1``; ``500``: an internal error;
- ``too_long``: 400 as vLLM answers a prompt past the context (``max_tokens ... got 0``);
- ``hang``: no answer for ``hang_s`` seconds (past the client's timeout);
- ``truncated``: 200 with the JSON cut in half; ``invalid``: 200 with JSON that breaks the schema;
- ``die``: the server closes the connection and stops serving.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWERS: dict[str, dict[str, Any]] = {
    "perceiver": {"attributes": [], "expressions": [], "scene": "a short clip"},
    "listener": {"speech": "", "vocal": []},
    "reasoner": {
        "expressions": [],
        "emotion": {
            "label": "neutral",
            "terms": ["calm"],
            "valence": 0.0,
            "arousal": 0.0,
            "confidence": 0.5,
        },
        "rationale": [{"claim": "The clip is short and calm.", "cues": ["clip.duration"]}],
        "conflict": "",
        "caption": "A short, calm clip: nothing in the measured cues points to a strong feeling, "
        "so the scene reads as neutral and quiet from start to end.",
    },
    "critic": {"verdict": "accept", "reasons": []},
    "qa": {
        "qa": [
            {"kind": "attribute", "question": "Who is in the clip?", "answer": "Not measured."},
            {"kind": "expression", "question": "What expression shows?", "answer": "None."},
            {"kind": "emotion", "question": "What is the emotion?", "answer": "neutral"},
            {"kind": "reasoning", "question": "Why?", "answer": "The cues are calm."},
        ]
    },
}


class FaultServer:
    def __init__(
        self, plan: dict[str, list[str]] | None = None, hang_s: float = 5.0, structured: bool = True
    ) -> None:
        self.plan = {k: list(v) for k, v in (plan or {}).items()}
        self.hang_s = hang_s
        self.structured = structured  # False: refuse response_format with 400
        self.seen: dict[str, list[str]] = defaultdict(list)  # agent -> behaviours served
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.dead = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.handle(self, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if not self.dead.is_set():
            self.dead.set()
            threading.Thread(target=self.httpd.shutdown, daemon=True).start()
        self.httpd.server_close()

    @staticmethod
    def agent_of(body: dict[str, Any]) -> str:
        fmt = body.get("response_format") or {}
        name = (fmt.get("json_schema") or {}).get("name")
        if name:
            return name
        system = body["messages"][0]["content"]
        m = re.search(r"You are the (\w+)", system)
        return m.group(1) if m else "qa"

    def handle(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if self.dead.is_set():  # kept-alive connections of a dead server get nothing either
            h.close_connection = True
            h.connection.close()
            return
        agent = self.agent_of(body)
        with self.lock:
            queue = self.plan.get(agent, [])
            behaviour = queue.pop(0) if queue else "ok"
            if not self.structured and body.get("response_format"):
                behaviour = "refuse"
            self.seen[agent].append(behaviour)
            self.bodies.append(body)
        if behaviour == "die":
            h.close_connection = True
            h.connection.close()
            self.stop()
            return
        if behaviour == "hang":
            time.sleep(self.hang_s)
        if behaviour in {"429", "500", "refuse", "too_long"}:
            code = {"429": 429, "500": 500, "refuse": 400, "too_long": 400}[behaviour]
            message = f"scripted {behaviour}"
            if behaviour == "too_long":
                message = "max_tokens must be at least 1, got 0. (parameter=max_tokens, value=0)"
            payload = json.dumps({"error": {"message": message}}).encode()
            h.send_response(code)
            if code == 429:
                h.send_header("Retry-After", "1")
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            return
        value = json.loads(json.dumps(ANSWERS[agent]))
        asked = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
        if asked and "properties" in asked:  # only what the schema asks (texts: rendered)
            value = {k: v for k, v in value.items() if k in asked["properties"]}
        if "caption" in value and agent == "reasoner":  # it follows the prompt, as a model's would
            value["caption"] += f" ({len(body['messages'][0]['content'])} chars of instructions)"
        answer = json.dumps(value)
        if behaviour == "truncated":
            answer = answer[: len(answer) // 2]
        elif behaviour == "invalid":
            answer = json.dumps({"verdict": 42, "note": "not what the schema asks"})
        self._reply(h, body, answer)

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, body: dict[str, Any], content: str) -> None:
        prompt = sum(len(str(m.get("content", ""))) for m in body["messages"]) // 4
        completion = max(1, len(content) // 4)
        payload = json.dumps(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "test"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content},
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        ).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)
