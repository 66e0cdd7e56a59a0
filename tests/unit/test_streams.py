"""A worker's player streams: watched entries kept while open, events fanned out, slow readers cut off.

The Redis index is faked (a recorder of watch/unwatch calls); tests/integration/test_streams.py
runs the same code against the real Redis and workers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from leaderboard_app.errors import TooManyStreams
from leaderboard_app.web.streams import PlayerStreams

WORKER = "f" * 32
PLAYER = ("tetris", "all", "ann")


class Index:
    def __init__(self) -> None:
        self.watched: list[tuple[list[Any], str, float]] = []
        self.unwatched: list[tuple[str, ...]] = []

    async def watch(self, players: list[Any], worker_id: str, ttl: float) -> None:
        self.watched.append((list(players), worker_id, ttl))

    async def unwatch(self, game_id: str, season: str, user_id: str, worker_id: str) -> None:
        self.unwatched.append((game_id, season, user_id, worker_id))


def published(*players: tuple[str, str, str], rank: int = 2) -> bytes:
    return orjson.dumps([{"gameId": g, "season": s, "userId": u, "rank": rank} for g, s, u in players])


async def test_the_first_stream_of_a_player_watches_and_the_last_one_unwatches() -> None:
    index = Index()
    streams = PlayerStreams(index, WORKER)  # type: ignore[arg-type]
    first = await streams.open(PLAYER)
    second = await streams.open(PLAYER)
    assert index.watched == [([PLAYER], WORKER, streams.ttl)]
    await streams.close(first)
    assert index.unwatched == []
    await streams.close(second)
    assert index.unwatched == [(*PLAYER, WORKER)]
    assert len(streams) == 0


async def test_events_reach_every_stream_of_their_player_only() -> None:
    streams = PlayerStreams(Index(), WORKER)  # type: ignore[arg-type]
    mine = [await streams.open(PLAYER), await streams.open(PLAYER)]
    other = await streams.open(("tetris", "all", "bob"))
    streams.deliver(published(PLAYER))
    for stream in mine:
        assert await stream.next(0.1) == b'event: rank\ndata: {"gameId":"tetris","season":"all","userId":"ann",' \
                                         b'"rank":2}\n\n'
    assert await other.next(0.01) is None
    streams.deliver(b"not json")  # ignored, as a malformed reply is
    assert await mine[0].next(0.01) is None


async def test_a_stream_whose_reader_falls_behind_is_marked_overflowed() -> None:
    streams = PlayerStreams(Index(), WORKER)  # type: ignore[arg-type]
    stream = await streams.open(PLAYER)
    for rank in range(stream.max_queued):
        streams.deliver(published(PLAYER, rank=rank + 1))
    assert not stream.overflowed
    streams.deliver(published(PLAYER, rank=1000))
    assert stream.overflowed


async def test_watched_entries_are_refreshed_while_streams_are_open() -> None:
    index = Index()
    streams = PlayerStreams(index, WORKER, refresh=0.01)  # type: ignore[arg-type]
    stream = await streams.open(PLAYER)

    async def refreshed(times: int) -> None:
        while len(index.watched) < times:
            await asyncio.sleep(0.005)

    await asyncio.wait_for(refreshed(3), timeout=2)
    assert index.watched[-1] == ([PLAYER], WORKER, streams.ttl)
    await streams.close(stream)


async def test_one_client_may_hold_only_its_share_of_streams() -> None:
    streams = PlayerStreams(Index(), WORKER, max_per_client=2)  # type: ignore[arg-type]
    await streams.open(PLAYER, "client")
    await streams.open(("tetris", "all", "bob"), "client")
    with pytest.raises(TooManyStreams):
        await streams.open(("tetris", "all", "cy"), "client")
    await streams.open(("tetris", "all", "cy"), "someone else")
