"""The agent: score_updates -> player_scores table -> Redis and Cassandra."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import faust

from leaderboard_app.errors import InvalidInput
from leaderboard_app.models import decode_submission, player_key
from leaderboard_app.scoring import apply_best

if TYPE_CHECKING:
    from leaderboard_app.app import LeaderboardApp

logger = logging.getLogger(__name__)


async def apply_update(app: LeaderboardApp, table: faust.Table, key: bytes | None, raw: bytes) -> bool:
    """Apply one record of ``score_updates``; return whether the player's state changed.

    The table is updated first, then Redis is written (awaited: the event stays
    unacknowledged until the index has it), and Cassandra is handed the state to
    write in the background, so Redis never waits for Cassandra.
    """
    try:
        submission = decode_submission(raw)
    except InvalidInput as exc:
        app.malformed_records += 1
        logger.warning("skipping malformed record on score_updates: %s", exc)
        return False
    expected_key = player_key(submission.game_id, submission.user_id)
    if key != expected_key:
        # A record keyed otherwise sits on a partition that does not own this
        # player: applying it could race the owner of the player's state.
        app.malformed_records += 1
        logger.warning("skipping record on score_updates whose key does not match its gameId/userId")
        return False
    state = apply_best(table.get(expected_key), submission)
    if state is None:
        return False
    table[expected_key] = state
    await app.redis_leaderboard.rank_member(submission.game_id, submission.user_id, state)
    app.score_archive.record(submission.game_id, submission.user_id, state)
    return True


def register_agents(app: LeaderboardApp, topic: faust.TopicT, table: faust.Table) -> faust.types.AgentT:
    """Attach the score-applying agent to ``app``."""

    @app.agent(topic, name="apply_score_updates")
    async def apply_score_updates(stream: faust.StreamT) -> None:
        async for key, raw in stream.items():
            await apply_update(app, table, key, raw)

    return apply_score_updates
