"""The worker's Redis subscription against the real Redis: rules served from memory and never stale
past a message (rules_cache.GameRulesCache); answers routed to the request waiting for them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
import redis

from leaderboard_app.models import GameRules
from leaderboard_app.rules_cache import GameRulesCache
from leaderboard_app.sinks.redis import RULES_KEY, RedisLeaderboard
from leaderboard_app.subscriptions import WaitingReplies, answer_within, new_worker_id, subscriptions_for
from tests.integration.conftest import SETTINGS

T = TypeVar("T")


async def eventually_async(check: Callable[[], Awaitable[T | None]], timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(0.05)


class CountingLoader:
    """Reads the rules from Redis like the app does, counting the reads."""

    def __init__(self, index: RedisLeaderboard) -> None:
        self.index = index
        self.reads = 0

    async def __call__(self, game_id: str) -> GameRules:
        self.reads += 1
        raw = await self.index.rules(game_id)
        return GameRules.from_bytes(raw) if raw else GameRules()


@pytest.fixture
async def index(services: None) -> AsyncIterator[RedisLeaderboard]:
    leaderboard = RedisLeaderboard(SETTINGS.redis, "rules-cache-test")
    await leaderboard.start()
    yield leaderboard
    await leaderboard.stop()


@pytest.fixture
async def subscribed(index: RedisLeaderboard) -> AsyncIterator[tuple[GameRulesCache, CountingLoader, WaitingReplies]]:
    """A rules cache and waiting replies fed by one subscription, as a worker has them."""
    loader = CountingLoader(index)
    cache = GameRulesCache(loader)
    replies = WaitingReplies(new_worker_id())
    subscriptions = subscriptions_for(SETTINGS.redis, cache.changed, replies, on_live=cache.set_live)
    await subscriptions.start()
    await eventually_async(lambda: _true(cache.live))
    yield cache, loader, replies
    await subscriptions.stop()


@pytest.fixture
def cache_and_loader(subscribed: tuple[GameRulesCache, CountingLoader, WaitingReplies],
                     ) -> tuple[GameRulesCache, CountingLoader]:
    return subscribed[0], subscribed[1]


async def _true(value: bool) -> bool:
    return value


def new_game() -> str:
    return f"cache-{uuid.uuid4().hex[:12]}"


async def test_rules_are_read_once_and_forgotten_when_the_rules_agent_writes_them(
        cache_and_loader: tuple[GameRulesCache, CountingLoader], index: RedisLeaderboard) -> None:
    cache, loader = cache_and_loader
    game = new_game()
    assert await cache.get(game) == GameRules()
    assert await cache.get(game) == GameRules()
    assert loader.reads == 1

    ascending = GameRules(order="asc", operator="set")
    await index.set_rules(game, ascending.to_bytes(), time.time_ns() // 1000)

    async def changed() -> bool:
        return await cache.get(game) == ascending

    await eventually_async(changed)
    assert loader.reads == 2


async def test_a_lost_subscription_empties_the_cache_so_a_missed_change_is_still_seen(
        cache_and_loader: tuple[GameRulesCache, CountingLoader], redis_client: redis.Redis) -> None:
    cache, loader = cache_and_loader
    game = new_game()
    assert await cache.get(game) == GameRules()
    # A change whose message this cache never gets: written while its subscription is cut.
    redis_client.client_kill_filter(_type="pubsub")
    ascending = GameRules(order="asc")
    redis_client.hset(RULES_KEY, game, ascending.to_bytes())

    async def changed() -> bool:
        return await cache.get(game) == ascending

    await eventually_async(changed)
    await eventually_async(lambda: _true(cache.live))  # it subscribes again
    reads = loader.reads
    assert await cache.get(game) == ascending
    assert loader.reads == reads + 1  # from empty: read once more, then from memory
    assert await cache.get(game) == ascending
    assert loader.reads == reads + 1


async def test_a_value_read_while_a_change_is_heard_is_not_kept() -> None:
    game = new_game()
    before_the_change = GameRules(order="asc")
    gate = asyncio.Event()
    reads: list[str] = []

    async def load(game_id: str) -> GameRules:
        reads.append(game_id)
        if len(reads) == 1:  # a read that began before the change and answers after it
            await gate.wait()
            return before_the_change
        return GameRules()

    cache = GameRulesCache(load)
    cache.set_live(True)
    reading = asyncio.ensure_future(cache.get(game))
    await eventually_async(lambda: _true(bool(reads)))
    cache.forget(game)  # what the message about the game does
    gate.set()
    assert await reading == before_the_change
    assert await cache.get(game) == GameRules()
    assert len(reads) == 2  # the value read across the change was not kept
    assert await cache.get(game) == GameRules()
    assert len(reads) == 2  # and the next one was


async def test_an_answer_reaches_the_request_waiting_for_its_token_and_no_other(
        subscribed: tuple[GameRulesCache, CountingLoader, WaitingReplies], index: RedisLeaderboard) -> None:
    replies = subscribed[2]
    mine, unanswered = replies.new_token(), replies.new_token()
    elsewhere = WaitingReplies(new_worker_id()).new_token()  # a request waiting on another worker
    with replies.expecting([mine, unanswered]) as answers:
        await index.send_replies([
            (elsewhere, {"status": "applied", "for": "elsewhere"}),
            (mine, {"status": "applied", "rank": 3}),
            ("not-a-token", {"status": "applied"}),  # a record of an older version: no one waits
        ])
        assert await answer_within(answers[mine], 10.0) == {"status": "applied", "rank": 3}
        assert await answer_within(answers[unanswered], 0.3) is None
