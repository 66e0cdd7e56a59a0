"""Each game's rules in the worker's memory, kept true by a Redis subscription.

Every request needs its game's rules (order, operator, reset), and reading them
from Redis took two of the three round trips of a ``/rank``. The rules agent
publishes the id of every game whose rules it writes (``RULES_CHANGED_CHANNEL``,
in the same pipeline as the write), and this cache forgets a game when it hears
of it.

The invariant: an entry is served only while the subscription that would have
announced its change is live. Before the subscription is confirmed, and from the
moment it fails (messages may have been missed), the cache is empty and every read
goes to the loader; a subscription confirmed again starts from empty. A value
loaded while any change was heard is not kept, since it may predate that change.
So a worker serves old rules only for the time Redis takes to deliver a message,
and ``PUT /games`` answers once its own worker heard the change, which Redis
sent to every subscriber at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from mode import Service
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from leaderboard_app.models import GameRules
from leaderboard_app.sinks.redis import RULES_CHANGED_CHANNEL

logger = logging.getLogger(__name__)

#: Games whose rules are kept; past it the least recently read go (ids are client input).
CAPACITY = 10_000
#: Idle seconds between checks that the subscription's connection is alive.
HEALTH_CHECK_SECONDS = 5.0
#: Seconds between attempts to subscribe while Redis is unreachable.
RESUBSCRIBE_DELAY = 1.0


class GameRulesCache(Service):
    """``get(game_id)``: the game's rules, from memory while the subscription is live."""

    def __init__(self, redis_url: str, load: Callable[[str], Awaitable[GameRules]], capacity: int = CAPACITY,
                 **kwargs: Any) -> None:
        self._redis_url = redis_url
        self._load = load
        self._capacity = capacity
        self._entries: OrderedDict[str, GameRules] = OrderedDict()
        #: Bumped whenever a change is heard or the subscription starts or ends.
        self._generation = 0
        self._live = False
        super().__init__(**kwargs)

    @property
    def live(self) -> bool:
        """Whether entries are served (the subscription is confirmed and has not failed since)."""
        return self._live

    async def get(self, game_id: str) -> GameRules:
        if self._live:
            rules = self._entries.get(game_id)
            if rules is not None:
                self._entries.move_to_end(game_id)
                return rules
        generation = self._generation
        rules = await self._load(game_id)
        if self._live and generation == self._generation:
            self._entries[game_id] = rules
            if len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return rules

    def forget(self, game_id: str) -> None:
        self._generation += 1
        self._entries.pop(game_id, None)

    def _set_live(self, live: bool) -> None:
        self._generation += 1
        self._entries.clear()
        self._live = live

    @Service.task
    async def _listen(self) -> None:
        while not self.should_stop:
            try:
                await self._follow_changes()
            except (RedisError, OSError) as exc:
                if self._live:
                    logger.warning("rules subscription lost (%s); reading rules from Redis until it is back",
                                   exc or type(exc).__name__)
            finally:
                self._set_live(False)
            await self.sleep(RESUBSCRIBE_DELAY)

    async def _follow_changes(self) -> None:
        # Its own connection, which never retries behind our back: a reconnect
        # could miss messages, so every failure must reach _listen.
        client = aioredis.Redis.from_url(
            self._redis_url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=5, socket_keepalive=True,
            health_check_interval=HEALTH_CHECK_SECONDS)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(RULES_CHANGED_CHANNEL)
            while not self.should_stop:
                message = await pubsub.get_message(timeout=HEALTH_CHECK_SECONDS)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    self._set_live(True)
                elif message["type"] == "message":
                    self.forget(message["data"].decode("utf-8", "surrogatepass"))
        finally:
            await asyncio.shield(_close(pubsub, client))


async def _close(pubsub: Any, client: aioredis.Redis) -> None:
    try:
        await pubsub.aclose()
        await client.aclose()
    except (RedisError, OSError):
        pass  # the connection was already gone
