"""JSON log lines: the formatter, the key masking, and the hook mode applies at worker start."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest
from mode.utils.logging import setup_logging

from leaderboard_app.logs import REDACTED, JsonFormatter, logging_config, redact
from leaderboard_app.settings import Settings, SettingsError


def record(message: str, *args: object, level: int = logging.INFO, exc_info: object = None,
           name: str = "leaderboard_app.test") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, args, exc_info)  # type: ignore[arg-type]


def formatted(entry: logging.LogRecord) -> dict:
    line = JsonFormatter().format(entry)
    assert "\n" not in line
    return json.loads(line)


def test_a_record_becomes_one_json_object() -> None:
    entry = record("applied %d records to %s", 3, "redis", level=logging.WARNING)
    entry.created = 1764189573.953
    assert formatted(entry) == {"time": "2025-11-26T20:39:33.953Z", "level": "WARNING",
                                "logger": "leaderboard_app.test", "message": "applied 3 records to redis"}


def test_the_time_is_utc_iso_8601() -> None:
    stamp = formatted(record("x"))["time"]
    assert stamp.endswith("Z")
    assert datetime.fromisoformat(stamp).utcoffset().total_seconds() == 0


def test_an_exception_is_kept_in_the_same_line() -> None:
    try:
        raise RuntimeError("redis went away")
    except RuntimeError:
        entry = record("unhandled error", level=logging.ERROR, exc_info=__import__("sys").exc_info())
    body = formatted(entry)
    assert body["message"] == "unhandled error"
    assert "Traceback (most recent call last)" in body["exception"]
    assert "RuntimeError: redis went away" in body["exception"]


def test_newlines_surrogates_and_non_text_arguments_stay_valid_json() -> None:
    body = formatted(record("line one\nline two %s %r", "\ud800", {"score": 1}))
    assert body["message"] == "line one\nline two \ud800 {'score': 1}"


def test_mode_keyword_data_is_kept() -> None:
    entry = record("started")
    entry.data = {"partitions": [0, 1]}
    assert formatted(entry)["data"] == {"partitions": "[0, 1]"}


@pytest.mark.parametrize("text", [
    "Authorization: Bearer test-admin-key",
    "headers={'Authorization': 'Bearer test-admin-key'}",
    "authorization=test-admin-key",
    "got bearer test-admin-key from 127.0.0.1",
    'curl -H "Authorization: Bearer test-admin-key"',
    "GET /stream/topk?gameId=g&key=test-admin-key&k=3",
    "GET /stream/topk?key=test-admin-key",
])
def test_keys_are_masked(text: str) -> None:
    masked = redact(text)
    assert "test-admin-key" not in masked
    assert REDACTED in masked


def test_masking_leaves_ordinary_text_alone() -> None:
    for text in ("user not found", "the rules of game 'tetris' cannot change: it already has scores",
                 "missing or malformed Authorization header", "GET /topk?gameId=monkey&k=3"):
        assert redact(text) == text


def test_keys_are_masked_in_messages_and_exceptions() -> None:
    try:
        raise ValueError("bad header Authorization: Bearer s3cret-key")
    except ValueError:
        entry = record("request with %s", "Bearer s3cret-key", exc_info=__import__("sys").exc_info())
    line = JsonFormatter().format(entry)
    assert "s3cret-key" not in line
    assert json.loads(line)["message"] == f"request with Bearer {REDACTED}"


def test_log_format_setting() -> None:
    assert Settings.from_env({}).log_format == "text"
    assert Settings.from_env({"LOG_FORMAT": "json"}).log_format == "json"
    assert Settings.from_env({"LOG_FORMAT": " JSON "}).log_format == "json"
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        Settings.from_env({"LOG_FORMAT": "xml"})


def test_text_leaves_logging_to_mode() -> None:
    assert logging_config("text") is None
    with pytest.raises(ValueError):
        logging_config("yaml")


@pytest.fixture
def restored_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_mode_applies_the_json_config_as_a_worker_does(restored_root_logger: None,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    # faust's Worker hands the app's logging_config to mode's setup_logging with the
    # -l level and stream; every line that then reaches the handler is JSON.
    setup_logging(loglevel="info", logfile=None, logging_config=dict(logging_config("json") or {}))
    logging.getLogger("leaderboard_app.app").warning("NO API KEYS CONFIGURED")
    logging.getLogger("aiokafka").info("joined group")
    logging.getLogger("aiokafka").debug("below the level: not written")
    captured = capsys.readouterr()
    lines = [line for line in (captured.err + captured.out).splitlines() if line]
    assert [json.loads(line)["message"] for line in lines] == ["NO API KEYS CONFIGURED", "joined group"]
    assert json.loads(lines[0])["level"] == "WARNING"
