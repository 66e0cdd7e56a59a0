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

A ban, or its lifting, changes standings already archived: the agent asks for the
game to be recomputed (Redis ``lb:recompute``), and the leader's timer here rewrites
the standings of each archived season of the game from Cassandra's ``season_scores``,
leaving out the players in the game's banned set (Redis ``lb:{<game>}:banned``, the
one source of bans the recompute reads). The request stays until that is done, so a
leader that dies midway is followed by the next one doing it again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING

from leaderboard_app.columns import SortColumn, as_named, rank_key
from leaderboard_app.errors import InvalidInput
from leaderboard_app.models import PlayerStanding, RankedPlayer, SeasonScore
from leaderboard_app.scoring import competition_ranks
from leaderboard_app.season_results import SeasonResults, SeasonResultsProducer, Sender
from leaderboard_app.sinks.redis import encode_member

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
            if self._group and player.rank != self._group[0][1].rank:
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
                         game_id: str, season: str, order: str, closed_at_us: int, ack_timeout: float,
                         columns: Sequence[SortColumn] = ()) -> int:
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
        page = await redis.top(game_id, season, order, count=PAGE_SIZE, offset=offset, columns=columns)
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
        try:
            rules = await app.rules_for(game_id)
        except InvalidInput as exc:
            # Rules this version cannot read (written by another one) must not hold back every other
            # game's closed seasons: this one waits, in lb:closing, for a worker that reads them.
            logger.warning("not archiving season %s of game %r: its rules are unreadable (%s)", season, game_id, exc)
            continue
        players = await archive_season(redis, archive, app.season_results_topic, game_id, season, rules.order,
                                       closed_at_us, app.settings.kafka_ack_timeout, rules.columns)
        # Only now: a season evicted before its results were acknowledged could never be produced again.
        await redis.evict_season(game_id, season, app.settings.season_retention)
        logger.info("archived season %s of game %r (%d players)", season, game_id, players)
        done += 1
    return done


def ranked_best_first(players: Iterable[tuple[str, SeasonScore]], order: str,
                      columns: Sequence[SortColumn] = ()) -> list[RankedPlayer]:
    """Players (userId, season score) ranked as the live board ranks them: by score, sort columns,
    then whoever reached it first (the sorted-set member, sinks/redis.py), with competition ranks.

    Cassandra keeps when a score was reached to the millisecond, Redis to the microsecond:
    two players who reached the same score within one millisecond may swap places (never ranks).
    """
    ordered = sorted(players, key=lambda player: (player[1].score, encode_member(
        player[0], player[1].reached_at_us, order, columns, player[1].columns)), reverse=order != "asc")
    ranks = competition_ranks((score.score, rank_key(order, columns, score.score, score.columns))
                              for _, score in ordered)
    return [RankedPlayer(user_id, score.score, rank, columns=as_named(columns, score.columns) if columns else None)
            for (user_id, score), rank in zip(ordered, ranks)]


async def recompute_standings(redis: RedisLeaderboard, archive: CassandraArchive, game_id: str,
                              order: str, columns: Sequence[SortColumn] = ()) -> dict[str, int]:
    """Rewrite the standings of every archived season of the game without its banned players; return
    each recomputed season's new number of players.

    The source is Cassandra's season_scores, which keeps every player's final season score,
    banned players' too. Reading one game's rows filters the whole table (ALLOW FILTERING):
    acceptable for a rare admin action, not for anything frequent. Idempotent: the same
    scores and bans give the same rows.
    """
    banned = await redis.banned_set(game_id)
    seasons: dict[str, list[tuple[str, SeasonScore]]] = {}
    async for _, season, user_id, score in archive.season_scores(game_id):
        seasons.setdefault(season, []).append((user_id, score))
    at_us = time.time_ns() // 1000
    recomputed = {}
    for season, players in sorted(seasons.items()):
        previous = await archive.archived_total(game_id, season)
        if previous is None:
            continue  # not archived (yet): when it is, it is read from Redis, where bans already apply
        ranked = ranked_best_first([(user, score) for user, score in players if user not in banned], order, columns)
        standings = FinalStandings(len(ranked))
        for start in range(0, len(ranked), WRITE_CHUNK):
            await archive.store_standings(game_id, season, list(standings.add(ranked[start:start + WRITE_CHUNK])),
                                          at_us)
        await archive.store_standings(game_id, season, list(standings.finish()), at_us)
        await archive.store_season_total(game_id, season, len(ranked), at_us)
        # Positions past the new end, and the banned players' own rows, are left from before.
        await archive.delete_standings(game_id, season, range(len(ranked), previous),
                                       sorted(user for user, _ in players if user in banned), at_us)
        recomputed[season] = len(ranked)
    return recomputed


#: Games whose archived standings one round recomputes: each reads the game's every season score,
#: so more would hold up the archiving of closed seasons, which shares the round.
RECOMPUTES_PER_ROUND = 1


async def recompute_requested(app: LeaderboardApp, limit: int = RECOMPUTES_PER_ROUND) -> int:
    """Recompute the archived standings of the games a ban or its lifting asked for, oldest request first,
    at most ``limit``; return how many games."""
    redis, archive = app.redis_leaderboard, app.archive
    done = 0
    for game_id, asked in await redis.recompute_requests(limit):
        try:
            rules = await app.rules_for(game_id)
        except InvalidInput as exc:  # as in archive_due_seasons: the request waits
            logger.warning("not recomputing game %r: its rules are unreadable (%s)", game_id, exc)
            continue
        seasons = await recompute_standings(redis, archive, game_id, rules.order, rules.columns)
        await redis.recompute_done(game_id, asked)
        logger.info("recomputed the archived standings of game %r: %s", game_id,
                    ", ".join(f"{season} ({players} players)" for season, players in seasons.items()) or "none")
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
        try:
            await recompute_requested(app)
        except Exception as exc:  # Cassandra or Redis away: the requests stay for the next round
            logger.warning("recomputing archived standings failed (%s); will retry", exc)
