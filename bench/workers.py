"""The service's workers for a run: ``faust -A leaderboard_app worker`` processes started as
tests/integration/conftest.py starts them (own web port, own data directory, API keys,
short broker session), with the rate limit off, in the consumer group of ``make run``."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import httpx

from bench.machine import cpu_seconds, rss_bytes
from bench.processes import ChildProcess, port_free
from bench.progress import say

#: Web ports of the bench's workers (6066 is `make run`'s, 6071/6072 the tests').
WORKER_PORTS = (6081, 6082)
#: Keys the bench's workers accept; the load presents the write key, which may also read.
API_KEYS = {"read": "bench-reader-key", "write": "bench-writer-key", "admin": "bench-admin-key"}


class Worker(ChildProcess):
    def __init__(self, port: int, root: Path) -> None:
        env = {
            **os.environ,
            "WEB_PORT": str(port),
            "APP_DATADIR": str(root / f"data-{port}"),
            "LEADERBOARD_RATE_LIMIT": "0",
            "LEADERBOARD_READ_KEYS": API_KEYS["read"],
            "LEADERBOARD_WRITE_KEYS": API_KEYS["write"],
            "LEADERBOARD_ADMIN_KEYS": API_KEYS["admin"],
            # A worker that dies leaves the group after this, not after the 60 s default.
            "BROKER_SESSION_TIMEOUT": "10",
            "PYTHONUNBUFFERED": "1",
        }
        faust = Path(sys.executable).with_name("faust")
        super().__init__(f"worker {port}", [str(faust), "-A", "leaderboard_app", "worker", "-l", "info",
                                            "--web-port", str(port)], root / f"worker-{port}.log", env)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.data_dir = root / f"data-{port}"

    def readiness(self) -> dict | None:
        """The worker's /ready body when it answers 200, else None."""
        self.require_alive()
        try:
            response = httpx.get(f"{self.url}/ready", timeout=5)
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None


class WorkerGroup:
    """The run's workers: started together, ready once they split every partition between them."""

    def __init__(self, root: Path, partitions: int, ports: tuple[int, ...] = WORKER_PORTS) -> None:
        self.workers = [Worker(port, root) for port in ports]
        self.partitions = partitions

    @property
    def urls(self) -> list[str]:
        return [worker.url for worker in self.workers]

    @property
    def pids(self) -> list[int]:
        return [worker.pid for worker in self.workers]

    def start(self) -> None:
        taken = [worker.port for worker in self.workers if not port_free(worker.port)]
        if taken:
            raise RuntimeError(f"ports {taken} are in use: the bench's workers need them (is another bench running?)")
        for worker in self.workers:
            worker.start()
        say(f"started workers {', '.join(f'{w.port} (pid {w.pid})' for w in self.workers)}")

    def assignment(self) -> list[list[int]] | None:
        """Each worker's partitions, or None while any worker is not ready."""
        owned = []
        for worker in self.workers:
            body = worker.readiness()
            if body is None:
                return None
            owned.append(body["partitions"])
        return owned

    def wait_balanced(self, timeout: float) -> list[list[int]]:
        """Wait until every worker is ready and together they own each partition once."""
        deadline = time.monotonic() + timeout
        while True:
            owned = self.assignment()
            if owned and all(owned) and sorted(p for ps in owned for p in ps) == list(range(self.partitions)):
                return owned
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {w.log_path}\n{w.log_tail()}" for w in self.workers)
                raise TimeoutError(f"workers not ready and balanced within {timeout:g} s (last: {owned})\n{tails}")
            time.sleep(0.5)

    def pending_cassandra_writes(self) -> int | None:
        """The writes the workers still hold for Cassandra (their /ready), None if any does not say."""
        bodies = [worker.readiness() for worker in self.workers]
        if any(body is None for body in bodies):
            return None
        return sum(body["pendingCassandraWrites"] for body in bodies)

    def rss_bytes(self) -> int:
        return sum(rss_bytes(pid) for pid in self.pids)

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def wipe_data(self) -> None:
        """Delete the (stopped) workers' data directories: their next start restores from the changelogs."""
        for worker in self.workers:
            shutil.rmtree(worker.data_dir, ignore_errors=True)

    def stop(self) -> None:
        for worker in self.workers:
            worker.terminate()  # all at once: each then needs only its own shutdown time
        for worker in self.workers:
            worker.wait_stopped()
