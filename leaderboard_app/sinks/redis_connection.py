"""Which Redis holds the index, one server or a Redis Cluster, and the clients that reach it.

``REDIS_URL`` names one server; with ``REDIS_CLUSTER=true`` it names one or more seed
nodes of a cluster (comma-separated URLs), of which the client learns the rest. The
index's keys (sinks/redis.py) keep every multi-key command and script within one hash
slot, and redis-py's cluster pipeline sends each node its share of a pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode


@dataclass(frozen=True)
class RedisTarget:
    """The index's Redis: a URL (credentials and TLS options included) and whether it is a cluster."""

    url: str = field(default="redis://127.0.0.1:6379/0", repr=False)
    cluster: bool = False

    @property
    def seed_urls(self) -> list[str]:
        """The URLs given (a cluster may name several seed nodes; one server, one)."""
        urls = [part.strip() for part in self.url.split(",") if part.strip()] if self.cluster else [self.url]
        return urls or [self.url]

    def client(self, **options: Any) -> aioredis.Redis | aioredis.RedisCluster:
        """A client of the index: of the one server, or of the cluster the seeds belong to.

        For one server, ``max_connections`` bounds a blocking pool (a call waits up to
        ``pool_wait`` seconds for a free connection); for a cluster it bounds the
        connections per node.
        """
        pool_wait = options.pop("pool_wait", None)
        if not self.cluster:
            if "max_connections" in options and pool_wait is not None:
                pool = aioredis.BlockingConnectionPool.from_url(self.url, timeout=pool_wait, **options)
                return aioredis.Redis(connection_pool=pool)
            return aioredis.Redis.from_url(self.url, **options)
        first, *others = self.seed_urls
        seeds = [ClusterNode(*_host_port(url)) for url in others]
        options.pop("health_check_interval", None)  # per connection on one server; the cluster client has none
        return aioredis.RedisCluster.from_url(first, startup_nodes=seeds or None, **options)


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379



async def close_client(client: aioredis.Redis | aioredis.RedisCluster) -> None:
    """Close ``client`` with its connections (a single server's pool may have been handed to it)."""
    if isinstance(client, aioredis.RedisCluster):
        await client.aclose()
    else:
        await client.aclose(close_connection_pool=True)


#: Hash slots of a Redis Cluster.
SLOTS = 16384


def primary_by_slot(slots: dict[tuple[int, int], dict[str, Any]]) -> tuple[str, ...]:
    """Each slot's primary ("host:port"; "" for a slot no primary serves), from CLUSTER SLOTS as redis-py gives it."""
    owners = [""] * SLOTS
    for (start, end), nodes in slots.items():
        host, port = nodes["primary"][:2]
        owners[start:end + 1] = [f"{host}:{port}"] * (end - start + 1)
    return tuple(owners)


def cached_primary(client: aioredis.RedisCluster, slot: int) -> str | None:
    """The node the cluster client would send a command for ``slot`` to, from its own map (no round trip).

    redis-py refreshes that map when a node fails or answers MOVED, so after a
    read it names the node that actually answered. (redis-py's nodes_manager:
    pinned by tests/cluster.)
    """
    try:
        return str(client.nodes_manager.get_node_from_slot(slot).name)
    except Exception:  # no map yet, or the slot has no node in it
        return None


class FailoverGuard:
    """Which slots of a Redis Cluster may be missing writes, so reads of them are refused.

    ``accepted`` is the slot -> primary map whose data the workers hold to be whole;
    after a failover the new primaries' slots are ``repairing`` until every partition
    of the table has been written into them again (leaderboard_app.failover).
    """

    def __init__(self) -> None:
        self.accepted: tuple[str, ...] | None = None
        self.repairing: frozenset[int] = frozenset()

    def readable(self, slot: int, primary_now: str | None) -> bool:
        """Whether a read of ``slot``, served by ``primary_now`` (None: unknown), can be trusted."""
        if slot in self.repairing:
            return False
        if self.accepted is not None and primary_now is not None and primary_now != self.accepted[slot]:
            return False
        return True
