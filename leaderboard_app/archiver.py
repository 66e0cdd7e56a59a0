"""Closed seasons: final standings from Redis to Cassandra and Kafka, then out of Redis.

Once a season's grace period has ended no score can land in it any more, so its
ranking is final. The leader worker copies it, best first with ranks, into
Cassandra's standings tables and then lets Redis forget it after the retention
period; reads of a season Redis no longer holds are answered from Cassandra.
Copying is idempotent (same positions, same rows), so a leader that dies midway
is simply followed by the next one doing it again.

The same rows go to the Kafka topic ``season_results`` (module ``season_results``),
and the season leaves Redis only once Kafka has acknowledged all of them: a
failure leaves it to the next round, which starts the season over (records may
then repeat; consumers dedupe, see docs/season-results.md).

A season is read in pages and written as it is read, in linear time whatever its
ties: a daily game where every player scored 0 once froze a worker (and Redis, in
one script call) for a minute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING

from leaderboard_app.models import PlayerStanding, RankedPlayer
from leaderboard_app.season_results import SeasonResults, SeasonResultsProducer, Sender

if TYPE_CHECKING:
    from leaderboard_app.app import LeaderboardApp
    from leaderboard_app.sinks.cassandra import CassandraArchive
    from leaderboard_app.sinks.redis import RedisLeaderboard

logger = logging.getLogger(__name__)

#: Seconds between looks for seasons whose grace period has ended.
ARCHIVE_INTERVAL = 2.0
#: Players read from Redis per script call: a few milliseconds of Redis time each.
PAGE_SIZE = 2_000
#: Standings written to Cassandra at a time (the event loop is free between them).
WRITE_CHUNK = 500


class FinalStandings:
    """Turns a season's players, fed best first in pages, into (position, standing) rows.

    A row needs how many players score strictly worse and who is last in the tie
    group above, so each tie group's rows are released once the group has ended:
    every player is handled a constant number of times.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self._group: list[tuple[int, RankedPlayer]] = []
        self._above: RankedPlayer | None = None
        self._position = 0

    def add(self, players: Iterable[RankedPlayer]) -> Iterator[tuple[int, PlayerStanding]]:
        """The rows completed by ``players`` (the next of the season, best first)."""
        for player in players:
            if self._group and player.score != self._group[0][1].score:
                yield from self._close_group()
            self._group.append((self._position, player))
            self._position += 1

    def finish(self) -> Iterator[tuple[int, PlayerStanding]]:
        """The rows of the last tie group."""
        yield from self._close_group()

    def _close_group(self) -> Iterator[tuple[int, PlayerStanding]]:
        group, above = self._group, self._above
        self._group = []
        if not group:
            return
        self._above = group[-1][1]
        worse = self.total - group[-1][0] - 1
        for position, player in group:
            yield position, PlayerStanding(player=player, total=self.total, worse=worse, next=above)


async def archive_season(redis: RedisLeaderboard, archive: CassandraArchive, results_topic: Sender,
                         game_id: str, season: str, order: str, closed_at_us: int, ack_timeout: float) -> int:
    """Copy a closed season's standings from Redis to Cassandra and to ``results_topic``; return
    how many players it had.

    Returns once Cassandra holds every row and Kafka acknowledged every record;
    raises if either failed.
    """
    at_us = time.time_ns() // 1000
    total = await redis.total_members(game_id, season)
    standings = FinalStandings(total)
    results = SeasonResultsProducer(results_topic, SeasonResults(game_id, season, total, closed_at_us),
                                    ack_timeout)
    for offset in range(0, total, PAGE_SIZE):
        page = await redis.top(game_id, season, order, count=PAGE_SIZE, offset=offset)
        await _write(archive, results, game_id, season, standings.add(page), at_us)
    await _write(archive, results, game_id, season, standings.finish(), at_us)
    await archive.store_season_total(game_id, season, total, at_us)
    await results.finish()
    return total


async def _write(archive: CassandraArchive, results: SeasonResultsProducer, game_id: str, season: str,
                 rows: Iterator[tuple[int, PlayerStanding]], at_us: int) -> None:
    while chunk := list(islice(rows, WRITE_CHUNK)):
        # Kafka acknowledges the chunk while Cassandra stores it.
        await results.send(chunk)
        await archive.store_standings(game_id, season, chunk, at_us)
        await results.acknowledged()


async def archive_due_seasons(app: LeaderboardApp) -> int:
    """Archive, publish and evict every season whose grace period has ended; return how many."""
    redis, archive = app.redis_leaderboard, app.archive
    due = await redis.due_seasons(app.clock.now_us())
    if due:
        await app.season_results_topic.maybe_declare()
    done = 0
    for game_id, season, closed_at_us in due:
        order = (await app.rules_for(game_id)).order
        players = await archive_season(redis, archive, app.season_results_topic, game_id, season, order,
                                       closed_at_us, app.settings.kafka_ack_timeout)
        # Only now: a season evicted before its results were acknowledged could never be produced again.
        await redis.evict_season(game_id, season, app.settings.season_retention)
        logger.info("archived season %s of game %r (%d players)", season, game_id, players)
        done += 1
    return done


def register_archiver(app: LeaderboardApp) -> None:
    """Run the archiver on the leader worker only."""

    @app.timer(ARCHIVE_INTERVAL, on_leader=True, name="archive_closed_seasons")
    async def archive_closed_seasons() -> None:
        try:
            await archive_due_seasons(app)
        except Exception as exc:  # Cassandra, Redis or Kafka away: try again next round
            logger.warning("archiving closed seasons failed (%s); will retry", exc)
