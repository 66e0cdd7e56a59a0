"""Scale-out and restarts: two workers split the partitions; state survives restarts."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import datetime, timezone

import httpx
import pytest
import redis
from aiokafka import AIOKafkaClient

from leaderboard_app.settings import GAME_RULE_UPDATES_TOPIC, SCORE_UPDATES_TOPIC
from leaderboard_app.sinks.redis import season_keys, slice_key
from leaderboard_app.topics import wait_until_every_broker_lists
from tests.conftest import eventually
from tests.integration.conftest import (
    SETTINGS,
    WorkerGroup,
    client_for,
    partition_of,
    rank_of,
    standing,
    same_partition_marker,
    set_rules,
    submit,
    wait_for_score,
    wait_for_scores,
)


def test_two_workers_split_the_partitions_and_both_answer(workers: WorkerGroup, game: str) -> None:
    owned = workers.wait_balanced()
    assert set(owned[0]).isdisjoint(owned[1])

    scores = {f"u{n}": n for n in range(40)}
    # The players must cover every partition, so both workers apply some of them.
    assert {partition_of(game, user) for user in scores} == set(range(workers.partitions))
    with client_for(workers.urls[0]) as first, client_for(workers.urls[1]) as second:
        for user, score in scores.items():
            submit(first if score % 2 else second, game, user, score)
        wait_for_scores(first, game, scores)
        for client in (first, second):
            for user, score in scores.items():
                assert standing(rank_of(client, game, user)) == (user, 40 - score, score)
            top = client.get("/topk", params={"gameId": game, "k": 3}).json()
            assert [e["userId"] for e in top] == ["u39", "u38", "u37"]


def test_restarting_every_worker_keeps_all_data(workers: WorkerGroup, game: str) -> None:
    first = client_for(workers.urls[0])
    users = {f"keep-{n}": 100 + n for n in range(12)}
    for user, score in users.items():
        submit(first, game, user, score)
    wait_for_scores(first, game, users)
    first.close()

    # Restart with empty data directories: the table has to come back from its changelog.
    workers.stop()
    workers.start()

    with client_for(workers.urls[1]) as client:
        wait_for_scores(client, game, users)
        # A lower score after the restart must not replace the best: only a table
        # that kept the best knows to ignore it.
        target = "keep-0"
        marker = same_partition_marker(game, target)
        submit(client, game, target, 1)
        submit(client, game, marker, 1)
        wait_for_score(client, game, marker, 1)
        assert rank_of(client, game, target).json()["score"] == users[target]
        # And a better score still wins.
        submit(client, game, target, 1000)
        assert wait_for_score(client, game, target, 1000)["rank"] == 1


def test_workers_restarted_together_with_their_data_take_back_their_own_partitions(
        workers: WorkerGroup, game: str) -> None:
    # Without standby replicas, a worker given another's partitions restores them
    # from the changelog; each must get back the ones whose tables it holds.
    with client_for(workers.urls[0]) as client:
        users = {f"own-{n}": n for n in range(16)}
        for user, score in users.items():
            submit(client, game, user, score)
        wait_for_scores(client, game, users)
    before = [worker.ready()["partitions"] for worker in workers.workers]
    for _ in range(2):  # Faust's own assignor keeps them in about half of the restarts
        workers.stop()
        workers.start(keep_data=True)
        assert [worker.ready()["partitions"] for worker in workers.workers] == before
    with client_for(workers.urls[1]) as client:
        wait_for_scores(client, game, users)


def test_a_daily_game_starts_a_fresh_season_at_midnight_utc(
    workers: WorkerGroup, game: str, redis_client: redis.Redis
) -> None:
    with client_for(workers.urls[0]) as api:
        assert set_rules(api, game, reset="daily", tags=["country"],
                         tiers=[{"name": "first", "top": 1}, {"name": "rest"}]).status_code == 200
    # Restart the workers with their clocks 40 s before a UTC midnight, a short
    # grace period, and closed seasons evicted from Redis as soon as archived.
    # With their data, so they are ready in seconds whatever the changelog holds.
    midnight = (int(time.time()) // 86400 + 2) * 86400
    workers.stop()
    workers.start(keep_data=True, LEADERBOARD_CLOCK_OFFSET=str(midnight - 40 - time.time()),
                  LEADERBOARD_SEASON_GRACE="15", LEADERBOARD_SEASON_RETENTION="0")
    day_before = time.strftime("%Y-%m-%d", time.gmtime(midnight - 1))
    day_after = time.strftime("%Y-%m-%d", time.gmtime(midnight))
    try:
        with client_for(workers.urls[0]) as api, client_for(workers.urls[1]) as other:
            assert api.get(f"/games/{game}").json()["season"] == day_before
            submit(api, game, "old", 10, tags={"country": "FR"})
            assert wait_for_score(api, game, "old", 10)["season"] == day_before

            eventually(lambda: _season_is(api, game, day_after), timeout=60, interval=0.5)
            submit(api, game, "new", 5)
            # Achieved a second before midnight, sent after it: still within the grace period.
            late = datetime.fromtimestamp(midnight - 1, timezone.utc).isoformat().replace("+00:00", "Z")
            submit(api, game, "late", 7, achievedAt=late)
            assert wait_for_score(other, game, "new", 5)["season"] == day_after
            assert wait_for_score(other, game, "late", 7, season=day_before)["season"] == day_before

            fresh = other.get("/topk", params={"gameId": game})
            assert fresh.headers["X-Leaderboard-Season"] == day_after
            assert [e["userId"] for e in fresh.json()] == ["new"]
            past = other.get("/topk", params={"gameId": game, "season": day_before})
            assert [(e["userId"], e["rank"]) for e in past.json()] == [("old", 1), ("late", 2)]
            assert rank_of(other, game, "old").status_code == 404
            in_redis = rank_of(other, game, "old", season=day_before).json()
            assert (in_redis["rank"], in_redis["total"], in_redis["next"]) == (1, 2, None)

            assert [e["userId"] for e in other.get("/topk", params={"gameId": game, "season": day_before,
                                                                     "slice": "country:FR"}).json()] == ["old"]
            # After the grace period the closed season moves to Cassandra and
            # leaves Redis; reads of it answer the same, but for its slices, which are not kept.
            scores_key = season_keys(game, day_before)[0]
            eventually(lambda: _evicted(redis_client, scores_key), timeout=60, interval=0.5)
            assert not redis_client.exists(slice_key(game, day_before, "country", "FR"))
            for path in ("/topk", "/ranks"):
                sliced = other.get(path, params={"gameId": game, "season": day_before, "slice": "country:FR",
                                                 "userIds": "old"})
                assert sliced.status_code == 404 and "archived" in sliced.json()["error"], sliced.text
            past = other.get("/topk", params={"gameId": game, "season": day_before})
            assert past.headers["X-Leaderboard-Season"] == day_before
            assert [(e["userId"], e["score"], e["rank"], e["tier"]) for e in past.json()] == [
                ("old", 10, 1, "first"), ("late", 7, 2, "rest")]
            archived = rank_of(other, game, "late", season=day_before).json()
            assert archived == {"userId": "late", "score": 7, "rank": 2, "season": day_before, "total": 2,
                                "percentile": 0.0, "next": {"userId": "old", "score": 10, "rank": 1, "gap": 3},
                                "tier": "rest", "nextTier": {"name": "first", "gap": 3}}
            rest = other.get("/topk", params={"gameId": game, "season": day_before, "tier": "rest"}).json()
            assert [(e["userId"], e["rank"]) for e in rest] == [("late", 2)]
            around = other.get("/around/late", params={"gameId": game, "season": day_before, "n": 1}).json()
            assert [e["userId"] for e in around] == ["old", "late"]
            friends = other.get("/ranks", params={"gameId": game, "season": day_before, "userIds": "late,x,old"})
            assert [e["userId"] for e in friends.json()] == ["old", "late"]
            assert rank_of(other, game, "nobody", season=day_before).status_code == 404
    finally:
        workers.stop()
        workers.start()


def _evicted(client: redis.Redis, key: str) -> None:
    assert not client.exists(key)


def _season_is(api, game: str, season: str) -> None:
    assert api.get(f"/games/{game}").json()["season"] == season


def test_the_rate_limit_is_per_key_shared_by_all_workers_and_answered_429(workers: WorkerGroup, game: str) -> None:
    workers.stop()
    # The tests connect from 127.0.0.1: as a trusted proxy, its X-Forwarded-For names the client.
    workers.start(keep_data=True, LEADERBOARD_RATE_LIMIT="10", LEADERBOARD_TRUSTED_PROXIES="127.0.0.1")
    try:
        with client_for(workers.urls[0], "write") as writer:
            # Each submission of a batch counts: 5 of 10 pass, then 20 more are over the budget.
            batch = [{"gameId": game, "userId": f"b{n}", "score": n} for n in range(20)]
            assert writer.post("/scores", json={"scores": batch[:5]}).status_code == 202
            over = writer.post("/scores", json={"scores": batch})
            assert over.status_code == 429 and over.headers["Retry-After"] == "1"

        def statuses(path: str, method: str = "GET", forwarded_for: str = "198.51.100.1", count: int = 30) -> list[int]:
            # Made-up keys: each would have been a fresh budget of its own.
            return [httpx.request(method, workers.urls[n % 2] + path, timeout=10, json={},
                                  headers={"Authorization": f"Bearer made-up-{uuid.uuid4().hex}",
                                           "X-Forwarded-For": forwarded_for}).status_code for n in range(count)]

        guesses = statuses(f"/topk?gameId={game}")
        assert guesses.count(429) >= 10 and set(guesses) == {401, 429}  # counted by address, before the key check
        key_guesses = statuses("/score", "POST", forwarded_for="198.51.100.2")
        assert key_guesses.count(429) >= 10 and set(key_guesses) == {401, 429}
        elsewhere = [status for n in range(30)
                     for status in statuses(f"/topk?gameId={game}", forwarded_for=f"198.51.100.{100 + n}", count=1)]
        assert elsewhere == [401] * 30  # a client of its own behind the proxy: a budget of its own

        with client_for(workers.urls[0], "read") as first, client_for(workers.urls[1], "read") as second:
            answers = [(first if n % 2 else second).get("/topk", params={"gameId": game}) for n in range(30)]
            limited = [a for a in answers if a.status_code == 429]
            # 30 requests within a second or two: at most 10 pass in each second, across both workers.
            assert len(limited) >= 10
            assert limited[0].headers["Retry-After"] == "1" and "rate limit" in limited[0].json()["error"]
            assert all(a.status_code in (200, 429) for a in answers)
            with client_for(workers.urls[0], "write") as other_key:
                assert other_key.get("/topk", params={"gameId": game}).status_code == 200
            assert all(first.get("/health").status_code == 200 for _ in range(20))
    finally:
        workers.stop()
        workers.start()


async def test_a_worker_waits_to_join_its_group_only_for_topics_some_broker_lacks(
        workers: WorkerGroup, caplog: pytest.LogCaptureFixture) -> None:
    topics = [SCORE_UPDATES_TOPIC, GAME_RULE_UPDATES_TOPIC]  # created by the session's workers
    loop = asyncio.get_running_loop()
    started = loop.time()
    await wait_until_every_broker_lists(SETTINGS.kafka, topics, timeout=10.0)
    assert loop.time() - started < 5.0

    never_created = f"never-created-{uuid.uuid4().hex}"
    caplog.set_level(logging.INFO, logger="leaderboard_app.topics")
    started = loop.time()
    await wait_until_every_broker_lists(SETTINGS.kafka, [*topics, never_created], timeout=1.0)
    assert loop.time() - started >= 1.0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"lacks {never_created}" in warnings[0], warnings
    assert SCORE_UPDATES_TOPIC not in warnings[0]

    client = AIOKafkaClient(**SETTINGS.kafka.client_options())  # asking created nothing
    await client.bootstrap()
    try:
        assert never_created not in (await client.fetch_all_metadata()).topics()
    finally:
        await client.close()
