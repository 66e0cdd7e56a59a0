"""What the run reads from the service's stores to see how far the pipeline got: the agent's
applied offsets and the game's sorted set in Redis, the season_scores rows in Cassandra."""

from __future__ import annotations

from collections.abc import Sequence

import redis
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster
from cassandra.query import PreparedStatement
from cassandra.concurrent import execute_concurrent_with_args

from leaderboard_app.settings import Settings
from leaderboard_app.sinks.redis import INDEXED_PARTITIONS_KEY, applied_offsets_key, season_keys

#: Players asked for in one Cassandra query (an IN over the partition key).
PLAYERS_PER_QUERY = 100


class RedisIndex:
    def __init__(self, settings: Settings) -> None:
        self.client = redis.Redis.from_url(settings.redis_url)
        self.applied_key = applied_offsets_key(settings.app_id)

    def applied_offsets(self) -> dict[int, int]:
        """Partition -> the next score_updates offset the agent will apply (as it records it in Redis)."""
        return {int(p): int(o) for p, o in self.client.hgetall(self.applied_key).items()}

    def indexed_partitions(self) -> set[int]:
        """The partitions whose players the index holds (fewer after Redis lost its data: the workers rebuild)."""
        return {int(p) for p in self.client.smembers(INDEXED_PARTITIONS_KEY)}

    def players(self, game_id: str, season: str) -> int:
        return self.client.zcard(season_keys(game_id, season)[0])

    def used_memory(self) -> int:
        return int(self.client.info("memory")["used_memory"])

    def close(self) -> None:
        self.client.close()


class CassandraRecord:
    def __init__(self, settings: Settings) -> None:
        auth = None
        if settings.cassandra_username:
            auth = PlainTextAuthProvider(settings.cassandra_username, settings.cassandra_password)
        self.cluster = Cluster(list(settings.cassandra_contact_points), port=settings.cassandra_port,
                               protocol_version=5, auth_provider=auth)
        self.session = self.cluster.connect()
        self.session.default_timeout = 30
        self.keyspace = settings.cassandra_keyspace
        self._select: PreparedStatement | None = None

    @property
    def select(self) -> PreparedStatement:
        # Prepared on first use: on new services the workers create the schema, after this connects.
        if self._select is None:
            self._select = self.session.prepare(
                f"SELECT user_id FROM {self.keyspace}.season_scores WHERE game_id = ? AND season = ? AND user_id IN ?")
        return self._select

    def present(self, game_id: str, season: str, users: Sequence[str]) -> set[str]:
        """Those of ``users`` that have a season_scores row."""
        chunks = [(game_id, season, list(users[i:i + PLAYERS_PER_QUERY]))
                  for i in range(0, len(users), PLAYERS_PER_QUERY)]
        found: set[str] = set()
        for ok, rows in execute_concurrent_with_args(self.session, self.select, chunks, concurrency=16,
                                                     raise_on_first_error=True):
            found.update(row.user_id for row in rows)
        return found

    def close(self) -> None:
        self.cluster.shutdown()
