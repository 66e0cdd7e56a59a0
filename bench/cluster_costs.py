"""What one submission costs each part of the cluster `make cluster` runs: CPU per event per role,
Kafka bytes, Redis memory per player. The figures behind docs/scaling.md's capacity plan.

    flock /tmp/leaderboard-stack.lock .venv/bin/python -m bench.cluster_costs [--events 40000]

Submissions go through ``POST /scores`` (batches of 500, both workers), new players over
``--games`` games; the run ends when both workers report no lag and no pending Cassandra
write. CPU is each recorded process's user+system time (/proc) before and after, by role.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import httpx
import redis

from leaderboard_app.sinks.redis_connection import RedisTarget

REPO = Path(__file__).resolve().parents[1]
STATE = Path(os.environ.get("LEADERBOARD_STATE_DIR", REPO / ".state")) / "cluster"
WORKERS = ("http://127.0.0.1:6091", "http://127.0.0.1:6092")
BATCH = 500
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds_by_role() -> dict[str, float]:
    """User+system CPU seconds of every process infra/cluster.sh recorded, summed per role."""
    totals: dict[str, float] = {}
    for pid_file in STATE.glob("*/pid"):
        role = pid_file.parent.name.rsplit("-", 1)[0]
        pid = pid_file.read_text().split()[0]
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(") ")[2].split()
        except OSError:
            continue
        totals[role] = totals.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / TICKS
    return totals


def settled() -> bool:
    for url in WORKERS:
        body = httpx.get(f"{url}/ready", timeout=10).json()
        if body.get("lag") != 0 or body.get("pendingCassandraWrites") != 0:
            return False
    return True


def redis_memory(target: RedisTarget) -> int:
    """Bytes of data the cluster's primaries hold (used_memory minus each one's startup overhead)."""
    client = redis.RedisCluster.from_url(target.seed_urls[0])
    try:
        used = 0
        for node in client.get_primaries():
            info = client.info("memory", target_nodes=node)
            used += int(info["used_memory"]) - int(info["used_memory_startup"])
        return used
    finally:
        client.close()


@click.command()
@click.option("--events", default=40_000, show_default=True)
@click.option("--games", default=20, show_default=True)
def main(events: int, games: int) -> None:
    target = RedisTarget(
        next(line.split("=", 1)[1] for line in (STATE / "worker.env").read_text().splitlines()
             if line.startswith("REDIS_URL=")), cluster=True)
    run = uuid.uuid4().hex[:8]
    batches = [[{"gameId": f"cost-{run}-{n % games}", "userId": f"p{n}", "score": n}
                for n in range(start, min(events, start + BATCH))] for start in range(0, events, BATCH)]
    memory_before = redis_memory(target)
    cpu_before = cpu_seconds_by_role()
    began = time.monotonic()

    def send(index: int) -> None:
        with httpx.Client(base_url=WORKERS[index % 2], timeout=60) as client:
            answer = client.post("/scores", json={"scores": batches[index]})
            answer.raise_for_status()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(len(batches))))
    accepted = time.monotonic() - began
    while not settled():
        time.sleep(0.2)
    drained = time.monotonic() - began
    cpu_after = cpu_seconds_by_role()
    memory_after = redis_memory(target)
    cpu_ms = {role: round(1000 * (cpu_after.get(role, 0.0) - cpu_before.get(role, 0.0)) / events, 3)
              for role in sorted(cpu_after)}
    print(json.dumps({
        "events": events, "games": games, "accepted_s": round(accepted, 2), "applied_everywhere_s": round(drained, 2),
        "events_per_s": round(events / drained), "cpu_ms_per_event": cpu_ms,
        "cpu_ms_per_event_total": round(sum(cpu_ms.values()), 3),
        "redis_bytes_per_player": round((memory_after - memory_before) / events),
    }, indent=2))


if __name__ == "__main__":
    main()
