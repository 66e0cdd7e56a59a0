"""The run's Kafka clients: topic admin, end offsets, and producing records in bulk."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import GroupCoordinatorNotAvailableError, TopicAlreadyExistsError

from leaderboard_app.kafka_connection import KafkaConnection

#: Records sent before waiting for their acknowledgements, so memory stays bounded.
PRODUCE_WINDOW = 20_000
#: Tries (a second apart) to find the group coordinator, which a new broker creates on demand.
COORDINATOR_ATTEMPTS = 30

T = TypeVar("T")


class Kafka:
    def __init__(self, connection: KafkaConnection) -> None:
        self.connection = connection
        self.servers = connection.servers

    def end_offsets(self, topic: str, partitions: int) -> dict[int, int]:
        """The next offset of each partition of ``topic``."""
        return self._offsets(topic, partitions, beginning=False)

    def beginning_offsets(self, topic: str, partitions: int) -> dict[int, int]:
        """The first offset still held in each partition of ``topic``."""
        return self._offsets(topic, partitions, beginning=True)

    def _offsets(self, topic: str, partitions: int, beginning: bool) -> dict[int, int]:
        async def read() -> dict[int, int]:
            consumer = AIOKafkaConsumer(**self.connection.client_options(), enable_auto_commit=False)
            await consumer.start()
            try:
                tps = [TopicPartition(topic, p) for p in range(partitions)]
                found = await (consumer.beginning_offsets(tps) if beginning else consumer.end_offsets(tps))
            finally:
                await consumer.stop()
            return {tp.partition: offset for tp, offset in found.items()}

        return asyncio.run(read())

    def committed_offsets(self, group: str, topic: str) -> dict[int, int]:
        """The offsets ``group`` has committed in ``topic`` (where its consumers will resume)."""

        async def read() -> dict[int, int]:
            admin = AIOKafkaAdminClient(**self.connection.client_options())
            await admin.start()
            try:
                offsets = await _with_coordinator(lambda: admin.list_consumer_group_offsets(group))
            finally:
                await admin.close()
            return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0}

        return asyncio.run(read())

    def create_topic(self, name: str, partitions: int) -> None:
        async def create() -> None:
            admin = AIOKafkaAdminClient(**self.connection.client_options())
            await admin.start()
            try:
                await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
            except TopicAlreadyExistsError:
                pass
            finally:
                await admin.close()

        asyncio.run(create())

    def delete_topic(self, name: str) -> None:
        async def delete() -> None:
            admin = AIOKafkaAdminClient(**self.connection.client_options())
            await admin.start()
            try:
                await admin.delete_topics([name])
            finally:
                await admin.close()

        asyncio.run(delete())

    def produce(self, topic: str, records: Iterable[tuple[bytes, bytes]],
                on_acknowledged: Callable[[int], None] = lambda count: None) -> list[int]:
        """Produce (key, value) records with ``acks=all`` and Kafka's default partitioner (the
        one Faust's producer uses, so each key lands where the API would put it).

        Returns the partition each record landed in, in the order given.
        """

        async def send_all() -> list[int]:
            producer = AIOKafkaProducer(**self.connection.client_options(), acks="all", linger_ms=20,
                                        max_batch_size=256 * 1024)
            await producer.start()
            partitions: list[int] = []
            try:
                pending = []
                for key, value in records:
                    pending.append(await producer.send(topic, key=key, value=value))
                    if len(pending) >= PRODUCE_WINDOW:
                        partitions.extend(meta.partition for meta in await asyncio.gather(*pending))
                        on_acknowledged(len(pending))
                        pending = []
                partitions.extend(meta.partition for meta in await asyncio.gather(*pending))
                on_acknowledged(len(pending))
            finally:
                await producer.stop()
            return partitions

        return asyncio.run(send_all())


async def _with_coordinator(request: Callable[[], Awaitable[T]]) -> T:
    """Make a group request, waiting for the coordinator a new broker creates on the first one."""
    for _ in range(COORDINATOR_ATTEMPTS - 1):
        try:
            return await request()
        except GroupCoordinatorNotAvailableError:
            await asyncio.sleep(1.0)
    return await request()


def group_members(connection: KafkaConnection, group: str) -> int:
    """How many consumers are members of ``group`` now (0 for an empty or unknown group)."""

    async def describe() -> int:
        admin = AIOKafkaAdminClient(**connection.client_options())
        await admin.start()
        try:
            responses = await _with_coordinator(lambda: admin.describe_consumer_groups([group]))
        finally:
            await admin.close()
        # DescribeGroups v0+: groups = [(error_code, group_id, state, protocol_type, protocol, members, ...)]
        return sum(len(entry[5]) for response in responses for entry in response.groups)

    return asyncio.run(describe())
