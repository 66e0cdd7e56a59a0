"""Archiving a closed season on the real Redis, Cassandra and Kafka: linear in its ties, never blocking for long."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import orjson
import pytest
import redis
from aiokafka import AIOKafkaProducer

from leaderboard_app.archiver import archive_season
from leaderboard_app.columns import SortColumn
from leaderboard_app.models import SeasonScore
from leaderboard_app.settings import SEASON_RESULTS_TOPIC
from leaderboard_app.sinks.cassandra import CassandraArchive
from leaderboard_app.sinks.redis import PlayerWrite, RedisLeaderboard
from tests.integration.conftest import SETTINGS

TIED_PLAYERS = 100_000
#: Redis logs every command that runs longer than this (microseconds).
SLOW_COMMAND_US = 50_000
#: The most the test lets the event loop go without a turn. The goal is 50 ms; the
#: bound leaves room for a noisy machine, while the quadratic loop this replaced
#: held the loop for 9 s at 10,000 tied players.
LONGEST_STALL_S = 0.5


@pytest.fixture
async def stores(services: None) -> AsyncIterator[tuple[RedisLeaderboard, CassandraArchive]]:
    index = RedisLeaderboard(SETTINGS.redis, "archiver-test")
    archive = CassandraArchive(SETTINGS)
    await index.start()
    await archive.start()
    yield index, archive
    await archive.stop()
    await index.stop()


class SeasonResultsTopic:
    """``season_results`` through an aiokafka producer of the test's own, acks=all like the worker's."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.acknowledged = 0
        self.values: list[bytes] = []

    async def send(self, *, key: bytes, value: bytes, force: bool) -> asyncio.Future:
        self.values.append(value)
        sent = await self.producer.send(SEASON_RESULTS_TOPIC, value=value, key=key)
        sent.add_done_callback(self._count)
        return sent

    def _count(self, sent: asyncio.Future) -> None:
        if not sent.exception():
            self.acknowledged += 1


@pytest.fixture
async def results_topic(services: None) -> AsyncIterator[SeasonResultsTopic]:
    producer = AIOKafkaProducer(**SETTINGS.kafka.client_options(), acks="all")
    await producer.start()
    yield SeasonResultsTopic(producer)
    await producer.stop()


async def longest_stall(done: asyncio.Event) -> float:
    """The longest the event loop went between two turns of this task until ``done``."""
    longest, last = 0.0, time.monotonic()
    while not done.is_set():
        await asyncio.sleep(0.005)
        now = time.monotonic()
        longest, last = max(longest, now - last), now
    return longest


async def test_a_season_of_a_hundred_thousand_tied_players_is_archived_without_blocking(
        stores: tuple[RedisLeaderboard, CassandraArchive], results_topic: SeasonResultsTopic,
        redis_client: redis.Redis) -> None:
    index, archive = stores
    game, season = f"tied-{uuid.uuid4().hex[:12]}", "2026-11-27"
    at_us = time.time_ns() // 1000
    everyone_scored_zero = [
        PlayerWrite(game_id=game, user_id=f"p{n:06d}", activity_us=at_us, season=season, order="desc",
                    state=SeasonScore(score=0, reached_at_us=at_us + n, achieved_at_us=at_us + n,
                                      updated_at_us=at_us + n))
        for n in range(TIED_PLAYERS)]
    for start in range(0, TIED_PLAYERS, 5_000):  # as the agent writes them, a batch at a time
        await index.apply(everyone_scored_zero[start:start + 5_000])
    assert await index.total_members(game, season) == TIED_PLAYERS

    threshold = redis_client.config_get("slowlog-log-slower-than")["slowlog-log-slower-than"]
    redis_client.config_set("slowlog-log-slower-than", SLOW_COMMAND_US)
    redis_client.slowlog_reset()
    try:
        done = asyncio.Event()
        stall = asyncio.ensure_future(longest_stall(done))
        try:
            archived = await archive_season(index, archive, results_topic, game, season, "desc",
                                            closed_at_us=at_us, ack_timeout=30)
        finally:
            done.set()
        slow_commands = redis_client.slowlog_get(128)
    finally:
        redis_client.config_set("slowlog-log-slower-than", threshold)
    assert archived == TIED_PLAYERS
    assert results_topic.acknowledged == TIED_PLAYERS + 1  # a standing each, then the summary
    assert [entry["command"] for entry in slow_commands] == []
    assert await stall < LONGEST_STALL_S

    # Everyone is first, with nobody worse and nobody above; the first to reach 0 is listed first.
    assert await archive.has_standings(game, season)
    top = await archive.top(game, season, "desc", 3)
    assert [(player.user_id, player.rank) for player in top] == [("p000000", 1), ("p000001", 1), ("p000002", 1)]
    last = await archive.rank_for(game, season, "desc", f"p{TIED_PLAYERS - 1:06d}")
    assert last is not None
    assert (last.player.rank, last.total, last.worse, last.next) == (1, TIED_PLAYERS, 0, None)


async def test_a_season_ranked_by_sort_columns_is_archived_with_its_ranks_and_columns(
        stores: tuple[RedisLeaderboard, CassandraArchive], results_topic: SeasonResultsTopic,
        redis_client: redis.Redis) -> None:
    """Everyone ties on score; the ``time`` column (ascending) cuts them into groups of 30 equal
    (score, time) tuples, so every rank needs the binary search over one big tie group."""
    index, archive = stores
    game, season, groups, size = f"timed-{uuid.uuid4().hex[:12]}", "2026-11-27", 1000, 30
    columns = (SortColumn("time", "asc"),)
    at_us = time.time_ns() // 1000
    writes = [PlayerWrite(game_id=game, user_id=f"p{n:05d}", activity_us=at_us, season=season, order="desc",
                          columns=columns,
                          state=SeasonScore(score=0, reached_at_us=at_us + n, achieved_at_us=at_us + n,
                                            updated_at_us=at_us + n, columns=(groups - 1 - n % groups,)))
              for n in range(groups * size)]
    for start in range(0, len(writes), 5_000):
        await index.apply(writes[start:start + 5_000])

    def expected_rank(n: int) -> int:
        return (groups - 1 - n % groups) * size + 1

    for n in (0, 1, 999, 1000, 29_999):
        standing = await index.rank_for(game, season, "desc", f"p{n:05d}", columns=columns)
        assert standing is not None
        assert (standing.player.rank, standing.player.columns) == (expected_rank(n), {"time": groups - 1 - n % groups})
        assert standing.worse == groups * size - expected_rank(n) - size + 1
    page = await index.top(game, season, "desc", 3, offset=size * 500 + 29, columns=columns)
    assert [(player.rank, player.columns) for player in page] == [
        (size * 500 + 1, {"time": 500}), (size * 501 + 1, {"time": 501}), (size * 501 + 1, {"time": 501})]

    redis_client.slowlog_reset()
    archived = await archive_season(index, archive, results_topic, game, season, "desc", closed_at_us=at_us,
                                    ack_timeout=30, columns=columns)
    assert archived == groups * size
    assert [entry["command"] for entry in redis_client.slowlog_get(128)
            if SLOW_COMMAND_US <= entry["duration"]] == []
    archived_page = await archive.top(game, season, "desc", 3, offset=size * 500 + 29, columns=columns)
    assert [(player.rank, player.columns) for player in archived_page] == [
        (player.rank, player.columns) for player in page]
    records = [orjson.loads(value) for value in results_topic.values]
    standing = next(record for record in records if record.get("userId") == "p00999")
    assert (standing["rank"], standing["columns"]) == (1, {"time": 0})
    assert records[-1]["type"] == "season_closed"
    assert [(entry["rank"], entry["columns"]) for entry in records[-1]["top"][29:31]] == [
        (1, {"time": 0}), (31, {"time": 1})]
    last = await archive.rank_for(game, season, "desc", "p00000", columns=columns)
    assert last is not None
    assert (last.player.rank, last.worse, last.player.columns) == (expected_rank(0), 0, {"time": groups - 1})
