"""The worker's one Redis subscription: rules changes for the rules cache, answers for requests waiting here.

Both used to cost pooled connections: every request read its game's rules, and a
``wait=true`` request or a ``DELETE`` held a connection in BLPOP for up to 5 s, so
200 of them starved every other Redis call, the agent's writes that would answer
them included. Now a worker holds one connection of its own, subscribed to

* ``lb:rules-changed`` (the id of each game whose rules were just written), which
  :class:`~leaderboard_app.rules_cache.GameRulesCache` forgets, and
* ``lb:replies:<worker id>``, where the agent publishes the answer for each
  request waiting on this worker (:class:`WaitingReplies`); a request's reply
  token names the worker, so the agent knows where to publish, and
* ``lb:rank-changes:<worker id>``, where the agent publishes the rank changes of
  the players this worker streams (leaderboard_app.web.streams); the players'
  watched entries in Redis name the worker.

Redis does not keep messages for a subscriber that is away. While the
subscription is down the rules cache serves nothing from memory, and an answer
published then is lost: its request answers 202 "queued" at its deadline, as it
does when the agent takes longer than that.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import redis.asyncio as aioredis
from mode import Service
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from leaderboard_app.sinks.redis import RULES_CHANGED_CHANNEL, rank_changes_channel, replies_channel
from leaderboard_app.sinks.redis_connection import RedisTarget, close_client

logger = logging.getLogger(__name__)

#: Idle seconds between checks that the subscription's connection is alive.
HEALTH_CHECK_SECONDS = 5.0
#: Seconds between attempts to subscribe while Redis is unreachable.
RESUBSCRIBE_DELAY = 1.0


class WaitingReplies:
    """The requests of this worker waiting for the agent's answer, by reply token."""

    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    @property
    def channel(self) -> str:
        return replies_channel(self.worker_id)

    def new_token(self) -> str:
        """A reply token for a record: which worker waits (``<worker id>.<request id>``)."""
        return f"{self.worker_id}.{uuid.uuid4().hex}"

    @contextmanager
    def expecting(self, tokens: Iterable[str]) -> Iterator[dict[str, asyncio.Future[dict[str, Any]]]]:
        """Wait for the answers of ``tokens`` (from before their records are produced, so none is missed)."""
        loop = asyncio.get_running_loop()
        futures: dict[str, asyncio.Future[dict[str, Any]]] = {token: loop.create_future() for token in tokens}
        self._waiting.update(futures)
        try:
            yield futures
        finally:
            for token in futures:
                self._waiting.pop(token, None)

    def deliver(self, message: bytes) -> None:
        """Hand a published ``{"token", "answer"}`` to its request, if it still waits."""
        try:
            data = orjson.loads(message)
            future = self._waiting.get(data["token"])
            answer = data["answer"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            logger.warning("ignoring a malformed reply on %s", self.channel)
            return
        if future is not None and not future.done():
            future.set_result(answer)


class Subscriptions(Service):
    """Keeps the worker's subscription and routes its messages; reports whether it is live.

    ``on_live(bool)`` is called when the subscription is confirmed (True) and
    when it fails (False): messages may have been missed in between.
    """

    def __init__(self, target: RedisTarget, handlers: dict[str, Callable[[bytes], None]],
                 on_live: Callable[[bool], None], **kwargs: Any) -> None:
        self._target = target
        self._handlers = handlers
        self._on_live = on_live
        super().__init__(**kwargs)

    @Service.task
    async def _listen(self) -> None:
        while not self.should_stop:
            try:
                await self._follow()
            except Exception as exc:  # noqa: BLE001 (whatever ends it, the subscription must come back)
                logger.warning("redis subscription lost or refused (%s); subscribing again in %g s",
                               exc or type(exc).__name__, RESUBSCRIBE_DELAY)
            finally:
                self._on_live(False)
            await self.sleep(RESUBSCRIBE_DELAY)

    async def _follow(self) -> None:
        # Its own connection, which never retries behind our back: a reconnect
        # could miss messages, so every failure must reach _listen. In a cluster it
        # is to one node, any node: every PUBLISH reaches them all.
        client = self._target.client(retry=Retry(NoBackoff(), 0), socket_connect_timeout=5, socket_keepalive=True,
                                     health_check_interval=HEALTH_CHECK_SECONDS)
        if isinstance(client, aioredis.RedisCluster):
            await client.initialize()  # its pubsub picks a node from the slots the client learns
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(*self._handlers)
            while not self.should_stop:
                message = await pubsub.get_message(timeout=HEALTH_CHECK_SECONDS)
                if message is None:
                    continue
                if message["type"] == "subscribe" and message["data"] == len(self._handlers):
                    self._on_live(True)  # every channel confirmed
                elif message["type"] == "message":
                    self._handlers[message["channel"].decode()](message["data"])
        finally:
            await asyncio.shield(_close(pubsub, client))


async def answer_within(answered: asyncio.Future[dict[str, Any]], timeout: float) -> dict[str, Any] | None:
    """The answer, or None if none came within ``timeout`` seconds."""
    if timeout <= 0:
        return None
    try:
        return await asyncio.wait_for(asyncio.shield(answered), timeout)
    except asyncio.TimeoutError:
        return None


def new_worker_id() -> str:
    return uuid.uuid4().hex


def subscriptions_for(target: RedisTarget, rules_changed: Callable[[bytes], None], replies: WaitingReplies,
                      on_live: Callable[[bool], None], rank_changes: Callable[[bytes], None] | None = None,
                      **kwargs: Any) -> Subscriptions:
    """The worker's subscription: rules changes, its own replies channel and (given a handler) its own
    rank changes channel."""
    handlers = {RULES_CHANGED_CHANNEL: rules_changed, replies.channel: replies.deliver}
    if rank_changes is not None:
        handlers[rank_changes_channel(replies.worker_id)] = rank_changes
    return Subscriptions(target, handlers, on_live, **kwargs)


async def _close(pubsub: Any, client: aioredis.Redis | aioredis.RedisCluster) -> None:
    try:
        await pubsub.aclose()
        await close_client(client)
    except (RedisError, OSError):
        pass  # the connection was already gone
