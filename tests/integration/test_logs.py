"""A worker started with LOG_FORMAT=json logs only JSON lines, and never an API key."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from leaderboard_app.client import NotFound, SyncLeaderboardClient, Unauthorized
from tests.conftest import eventually
from tests.integration.conftest import KEY_ENV, KEYS, READY_TIMEOUT, WorkerGroup

#: Faust's start-up banner is a table printed to stdout before logging is set up: no
#: log line (logs go to stderr), and ``--quiet`` leaves it out. Its lines start with
#: these (box drawing on a terminal, ASCII otherwise).
BANNER_LINE_STARTS = tuple("+|┌│├└")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_json_worker_writes_json_log_lines_without_keys(workers: WorkerGroup, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **KEY_ENV, "WEB_PORT": str(port), "APP_DATADIR": str(tmp_path / "data"),
           "LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
    stdout_path, stderr_path = tmp_path / "stdout", tmp_path / "stderr"
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "leaderboard_app", "worker", "-l", "info", "--web-port", str(port)],
            env=env, stdout=stdout, stderr=stderr, start_new_session=True,
        )
    try:
        def ready() -> None:
            assert process.poll() is None, stderr_path.read_text()[-3000:]
            try:
                response = httpx.get(f"{url}/ready", timeout=5)
            except httpx.HTTPError as exc:
                raise AssertionError(f"not answering: {exc}") from exc
            assert response.status_code == 200, response.text

        eventually(ready, timeout=READY_TIMEOUT, interval=0.5)
        # Requests carrying every kind of key, good and bad, and errors along the way.
        with SyncLeaderboardClient(url, KEYS["admin"]) as admin:
            assert admin.submit_score("logs-game", "ann", 1).status == "queued"
            try:
                admin.rank("logs-game", f"nobody-{os.getpid()}")
            except NotFound:
                pass
        for key in (KEYS["read"], KEYS["write"], "not-a-key"):
            with SyncLeaderboardClient(url, key) as client:
                try:
                    client.top("logs-game")
                except Unauthorized:
                    assert key == "not-a-key"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        # The session's workers take back the partitions this one held.
        workers.wait_balanced()

    logs = stderr_path.read_text()
    lines = logs.splitlines()
    assert len(lines) > 10, logs
    for line in lines:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(entry), line
    messages = [json.loads(line)["message"] for line in lines]
    assert any("Ready" in message or "Starting" in message for message in messages), messages[:20]
    printed = stdout_path.read_text()
    assert "ƒaµS†" in printed
    assert all(line.startswith(BANNER_LINE_STARTS) for line in printed.splitlines() if line.strip()), printed
    for key in (*KEYS.values(), "not-a-key"):
        assert key not in logs and key not in printed
