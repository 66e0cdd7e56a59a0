"""Structured logs: with ``LOG_FORMAT=json`` every log line is one JSON object.

The worker's logging is set up by mode (Faust's service library) when the worker
starts, from the app's ``logging_config`` setting: :func:`logging_config` returns
what the app passes there. It is merged into mode's own configuration and only
replaces mode's two formatters, so the handler, the ``-l`` level and a ``-f`` log
file stay as mode makes them. Text logs (the default) are left to mode entirely.

No code here or elsewhere puts an API key into a message (see ``auth``), and the
web server keeps no access log. The JSON formatter still masks anything shaped
like a bearer token or a ``key=`` query parameter, so a key in an exception's text
cannot reach a log either.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone
from typing import Any

LOG_FORMATS = ("text", "json")

#: ``Bearer <token>``, ``Authorization: <value>`` (any case, quoted or not), and the
#: ``key`` query parameter that GET /stream/topk takes from clients that cannot send headers.
_SECRETS = re.compile(
    r"(?i)(\bbearer\s+|\bauthorization['\"]?\s*[:=]\s*['\"]?|[?&]key=)(?!bearer\b)[^\s'\",;&#]+"
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """Return ``text`` with bearer tokens, Authorization values and ``key`` query parameters masked."""
    return _SECRETS.sub(lambda match: match.group(1) + REDACTED, text)


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON: time, level, logger, message, and exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        # mode's services log keyword arguments as the record's ``data``.
        data = record.__dict__.get("data")
        if data:
            entry["data"] = {str(key): redact(repr(value)) for key, value in data.items()}
        if record.exc_info:
            # Cached like logging.Formatter does, so other handlers need not format it again.
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        # ASCII output: lone surrogates and line separators in a message are escaped,
        # so a line is always one valid JSON object whatever was logged.
        return json.dumps(entry, ensure_ascii=True, default=str)


def logging_config(log_format: str) -> dict[str, Any] | None:
    """Return the app's ``logging_config`` for ``log_format``: None (mode's defaults) for text."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    if log_format == "text":
        return None
    formatter = {"()": f"{__name__}.JsonFormatter"}
    return {
        "version": 1,
        # Merge into mode's configuration: keep its handler (stderr, or the -f file) and level.
        "merge": True,
        # mode's stream handler uses "colored", its file handler "default": both become JSON.
        "formatters": {"default": formatter, "colored": formatter},
    }
