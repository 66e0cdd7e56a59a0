"""Final standings of a closed season as Kafka records, for services that reward players.

Every record of one season is keyed ``[gameId, season]`` (JSON), so all of them
land on one partition, in the order they were produced: one ``standing`` per
player, best first, then the ``season_closed`` summary last. A consumer that
reads a ``season_closed`` has therefore read every standing of that season
before it. Delivery is at least once: a leader that dies after producing and
before evicting the season produces it all again (docs/season-results.md).

``SeasonResults`` builds the payloads, free of I/O; ``SeasonResultsProducer``
sends them and waits for Kafka's acknowledgement. Nothing here knows where the
standings come from, so a tournament's close can call
:func:`produce_season_results` with its own board id and rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, Protocol

import orjson

from leaderboard_app.models import PlayerStanding, tournament_of

#: Players listed in the summary record's ``top``; the rest only have their own record.
TOP_SIZE = 1_000
#: Records handed to the producer before waiting for their acknowledgement.
PRODUCE_CHUNK = 500

STANDING = "standing"
SEASON_CLOSED = "season_closed"


class Sender(Protocol):
    """What a faust topic offers for producing (``TopicT.send``)."""

    async def send(self, *, key: bytes, value: bytes, force: bool) -> Awaitable[Any]: ...


def season_key(game_id: str, season: str) -> bytes:
    """The key of every record of one season: the JSON array ``[gameId, season]``."""
    # A JSON array, not "game:season": ids may contain any character.
    return orjson.dumps([game_id, season])


class SeasonResults:
    """Builds one season's record values from its (position, standing) rows, fed best first.

    Only the best ``top_size`` players are kept (for the summary), so memory does
    not grow with the season.
    """

    def __init__(self, game_id: str, season: str, total: int, closed_at_us: int, top_size: int = TOP_SIZE) -> None:
        tournament_id = tournament_of(game_id)
        # A tournament's run is named by its tournament: its board id holds a control character.
        self.key = season_key(game_id if tournament_id is None else tournament_id, season)
        self._common = ({"gameId": game_id} if tournament_id is None else {"tournamentId": tournament_id}) | {
            "season": season}
        self.total = total
        self.closed_at_us = closed_at_us
        self._top_size = top_size
        self._top: list[dict[str, Any]] = []

    def standings(self, rows: Iterable[tuple[int, PlayerStanding]]) -> list[bytes]:
        """The ``standing`` record values of ``rows``, in their order."""
        values = []
        for position, standing in rows:
            player = standing.player
            ranked: dict[str, Any] = {"userId": player.user_id, "score": player.score, "rank": player.rank}
            if player.display_name is not None:
                ranked["displayName"] = player.display_name
            if player.columns is not None:
                ranked["columns"] = player.columns
            if len(self._top) < self._top_size:
                self._top.append(ranked)
            values.append(orjson.dumps({
                "type": STANDING, **self._common, **ranked, "position": position,
                "total": standing.total, "closedAtUs": self.closed_at_us,
            }))
        return values

    def summary(self) -> bytes:
        """The ``season_closed`` record value: produced after every standing."""
        return orjson.dumps({"type": SEASON_CLOSED, **self._common, "total": self.total,
                             "closedAtUs": self.closed_at_us, "top": self._top})


def season_result_values(game_id: str, season: str, total: int, closed_at_us: int,
                         rows: Iterable[tuple[int, PlayerStanding]]) -> Iterator[bytes]:
    """Every record value of a season in produce order: its standings, then the summary."""
    results = SeasonResults(game_id, season, total, closed_at_us)
    yield from results.standings(rows)
    yield results.summary()


class SeasonResultsProducer:
    """Produces one season's records in order and waits until Kafka acknowledged them.

    ``send`` hands a chunk of standings to the producer without waiting for
    Kafka, so the caller can write elsewhere meanwhile; ``acknowledged`` waits
    for them; ``finish`` produces the summary only once every standing is
    acknowledged. A failure, or a step taking over ``timeout`` seconds, raises:
    the season must then be produced again from its start (a retry repeats records).
    """

    def __init__(self, topic: Sender, results: SeasonResults, timeout: float) -> None:
        self._topic = topic
        self._results = results
        self._timeout = timeout
        self._pending: list[Awaitable[Any]] = []

    async def send(self, rows: Sequence[tuple[int, PlayerStanding]]) -> None:
        """Hand the standings of ``rows`` to the producer."""
        async with asyncio.timeout(self._timeout):
            for value in self._results.standings(rows):
                self._pending.append(await self._send(value))

    async def acknowledged(self) -> None:
        """Wait until Kafka acknowledged every record sent so far."""
        pending, self._pending = self._pending, []
        async with asyncio.timeout(self._timeout):
            await asyncio.gather(*pending)

    async def finish(self) -> None:
        """Wait for every standing, then produce the summary and wait for it too."""
        await self.acknowledged()
        async with asyncio.timeout(self._timeout):
            self._pending.append(await self._send(self._results.summary()))
        await self.acknowledged()

    async def _send(self, value: bytes) -> Awaitable[Any]:
        # force: a send made while an agent handles an event would otherwise be held
        # until that event is acked; the archiver runs outside events, a tournament's close may not.
        return await self._topic.send(key=self._results.key, value=value, force=True)


async def produce_season_results(topic: Sender, game_id: str, season: str, total: int, closed_at_us: int,
                                 rows: Iterable[tuple[int, PlayerStanding]], timeout: float) -> None:
    """Produce a closed season's (or tournament's) standings, fed best first, and its summary.

    Returns once Kafka acknowledged every record; raises if it did not.
    """
    producer = SeasonResultsProducer(topic, SeasonResults(game_id, season, total, closed_at_us), timeout)
    rows = iter(rows)
    while chunk := list(islice(rows, PRODUCE_CHUNK)):
        await producer.send(chunk)
        await producer.acknowledged()
    await producer.finish()
