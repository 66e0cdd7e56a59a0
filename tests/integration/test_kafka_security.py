"""Workers and our own Kafka clients over SASL (PLAIN) and TLS, against the broker's SECURED listener.

infra/kafka.sh gives the development broker a SASL_SSL listener on 127.0.0.1:9094 with one
user, ``leaderboard``, whose password and the broker's self-signed certificate it generates
into ``$STATE_DIR/kafka/secrets``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from leaderboard_app.errors import BackendUnavailable
from leaderboard_app.health import KafkaHealth
from leaderboard_app.kafka_connection import KafkaConnection, KafkaSecurity
from leaderboard_app.settings import SCORE_UPDATES_TOPIC
from leaderboard_app.topics import read_range
from tests.integration.conftest import (
    WorkerGroup,
    client_for,
    partition_of,
    require_port,
    submit,
    wait_for_score,
)

SECURED_BROKER = "kafka://127.0.0.1:9094"
SECRETS = Path(os.environ.get("LEADERBOARD_STATE_DIR", Path(__file__).parents[2] / ".state")) / "kafka" / "secrets"


@pytest.fixture(scope="module")
def password(services: None) -> str:
    require_port("127.0.0.1", 9094, "Kafka's SASL_SSL listener")
    return (SECRETS / "sasl-password").read_text().strip()


def secured(password: str) -> KafkaConnection:
    return KafkaConnection(SECURED_BROKER, KafkaSecurity(
        protocol="SASL_SSL", sasl_username="leaderboard", sasl_password=password,
        ssl_cafile=str(SECRETS / "broker.pem")))


def worker_environment(password: str) -> dict[str, str]:
    return {"BROKER_URL": SECURED_BROKER, "KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "leaderboard",
            "KAFKA_SASL_PASSWORD": password, "KAFKA_SSL_CAFILE": str(SECRETS / "broker.pem")}


async def _check(kafka: KafkaConnection) -> None:
    health = KafkaHealth(kafka)
    try:
        await health.check()
    finally:
        await health.on_stop()


def test_the_readiness_check_authenticates_and_a_wrong_password_is_refused(password: str) -> None:
    asyncio.run(_check(secured(password)))
    with pytest.raises(BackendUnavailable) as refused:
        asyncio.run(_check(secured("not-" + password)))
    assert password not in str(refused.value)


def test_records_are_read_over_the_secured_listener(workers: WorkerGroup, game: str, password: str) -> None:
    with client_for(workers.urls[0]) as client:
        submit(client, game, "reader", 5)
        wait_for_score(client, game, "reader", 5)
    partition = partition_of(game, "reader")

    async def read_back() -> list[bytes]:
        kafka = secured(password)
        consumer = AIOKafkaConsumer(**kafka.client_options(), group_id=None)
        await consumer.start()
        try:
            tp = TopicPartition(SCORE_UPDATES_TOPIC, partition)
            end = (await consumer.end_offsets([tp]))[tp]
        finally:
            await consumer.stop()
        return [record.value for record in await read_range(kafka, SCORE_UPDATES_TOPIC, partition, max(0, end - 50),
                                                             end)]

    assert any(game.encode() in value and b'"reader"' in value for value in asyncio.run(read_back()))


def test_a_worker_connected_over_sasl_ssl_takes_its_partitions_and_applies_their_scores(
        workers: WorkerGroup, game: str, password: str) -> None:
    secured_worker = workers.workers[1]
    secured_worker.stop()
    try:
        secured_worker.start(keep_data=True, **worker_environment(password))
        owned = workers.wait_balanced()[1]
        players = {}
        for n in range(200):  # players on every partition, so some are the secured worker's
            players.setdefault(partition_of(game, f"p{n}"), f"p{n}")
        with client_for(secured_worker.url) as client:  # its web views produce over the secured listener too
            for score, user in enumerate(players.values(), start=1):
                submit(client, game, user, score)
            for score, user in enumerate(players.values(), start=1):
                wait_for_score(client, game, user, score, timeout=30)
        assert owned and set(owned) <= set(players)
        assert password not in secured_worker.log_path.read_text(errors="replace")
    finally:
        secured_worker.stop()
        secured_worker.start(keep_data=True)
        workers.wait_balanced()
