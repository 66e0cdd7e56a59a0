"""The authoritative state: changelog-backed Faust tables."""

from __future__ import annotations

import faust


def player_scores_table(app: faust.App) -> faust.Table:
    """Declare ``player_scores``: ``models.player_key`` -> ``PlayerState.to_bytes()``."""
    return app.Table(
        "player_scores",
        key_type=bytes,
        value_type=bytes,
        partitions=app.conf.topic_partitions,
        help="Each player's recent season scores and profile per game, keyed by (gameId, userId).",
    )


def game_rules_table(app: faust.App) -> faust.GlobalTable:
    """Declare ``game_rules``: gameId (UTF-8) -> ``GameRules.to_bytes()``, on every worker."""
    return app.GlobalTable(
        "game_rules",
        key_type=bytes,
        value_type=bytes,
        partitions=1,
        # Faust assigns a global table's changelog to every worker as "active"
        # as well as standby, and buffers active changelog events until
        # recovery_buffer_size of them arrive: with the default (1000) other
        # workers would not see a new rule for a thousand rule changes.
        recovery_buffer_size=1,
        help="Each game's order, operator and reset, read by every worker's web views.",
    )
