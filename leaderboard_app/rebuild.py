"""Redis is a derived index: notice when it lost its data, and rebuild it.

Every worker keeps, in the Redis set ``lb:index-partitions``, the partitions of
``score_updates`` whose players are in the index. Redis restarted without
persistence, or flushed, loses that set with everything else; each worker then
rewrites the players of the partitions it owns from its table (the authority),
and the rules from Cassandra, while the agent goes on applying new records.
Until every partition is back, ``/ready`` says the index is rebuilding.

``faust -A leaderboard_app rebuild-redis [--game G]`` rebuilds from Cassandra's
durable record instead, for one game or all, with a progress bar.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import click

import orjson
from aiokafka.partitioner import murmur2

from faust.cli import AppCommand, option

from leaderboard_app.errors import InvalidInput
from leaderboard_app.models import GameRules, PlayerState, tournament_of
from leaderboard_app.seasons import RUN, closes_at_us
from leaderboard_app.sinks.redis import PlayerWrite
from leaderboard_app.tables import is_player_key, stored_progress
from leaderboard_app.tournaments import Tournament

if TYPE_CHECKING:
    from leaderboard_app.app import LeaderboardApp

logger = logging.getLogger(__name__)

#: Seconds between checks that the index still holds this worker's partitions.
CHECK_INTERVAL = 2.0
#: Players rewritten per step (the agent waits at most one step).
CHUNK = 200


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (and so the table) puts ``key`` in."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


async def rebuild_partitions(app: LeaderboardApp, partitions: set[int]) -> int:
    """Rewrite every player of ``partitions`` from the table into Redis; return how many."""
    rules = dict(await app.archive.all_rules())
    await app.redis_leaderboard.restore_rules([(game, r.to_bytes()) for game, r in rules.items()])
    table = app.player_scores
    keys = [key for key in list(table.keys())
            if is_player_key(key) and partition_of(key, app.conf.topic_partitions) in partitions]
    app.metrics.rebuild_started(len(keys))
    completed = False
    try:
        rebuilt = await rewrite_players(app, keys, rules, advanced=app.metrics.rebuild_advanced)
        async with app.index_lock:
            # The index now holds what the table holds: its lag is the table's, not
            # the whole partition (the offsets applied were lost with the rest).
            progress = {partition: stored_progress(table, partition) for partition in partitions}
            await app.redis_leaderboard.mark_applied({p: o for p, o in progress.items() if o is not None})
        await app.redis_leaderboard.mark_partitions_indexed(partitions)
        completed = True
    finally:
        app.metrics.rebuild_finished(completed)
    return rebuilt


async def rewrite_players(app: LeaderboardApp, keys: Sequence[bytes], rules: dict[str, GameRules],
                          advanced: Callable[[int], None] = lambda count: None) -> int:
    """Write the players of ``keys`` from the table into Redis, a chunk at a time; return how many had a state."""
    table = app.player_scores
    rewritten = 0
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        # The lock keeps the agent from writing a newer state in between our
        # read of a player and our write of it.
        async with app.index_lock:
            writes = []
            banned = []
            for key in chunk:
                raw = table.get(key)
                try:
                    state = PlayerState.from_bytes(raw) if raw else None
                except (ValueError, KeyError, TypeError) as exc:
                    # One unreadable entry must not keep the whole index unbuilt.
                    logger.warning("skipping unreadable player_scores entry %r: %r", key[:200], exc)
                    continue
                if state is not None:
                    writes.extend(player_writes(app, key, state, rules))
                    if state.banned:
                        banned.append(tuple(orjson.loads(key)))
                    rewritten += 1
            await app.redis_leaderboard.apply(writes, banned=banned)
        advanced(len(chunk))
    return rewritten


def player_writes(app: LeaderboardApp, key: bytes, state: PlayerState,
                   rules: dict[str, GameRules]) -> list[PlayerWrite]:
    """What puts the player of ``key`` in the index as ``state`` ranks them: nothing while they are banned."""
    if state.banned:
        return []
    game_id, user_id = orjson.loads(key)
    game_rules = rules.get(game_id, GameRules())
    if tournament_of(game_id) is not None:  # a tournament's definition is in the global table, not Cassandra
        raw = app.game_rules.get(game_id.encode("utf-8"))
        game_rules = Tournament.from_bytes(raw).rules() if raw else GameRules(reset=RUN)
    grace_us = app.settings.season_grace_us
    writes = []
    for season, score in state.seasons.items():
        try:
            closes = closes_at_us(game_rules.reset, season, grace_us)
        except InvalidInput:
            # A season of another kind than the game's rules (a score stamped with
            # the rules a PUT replaced a moment later) cannot be read under them;
            # raising here stopped the whole rebuild, round after round.
            logger.warning("skipping season %r of %r in game %r: not a %s season", season, user_id, game_id,
                           game_rules.reset)
            continue
        writes.append(PlayerWrite(game_id=game_id, user_id=user_id, activity_us=score.updated_at_us,
                                  season=season, state=score, order=game_rules.order, profile=state.profile(),
                                  closes_at_us=closes, columns=game_rules.columns))
    return writes


def register_rebuild(app: LeaderboardApp) -> None:
    """Watch the index on every worker and rebuild what it lost."""

    @app.timer(CHECK_INTERVAL, name="keep_redis_index_whole")
    async def keep_redis_index_whole() -> None:
        try:
            owned = set(app.assigned_partitions())
            missing = owned - await app.redis_leaderboard.indexed_partitions()
            if not missing:
                return
            app.rebuilding = True
            logger.warning("redis index lacks partitions %s: rebuilding them from the table", sorted(missing))
            count = await rebuild_partitions(app, missing)
            logger.info("rebuilt %d players of partitions %s in redis", count, sorted(missing))
        except Exception as exc:  # Redis or Cassandra away: the next round tries again
            logger.warning("redis index check failed (%s); will retry", exc)
        finally:
            app.rebuilding = False


async def rebuild_from_cassandra(app: LeaderboardApp, game: str | None, progress: Callable[[int], None]) -> int:
    """Rewrite season scores from Cassandra's durable record (all games, or ``game``) into Redis."""
    archive, redis = app.archive, app.redis_leaderboard
    rules = dict(await archive.all_rules())
    await redis.restore_rules([(g, r.to_bytes()) for g, r in rules.items() if game in (None, g)])
    count = 0
    writes: list[PlayerWrite] = []
    #: gameId -> its banned players, as Redis holds them (Cassandra does not know of bans).
    banned: dict[str, set[str]] = {}
    async for game_id, season, user_id, score in archive.season_scores(game):
        if game_id not in banned:
            banned[game_id] = await redis.banned_set(game_id)
        if user_id in banned[game_id]:
            continue
        game_rules = rules.get(game_id, GameRules())
        writes.append(PlayerWrite(game_id=game_id, user_id=user_id, activity_us=score.updated_at_us, season=season,
                                  state=score, order=game_rules.order, columns=game_rules.columns,
                                  closes_at_us=closes_at_us(game_rules.reset, season, app.settings.season_grace_us)))
        if len(writes) == CHUNK:
            await redis.apply(writes)
            count += len(writes)
            progress(len(writes))
            writes = []
    await redis.apply(writes)
    progress(len(writes))
    return count + len(writes)


def register_rebuild_command(app: LeaderboardApp) -> None:
    """Add ``faust -A leaderboard_app rebuild-redis [--game G]``."""

    @app.command(option("--game", default=None, help="Rebuild only this game (default: every game)."))
    async def rebuild_redis(self: AppCommand, game: str | None) -> None:
        """Rebuild the Redis index from Cassandra's durable record, with a progress bar."""
        services = (app.redis_leaderboard, app.archive)
        for service in services:
            await service.start()
        try:
            await app.archive.wait_connected()
            total = await app.archive.count_season_scores(game)
            with click.progressbar(length=total, label="rebuilding redis", file=sys.stderr) as bar:
                count = await rebuild_from_cassandra(app, game, bar.update)
            click.echo(f"rebuilt {count} season scores" + (f" of game {game!r}" if game else ""))
        finally:
            for service in reversed(services):
                await service.stop()
