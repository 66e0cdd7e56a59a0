"""rules_cache.GameRulesCache against the real Redis: served from memory, never stale past a message."""

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
    leaderboard = RedisLeaderboard(SETTINGS.redis_url, "rules-cache-test")
    await leaderboard.start()
    yield leaderboard
    await leaderboard.stop()


@pytest.fixture
async def cache_and_loader(index: RedisLeaderboard) -> AsyncIterator[tuple[GameRulesCache, CountingLoader]]:
    loader = CountingLoader(index)
    cache = GameRulesCache(SETTINGS.redis_url, loader)
    await cache.start()
    await eventually_async(lambda: _true(cache.live))
    yield cache, loader
    await cache.stop()


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


async def test_a_value_read_while_a_change_is_heard_is_not_kept(services: None) -> None:
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

    cache = GameRulesCache(SETTINGS.redis_url, load)
    await cache.start()
    try:
        await eventually_async(lambda: _true(cache.live))
        reading = asyncio.ensure_future(cache.get(game))
        await eventually_async(lambda: _true(bool(reads)))
        cache.forget(game)  # what the message about the game does
        gate.set()
        assert await reading == before_the_change
        assert await cache.get(game) == GameRules()
        assert len(reads) == 2  # the value read across the change was not kept
    finally:
        await cache.stop()
