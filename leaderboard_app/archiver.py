"""Closed seasons: final standings from Redis to Cassandra, then out of Redis.

Once a season's grace period has ended no score can land in it any more, so its
ranking is final. The leader worker copies it, best first with ranks, into
Cassandra's standings tables and then lets Redis forget it after the retention
period; reads of a season Redis no longer holds are answered from Cassandra.
Copying is idempotent (same positions, same rows), so a leader that dies midway
is simply followed by the next one doing it again.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leaderboard_app.app import LeaderboardApp

logger = logging.getLogger(__name__)

#: Seconds between looks for seasons whose grace period has ended.
ARCHIVE_INTERVAL = 2.0


async def archive_due_seasons(app: LeaderboardApp) -> int:
    """Archive and evict every season whose grace period has ended; return how many."""
    redis, archive = app.redis_leaderboard, app.archive
    done = 0
    for game_id, season in await redis.due_seasons(app.clock.now_us()):
        order = (await app.rules_for(game_id)).order
        players = await redis.top(game_id, season, order, count=2**31 - 1)
        await archive.store_standings(game_id, season, players, at_us=time.time_ns() // 1000)
        await redis.evict_season(game_id, season, app.settings.season_retention)
        logger.info("archived season %s of game %r (%d players)", season, game_id, len(players))
        done += 1
    return done


def register_archiver(app: LeaderboardApp) -> None:
    """Run the archiver on the leader worker only."""

    @app.timer(ARCHIVE_INTERVAL, on_leader=True, name="archive_closed_seasons")
    async def archive_closed_seasons() -> None:
        try:
            await archive_due_seasons(app)
        except Exception as exc:  # Cassandra or Redis away: try again next round
            logger.warning("archiving closed seasons failed (%s); will retry", exc)
