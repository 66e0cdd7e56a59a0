"""Readiness of the services a worker depends on, for GET /ready."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError
from mode import Service

from leaderboard_app.errors import BackendUnavailable

CHECK_TIMEOUT = 3.0


def kafka_bootstrap_servers(broker_url: str) -> list[str]:
    """Turn Faust's ``kafka://host:port;kafka://host2:port`` into aiokafka's host list."""
    servers = []
    for part in broker_url.replace(",", ";").split(";"):
        part = part.strip()
        if part:
            servers.append(part.split("://", 1)[-1].rstrip("/"))
    return servers


class KafkaHealth(Service):
    """Asks the Kafka cluster for its metadata, over a client of its own."""

    def __init__(self, broker_url: str, **kwargs: Any) -> None:
        self._servers = kafka_bootstrap_servers(broker_url)
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
            client = AIOKafkaClient(bootstrap_servers=self._servers, request_timeout_ms=int(CHECK_TIMEOUT * 1000))
            await client.bootstrap()
            self._client = client
        metadata = await self._client.fetch_all_metadata()
        if not metadata.brokers():
            raise BackendUnavailable("kafka: no broker in the cluster metadata")
