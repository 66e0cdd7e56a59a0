"""GET /metrics on the session's workers: the series move as the workers work."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from leaderboard_app.sinks.redis import INDEXED_PARTITIONS_KEY
from tests.conftest import eventually
from tests.integration.conftest import WorkerGroup, client_for, partition_of, submit, wait_for_score

Samples = dict[str, dict[frozenset[tuple[str, str]], float]]

#: Fresh session workers first restore their tables from the changelogs, and apply
#: nothing before that: on a long-lived cluster that takes minutes.
RECOVERY_TIMEOUT = 600.0
# Run on their own, these tests pay for that recovery (in a whole run, an earlier test does).
pytestmark = pytest.mark.timeout(RECOVERY_TIMEOUT + 300)


def wait_until_every_partition_applies(workers: WorkerGroup) -> None:
    """Wait until a score sent to each partition of score_updates shows (every worker has recovered)."""
    game = f"probe-{uuid.uuid4().hex[:12]}"
    users = {}
    for n in range(10_000):
        users.setdefault(partition_of(game, f"probe-{n}"), f"probe-{n}")
        if len(users) == workers.partitions:
            break
    with client_for(workers.urls[0], "write") as writer:
        for user in users.values():
            submit(writer, game, user, 1)
        for user in users.values():
            wait_for_score(writer, game, user, 1, timeout=RECOVERY_TIMEOUT)


@pytest.fixture(scope="module", autouse=True)
def applying(workers: WorkerGroup) -> None:
    wait_until_every_partition_applies(workers)


def scrape(url: str) -> Samples:
    """Every sample a worker serves, by name then labels; /metrics needs no key."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    found: Samples = defaultdict(dict)
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[sample.name][frozenset(sample.labels.items())] = sample.value
    return found


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples[name].get(frozenset(labels.items()), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(value for key, value in samples[name].items() if wanted <= key)


def test_score_requests_are_counted_and_timed_by_route(workers: WorkerGroup, game: str) -> None:
    url = workers.urls[0]
    before = scrape(url)
    sent = 7
    with client_for(url, "write") as writer:
        for n in range(sent):
            submit(writer, game, f"p{n}", n)
        wait_for_score(writer, game, f"p{sent - 1}", sent - 1)
        assert writer.post("/score", json={"gameId": game}).status_code == 400
    after = scrape(url)
    labels = {"method": "POST", "route": "/score"}
    assert sample(after, "leaderboard_http_requests_total", status="202", **labels) - sample(
        before, "leaderboard_http_requests_total", status="202", **labels) == sent
    assert sample(after, "leaderboard_http_requests_total", status="400", **labels) - sample(
        before, "leaderboard_http_requests_total", status="400", **labels) == 1
    assert sample(after, "leaderboard_http_request_duration_seconds_count", **labels) - sample(
        before, "leaderboard_http_request_duration_seconds_count", **labels) == sent + 1
    # Reads are labelled by their pattern, never by the player in the path.
    assert total(after, "leaderboard_http_requests_total", route="/rank/{userId}") > total(
        before, "leaderboard_http_requests_total", route="/rank/{userId}")
    assert not any("p0" in dict(key).get("route", "") for key in after["leaderboard_http_requests_total"])


def test_events_in_and_sinks_are_reported_by_the_workers(workers: WorkerGroup, game: str) -> None:
    def received(samples: Samples) -> float:
        return total(samples, "faust_messages_received_per_topic_total", topic="score_updates")

    def applied(samples: Samples) -> float:
        return sample(samples, "leaderboard_events_processed_total", outcome="applied")

    def redis_writes(samples: Samples) -> float:
        return sample(samples, "leaderboard_sink_write_duration_seconds_count", sink="redis")

    first = [scrape(url) for url in workers.urls]
    before = sum(received(samples) for samples in first)
    sent = 10
    with client_for(workers.urls[1], "write") as writer:
        for n in range(sent):
            submit(writer, game, f"e{n}", n)
        for n in range(sent):
            wait_for_score(writer, game, f"e{n}", n)
    scrapes = [scrape(url) for url in workers.urls]
    assert sum(received(samples) for samples in scrapes) - before >= sent
    # Each score is counted as applied by whichever worker owns its partition, and reaches Redis.
    assert sum(applied(samples) for samples in scrapes) - sum(applied(samples) for samples in first) >= sent
    assert sum(redis_writes(samples) for samples in scrapes) > sum(redis_writes(samples) for samples in first)
    for samples in scrapes:
        # Reported by the agent and the sinks (agents.py, sinks/*.py); present from the start.
        for outcome in ("applied", "replayed", "repeated", "deleted", "dead_lettered"):
            assert frozenset({("outcome", outcome)}) in samples["leaderboard_events_processed_total"]
        for sink in ("redis", "cassandra"):
            assert frozenset({("sink", sink)}) in samples["leaderboard_sink_write_failures_total"]
            assert frozenset({("sink", sink)}) in samples["leaderboard_sink_write_duration_seconds_count"]
        assert samples["leaderboard_cassandra_pending_writes"]
        assert samples["process_resident_memory_bytes"]


def test_lag_is_reported_per_partition_each_worker_consumes(workers: WorkerGroup, game: str) -> None:
    with client_for(workers.urls[0], "write") as writer:
        submit(writer, game, "lagging", 1)
        wait_for_score(writer, game, "lagging", 1)

    def caught_up() -> None:
        owned: list[int] = []
        for worker in workers.workers:
            partitions = worker.ready()["partitions"]
            samples = scrape(worker.url)
            lag = {int(dict(key)["partition"]): value
                   for key, value in samples["leaderboard_consumer_lag_events"].items()}
            assert sorted(lag) == partitions, (worker.port, lag, partitions)
            assert set(lag.values()) == {0}, (worker.port, lag)
            assert sample(samples, "leaderboard_index_lag_events") == 0
            owned += partitions
        # Together the workers report each partition once: their lags add up.
        assert sorted(owned) == list(range(workers.partitions))

    eventually(caught_up, timeout=30, interval=0.5)


def test_index_rebuild_progress_is_reported(workers: WorkerGroup, redis_client: Any) -> None:
    def rebuilds(samples: Samples) -> float:
        return sample(samples, "leaderboard_index_rebuilds_total", outcome="completed")

    before = [rebuilds(scrape(url)) for url in workers.urls]
    indexed = redis_client.smembers(INDEXED_PARTITIONS_KEY)
    assert len(indexed) == workers.partitions
    # The index forgets which partitions it holds (their players stay): each worker
    # rewrites its own, and reports how far it got.
    redis_client.delete(INDEXED_PARTITIONS_KEY)

    def rebuilt() -> None:
        for url, count in zip(workers.urls, before):
            samples = scrape(url)
            assert rebuilds(samples) > count, url
            assert sample(samples, "leaderboard_index_rebuild_running") == 0
            assert sample(samples, "leaderboard_index_rebuild_players_done") == sample(
                samples, "leaderboard_index_rebuild_players")

    try:
        eventually(rebuilt, timeout=120, interval=0.5)
    finally:
        # Nothing was erased: whatever happened, the next tests (and workers) find the index as it was.
        redis_client.sadd(INDEXED_PARTITIONS_KEY, *indexed)
    workers.wait_balanced()


def test_unknown_paths_are_counted_under_one_label(workers: WorkerGroup) -> None:
    url = workers.urls[0]
    labels = {"method": "GET", "route": "unmatched", "status": "404"}
    before = sample(scrape(url), "leaderboard_http_requests_total", **labels)
    path = f"/no-such-page-{uuid.uuid4().hex}"
    assert httpx.get(url + path, timeout=10).status_code == 404
    after = scrape(url)
    assert sample(after, "leaderboard_http_requests_total", **labels) == before + 1
    assert path not in str(dict(after))
