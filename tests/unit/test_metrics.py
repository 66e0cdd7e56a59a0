"""The metrics of one worker: its own registry, the request middleware, and what the
agent, sinks, lag monitor and index rebuild report (no services needed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from leaderboard_app.app import LeaderboardApp, create_app
from leaderboard_app.metrics import EVENT_OUTCOMES, SINKS, LeaderboardMetrics
from leaderboard_app.models import GameRules, PlayerState, SeasonScore, player_key
from leaderboard_app.rebuild import CHUNK, partition_of, rebuild_partitions
from leaderboard_app.settings import Settings


def samples(metrics: LeaderboardMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, parsed back from the text format, by (name, labels)."""
    text = metrics.exposition().decode("utf-8")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(metrics: LeaderboardMetrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, frozenset(labels.items())))


def test_two_apps_in_one_process_keep_separate_series() -> None:
    first, second = (create_app(Settings.from_env({})) for _ in range(2))
    assert first.metrics.registry is not second.metrics.registry
    first.metrics.count_events("applied", 3)
    assert value(first.metrics, "leaderboard_events_processed_total", outcome="applied") == 3
    assert value(second.metrics, "leaderboard_events_processed_total", outcome="applied") == 0
    # Faust's own sensor writes into the app's registry too.
    assert isinstance(first.monitor, type(second.monitor)) and first.monitor is not second.monitor
    assert value(first.metrics, "faust_messages_received_total") == 0


def test_series_that_may_stay_at_zero_exist_from_the_start() -> None:
    metrics = LeaderboardMetrics()
    for outcome in EVENT_OUTCOMES:
        assert value(metrics, "leaderboard_events_processed_total", outcome=outcome) == 0
    for sink in SINKS:
        assert value(metrics, "leaderboard_sink_write_failures_total", sink=sink) == 0
        assert value(metrics, "leaderboard_sink_write_duration_seconds_count", sink=sink) == 0


def test_unknown_outcomes_and_sinks_are_refused() -> None:
    metrics = LeaderboardMetrics()
    with pytest.raises(ValueError, match="unknown outcome"):
        metrics.count_events("maybe")
    with pytest.raises(ValueError, match="unknown sink"):
        metrics.count_sink_failure("postgres")


def test_sink_write_timing_counts_a_raising_write_as_a_failure() -> None:
    metrics = LeaderboardMetrics()
    with metrics.time_sink_write("redis"):
        pass
    with pytest.raises(ConnectionError), metrics.time_sink_write("cassandra"):
        raise ConnectionError("down")
    metrics.count_sink_failure("redis")
    assert value(metrics, "leaderboard_sink_write_duration_seconds_count", sink="redis") == 1
    assert value(metrics, "leaderboard_sink_write_duration_seconds_count", sink="cassandra") == 1
    assert value(metrics, "leaderboard_sink_write_failures_total", sink="redis") == 1
    assert value(metrics, "leaderboard_sink_write_failures_total", sink="cassandra") == 1


def test_batch_timing_observes_each_batch() -> None:
    metrics = LeaderboardMetrics()
    for _ in range(2):
        with metrics.time_batch():
            pass
    assert value(metrics, "leaderboard_agent_batch_duration_seconds_count") == 2


def fake_worker(behind: dict[int, int], assigned: list[int], total: int | None) -> Any:
    return SimpleNamespace(
        lag_monitor=SimpleNamespace(behind_by_partition=behind, events_behind=total),
        assigned_partitions=lambda: assigned,
        archive=SimpleNamespace(pending_count=7),
        malformed_records=2,
    )


def test_lag_is_reported_for_the_partitions_this_worker_consumes() -> None:
    metrics = LeaderboardMetrics()
    metrics.watch(fake_worker({0: 5, 1: 0, 2: 9, 3: 1}, assigned=[1, 2], total=15))
    assert value(metrics, "leaderboard_consumer_lag_events", partition="1") == 0
    assert value(metrics, "leaderboard_consumer_lag_events", partition="2") == 9
    assert value(metrics, "leaderboard_consumer_lag_events", partition="0") is None
    assert value(metrics, "leaderboard_index_lag_events") == 15
    assert value(metrics, "leaderboard_cassandra_pending_writes") == 7
    assert value(metrics, "leaderboard_malformed_records_total") == 2


def test_unknown_lag_is_absent_rather_than_zero() -> None:
    metrics = LeaderboardMetrics()
    metrics.watch(fake_worker({}, assigned=[0, 1], total=None))
    names = {name for name, _ in samples(metrics)}
    assert "leaderboard_consumer_lag_events" not in names
    assert "leaderboard_index_lag_events" not in names


# -- the index rebuild ---------------------------------------------------------------


class FakeRedis:
    """Stands in for RedisLeaderboard, the process boundary of the rebuild."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.applied = 0
        self.fail_after = fail_after
        self.marked: set[int] = set()
        self.written: list[Any] = []
        self.applied_offsets: dict[int, int] = {}

    async def restore_rules(self, rules: Any) -> None:
        pass

    async def apply(self, writes: Any, banned: Any = ()) -> None:
        if self.fail_after is not None and self.applied >= self.fail_after:
            raise ConnectionError("redis went away")
        self.applied += 1
        self.written += writes

    async def mark_partitions_indexed(self, partitions: set[int]) -> None:
        self.marked |= partitions

    async def mark_applied(self, next_offsets: dict[int, int]) -> None:
        self.applied_offsets = dict(next_offsets)


class FakeArchive:
    def __init__(self, rules: list[tuple[str, GameRules]] | None = None) -> None:
        self.rules = rules or []

    async def all_rules(self) -> list[tuple[str, GameRules]]:
        return self.rules


def rebuild_app(players: int, redis: FakeRedis, seasons: tuple[str, ...] = ("all",),
                rules: list[tuple[str, GameRules]] | None = None) -> Any:
    score = SeasonScore(score=1, reached_at_us=1, achieved_at_us=1, updated_at_us=1)
    state = PlayerState(seasons={season: score for season in seasons})
    table = {player_key("g", f"p{n}"): state.to_bytes() for n in range(players)}
    return SimpleNamespace(
        metrics=LeaderboardMetrics(), redis_leaderboard=redis, archive=FakeArchive(rules), player_scores=table,
        conf=SimpleNamespace(topic_partitions=1), index_lock=asyncio.Lock(),
        settings=Settings.from_env({}),
    )


async def test_a_rebuild_reports_its_size_and_progress() -> None:
    players = CHUNK * 2 + 5
    app = rebuild_app(players, FakeRedis())
    assert partition_of(player_key("g", "p0"), 1) == 0
    assert await rebuild_partitions(app, {0}) == players
    metrics = app.metrics
    assert value(metrics, "leaderboard_index_rebuild_players") == players
    assert value(metrics, "leaderboard_index_rebuild_players_done") == players
    assert value(metrics, "leaderboard_index_rebuild_running") == 0
    assert value(metrics, "leaderboard_index_rebuilds_total", outcome="completed") == 1
    assert value(metrics, "leaderboard_index_rebuilds_total", outcome="failed") == 0


async def test_a_season_that_does_not_fit_the_rules_is_skipped_not_fatal() -> None:
    # The game resets weekly; one season id is of another kind (stamped under older rules).
    app = rebuild_app(3, FakeRedis(), seasons=("2026-W48", "all"), rules=[("g", GameRules(reset="weekly"))])
    assert await rebuild_partitions(app, {0}) == 3
    assert {write.season for write in app.redis_leaderboard.written} == {"2026-W48"}
    assert app.redis_leaderboard.marked == {0}
    assert value(app.metrics, "leaderboard_index_rebuilds_total", outcome="completed") == 1


async def test_a_failed_rebuild_stops_running_and_counts_as_failed() -> None:
    app = rebuild_app(CHUNK * 3, FakeRedis(fail_after=1))
    with pytest.raises(ConnectionError):
        await rebuild_partitions(app, {0})
    metrics = app.metrics
    assert value(metrics, "leaderboard_index_rebuild_players_done") == CHUNK
    assert value(metrics, "leaderboard_index_rebuild_running") == 0
    assert value(metrics, "leaderboard_index_rebuilds_total", outcome="failed") == 1
    assert not app.redis_leaderboard.marked


# -- the request middleware, on the app's real web server (no backend started) --------


@pytest.fixture
async def served() -> AsyncIterator[tuple[LeaderboardApp, TestClient]]:
    app = create_app(Settings.from_env({"LEADERBOARD_RATE_LIMIT": "0"}))
    app.web.init_server()
    async with TestClient(TestServer(app.web.web_app)) as client:
        yield app, client


async def test_requests_are_counted_by_route_pattern_and_status(served: tuple[LeaderboardApp, TestClient]) -> None:
    app, client = served
    for user in ("alice", "bob", "a%2Fb"):
        # Redis is not started: 503, under the pattern rather than the path.
        assert (await client.get(f"/rank/{user}", params={"gameId": "g"})).status == 503
    assert (await client.get("/rank/alice")).status == 400
    assert (await client.get("/no/such/path")).status == 404
    assert (await client.request("TRACE", "/health")).status == 405
    assert (await client.get("/health")).status == 200
    metrics = app.metrics
    requests = "leaderboard_http_requests_total"
    assert value(metrics, requests, method="GET", route="/rank/{userId}", status="503") == 3
    assert value(metrics, requests, method="GET", route="/rank/{userId}", status="400") == 1
    assert value(metrics, requests, method="GET", route="unmatched", status="404") == 1
    assert value(metrics, requests, method="other", route="unmatched", status="405") == 1
    assert value(metrics, requests, method="GET", route="/health", status="200") == 1
    assert value(metrics, "leaderboard_http_request_duration_seconds_count", method="GET",
                 route="/rank/{userId}") == 4
    assert not any("alice" in str(labels) for _, labels in samples(metrics))


async def test_metrics_endpoint_serves_the_text_format_without_a_key() -> None:
    app = create_app(Settings.from_env({"LEADERBOARD_READ_KEYS": "reader", "LEADERBOARD_WRITE_KEYS": "writer",
                                        "LEADERBOARD_RATE_LIMIT": "0"}))
    app.web.init_server()
    async with TestClient(TestServer(app.web.web_app)) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        names = {family.name for family in text_string_to_metric_families(await response.text())}
    assert {"leaderboard_http_requests", "leaderboard_events_processed", "faust_messages_received",
            "process_cpu_seconds"} <= names
