"""The live leaderboard: GET / (a page) and GET /stream/topk (Server-Sent Events).

``/stream/topk?gameId=G&k=N[&slice=country:FR]`` answers ``text/event-stream``: an ``event: topk``
whose data is what ``GET /topk`` would answer with those parameters (tiers included), once at connect and
again whenever that changes; ``event: unavailable`` (data ``{"error": ...}``)
while the top cannot be read. Any client can use it; the page at ``/`` does.

Subscribers share pollers: each distinct (game, season, slice, k) watched on this worker
has one task reading its top from Redis every :data:`POLL_INTERVAL` seconds and
comparing it with the last one; a change is pushed to every subscriber of it. So
Redis sees one query per distinct stream per tick, however many clients watch,
and the poller stops when its last subscriber leaves. A subscriber that cannot
keep up skips to the latest top rather than queueing every one.

Keys: EventSource cannot send headers, so this one endpoint also takes the key as
a ``key`` query parameter (the Authorization header still works and wins). The
page itself holds no data and needs no key; it asks for one and sends it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import orjson
from aiohttp import web
from faust.web import Blueprint, Request, Response
from faust.web.exceptions import WebError

from leaderboard_app.errors import BackendUnavailable, InvalidInput, TooManyStreams
from leaderboard_app.metrics import LeaderboardMetrics
from leaderboard_app.seasons import parse_season, season_of
from leaderboard_app.web.base import LeaderboardView, query_game_id, query_int, query_value
from leaderboard_app.web.queries import BoardView, parse_slice, ranking, with_tiers

logger = logging.getLogger(__name__)

STREAM_PATH = "/stream/topk"
#: Largest ``k`` a stream takes (every change resends the whole top).
MAX_STREAM_K = 100
#: Seconds between two reads of one stream's top.
POLL_INTERVAL = 0.25
#: Seconds of silence after which a comment line is sent, so proxies keep the connection.
KEEPALIVE_INTERVAL = 15.0
#: Seconds within which a gone client is noticed when nothing changes.
DISCONNECT_CHECK = 1.0
#: What the browser waits before reconnecting after the stream ended (milliseconds).
RECONNECT_MS = 2000
#: Streams one worker keeps open, and distinct tops it polls; past either, 503.
MAX_STREAMS = 1000
MAX_FEEDS = 200
#: Streams one client (API key, else address) may hold open on one worker; past it, 429.
MAX_STREAMS_PER_CLIENT = 20
#: Seconds a write to a stream may wait for the client to read; past it the stream is dropped.
WRITE_TIMEOUT = 10.0

FeedKey = tuple[str, str | None, str | None, int]
Fetch = Callable[[], Awaitable[bytes]]

#: The headers of a stream (X-Accel-Buffering: nginx-like proxies must not hold events back).
STREAM_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

blueprint = Blueprint("live")


def sse_message(event: str, data: Any) -> bytes:
    """Return one Server-Sent Events message (orjson never writes a newline)."""
    return b"event: " + event.encode("ascii") + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class TopFeed:
    """The latest top of one (game, season, k), read by one task for all its subscribers."""

    def __init__(self, fetch: Fetch) -> None:
        self.fetch = fetch
        #: The latest message (b"" until the first read), and how many there were.
        self.message = b""
        self.version = 0
        self.subscribers = 0
        self.task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def poll(self, interval: float) -> None:
        """Read the top every ``interval`` seconds and publish it when it changed."""
        failing = False
        while True:
            try:
                message = await self.fetch()
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception:
                if not failing:  # once per outage, not four times a second
                    logger.exception("live top: reading the top failed")
                failing = True
                message = sse_message("unavailable", {"error": "internal error"})
            if message != self.message:
                self.message = message
                self.version += 1
                self.wake()
            await asyncio.sleep(interval)

    def wake(self) -> None:
        """Wake every subscriber waiting in :meth:`wait_after`."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_after(self, version: int, timeout: float) -> None:
        """Return once there is a message newer than ``version``, or after ``timeout`` seconds."""
        changed = self._changed
        if self.version != version:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout)


class TopFeeds:
    """The feeds of the streams open on this worker, by (game, season asked for, k)."""

    def __init__(self, metrics: LeaderboardMetrics, interval: float = POLL_INTERVAL,
                 max_streams: int = MAX_STREAMS, max_feeds: int = MAX_FEEDS,
                 max_per_client: int = MAX_STREAMS_PER_CLIENT) -> None:
        self.metrics = metrics
        self.interval = interval
        self.max_streams = max_streams
        self.max_feeds = max_feeds
        self.max_per_client = max_per_client
        self.streams = 0
        self.closed = False
        self._feeds: dict[FeedKey, TopFeed] = {}
        self._by_client: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._feeds)

    def join(self, key: FeedKey, fetch: Fetch, client: str = "") -> TopFeed:
        """Subscribe ``client`` to the feed of ``key``, starting its poller (with ``fetch``) if it is the first."""
        if self.closed:
            raise BackendUnavailable("live: the worker is stopping")
        if self.streams >= self.max_streams:
            raise BackendUnavailable(f"live: this worker has the most streams it keeps open ({self.max_streams})")
        if self._by_client[client] >= self.max_per_client:
            raise TooManyStreams(f"live: this client has the most streams one client may keep open on a worker"
                                 f" ({self.max_per_client})")
        feed = self._feeds.get(key)
        if feed is None:
            if len(self._feeds) >= self.max_feeds:
                raise BackendUnavailable(
                    f"live: this worker watches the most distinct tops it polls ({self.max_feeds})")
            feed = self._feeds[key] = TopFeed(fetch)
            feed.task = asyncio.get_running_loop().create_task(feed.poll(self.interval))
        feed.subscribers += 1
        self.streams += 1
        self._by_client[client] += 1
        self._report()
        return feed

    def leave(self, key: FeedKey, feed: TopFeed, client: str = "") -> None:
        """Unsubscribe; the last subscriber to leave stops the poller."""
        feed.subscribers -= 1
        self.streams -= 1
        self._by_client[client] -= 1
        if self._by_client[client] <= 0:
            del self._by_client[client]
        if feed.subscribers == 0 and self._feeds.get(key) is feed:
            del self._feeds[key]
            if feed.task is not None:
                feed.task.cancel()
        self._report()

    async def close(self, _web_app: web.Application | None = None) -> None:
        """End every stream (aiohttp's on_shutdown): the web server waits for open answers."""
        self.closed = True
        for feed in self._feeds.values():
            if feed.task is not None:
                feed.task.cancel()
            feed.wake()

    def _report(self) -> None:
        self.metrics.live_streams.set(self.streams)
        self.metrics.live_feeds.set(len(self._feeds))


def client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class EventStreamView(LeaderboardView):
    """A view answering an event stream: EventSource cannot send headers, so it takes the key in the query too."""

    def authorization(self, request: Any) -> str | None:
        """Return the Authorization header, else the ``key`` query parameter as one."""
        header = super().authorization(request)
        if header is not None:
            return header
        key = query_value(request, "key")
        return None if key is None else f"Bearer {key}"


@blueprint.route(STREAM_PATH, name="stream_topk")
class TopStreamView(EventStreamView, BoardView):
    async def get(self, request: Request) -> web.StreamResponse:
        """Stream the top ``k`` players as Server-Sent Events: at connect, and on every change."""
        game_id = query_game_id(request)
        count = query_int(request, "k", default=10, low=1, high=MAX_STREAM_K)
        season_text = query_value(request, "season")
        slice_text = query_value(request, "slice")
        # Checked now, so that a bad season or slice is a 400 and not a stream of errors.
        await self.board(request)
        if request.method == "HEAD":  # Faust answers HEAD with get(): headers only, no stream held open
            return self.bytes(b"", headers=STREAM_HEADERS)
        feeds: TopFeeds = self.leaderboard.top_feeds
        key = (game_id, season_text, slice_text, count)
        client = self.client_bucket(request)
        feed = feeds.join(key, self._top_reader(game_id, season_text, slice_text, count), client)
        try:
            response = web.StreamResponse(headers=STREAM_HEADERS)
            await response.prepare(request)
            await self._forward(request, response, feed, feeds)
        finally:
            feeds.leave(key, feed, client)
        return response

    async def _forward(self, request: Any, response: web.StreamResponse, feed: TopFeed, feeds: TopFeeds) -> None:
        loop = asyncio.get_running_loop()

        async def send(data: bytes) -> None:
            # A client that stops reading would hold the write, and its slot, forever.
            await asyncio.wait_for(response.write(data), WRITE_TIMEOUT)

        try:
            await send(b"retry: %d\n\n" % RECONNECT_MS)
            seen = 0
            quiet_since = loop.time()
            while not feeds.closed and not client_gone(request):
                if feed.version != seen:
                    seen = feed.version
                    await send(feed.message)
                    quiet_since = loop.time()
                elif loop.time() - quiet_since >= KEEPALIVE_INTERVAL:
                    await send(b": keepalive\n\n")
                    quiet_since = loop.time()
                await feed.wait_after(seen, DISCONNECT_CHECK)
        except ConnectionResetError:  # the client left while we wrote (aiohttp's errors subclass it)
            pass
        except asyncio.TimeoutError:
            logger.info("dropped an event stream whose client stopped reading for %g s", WRITE_TIMEOUT)
            if request.transport is not None:
                request.transport.abort()

    def _top_reader(self, game_id: str, season_text: str | None, slice_text: str | None, count: int) -> Fetch:
        """Return what the feed calls to read the top: the /topk answer (with tiers), as an SSE message."""
        app = self.leaderboard

        async def read_top() -> bytes:
            try:
                rules = await app.rules_for(game_id)
                # Without an explicit season, follow the current one across resets.
                season = (parse_season(rules.reset, season_text) if season_text is not None
                          else season_of(rules.reset, app.clock.now_us()))
                board = await self.board_of(game_id, rules, season, parse_slice(slice_text, rules))
                players = await board.standings.top(game_id, season, rules.order, count, **ranking(board))
                players = await with_tiers(board, players)
            except (BackendUnavailable, InvalidInput, WebError) as exc:
                return sse_message("unavailable", {"error": str(exc)})
            return sse_message("topk", [player.as_json() for player in players])

        return read_top


@blueprint.route("/", name="live_page")
class LivePageView(LeaderboardView):
    scope = None  # the page holds no data; what it fetches needs the key it asks for

    async def get(self, request: Request) -> Response:
        """Serve the live leaderboard page (script and style inline, nothing fetched from elsewhere)."""
        page = live_page()
        return self.bytes(page.html, headers={
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": page.content_security_policy,
            "Cache-Control": "no-cache",
        })


class LivePage:
    """The page, put together from ``static/``: HTML with its stylesheet and script inline."""

    def __init__(self, template: str, style: str, script: str) -> None:
        for marker in ("<!-- live.css -->", "<!-- live.js -->"):
            if template.count(marker) != 1:
                raise ValueError(f"live.html must hold {marker} once")
        if "</style" in style or "</script" in script:
            raise ValueError("an inline style or script must not close its own element")
        self.html = (template.replace("<!-- live.css -->", f"<style>{style}</style>")
                     .replace("<!-- live.js -->", f"<script>{script}</script>").encode("utf-8"))
        # Only this script and this style may run, and the page may talk only to
        # this worker: the browser itself refuses anything from elsewhere.
        self.content_security_policy = "; ".join((
            "default-src 'none'",
            f"script-src '{_sha256(script)}'",
            f"style-src '{_sha256(style)}'",
            "connect-src 'self'",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ))


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


@functools.cache
def live_page() -> LivePage:
    """Return the page, read from the package once."""
    static = resources.files("leaderboard_app.web") / "static"
    return LivePage(*((static / name).read_text("utf-8") for name in ("live.html", "live.css", "live.js")))
