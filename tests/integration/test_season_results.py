"""A closed season's final standings on ``season_results``, through the real workers, Redis, Cassandra and Kafka."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import murmur2

from leaderboard_app.season_results import season_key
from leaderboard_app.settings import SEASON_RESULTS_TOPIC
from leaderboard_app.sinks.redis import CLOSING_KEY, season_keys
from tests.conftest import eventually
from tests.integration.conftest import SETTINGS, set_rules, submit, wait_for_scores

#: Seconds for the leader's archiver (every 2 s) to pick a due season up and finish it.
ARCHIVED_WITHIN = 60.0


async def records_of(key: bytes, end: int) -> list[dict[str, Any]]:
    """The values with ``key`` in its partition of season_results, from the partition's start to ``end``."""
    partition = TopicPartition(SEASON_RESULTS_TOPIC,
                               (murmur2(key) & 0x7FFFFFFF) % SETTINGS.topic_partitions)
    consumer = AIOKafkaConsumer(**SETTINGS.kafka.client_options(), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        found: list[dict[str, Any]] = []
        async with asyncio.timeout(30):
            while await consumer.position(partition) < end:
                fetched = await consumer.getmany(partition, timeout_ms=500)
                found += [orjson.loads(record.value) for record in fetched.get(partition, ())
                          if record.key == key and record.offset < end]
        return found
    finally:
        await consumer.stop()


async def end_offset(key: bytes) -> int:
    partition = TopicPartition(SEASON_RESULTS_TOPIC, (murmur2(key) & 0x7FFFFFFF) % SETTINGS.topic_partitions)
    consumer = AIOKafkaConsumer(**SETTINGS.kafka.client_options(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        return (await consumer.end_offsets([partition]))[partition]
    finally:
        await consumer.stop()


def test_a_closed_season_s_standings_are_on_season_results_before_the_season_leaves_redis(
        api: httpx.Client, game: str, redis_client: redis.Redis) -> None:
    assert set_rules(api, game, reset="daily").status_code == 200
    scores = {"ann": 30, "bob": 20, "cy": 20, "dee": 10, "eve": 20, "fay": 5}
    for user, score in scores.items():
        extra = {"displayName": "Ann A."} if user == "ann" else {}
        submit(api, game, user, score, **extra)
    wait_for_scores(api, game, scores)
    shown = api.get("/topk", params={"gameId": game, "k": 100})
    assert shown.status_code == 200, shown.text
    season = shown.headers["X-Leaderboard-Season"]
    board = shown.json()
    assert [entry["rank"] for entry in board] == [1, 2, 2, 2, 5, 6]  # three tied second

    # Close the season now: the leader archives what the closing set says has ended
    # (as if the clock had passed the end of the day and its grace period).
    key = season_key(game, season)
    assert redis_client.zscore(CLOSING_KEY, key) is not None, "the agent did not register the season's close"
    closed_at_us = time.time_ns() // 1000 - 1_000_000
    assert redis_client.zadd(CLOSING_KEY, {key: closed_at_us}, xx=True, ch=True) == 1

    def evicted() -> None:
        assert redis_client.zscore(CLOSING_KEY, key) is None, "not archived yet"

    eventually(evicted, timeout=ARCHIVED_WITHIN, interval=0.2)
    # Whatever Kafka held the moment the season was gone from the closing set must already be all of it.
    records = asyncio.run(records_of(key, asyncio.run(end_offset(key))))
    assert redis_client.ttl(season_keys(game, season)[0]) > 0  # evicted: kept for the retention period only

    common = {"gameId": game, "season": season, "total": len(scores), "closedAtUs": closed_at_us}
    assert records[:-1] == [{"type": "standing", **common, **entry, "position": position}
                            for position, entry in enumerate(board)]
    assert records[-1] == {"type": "season_closed", **common, "top": board}
    assert board[0] == {"userId": "ann", "score": 30, "rank": 1, "displayName": "Ann A."}
