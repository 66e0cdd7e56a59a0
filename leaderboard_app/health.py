"""Readiness of the services a worker depends on (GET /ready), and the index's lag."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from mode import Service

from leaderboard_app.errors import BackendUnavailable
from leaderboard_app.kafka_connection import KafkaConnection

CHECK_TIMEOUT = 3.0


class KafkaHealth(Service):
    """Asks the Kafka cluster for its metadata, over a client of its own."""

    def __init__(self, kafka: KafkaConnection, **kwargs: Any) -> None:
        self.kafka = kafka
        self._client: AIOKafkaClient | None = None
        super().__init__(**kwargs)

    async def on_stop(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def check(self) -> None:
        """Raise BackendUnavailable unless a broker answers a metadata request."""
        try:
            await asyncio.wait_for(self._fetch_metadata(), CHECK_TIMEOUT)
        except (KafkaError, OSError, asyncio.TimeoutError) as exc:
            raise BackendUnavailable(f"kafka: {exc or type(exc).__name__}") from exc

    async def _fetch_metadata(self) -> None:
        if self._client is None:
            client = AIOKafkaClient(**self.kafka.client_options(), request_timeout_ms=int(CHECK_TIMEOUT * 1000))
            await client.bootstrap()
            self._client = client
        metadata = await self._client.fetch_all_metadata()
        if not metadata.brokers():
            raise BackendUnavailable("kafka: no broker in the cluster metadata")


class LagMonitor(Service):
    """Keeps a recent count of ``score_updates`` events not yet applied to Redis.

    Progress is what the agents record in Redis (per partition, by whichever
    worker applied it) against the topic's end offsets, so every worker reports
    the lag of the whole index, not only of its own partitions. It is refreshed in
    the background, so answering a read never waits on Kafka.
    """

    interval = 0.5

    def __init__(self, kafka: KafkaHealth, redis: Any, topic: str, partitions: int, **kwargs: Any) -> None:
        self._kafka = kafka
        self._redis = redis
        self._partitions = [TopicPartition(topic, p) for p in range(partitions)]
        self._consumer: AIOKafkaConsumer | None = None
        #: Events not yet applied, or None while unknown (Kafka or Redis not answering).
        self.events_behind: int | None = None
        #: The same per partition (every partition of the topic); empty while unknown.
        self.behind_by_partition: dict[int, int] = {}
        #: Each partition's end offset as last read; empty while unknown.
        self.end_offsets: dict[int, int] = {}
        super().__init__(**kwargs)

    async def on_stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    @Service.timer(interval)
    async def _refresh(self) -> None:
        try:
            end_offsets = await asyncio.wait_for(self._end_offsets(), CHECK_TIMEOUT)
            applied = await self._redis.applied_offsets()
        except Exception as exc:  # any failure only makes the lag unknown
            self.events_behind = None
            self.behind_by_partition = {}
            self.end_offsets = {}
            self.log.debug("lag unknown: %r", exc)
            return
        self.end_offsets = {tp.partition: end for tp, end in end_offsets.items()}
        behind = {tp.partition: max(0, end - applied.get(tp.partition, 0)) for tp, end in end_offsets.items()}
        self.behind_by_partition = behind
        self.events_behind = sum(behind.values())

    async def _end_offsets(self) -> dict[TopicPartition, int]:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(**self._kafka.kafka.client_options(), enable_auto_commit=False,
                                        request_timeout_ms=int(CHECK_TIMEOUT * 1000))
            await consumer.start()
            self._consumer = consumer
        return await self._consumer.end_offsets(self._partitions)


#: Events a worker's own partitions may be behind the topic's end for it to count as caught up.
READY_LAG_EVENTS = 500


class Freshness:
    """Whether a worker has caught up with its ``score_updates`` partitions since it last took them.

    A worker that answers but still restores its table, or applies a backlog, would give a
    new score to a player seconds late: it is not ready until its partitions' lag has
    come down to :data:`READY_LAG_EVENTS` once. From then on it stays caught up (a lag that
    load brings later is what the lag header reports) until its partitions change.
    """

    def __init__(self) -> None:
        self._caught_up = False

    def reset(self) -> None:
        """The worker's partitions changed: it must catch up with them again."""
        self._caught_up = False

    def caught_up(self, restoring: bool, ends: dict[int, int], applied: dict[int, int | None]) -> bool:
        """Whether the worker is caught up.

        ``applied`` maps each partition it owns to the next offset its table says to apply
        (None: none applied yet), ``ends`` each partition to its end offset (empty: unknown).
        """
        if restoring:
            return False
        if not self._caught_up and all(partition in ends for partition in applied):
            behind = sum(max(0, ends[partition] - (next_offset or 0)) for partition, next_offset in applied.items())
            self._caught_up = behind <= READY_LAG_EVENTS
        return self._caught_up
