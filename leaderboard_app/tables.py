"""The authoritative state: changelog-backed Faust tables."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import faust
from faust.types import FutureMessage, RecordMetadata

from leaderboard_app.settings import Settings


class AcknowledgedTable(faust.Table):
    """A Table whose changelog writes are sent, and awaited until Kafka acknowledged them, on demand.

    Faust hands changelog writes to its producer buffer, which sends one message
    per event-loop iteration (each send goes through a ``@stampede`` coroutine that
    yields), about 1,000 messages a second on a busy worker, and, before committing
    source offsets, flushes it for at most 0.1 s: an offset can be committed while
    the write it caused is still unsent, and a crash then loses the update for good
    (seen here as lost ``incr`` amounts under SIGKILL). This table keeps its writes
    until the agent calls :meth:`flush_changelog` after a batch: they then go to
    the producer in one loop, and the agent acks the batch's records once Kafka has
    acknowledged them, so an offset is only ever committed after the state it
    produced is in the changelog.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unsent: list[FutureMessage] = []

    def send_changelog(self, partition: int | None, key: Any, value: Any, key_serializer: Any = None,
                       value_serializer: Any = None) -> FutureMessage:
        future = self.changelog_topic.as_future_message(
            key=key, value=value, partition=partition,
            key_serializer=self.key_serializer if key_serializer is None else key_serializer,
            value_serializer=self.value_serializer if value_serializer is None else value_serializer,
            callback=self._on_changelog_sent,
            # Faust's tables read the partition from the returned message at once.
            eager_partitioning=True,
        )
        self._unsent.append(future)
        return future

    async def flush_changelog(self) -> asyncio.Future[list[RecordMetadata]]:
        """Hand every changelog write made so far to the producer, in order.

        Returns a future done once Kafka has acknowledged all of them (failed if
        any failed), so the agent can go on with its next batch meanwhile.
        """
        unsent, self._unsent = self._unsent, []
        producer = self.app.producer  # started with the app, before any agent
        topic = self.changelog_topic.get_topic_name()
        for future in unsent:
            message = future.message
            sent = await producer.send(topic, message.key, message.value, partition=message.partition,
                                       timestamp=message.timestamp, headers=message.headers)
            sent.add_done_callback(partial(self._acknowledged, future))
        return asyncio.gather(*unsent)

    def _acknowledged(self, future: FutureMessage, sent: asyncio.Future[RecordMetadata]) -> None:
        try:
            metadata = sent.result()
        except Exception as exc:  # noqa: BLE001 (handed to whoever awaits the write)
            future.set_exception(exc)
            return
        future.set_result(metadata)
        # Records the changelog offset the local store holds (what Faust's own send does).
        self._on_changelog_sent(future)


#: Keys of ``player_scores`` that are not players start with this (player keys
#: are JSON arrays, ``models.player_key``): the agent's bookkeeping per partition.
_BOOKKEEPING_PREFIX = b"#"


def progress_key(partition: int) -> bytes:
    """The ``player_scores`` key holding the next ``score_updates`` offset to apply in ``partition``.

    It is written in that partition (of the table and its changelog), after the
    player states its records produced, so whoever owns the partition next knows
    exactly where the applied records end, whatever offset Kafka has committed.
    """
    return b"#progress:" + str(partition).encode("ascii")


def stored_progress(table: faust.Table, partition: int) -> int | None:
    """The next ``score_updates`` offset to apply in ``partition`` as ``table`` holds it (None: none applied)."""
    raw = table.get(progress_key(partition))
    return int(raw) if raw else None


def archived_key(partition: int) -> bytes:
    """The ``player_scores`` key holding the offset in ``partition`` below which Cassandra has every write.

    Cassandra is written behind the agent, from memory; whoever takes the
    partition next files the writes of the records from here to the progress
    again, since the worker that filed them may have died before making them.
    """
    return b"#archived:" + str(partition).encode("ascii")


def is_player_key(key: bytes) -> bool:
    """Whether a ``player_scores`` key is a player's (not the agent's bookkeeping)."""
    return not key.startswith(_BOOKKEEPING_PREFIX)


def player_scores_table(app: faust.App, settings: Settings) -> AcknowledgedTable:
    """Declare ``player_scores``: ``models.player_key`` -> ``PlayerState.to_bytes()``,
    and ``progress_key(partition)`` -> the partition's next offset (ASCII)."""
    table = AcknowledgedTable(
        app,
        name="player_scores",
        key_type=bytes,
        value_type=bytes,
        partitions=app.conf.topic_partitions,
        beacon=app.tables.beacon,
        options=store_options(settings),
        extra_topic_configs=settings.topic_config,
        help="Each player's recent season scores and profile per game, keyed by (gameId, userId).",
    )
    return app.tables.add(table)


def store_options(settings: Settings) -> dict[str, int]:
    """RocksDB options of each partition's store (Faust opens one database per partition).

    A worker's stores then hold at most (write buffer x 2 + block cache) per partition
    it keeps, active or standby, besides what the OS caches of their files.
    """
    mib = 1024 * 1024
    return {
        "write_buffer_size": settings.store_write_buffer_mb * mib,
        "max_write_buffer_number": 2,
        "block_cache_size": settings.store_block_cache_mb * mib,
    }


def game_rules_table(app: faust.App, settings: Settings) -> faust.GlobalTable:
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
        extra_topic_configs=settings.topic_config,
        help="Each game's order, operator and reset, read by every worker's web views.",
    )
