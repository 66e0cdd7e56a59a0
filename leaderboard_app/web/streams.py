"""Live rank changes of one player: GET /stream/player/{userId}?gameId=G (Server-Sent Events).

The answer is ``text/event-stream``: a ``retry:`` hint, then an ``event: rank`` with the
player's standing at connect (``previousRank`` null), then an ``event: rank`` each time
the player's rank changes (leaderboard_app.rank_changes describes the data), a comment
line after 15 s without events, and ``event: overflow`` just before the stream is closed
because its client fell :data:`MAX_QUEUED` events behind.

Nothing polls. While a stream is open, its worker keeps an entry ``<worker id>:<userId>``
in the season's ``watched`` set in Redis (refreshed every :data:`WATCH_REFRESH` s, expiring
after :data:`WATCH_TTL` s, removed when the worker's last stream of the player closes). The
agent's write script reads that set with the writes it applies and reports the rank changes
of watched players; the agent publishes them to each streaming worker's
``lb:rank-changes:<worker id>`` channel, which this worker's one subscription
(leaderboard_app.subscriptions) hands to :meth:`PlayerStreams.deliver`, which fans them out
to the streams of each player.

A stream follows the season resolved when it opened (the current one unless ``season`` is
given). Events published while the subscription is down are lost (Redis keeps none).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from faust.web import Blueprint, Request

from leaderboard_app.errors import BackendUnavailable, TooManyStreams
from leaderboard_app.models import validate_id
from leaderboard_app.rank_changes import standing_event
from leaderboard_app.web.live import (
    DISCONNECT_CHECK,
    KEEPALIVE_INTERVAL,
    RECONNECT_MS,
    STREAM_HEADERS,
    WRITE_TIMEOUT,
    EventStreamView,
    client_gone,
    sse_message,
)

if TYPE_CHECKING:
    from leaderboard_app.sinks.redis import RedisLeaderboard

logger = logging.getLogger(__name__)

STREAM_PATH = "/stream/player/{userId}"
#: Seconds between refreshes of this worker's watched entries, and how long one lasts
#: unrefreshed (a worker that dies stops costing the agent within this).
WATCH_REFRESH = 5.0
WATCH_TTL = 20.0
#: Events a stream may have waiting for its client; one more closes it.
MAX_QUEUED = 100
#: Player streams one worker keeps open, and one client (key, else address) may hold on it.
MAX_STREAMS = 1000
MAX_STREAMS_PER_CLIENT = 20

#: (gameId, season, userId)
Watched = tuple[str, str, str]

blueprint = Blueprint("streams")


class PlayerStream:
    """The events waiting for one open stream; bounded, so a client that stops reading costs little."""

    def __init__(self, player: Watched, client: str, max_queued: int = MAX_QUEUED) -> None:
        self.player = player
        self.client = client
        self.max_queued = max_queued
        #: Whether an event was dropped because the queue was full: the stream must end.
        self.overflowed = False
        self._events: deque[bytes] = deque()
        self._ready = asyncio.Event()

    def push(self, message: bytes) -> None:
        if len(self._events) >= self.max_queued:
            self.overflowed = True
        else:
            self._events.append(message)
        self._ready.set()

    def wake(self) -> None:
        self._ready.set()

    async def next(self, timeout: float) -> bytes | None:
        """The next waiting event, or None after ``timeout`` s (or when woken) without one."""
        if not self._events:
            self._ready.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout)
        return self._events.popleft() if self._events else None


class PlayerStreams:
    """The player streams open on this worker, and their watched entries in Redis."""

    def __init__(self, redis: RedisLeaderboard, worker_id: str, max_streams: int = MAX_STREAMS,
                 max_per_client: int = MAX_STREAMS_PER_CLIENT, refresh: float = WATCH_REFRESH,
                 ttl: float = WATCH_TTL) -> None:
        self.redis = redis
        self.worker_id = worker_id
        self.max_streams = max_streams
        self.max_per_client = max_per_client
        self.refresh = refresh
        self.ttl = ttl
        self.closed = False
        self._streams: dict[Watched, set[PlayerStream]] = {}
        self._by_client: Counter[str] = Counter()
        self._refresher: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return sum(len(streams) for streams in self._streams.values())

    async def open(self, player: Watched, client: str = "") -> PlayerStream:
        """A new stream of ``player``; its first on this worker marks the player watched."""
        if self.closed:
            raise BackendUnavailable("streams: the worker is stopping")
        if len(self) >= self.max_streams:
            raise BackendUnavailable(f"streams: this worker has the most streams it keeps open ({self.max_streams})")
        if self._by_client[client] >= self.max_per_client:
            raise TooManyStreams(f"streams: this client has the most streams one client may keep open on a worker"
                                 f" ({self.max_per_client})")
        stream = PlayerStream(player, client)
        first = player not in self._streams
        self._streams.setdefault(player, set()).add(stream)
        self._by_client[client] += 1
        try:
            if first:
                await self.redis.watch([player], self.worker_id, self.ttl)
        except BaseException:
            await self.close(stream)
            raise
        if self._refresher is None:
            self._refresher = asyncio.get_running_loop().create_task(self._refresh())
        return stream

    async def close(self, stream: PlayerStream) -> None:
        """End ``stream``; the last of its player on this worker unmarks the player."""
        player = stream.player
        streams = self._streams.get(player, set())
        streams.discard(stream)
        self._by_client[stream.client] -= 1
        if self._by_client[stream.client] <= 0:
            del self._by_client[stream.client]
        if streams:
            return
        self._streams.pop(player, None)
        if not self._streams and self._refresher is not None:
            self._refresher.cancel()
            self._refresher = None
        try:
            await self.redis.unwatch(*player, self.worker_id)
        except BackendUnavailable as exc:  # the entry expires by itself
            logger.info("could not unwatch a closed stream's player (%s); the entry expires in %g s", exc, self.ttl)

    def deliver(self, message: bytes) -> None:
        """Hand the events the agent published for this worker to the streams of their players."""
        try:
            events = orjson.loads(message)
            keyed = [((event["gameId"], event["season"], event["userId"]), event) for event in events]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            logger.warning("ignoring a malformed rank-changes message")
            return
        for player, event in keyed:
            streams = self._streams.get(player)
            if streams:
                encoded = sse_message("rank", event)  # once, for every stream of the player
                for stream in streams:
                    stream.push(encoded)

    async def _refresh(self) -> None:
        """Keep this worker's watched entries alive while it has streams."""
        while True:
            await asyncio.sleep(self.refresh)
            try:
                await self.redis.watch(list(self._streams), self.worker_id, self.ttl)
            except BackendUnavailable as exc:
                logger.warning("could not refresh the watched players of open streams: %s", exc)

    async def shutdown(self, _web_app: web.Application | None = None) -> None:
        """End every stream (aiohttp's on_shutdown): the web server waits for open answers."""
        self.closed = True
        if self._refresher is not None:
            self._refresher.cancel()
            self._refresher = None
        for streams in self._streams.values():
            for stream in streams:
                stream.wake()


# aiohttp's default segment pattern excludes "{" and "}", which are valid in ids.
@blueprint.route("/stream/player/{userId:[^/]+}", name="stream_player")
class PlayerStreamView(EventStreamView):
    async def get(self, request: Request, userId: str) -> web.StreamResponse:  # noqa: N803 (route name)
        """Stream the player's rank as Server-Sent Events: at connect, and on every change."""
        user_id = validate_id("userId", userId)
        game_id, rules, season = await self.game_and_season(request)
        if request.method == "HEAD":  # Faust answers HEAD with get(): headers only, no stream held open
            return self.bytes(b"", headers=STREAM_HEADERS)
        app = self.leaderboard
        streams: PlayerStreams = app.player_streams
        # Watched before the standing is read, so no change after the read is missed.
        stream = await streams.open((game_id, season, user_id), self.client_bucket(request))
        try:
            standing = await app.redis_leaderboard.rank_for(game_id, season, rules.order, user_id,
                                                            columns=rules.columns)
            response = web.StreamResponse(headers=STREAM_HEADERS)
            await response.prepare(request)
            await self._forward(request, response, stream, streams,
                                sse_message("rank", standing_event(game_id, season, user_id, standing)))
        finally:
            await streams.close(stream)
        return response

    async def _forward(self, request: Any, response: web.StreamResponse, stream: PlayerStream,
                       streams: PlayerStreams, first: bytes) -> None:
        loop = asyncio.get_running_loop()

        async def send(data: bytes) -> None:
            # A client that stops reading would hold the write, and its slot, forever.
            await asyncio.wait_for(response.write(data), WRITE_TIMEOUT)

        try:
            await send(b"retry: %d\n\n" % RECONNECT_MS)
            await send(first)
            quiet_since = loop.time()
            while not streams.closed and not client_gone(request):
                if stream.overflowed:
                    await send(sse_message("overflow", {"error": f"the client fell {stream.max_queued} events"
                                                                 " behind; reconnect"}))
                    return
                message = await stream.next(DISCONNECT_CHECK)
                if message is not None:
                    await send(message)
                    quiet_since = loop.time()
                elif loop.time() - quiet_since >= KEEPALIVE_INTERVAL:
                    await send(b": keepalive\n\n")
                    quiet_since = loop.time()
        except ConnectionResetError:  # the client left while we wrote (aiohttp's errors subclass it)
            pass
        except asyncio.TimeoutError:
            logger.info("dropped a player stream whose client stopped reading for %g s", WRITE_TIMEOUT)
            if request.transport is not None:
                request.transport.abort()
