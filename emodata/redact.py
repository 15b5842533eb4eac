"""Keep secrets out of the ledger, the logs and progress: redact them from every message.

An endpoint may echo the request (a 401 body that quotes the ``Authorization`` header, a proxy
error page), so error text is never trusted to be clean. Redacted are: the values of the
environment variables named by the annotate backends' ``api_key_env`` (registered with
``watch_env``), of every variable whose name says it holds a secret (``*_API_KEY``, ``*_TOKEN``,
``*_SECRET``, ``*_PASSWORD``), and anything shaped like ``sk-...`` or ``Bearer ...``.
"""

from __future__ import annotations

import logging
import os
import re

MASK = "[redacted]"
_MIN_LEN = 6  # shorter values ("1", "EMPTY"...) would mask ordinary words

_WATCHED: set[str] = {"OPENAI_API_KEY", "HF_TOKEN", "EMODATA_REVIEW_TOKEN"}
_SECRET_NAME = re.compile(r"(?:API_?KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
_PATTERNS = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}"), r"\1 " + MASK),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"), "sk-" + MASK),
    (
        re.compile(r"(?i)((?:api[_-]?key|x-api-key)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]{6,}"),
        r"\1" + MASK,
    ),
]


def watch_env(*names: str) -> None:
    """Also redact the values of these environment variables (e.g. a backend's api_key_env)."""
    _WATCHED.update(n for n in names if n)


def _values() -> list[str]:
    vals = {
        v
        for k, v in os.environ.items()
        if (k in _WATCHED or _SECRET_NAME.search(k)) and v and len(v) >= _MIN_LEN
    }
    return sorted(vals, key=len, reverse=True)  # longest first: a key that contains another


def redact(text: str) -> str:
    """``text`` with every known secret value and secret-shaped token masked."""
    if not text:
        return text
    for value in _values():
        if value in text:
            text = text.replace(value, MASK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    """Formats each record's message once and masks secrets in it (and in its traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except (TypeError, ValueError):
            return True
        record.msg, record.args = redact(msg), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_filter() -> None:
    """Attach the filter to every handler of the root logger (and to the last-resort one)."""
    handlers = list(logging.getLogger().handlers)
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
