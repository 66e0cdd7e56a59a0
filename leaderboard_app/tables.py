"""The authoritative per-player state: a changelog-backed Faust table."""

from __future__ import annotations

import faust

from leaderboard_app.models import PlayerScore


def player_scores_table(app: faust.App) -> faust.Table:
    """Declare ``player_scores``: ``models.player_key`` -> ``PlayerScore``.

    Keys are raw bytes (the app's default key serializer is ``raw``).
    """
    return app.Table(
        "player_scores",
        key_type=bytes,
        value_type=PlayerScore,
        partitions=app.conf.topic_partitions,
        help="Each player's current score per game, keyed by (gameId, userId).",
    )
