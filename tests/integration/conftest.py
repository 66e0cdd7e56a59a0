"""End-to-end fixtures: real Kafka, Redis and Cassandra, and real worker processes.

`make test` starts the services (infra/services.sh). Nothing here skips when a
service is missing: an unreachable service fails the run, because a skipped
integration test would let CI pass with nothing checked.

Two workers (web ports 6071 and 6072) run for the whole session, in the same
consumer group as `make run`'s worker, each with a RocksDB directory of its own
under the session's temporary folder. Tests isolate themselves by game id.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from urllib.parse import quote
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from aiokafka.partitioner import murmur2
from cassandra.cluster import Session

from leaderboard_app.models import player_key
from leaderboard_app.settings import Settings
from tests.conftest import cassandra_session, eventually

SETTINGS = Settings.from_env()
#: Headers of a raw JSON body (httpx's ``json=`` sets them itself).
JSON = {"Content-Type": "application/json"}
WORKER_PORTS = (6071, 6072)
READY_TIMEOUT = 180.0

#: The session's workers run with keys of every scope; clients send the admin key
#: unless a test says otherwise.
KEYS = {"read": "test-reader-key", "write": "test-writer-key", "admin": "test-admin-key"}
KEY_ENV = {
    "LEADERBOARD_READ_KEYS": f"old-reader-key,{KEYS['read']}",
    "LEADERBOARD_WRITE_KEYS": KEYS["write"],
    "LEADERBOARD_ADMIN_KEYS": KEYS["admin"],
    # A SIGKILLed worker leaves the group after this, not after the 60 s default.
    "BROKER_SESSION_TIMEOUT": "10",
}


def bearer(scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[scope]}"}


def client_for(url: str, scope: str = "admin") -> httpx.Client:
    """An HTTP client of one worker, presenting the key of ``scope``."""
    return httpx.Client(base_url=url, timeout=20, headers=bearer(scope))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def require_port(host: str, port: int, name: str) -> None:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        pytest.fail(f"{name} is not reachable on {host}:{port} ({exc}); run `make test`, which starts it")


class Worker:
    """One `python -m leaderboard_app worker` process."""

    def __init__(self, port: int, root: Path) -> None:
        self.port = port
        self.root = root
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.generation = 0

    @property
    def log_path(self) -> Path:
        return self.root / f"worker-{self.port}.log"

    def start(self, keep_data: bool = False, **extra_env: str) -> None:
        """Start with a fresh data directory, so the tables must come back from their changelogs.

        ``keep_data``: with the data directory of the previous start instead.
        """
        if not keep_data or not self.generation:
            self.generation += 1
        data_dir = self.root / f"data-{self.port}-{self.generation}"
        env = {**os.environ, **KEY_ENV, "WEB_PORT": str(self.port), "APP_DATADIR": str(data_dir),
               "PYTHONUNBUFFERED": "1", **extra_env}
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "leaderboard_app", "worker", "-l", "info", "--web-port", str(self.port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()

    def ready(self) -> dict:
        assert self.process is not None and self.process.poll() is None, f"worker died; see {self.log_path}"
        try:
            response = httpx.get(f"{self.url}/ready", timeout=5)
        except httpx.HTTPError as exc:
            raise AssertionError(f"worker {self.port} not answering: {exc}") from exc
        assert response.status_code == 200, response.text
        return response.json()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


class WorkerGroup:
    """The workers of one consumer group, and what they have to agree on."""

    def __init__(self, root: Path, ports: tuple[int, ...] = WORKER_PORTS) -> None:
        self.workers = [Worker(port, root) for port in ports]
        self.partitions = SETTINGS.topic_partitions

    @property
    def urls(self) -> list[str]:
        return [worker.url for worker in self.workers]

    def start(self, keep_data: bool = False, **extra_env: str) -> None:
        for worker in self.workers:
            worker.start(keep_data, **extra_env)
        self.wait_balanced()

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()

    def wait_balanced(self) -> list[list[int]]:
        """Wait until every worker is ready and together they own each partition once."""

        def balanced() -> list[list[int]]:
            bodies = [worker.ready() for worker in self.workers]
            # Scores sent before the tables are restored would wait for it, beyond the tests' deadlines.
            assert not any(body["restoringTables"] for body in bodies), "tables still being restored"
            owned = [body["partitions"] for body in bodies]
            flat = sorted(p for partitions in owned for p in partitions)
            assert flat == list(range(self.partitions)), f"partitions not split yet: {owned}"
            assert all(owned), f"a worker owns no partition: {owned}"
            return owned

        try:
            return eventually(balanced, timeout=READY_TIMEOUT, interval=0.5)
        except AssertionError:
            for worker in self.workers:
                if worker.log_path.exists():
                    print(f"--- tail of {worker.log_path}\n" + worker.log_path.read_text()[-3000:])
            raise


@pytest.fixture(scope="session")
def services() -> None:
    require_port("127.0.0.1", 9092, "Kafka")
    require_port("127.0.0.1", 6379, "Redis")
    require_port(SETTINGS.cassandra_contact_points[0], SETTINGS.cassandra_port, "Cassandra")


@pytest.fixture(scope="session")
def workers(services: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerGroup]:
    group = WorkerGroup(tmp_path_factory.mktemp("workers"))
    try:
        group.start()
        yield group
    finally:  # also when starting failed: no worker may outlive the session
        group.stop()


@pytest.fixture
def api(workers: WorkerGroup) -> Iterator[httpx.Client]:
    """A client of the first worker, with the admin key."""
    with client_for(workers.urls[0]) as client:
        yield client


@pytest.fixture
def game() -> str:
    """A game id no other test uses."""
    return f"game-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def redis_client(services: None) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(SETTINGS.redis_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def cassandra(services: None) -> Iterator[Session]:
    yield from cassandra_session(SETTINGS)


def partition_of(game_id: str, user_id: str) -> int:
    """The partition Kafka's default partitioner picks for this player's key."""
    return (murmur2(player_key(game_id, user_id)) & 0x7FFFFFFF) % SETTINGS.topic_partitions


def same_partition_marker(game_id: str, user_id: str) -> str:
    """A user id on the same partition as ``user_id``: once its score shows, every
    earlier submission of ``user_id`` has been applied (a partition is applied in order)."""
    target = partition_of(game_id, user_id)
    return next(f"marker-{n}" for n in range(10_000) if partition_of(game_id, f"marker-{n}") == target)


def submit(client: httpx.Client, game_id: str, user_id: str, score: int, **extra: object) -> None:
    response = client.post("/score", json={"userId": user_id, "score": score, "gameId": game_id, **extra})
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "queued"}


def rank_of(client: httpx.Client, game_id: str, user_id: str, **params: object) -> httpx.Response:
    return client.get(f"/rank/{quote(user_id, safe='')}", params={"gameId": game_id, **params})


def standing(response: httpx.Response) -> tuple[str, int, int]:
    """The (userId, rank, score) of a /rank answer."""
    assert response.status_code == 200, response.text
    body = response.json()
    return body["userId"], body["rank"], body["score"]


def wait_for_score(client: httpx.Client, game_id: str, user_id: str, score: int, timeout: float = 15.0,
                   **params: object) -> dict:
    """Poll /rank until the player shows ``score``; return the body."""

    def shows() -> dict:
        response = rank_of(client, game_id, user_id, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["score"] == score, body
        return body

    return eventually(shows, timeout=timeout)


def wait_for_scores(client: httpx.Client, game_id: str, scores: dict[str, int], timeout: float = 30.0,
                    **params: object) -> None:
    """Poll until every player in ``scores`` shows their score (players on other
    partitions may be applied in any order, so each one is awaited)."""
    for user_id, score in scores.items():
        wait_for_score(client, game_id, user_id, score, timeout=timeout, **params)


def set_rules(client: httpx.Client, game_id: str, **rules: object) -> httpx.Response:
    """PUT a game's rules; a 202 (not yet visible, e.g. during a rebalance) is followed
    until they are, and then answered by the same PUT again (200 once in place)."""
    path = f"/games/{quote(game_id, safe='')}"
    response = client.put(path, json=rules)
    if response.status_code == 202:
        def visible() -> None:
            body = client.get(path).json()
            assert all(body[name] == value for name, value in rules.items()), body

        eventually(visible, timeout=60, interval=0.2)
        response = client.put(path, json=rules)
    return response


@pytest.fixture
def tournament() -> str:
    """A tournament id no other test uses."""
    return f"tournament-{uuid.uuid4().hex[:12]}"


def define_tournament(client: httpx.Client, tournament_id: str, **definition: object) -> httpx.Response:
    """PUT a tournament; a 202 (not yet visible on this worker) is followed until it is, then PUT again."""
    path = f"/tournaments/{quote(tournament_id, safe='')}"
    response = client.put(path, json=definition)
    if response.status_code == 202:
        eventually(lambda: _assert_status(client.get(path), 200), timeout=60, interval=0.2)
        response = client.put(path, json=definition)
    return response


def _assert_status(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
