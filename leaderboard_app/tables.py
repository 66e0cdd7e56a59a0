"""The authoritative state: changelog-backed Faust tables."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.types import FutureMessage


class AcknowledgedTable(faust.Table):
    """A Table whose changelog writes can be awaited until Kafka acknowledged them.

    Faust sends changelog writes through a buffer and, before committing source
    offsets, flushes that buffer for at most 0.1 s: an offset can be committed
    while the write it caused is still unsent, and a crash then loses the update
    for good (seen here as lost ``incr`` amounts under SIGKILL). The agent awaits
    :meth:`changelog_written` before it takes the next record, so an offset is
    only ever committed after the state it produced is in the changelog.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unacknowledged: list[FutureMessage] = []

    def send_changelog(self, *args: Any, **kwargs: Any) -> FutureMessage:
        future = super().send_changelog(*args, **kwargs)
        self._unacknowledged.append(future)
        return future

    async def changelog_written(self) -> None:
        """Wait until Kafka has acknowledged every changelog write made so far."""
        if self._unacknowledged:
            pending, self._unacknowledged = self._unacknowledged, []
            await asyncio.gather(*pending)


#: Keys of ``player_scores`` that are not players: the agent's progress per partition.
_PROGRESS_PREFIX = b"#progress:"


def progress_key(partition: int) -> bytes:
    """The ``player_scores`` key holding the next ``score_updates`` offset to apply in ``partition``.

    It is written in that partition (of the table and its changelog), after the
    player states its records produced, so whoever owns the partition next knows
    exactly where the applied records end, whatever offset Kafka has committed.
    Player keys are JSON arrays (``models.player_key``) and never start with ``#``.
    """
    return _PROGRESS_PREFIX + str(partition).encode("ascii")


def is_player_key(key: bytes) -> bool:
    """Whether a ``player_scores`` key is a player's (not a progress entry)."""
    return not key.startswith(_PROGRESS_PREFIX)


def player_scores_table(app: faust.App) -> AcknowledgedTable:
    """Declare ``player_scores``: ``models.player_key`` -> ``PlayerState.to_bytes()``,
    and ``progress_key(partition)`` -> the partition's next offset (ASCII)."""
    table = AcknowledgedTable(
        app,
        name="player_scores",
        key_type=bytes,
        value_type=bytes,
        partitions=app.conf.topic_partitions,
        beacon=app.tables.beacon,
        help="Each player's recent season scores and profile per game, keyed by (gameId, userId).",
    )
    return app.tables.add(table)


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
