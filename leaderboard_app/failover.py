"""Redis Cluster failovers: repair the games a promoted replica may lack writes of.

Redis replicates asynchronously: a master killed before its replica received its
last writes takes them along, and the replica promoted in its place serves those
slots without them. Every worker reads the cluster's slot -> primary map every
half second. When a slot's primary changes, the games whose keys hash to it are
repaired from the tables, the authority, each worker for the partitions it owns:
players rewritten, players the table no longer ranks there (erased or banned) taken
out, and the games' banned sets made to match the tables.

The repair is shared through Redis: ``lb:failover`` names it (its generation, a
digest of the new map, is the same on every worker) and its slots, and
``lb:repaired:<generation>`` collects the partitions done, so a worker that takes
partitions meanwhile, or starts, repairs what is left. Until every partition is
done, reads of those games answer 503 (``FailoverGuard``) rather than a rank that
may be missing writes. Only a cluster (``REDIS_CLUSTER=true``) is watched.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

import orjson
from redis.crc import key_slot

from leaderboard_app.models import GameRules, PlayerState, player_key
from leaderboard_app.rebuild import partition_of, rewrite_players
from leaderboard_app.sinks.redis import RULES_KEY, game_prefix
from leaderboard_app.tables import is_player_key

if TYPE_CHECKING:
    from leaderboard_app.app import LeaderboardApp

logger = logging.getLogger(__name__)

#: Seconds between reads of the cluster's slot map.
CHECK_INTERVAL = 0.5
#: Index entries checked per hold of the index lock.
CHUNK = 500


def changed_slots(before: tuple[str, ...], after: tuple[str, ...]) -> frozenset[int]:
    """The slots whose primary is another node in ``after`` than in ``before``."""
    return frozenset(slot for slot, (old, new) in enumerate(zip(before, after)) if old != new)


def slot_ranges(slots: frozenset[int]) -> list[list[int]]:
    """``slots`` as sorted [first, last] ranges."""
    ranges: list[list[int]] = []
    for slot in sorted(slots):
        if ranges and ranges[-1][1] == slot - 1:
            ranges[-1][1] = slot
        else:
            ranges.append([slot, slot])
    return ranges


def slots_in(ranges: list[list[int]]) -> frozenset[int]:
    return frozenset(slot for first, last in ranges for slot in range(first, last + 1))


def generation_of(owners: tuple[str, ...]) -> str:
    """A name for a slot map, the same on every worker that reads the same map."""
    return hashlib.sha256("\n".join(owners).encode("utf-8")).hexdigest()[:16]


def game_slot(game_id: str) -> int:
    """The slot every key of the game hashes to (its keys share one hash tag)."""
    return key_slot(game_prefix(game_id).encode("utf-8"))


class FailoverRepair:
    """One worker's part in noticing failovers and repairing what they lost."""

    def __init__(self, app: LeaderboardApp) -> None:
        self.app = app
        self.redis = app.redis_leaderboard
        self.guard = app.redis_leaderboard.failover
        self.generation: str | None = None

    async def check(self) -> None:
        owners = await self.redis.primaries()
        if "" in owners:
            return  # a slot without a primary: its reads and writes fail (503) until one is promoted
        guard = self.guard
        if guard.accepted is None:
            await self._join(owners)
        elif owners != guard.accepted:
            changed = changed_slots(guard.accepted, owners)
            logger.warning("redis cluster: %d slots have a new primary; repairing their games from the tables",
                           len(changed))
            guard.repairing = guard.repairing | changed
            guard.accepted = owners
            self.generation = generation_of(owners)
            await self.redis.begin_failover_repair(self.generation, slot_ranges(guard.repairing))
        if guard.repairing and self.generation is not None:
            await self._repair(self.generation)

    async def _join(self, owners: tuple[str, ...]) -> None:
        """At start: take the map as it is, joining the repair of its failover if one is under way."""
        under_way = await self.redis.failover_under_repair()
        generation = generation_of(owners)
        if under_way is not None and under_way[0] == generation:
            repaired = await self.redis.repaired_partitions(generation)
            if not set(range(self.app.conf.topic_partitions)) <= repaired:
                self.guard.repairing = slots_in(under_way[1])
                self.generation = generation
        self.guard.accepted = owners

    async def _repair(self, generation: str) -> None:
        app = self.app
        all_partitions = set(range(app.conf.topic_partitions))
        repaired = await self.redis.repaired_partitions(generation)
        if not (app.rebalancing or app.in_recovery):
            mine = set(app.assigned_partitions()) - repaired
            if mine:
                count = await repair_games(app, mine, self.guard.repairing)
                await self.redis.mark_repaired(generation, mine)
                repaired |= mine
                logger.info("redis cluster: repaired %d players of partitions %s after the failover",
                            count, sorted(mine))
        if all_partitions <= repaired:
            logger.info("redis cluster: every partition repaired after the failover; reads of its games resume")
            self.guard.repairing = frozenset()
            self.generation = None


async def repair_games(app: LeaderboardApp, partitions: set[int], slots: frozenset[int]) -> int:
    """Make the index of the games in ``slots`` hold what the table's ``partitions`` hold; return the players."""
    table = app.player_scores
    rules = {game.decode("utf-8"): GameRules.from_bytes(raw) for game, raw in list(app.game_rules.items())}
    if key_slot(RULES_KEY.encode("ascii")) in slots:
        await app.redis_leaderboard.restore_rules(sorted((game, r.to_bytes()) for game, r in rules.items()))
    keys = []
    games = set()
    for key in list(table.keys()):
        if not is_player_key(key) or partition_of(key, app.conf.topic_partitions) not in partitions:
            continue
        game_id = orjson.loads(key)[0]
        if game_slot(game_id) in slots:
            keys.append(key)
            games.add(game_id)
    rewritten = await rewrite_players(app, keys, rules)
    games |= {game for game in await app.redis_leaderboard.games(0, 10**9) if game_slot(game) in slots}
    for game_id in sorted(games):
        await _drop_unranked(app, game_id, partitions)
    return rewritten


async def _drop_unranked(app: LeaderboardApp, game_id: str, partitions: set[int]) -> None:
    """Take out of the game's index the players of ``partitions`` the table does not rank (erased since)."""
    index = app.redis_leaderboard
    erased: set[str] = set()
    for season in await index.seasons_of(game_id):
        page: list[tuple[str, bytes]] = []
        async for entry in index.season_members(game_id, season):
            page.append(entry)
            if len(page) >= CHUNK:
                erased |= await _drop_page(app, game_id, season, page, partitions)
                page = []
        erased |= await _drop_page(app, game_id, season, page, partitions)
    await index.forget_players(game_id, sorted(erased))
    await _drop_lifted_bans(app, game_id, partitions)


async def _drop_lifted_bans(app: LeaderboardApp, game_id: str, partitions: set[int]) -> None:
    """Take out of the game's banned set the players of ``partitions`` whose state is not banned (a lifting
    the failover lost); the rewrite of the players put back the bans it lost."""
    table = app.player_scores
    lifted = []
    async with app.index_lock:
        for user_id in sorted(await app.redis_leaderboard.banned_set(game_id)):
            key = player_key(game_id, user_id)
            if partition_of(key, app.conf.topic_partitions) not in partitions:
                continue
            raw = table.get(key)
            if raw is None or not PlayerState.from_bytes(raw).banned:
                lifted.append(user_id)
        await app.redis_leaderboard.unban_stale(game_id, lifted)


async def _drop_page(app: LeaderboardApp, game_id: str, season: str, page: list[tuple[str, bytes]],
                     partitions: set[int]) -> set[str]:
    table = app.player_scores
    stale, erased = [], set()
    async with app.index_lock:
        for user_id, member in page:
            key = player_key(game_id, user_id)
            if partition_of(key, app.conf.topic_partitions) not in partitions:
                continue
            raw = table.get(key)
            state = PlayerState.from_bytes(raw) if raw else None
            if state is None or state.banned or season not in state.seasons:
                stale.append((user_id, member))
                if state is None or not state.seasons:
                    erased.add(user_id)
        await app.redis_leaderboard.drop_members(game_id, season, stale)
    return erased


def register_failover_repair(app: LeaderboardApp) -> None:
    """Watch the Redis Cluster's primaries on every worker, and repair after a failover."""
    if not app.settings.redis.cluster:
        return
    repair = FailoverRepair(app)

    @app.timer(CHECK_INTERVAL, name="repair_after_redis_failover")
    async def repair_after_redis_failover() -> None:
        try:
            await repair.check()
        except Exception as exc:  # the cluster is between states: the next round tries again
            logger.warning("redis cluster check failed (%s); will retry", exc)
