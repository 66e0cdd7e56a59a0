"""The service on a cluster: three Kafka brokers, a three-node Cassandra ring, a Redis Cluster
of three masters with a replica each, and two workers, all started by `make cluster`
(infra/cluster.sh), which `make cluster-test` runs first.

The tests kill store nodes and workers with ``infra/cluster.sh kill NODE`` (SIGKILL of the
node's recorded process only) and bring them back with ``infra/cluster.sh start-node NODE``.
Each test leaves every node running, as it found them.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cassandra.cluster import Session

from leaderboard_app.settings import Settings
from tests.conftest import cassandra_session

REPO = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("LEADERBOARD_STATE_DIR", REPO / ".state"))
WORKER_ENV = STATE / "cluster" / "worker.env"
WORKER_URLS = ("http://127.0.0.1:6091", "http://127.0.0.1:6092")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "cluster" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


def cluster_environment() -> dict[str, str]:
    """The workers' environment, as `make cluster` wrote it."""
    if not WORKER_ENV.exists():
        pytest.fail(f"{WORKER_ENV} is missing: start the cluster with `make cluster` (`make cluster-test` does)")
    pairs = (line.split("=", 1) for line in WORKER_ENV.read_text().splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs}


SETTINGS = Settings.from_env(cluster_environment()) if WORKER_ENV.exists() else Settings()


def cluster(action: str, node: str | None = None, timeout: float = 600) -> None:
    """Run ``infra/cluster.sh ACTION [NODE]``."""
    command = ["bash", str(REPO / "infra" / "cluster.sh"), action, *([node] if node else [])]
    subprocess.run(command, check=True, timeout=timeout)


def worker_client(url: str) -> httpx.Client:
    """A client of one cluster worker (they run without API keys, on 127.0.0.1)."""
    return httpx.Client(base_url=url, timeout=20)


@pytest.fixture(scope="session")
def settings() -> Settings:
    cluster_environment()
    return SETTINGS


@pytest.fixture(scope="session")
def cassandra(settings: Settings) -> Iterator[Session]:
    yield from cassandra_session(settings)


@pytest.fixture
def game() -> str:
    return f"game-{uuid.uuid4().hex[:12]}"
