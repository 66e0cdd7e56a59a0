"""The Kafka topics: score submissions (and deletions), and game rules."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Collection
from dataclasses import dataclass

import faust
from aiokafka import AIOKafkaClient, AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from leaderboard_app.faust_compat import topics_missing_by_broker
from leaderboard_app.kafka_connection import KafkaConnection
from leaderboard_app.settings import DEAD_LETTER_TOPIC, GAME_RULE_UPDATES_TOPIC, SCORE_UPDATES_TOPIC, \
    SEASON_RESULTS_TOPIC, Settings

logger = logging.getLogger(__name__)

#: How long a worker waits, before joining its group, for every broker to list its topics.
TOPICS_LISTED_TIMEOUT = 60.0
#: How long it waits for one broker to connect or answer (aiokafka's default: 40 s).
ASK_TIMEOUT_MS = 5000


def score_updates_topic(app: faust.App, settings: Settings) -> faust.TopicT:
    """Declare ``score_updates``: key = ``models.player_key``, value = a ScoreSubmission or PlayerDeletion.

    Keys and values are raw bytes, encoded and decoded by ``models``, so that one
    set of rules validates a submission at the HTTP edge and on the topic, and a
    malformed record reaches the agent instead of failing inside Faust.
    The key is the (gameId, userId) pair, so every update of one player lands on
    one partition, in order, with the table partition that holds the player.
    """
    return app.topic(
        SCORE_UPDATES_TOPIC,
        key_type=bytes,
        value_type=bytes,
        value_serializer="raw",
        partitions=app.conf.topic_partitions,
        # internal: Faust declares the topic at start-up with these partitions and
        # settings, instead of leaving it to the broker's auto-creation defaults.
        internal=True,
        config=settings.topic_config,
    )


def dead_letter_topic(app: faust.App, settings: Settings) -> faust.TopicT:
    """Declare ``score_updates.dlq``: malformed records of ``score_updates``, as they were,
    with an ``error`` header saying what is wrong with them."""
    return app.topic(
        DEAD_LETTER_TOPIC, key_type=bytes, value_type=bytes, value_serializer="raw",
        partitions=app.conf.topic_partitions, internal=True, config=settings.topic_config,
    )


def game_rule_updates_topic(app: faust.App, settings: Settings) -> faust.TopicT:
    """Declare ``game_rule_updates``: key = gameId (UTF-8), value = ``{"rules", "atUs"}``.

    Rules change rarely, so one partition keeps them in one order.
    """
    return app.topic(
        GAME_RULE_UPDATES_TOPIC, key_type=bytes, value_type=bytes, value_serializer="raw",
        partitions=1, internal=True, config=settings.topic_config,
    )


def season_results_topic(app: faust.App, settings: Settings) -> faust.TopicT:
    """Declare ``season_results``: key = ``[gameId, season]`` (JSON), value = a standing or the
    season's summary (JSON), for the services that reward players (docs/season-results.md).

    The service only produces to it, and Faust declares only the topics it
    consumes, so the archiver declares it (``maybe_declare``) before producing:
    auto-created by the broker it would get the broker's defaults instead.
    """
    return app.topic(
        SEASON_RESULTS_TOPIC, key_type=bytes, value_type=bytes, value_serializer="raw",
        partitions=app.conf.topic_partitions, internal=True, config=settings.topic_config,
    )


@dataclass(frozen=True)
class RecordPosition:
    """Where a record was read: what Faust's ``event.message`` tells the tables."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class ReadRecord:
    """A record read outside Faust's consumer, shaped like the Faust events the agent handles."""

    key: bytes | None
    value: bytes
    message: RecordPosition


async def read_range(kafka: KafkaConnection, topic: str, partition: int, start: int, end: int,
                     timeout: float = 60.0) -> list[ReadRecord]:
    """Read the records at offsets ``start`` to ``end - 1`` of one partition, in order.

    Over a consumer of its own, outside any group, so that it neither moves nor
    waits for the worker's consumer. Raises TimeoutError if they cannot all be read.
    """
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(**kafka.client_options(), group_id=None,
                                enable_auto_commit=False, auto_offset_reset="none")
    await consumer.start()
    try:
        consumer.assign([tp])
        consumer.seek(tp, start)
        records: list[ReadRecord] = []
        async with asyncio.timeout(timeout):
            while not records or records[-1].message.offset < end - 1:
                fetched = await consumer.getmany(tp, timeout_ms=500, max_records=10_000)
                records.extend(ReadRecord(r.key, r.value, RecordPosition(topic, partition, r.offset))
                               for r in fetched.get(tp, ()) if r.offset < end)
        return records
    finally:
        await consumer.stop()


async def wait_until_every_broker_lists(kafka: KafkaConnection, topics: Collection[str],
                                        timeout: float = TOPICS_LISTED_TIMEOUT, interval: float = 0.1) -> None:
    """Return once every broker lists ``topics``, each partition with a leader; after ``timeout``
    seconds, log which broker misses which and return anyway.

    The worker calls it after creating its topics and before joining its group: a group
    leader whose broker did not list a topic yet left it out of the assignment, and hung
    when it was the ``game_rules`` changelog (``faust_compat.conductor_subscribing_after``).
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    client = AIOKafkaClient(**kafka.client_options(), request_timeout_ms=ASK_TIMEOUT_MS)
    try:
        for attempt in itertools.count(1):
            try:
                # The brokers alive now: a stopped one leaves the metadata, a new one enters it.
                await (client.force_metadata_update() if client.cluster.brokers() else client.bootstrap())
                missing = await topics_missing_by_broker(client, topics)
                lacking = "; ".join(f"broker {node} lacks {', '.join(sorted(absent))}"
                                    for node, absent in sorted(missing.items()))
            except KafkaError as exc:
                lacking = f"the brokers could not be asked ({exc!r})"
            if not lacking:
                break
            if loop.time() - started >= timeout:
                logger.warning("joining the group although not every broker lists its topics after %.0f s: %s",
                               timeout, lacking)
                return
            if attempt == 1:
                logger.info("waiting for every broker to list the topics before joining the group: %s", lacking)
            await asyncio.sleep(interval)
    finally:
        await client.close()
    logger.info("every broker lists the topics %s (after %.1f s, %d attempts)", ", ".join(sorted(topics)),
                loop.time() - started, attempt)
