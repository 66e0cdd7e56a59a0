"""Cassandra: the durable record of every player's current score.

Writes happen behind Redis: the agent hands each new state to
:meth:`CassandraScoreArchive.record`, which only files it and returns, and a
background task writes what is pending. So a slow or absent Cassandra never
holds back the Redis index; it only lets the pending set grow. Pending states are
coalesced per player (only the newest matters: rows are upserts of absolute
values), so that set is bounded by the number of players who changed, not by the
number of events. Each upsert carries ``USING TIMESTAMP`` = the state's
``updated_at_us``, so a replayed older state can never overwrite a newer one.

cassandra-driver calls back on its own threads; this module is the only place
that bridges its futures into asyncio.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, ResponseFuture, Session
from cassandra.query import PreparedStatement
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from mode import Service

from leaderboard_app.errors import BackendUnavailable
from leaderboard_app.models import PlayerScore
from leaderboard_app.settings import Settings

PLAYER_SCORES_TABLE = "player_scores"

_SCHEMA = (
    "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = "
    "{{'class': 'SimpleStrategy', 'replication_factor': {rf}}}",
    # One partition per player: a game with millions of players must not be one
    # unbounded partition.
    "CREATE TABLE IF NOT EXISTS {ks}.player_scores ("
    " game_id text, user_id text, score bigint, reached_at timestamp, updated_at timestamp,"
    " PRIMARY KEY ((game_id, user_id)))",
)

_UPSERT = (
    "INSERT INTO {ks}.player_scores (game_id, user_id, score, reached_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?"
)


def _utc(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)


def _await_response(response: ResponseFuture) -> asyncio.Future[Any]:
    """Return an asyncio future resolved by the driver's callback thread."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(outcome: Any, failed: bool) -> None:
        if not future.done():
            future.set_exception(outcome) if failed else future.set_result(outcome)

    response.add_callbacks(
        lambda rows: loop.call_soon_threadsafe(settle, rows, False),
        lambda exc: loop.call_soon_threadsafe(settle, exc, True),
    )
    return future


class CassandraScoreArchive(Service):
    """Keeps Cassandra's ``player_scores`` equal to the table, behind Redis."""

    #: Upserts in flight at once.
    concurrency = 128
    #: Longest pause between attempts while Cassandra is unreachable.
    max_retry_delay = 10.0
    request_timeout = 5.0

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        self._settings = settings
        self._pending: dict[tuple[str, str], PlayerScore] = {}
        self._wakeup = asyncio.Event()
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._upsert: PreparedStatement | None = None
        self.last_error: str | None = "not connected yet"
        super().__init__(**kwargs)

    def record(self, game_id: str, user_id: str, state: PlayerScore) -> None:
        """File the player's new state for writing; never blocks."""
        self._pending[(game_id, user_id)] = state
        self._wakeup.set()

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    async def check(self) -> None:
        """Raise BackendUnavailable unless Cassandra answers a query now."""
        if self._session is None:
            raise BackendUnavailable(f"cassandra: {self.last_error}")
        try:
            await asyncio.wait_for(
                _await_response(self._session.execute_async("SELECT release_version FROM system.local")), 2.0
            )
        except Exception as exc:  # the driver raises many unrelated types
            raise BackendUnavailable(f"cassandra: {exc or type(exc).__name__}") from exc

    async def on_start(self) -> None:
        # The driver logs a traceback at ERROR for every failed connection
        # attempt; the retry loop below reports each outage once per attempt.
        logging.getLogger("cassandra.cluster").setLevel(logging.CRITICAL)

    async def on_stop(self) -> None:
        if self._cluster is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._cluster.shutdown)
            self._cluster = self._session = None

    @Service.task
    async def _write_pending_forever(self) -> None:
        delay = 0.5
        while not self.should_stop:
            try:
                if self._session is None:
                    await self._connect()
                if not self._pending:
                    await self._wakeup.wait()
                    self._wakeup.clear()
                    continue
                await self._write_pending()
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the writer alive whatever the driver raises
                self.last_error = str(exc) or type(exc).__name__
                self.log.warning(
                    "cassandra unavailable (%s); %d pending; retrying in %.1fs",
                    self.last_error, len(self._pending), delay,
                )
                await self.sleep(delay)
                delay = min(delay * 2, self.max_retry_delay)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        self._cluster, self._session, self._upsert = await loop.run_in_executor(None, self._connect_blocking)
        self.last_error = None
        self.log.info("cassandra connected; %d pending writes", len(self._pending))

    def _connect_blocking(self) -> tuple[Cluster, Session, PreparedStatement]:
        settings = self._settings
        auth = None
        if settings.cassandra_username:
            auth = PlainTextAuthProvider(settings.cassandra_username, settings.cassandra_password)
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
            request_timeout=self.request_timeout,
        )
        cluster = Cluster(
            list(settings.cassandra_contact_points),
            port=settings.cassandra_port,
            auth_provider=auth,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            connect_timeout=5,
        )
        try:
            session = cluster.connect()
            keyspace = settings.cassandra_keyspace
            for statement in _SCHEMA:
                session.execute(statement.format(ks=keyspace, rf=settings.cassandra_replication_factor))
            return cluster, session, session.prepare(_UPSERT.format(ks=keyspace))
        except BaseException:
            cluster.shutdown()
            raise

    async def _write_pending(self) -> None:
        batch, self._pending = self._pending, {}
        items = list(batch.items())
        for start in range(0, len(items), self.concurrency):
            chunk = items[start:start + self.concurrency]
            results = await asyncio.gather(*(self._upsert_one(*item) for item in chunk), return_exceptions=True)
            errors = [result for result in results if isinstance(result, Exception)]
            if errors:
                unwritten = [item for item, result in zip(chunk, results) if isinstance(result, Exception)]
                # Put back what was not written, unless a newer state arrived meanwhile.
                for key, state in unwritten + items[start + len(chunk):]:
                    self._pending.setdefault(key, state)
                raise errors[0]

    async def _upsert_one(self, key: tuple[str, str], state: PlayerScore) -> None:
        assert self._session is not None
        game_id, user_id = key
        reached_at, updated_at = _utc(state.reached_at_us), _utc(state.updated_at_us)
        await _await_response(self._session.execute_async(
            self._upsert, (game_id, user_id, state.score, reached_at, updated_at, state.updated_at_us)
        ))
