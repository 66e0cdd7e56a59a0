"""The live page and the shared pollers behind /stream/topk (no services needed)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestClient, TestServer

from leaderboard_app.app import create_app
from leaderboard_app.errors import BackendUnavailable, TooManyStreams
from leaderboard_app.metrics import LeaderboardMetrics
from leaderboard_app.settings import Settings
from leaderboard_app.web import live
from leaderboard_app.web.live import LivePage, TopFeeds, live_page, sse_message

INTERVAL = 0.01


class CountingTop:
    """A top that changes when told to, counting how often it is read."""

    def __init__(self) -> None:
        self.reads = 0
        self.players: list[dict[str, object]] = []

    async def __call__(self) -> bytes:
        self.reads += 1
        return sse_message("topk", self.players)


async def wait_until(check: object, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(INTERVAL)


def test_an_sse_message_is_one_event_with_one_data_line() -> None:
    message = sse_message("topk", [{"userId": "a\nb", "score": 1, "rank": 1}])
    assert message == b'event: topk\ndata: [{"userId":"a\\nb","score":1,"rank":1}]\n\n'


async def test_subscribers_of_one_top_share_one_poller() -> None:
    feeds = TopFeeds(LeaderboardMetrics(), interval=INTERVAL)
    top = CountingTop()
    joined = [feeds.join(("g", None, 10), top, f"client-{n}") for n in range(50)]
    assert len(feeds) == 1 and feeds.streams == 50
    assert all(feed is joined[0] for feed in joined)
    await asyncio.sleep(INTERVAL * 10)
    # One read per tick, not one per subscriber per tick.
    assert 1 <= top.reads <= 20
    other = feeds.join(("g", None, 20), CountingTop())
    assert len(feeds) == 2
    for n, feed in enumerate(joined):
        feeds.leave(("g", None, 10), feed, f"client-{n}")
    feeds.leave(("g", None, 20), other)


async def test_a_change_reaches_waiting_subscribers_and_no_change_sends_nothing() -> None:
    feeds = TopFeeds(LeaderboardMetrics(), interval=INTERVAL)
    top = CountingTop()
    feed = feeds.join(("g", None, 10), top)
    await feed.wait_after(0, timeout=2)
    assert feed.version == 1 and feed.message == sse_message("topk", [])
    reads = top.reads
    await wait_until(lambda: top.reads >= reads + 3)
    assert feed.version == 1  # read again, unchanged: nothing new to send
    top.players = [{"userId": "p", "score": 5, "rank": 1}]
    await feed.wait_after(1, timeout=2)
    assert feed.version == 2 and b'"userId":"p"' in feed.message
    feeds.leave(("g", None, 10), feed)


async def test_the_last_subscriber_leaving_stops_the_poller() -> None:
    metrics = LeaderboardMetrics()
    feeds = TopFeeds(metrics, interval=INTERVAL)
    top = CountingTop()
    key = ("g", None, 10)
    first, second = feeds.join(key, top), feeds.join(key, top)
    assert metrics.live_streams._value.get() == 2 and metrics.live_feeds._value.get() == 1
    feeds.leave(key, first)
    await asyncio.sleep(INTERVAL * 3)
    assert first.task is not None and not first.task.done()
    feeds.leave(key, second)
    await wait_until(lambda: second.task is not None and second.task.done())
    reads = top.reads
    await asyncio.sleep(INTERVAL * 5)
    assert top.reads == reads and len(feeds) == 0 and feeds.streams == 0
    assert metrics.live_streams._value.get() == 0 and metrics.live_feeds._value.get() == 0


async def test_a_failing_read_is_published_as_unavailable_and_the_poller_goes_on() -> None:
    feeds = TopFeeds(LeaderboardMetrics(), interval=INTERVAL)
    calls = 0

    async def broken_then_fine() -> bytes:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise RuntimeError("bug")
        return sse_message("topk", [])

    feed = feeds.join(("g", None, 1), broken_then_fine)
    await feed.wait_after(0, timeout=2)
    assert feed.message.startswith(b"event: unavailable\n")
    await feed.wait_after(1, timeout=2)
    assert feed.message == sse_message("topk", [])
    feeds.leave(("g", None, 1), feed)


async def test_limits_and_closing_refuse_new_streams() -> None:
    feeds = TopFeeds(LeaderboardMetrics(), interval=INTERVAL, max_streams=3, max_feeds=2)
    a = feeds.join(("a", None, 1), CountingTop())
    b = feeds.join(("b", None, 1), CountingTop())
    with pytest.raises(BackendUnavailable, match="distinct tops"):
        feeds.join(("c", None, 1), CountingTop())
    a2 = feeds.join(("a", None, 1), CountingTop())
    with pytest.raises(BackendUnavailable, match="most streams"):
        feeds.join(("a", None, 1), CountingTop())
    waiting = asyncio.ensure_future(a.wait_after(a.version if a.version else 0, timeout=30))
    await asyncio.sleep(0)
    await feeds.close()
    assert feeds.closed
    await asyncio.wait_for(waiting, 1)  # woken at once, not after its 30 s
    with pytest.raises(BackendUnavailable, match="stopping"):
        feeds.join(("a", None, 1), CountingTop())
    for key, feed in ((("a", None, 1), a), (("a", None, 1), a2), (("b", None, 1), b)):
        feeds.leave(key, feed)


async def test_one_client_may_hold_only_its_share_of_the_streams() -> None:
    feeds = TopFeeds(LeaderboardMetrics(), interval=INTERVAL, max_streams=10, max_per_client=2)
    key = ("a", None, 1)
    mine = [feeds.join(key, CountingTop(), "k-me"), feeds.join(key, CountingTop(), "k-me")]
    with pytest.raises(TooManyStreams, match=r"this client has the most streams .* \(2\)"):
        feeds.join(key, CountingTop(), "k-me")
    other = feeds.join(key, CountingTop(), "a203.0.113.7")  # another client still gets one
    feeds.leave(key, mine.pop(), "k-me")
    mine.append(feeds.join(key, CountingTop(), "k-me"))  # a slot given back is free again
    for feed in mine:
        feeds.leave(key, feed, "k-me")
    feeds.leave(key, other, "a203.0.113.7")
    assert feeds.streams == 0
    await feeds.close()


class StalledResponse:
    """A stream response whose client stopped reading: the first write goes out, the next never completes."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    async def write(self, data: bytes) -> None:
        if self.written:
            await asyncio.Event().wait()
        self.written.append(data)


class FakeTransport:
    def __init__(self) -> None:
        self.aborted = False

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True


async def test_a_stream_whose_client_stopped_reading_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "WRITE_TIMEOUT", 0.2)
    feeds = TopFeeds(LeaderboardMetrics(), interval=INTERVAL)
    feed = feeds.join(("g", None, 1), CountingTop())
    request, response = SimpleNamespace(transport=FakeTransport()), StalledResponse()
    view = object.__new__(live.TopStreamView)  # _forward uses neither the app nor the view's state
    await asyncio.wait_for(view._forward(request, response, feed, feeds), 5)
    assert response.written == [b"retry: %d\n\n" % live.RECONNECT_MS]
    assert request.transport.aborted
    feeds.leave(("g", None, 1), feed)
    await feeds.close()


# -- the page --------------------------------------------------------------------------


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_the_page_inlines_its_script_and_style_and_allows_only_them() -> None:
    page = live_page()
    html = page.html.decode("utf-8")
    script = re.search(r"<script>(.*)</script>", html, re.S)
    style = re.search(r"<style>(.*)</style>", html, re.S)
    assert script and style
    policy = page.content_security_policy
    assert f"script-src {csp_hash(script.group(1))}" in policy
    assert f"style-src {csp_hash(style.group(1))}" in policy
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    # Nothing is loaded from anywhere else.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "/stream/topk" in html and "EventSource" in html


def test_a_page_whose_script_would_close_its_element_is_refused() -> None:
    with pytest.raises(ValueError, match="close its own element"):
        LivePage("<!-- live.css --><!-- live.js -->", "", "alert('</script>')")
    with pytest.raises(ValueError, match="once"):
        LivePage("<!-- live.css -->", "", "")


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    settings = Settings.from_env({"LEADERBOARD_READ_KEYS": "reader", "LEADERBOARD_WRITE_KEYS": "writer",
                                  "LEADERBOARD_RATE_LIMIT": "0"})
    app = create_app(settings)
    app.web.init_server()
    async with TestClient(TestServer(app.web.web_app)) as test_client:
        yield test_client


async def test_the_page_is_served_at_the_root_without_a_key(client: TestClient) -> None:
    response = await client.get("/")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Security-Policy"] == live_page().content_security_policy
    assert await response.read() == live_page().html


@pytest.mark.parametrize(("query", "status", "error"), [
    ({"k": "5"}, 401, "missing or malformed Authorization: Bearer <key> header"),
    ({"gameId": "g", "key": "nope"}, 401, "unknown API key"),
    ({"gameId": "g", "key": ["reader", "reader"]}, 400, "key must be given at most once"),
    ({"key": "reader"}, 400, "gameId is required"),
    ({"gameId": "g", "k": "0", "key": "reader"}, 400, "k must be an integer from 1 to 100"),
    ({"gameId": "g", "k": "101", "key": "reader"}, 400, "k must be an integer from 1 to 100"),
    ({"gameId": "", "key": "reader"}, 400, None),
])
async def test_stream_refuses_bad_keys_and_parameters_in_json(client: TestClient, query: dict[str, object],
                                                               status: int, error: str | None) -> None:
    response = await client.get("/stream/topk", params=query)  # type: ignore[arg-type]
    assert response.status == status
    body = await response.json()
    assert body["error"] == error if error else body["error"].startswith("gameId ")


async def test_stream_takes_the_key_from_the_header_too(client: TestClient) -> None:
    # Past the key and the parameters, the game's rules need Redis, not started here: 503.
    response = await client.get("/stream/topk", params={"gameId": "g", "key": "nope"},
                                headers={"Authorization": "Bearer reader"})
    assert response.status == 503
    assert (await response.json())["error"].startswith("redis")
