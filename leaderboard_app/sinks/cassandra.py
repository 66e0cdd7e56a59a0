"""Cassandra: the durable record of rules, season scores and every submission.

Writes happen behind Redis: the agent hands each change to
:class:`CassandraArchive` (``record_*`` methods only file it and return) and a
background task writes what is pending, so a slow or absent Cassandra never
holds back the Redis index. Season scores are coalesced per player and season
(only the newest matters: rows are upserts of absolute values); history rows and
deletions are kept in order. Every statement carries ``USING TIMESTAMP`` from
the event, so a replayed older state never overwrites a newer one and a
deletion wins over every write of the player that came before it.

Tables (partitions stay bounded: one per player and season, one per player and
month of history, one per 10,000 places of a closed season):

    games             (game_id) -> ranking_order, operator, reset
    season_scores     ((game_id, season, user_id)) -> score, reached_at, updated_at
    score_history     ((game_id, user_id, month), achieved_at, accepted_at_us) -> score, season, event, reason
                      (a submission's row has score and season; a ban's or a lifted ban's, event and
                      reason, and achieved_at = when it was accepted)
    history_months    ((game_id, user_id), month)
    season_standings  ((game_id, season, bucket), position) -> user_id, score, rank
    season_players    ((game_id, season, user_id)) -> position, rank, score, worse, next_*
    season_totals     ((game_id, season)) -> players

The last three hold the final standings of closed seasons, written once by the
archiver, so past seasons stay readable after Redis evicts them.

cassandra-driver calls back on its own threads; this module is the only place
that bridges its futures into asyncio.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, ResponseFuture, Session
from cassandra.policies import DCAwareRoundRobinPolicy, ExponentialReconnectionPolicy, TokenAwarePolicy
from cassandra.query import UNSET_VALUE, BatchStatement, BatchType, PreparedStatement
import orjson
from mode import Service

from leaderboard_app.columns import SortColumn, as_named
from leaderboard_app.errors import BackendUnavailable
from leaderboard_app.models import GameRules, PlayerStanding, RankedPlayer, SeasonScore, parse_rules
from leaderboard_app.settings import Settings
from leaderboard_app.tiers import reaches

if TYPE_CHECKING:
    from leaderboard_app.metrics import LeaderboardMetrics

_SCHEMA = (
    "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = "
    "{{'class': 'SimpleStrategy', 'replication_factor': {rf}}}",
    "CREATE TABLE IF NOT EXISTS {ks}.games ("
    " game_id text PRIMARY KEY, ranking_order text, operator text, reset text, updated_at timestamp)",
    "CREATE TABLE IF NOT EXISTS {ks}.season_scores ("
    " game_id text, season text, user_id text, score bigint, reached_at timestamp, updated_at timestamp,"
    " PRIMARY KEY ((game_id, season, user_id)))",
    "CREATE TABLE IF NOT EXISTS {ks}.score_history ("
    " game_id text, user_id text, month text, achieved_at timestamp, accepted_at_us bigint, score bigint,"
    " season text, PRIMARY KEY ((game_id, user_id, month), achieved_at, accepted_at_us))"
    " WITH CLUSTERING ORDER BY (achieved_at DESC, accepted_at_us DESC)",
    "CREATE TABLE IF NOT EXISTS {ks}.history_months ("
    " game_id text, user_id text, month text, PRIMARY KEY ((game_id, user_id), month))"
    " WITH CLUSTERING ORDER BY (month DESC)",
    "CREATE TABLE IF NOT EXISTS {ks}.season_standings ("
    " game_id text, season text, bucket int, position int, user_id text, score bigint, rank int,"
    " PRIMARY KEY ((game_id, season, bucket), position))",
    "CREATE TABLE IF NOT EXISTS {ks}.season_players ("
    " game_id text, season text, user_id text, position int, rank int, score bigint, worse int,"
    " next_user text, next_score bigint, next_rank int, PRIMARY KEY ((game_id, season, user_id)))",
    "CREATE TABLE IF NOT EXISTS {ks}.season_totals ("
    " game_id text, season text, players int, PRIMARY KEY ((game_id, season)))",
    # Added with tiers and slices: a game's tiers and tag keys (JSON), a season score's tag values.
    "ALTER TABLE {ks}.games ADD IF NOT EXISTS presentation text",
    "ALTER TABLE {ks}.season_scores ADD IF NOT EXISTS tags map<text, text>",
    # Added with moderation: history rows of bans and lifted bans (event "ban" or "restore").
    "ALTER TABLE {ks}.score_history ADD IF NOT EXISTS event text",
    "ALTER TABLE {ks}.score_history ADD IF NOT EXISTS reason text",
    # Added with sort columns: a season score's column values, and those of archived standings.
    # (A game's declared columns are in games.presentation, with its tiers and tag keys.)
    "ALTER TABLE {ks}.season_scores ADD IF NOT EXISTS columns list<bigint>",
    "ALTER TABLE {ks}.season_standings ADD IF NOT EXISTS columns list<bigint>",
    "ALTER TABLE {ks}.season_players ADD IF NOT EXISTS columns list<bigint>",
)

#: Positions per partition of ``season_standings``, so a huge season is many bounded partitions.
STANDINGS_BUCKET = 10_000

#: Filed writes that read before they delete, so are run on their own, not batched.
_COMPOUND_WRITES = frozenset({"delete_standing_of", "delete_player_history"})

_STATEMENTS = {
    "rules": "INSERT INTO {ks}.games (game_id, ranking_order, operator, reset, presentation, updated_at)"
             " VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
    # Columns are bound unset (UNSET_VALUE) in games without sort columns: a null would write a tombstone.
    "score": "INSERT INTO {ks}.season_scores (game_id, season, user_id, score, reached_at, updated_at, columns)"
             " VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
    # A separate statement, because binding a null map would write a tombstone with every untagged score.
    "tagged_score": "INSERT INTO {ks}.season_scores (game_id, season, user_id, score, reached_at, updated_at, columns,"
                    " tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
    "history": "INSERT INTO {ks}.score_history (game_id, user_id, month, achieved_at, accepted_at_us, score, season)"
               " VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
    "moderation": "INSERT INTO {ks}.score_history (game_id, user_id, month, achieved_at, accepted_at_us, event,"
                  " reason) VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
    "month": "INSERT INTO {ks}.history_months (game_id, user_id, month) VALUES (?, ?, ?) USING TIMESTAMP ?",
    "delete_score": "DELETE FROM {ks}.season_scores USING TIMESTAMP ? WHERE game_id = ? AND season = ? AND user_id = ?",
    "delete_history": "DELETE FROM {ks}.score_history USING TIMESTAMP ?"
                      " WHERE game_id = ? AND user_id = ? AND month = ?",
    "delete_months": "DELETE FROM {ks}.history_months USING TIMESTAMP ? WHERE game_id = ? AND user_id = ?",
    "months": "SELECT month FROM {ks}.history_months WHERE game_id = ? AND user_id = ?",
    "history_page": "SELECT achieved_at, score, season, event, reason FROM {ks}.score_history"
                    " WHERE game_id = ? AND user_id = ? AND month = ? LIMIT ?",
    "standing": "INSERT INTO {ks}.season_standings (game_id, season, bucket, position, user_id, score, rank,"
                " columns) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
    "season_player": "INSERT INTO {ks}.season_players (game_id, season, user_id, position, rank, score, worse,"
                     " next_user, next_score, next_rank, columns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                     " USING TIMESTAMP ?",
    "season_total": "INSERT INTO {ks}.season_totals (game_id, season, players) VALUES (?, ?, ?) USING TIMESTAMP ?",
    "standings_page": "SELECT position, user_id, score, rank, columns FROM {ks}.season_standings"
                      " WHERE game_id = ? AND season = ? AND bucket = ? AND position >= ? AND position < ?",
    "player_standing": "SELECT position, rank, score, worse, next_user, next_score, next_rank, columns"
                       " FROM {ks}.season_players WHERE game_id = ? AND season = ? AND user_id = ?",
    "scores": "SELECT game_id, season, user_id, score, reached_at, updated_at, tags, columns FROM {ks}.season_scores",
    "game_scores": "SELECT game_id, season, user_id, score, reached_at, updated_at, tags, columns"
                   " FROM {ks}.season_scores"
                   " WHERE game_id = ? ALLOW FILTERING",
    "count_scores": "SELECT COUNT(*) FROM {ks}.season_scores",
    "count_game_scores": "SELECT COUNT(*) FROM {ks}.season_scores WHERE game_id = ? ALLOW FILTERING",
    "all_rules": "SELECT game_id, ranking_order, operator, reset, presentation FROM {ks}.games",
    "total": "SELECT players FROM {ks}.season_totals WHERE game_id = ? AND season = ?",
    "delete_standing": "DELETE FROM {ks}.season_standings USING TIMESTAMP ?"
                       " WHERE game_id = ? AND season = ? AND bucket = ? AND position = ?",
    "delete_season_player": "DELETE FROM {ks}.season_players USING TIMESTAMP ?"
                            " WHERE game_id = ? AND season = ? AND user_id = ?",
}


#: The ``event`` of history rows that are no submission.
BAN_EVENT = "ban"
RESTORE_EVENT = "restore"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One submission of a player, or a ban or lifted ban (``event``), as /history returns it."""

    score: int | None
    achieved_at: datetime
    season: str | None
    event: str | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        stamp = self.achieved_at.replace(tzinfo=timezone.utc).isoformat(timespec="milliseconds")
        at = stamp.replace("+00:00", "Z")
        if self.event is not None:
            entry: dict[str, Any] = {"event": self.event, "achievedAt": at}
            if self.reason is not None:
                entry["reason"] = self.reason
            return entry
        return {"score": self.score, "achievedAt": at, "season": self.season}


def _utc(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)


def _month(us: int) -> str:
    return _utc(us).strftime("%Y-%m")


def _column_values(values: Sequence[int]) -> Any:
    # Unset, not null, without columns: a null would write a tombstone with every row.
    return list(values) if values else UNSET_VALUE


def _archived_player(user_id: str, row: Any, columns: Sequence[SortColumn]) -> RankedPlayer:
    """A player of archived standings, with the game's sort ``columns`` named (rows keep their values only)."""
    named = as_named(columns, row.columns) if columns and row.columns else None
    return RankedPlayer(user_id, row.score, row.rank, columns=named)


def _first(rows: Sequence[Any]) -> Any:
    """The first row of a result (callbacks receive the rows of its first page as a list)."""
    return rows[0] if rows else None


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


#: One pending write: a statement name and its parameters, or a deletion.
_Write = tuple[str, tuple[Any, ...]]


class CassandraArchive(Service):
    """Keeps Cassandra equal to the tables, behind Redis."""

    #: Batches in flight at once ...
    concurrency = 16
    #: ... of at most this many rows (each a few hundred bytes: under Cassandra's
    #: 5 KiB batch warning). Rows of many partitions share a batch, which suits a
    #: small cluster; on a large one, token-aware single rows spread better.
    batch_rows = 16
    #: Seconds a write waits for more to share its batches, unless enough are pending to fill them.
    linger = 0.05
    #: Longest pause between attempts while Cassandra is unreachable.
    max_retry_delay = 10.0
    request_timeout = 5.0

    def __init__(self, settings: Settings, metrics: LeaderboardMetrics | None = None, **kwargs: Any) -> None:
        self._settings = settings
        self._metrics = metrics
        #: Writes of which only the latest per key matters: ("score", game, user, season)
        #: and ("month", game, user, month) -> the write.
        self._latest: dict[tuple[str, str, str, str], _Write] = {}
        self._ordered: list[_Write] = []
        #: An erasure or rules change is pending: written at once, not held back to fill batches
        #: (whoever asked for it reads Cassandra right after the answer).
        self._urgent = False
        #: Futures to resolve once every write filed before them is made.
        self._waiting: list[asyncio.Future[None]] = []
        #: score_updates partition -> the offset below which every record's writes are filed.
        self._filed_through: dict[int, int] = {}
        #: score_updates partition -> the offset below which every record's writes are made.
        self.written_through: dict[int, int] = {}
        #: Called with the partitions and offsets whose ``written_through`` just advanced.
        self.on_written: Callable[[dict[int, int]], None] | None = None
        self._wakeup = asyncio.Event()
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._prepared: dict[str, PreparedStatement] = {}
        self.last_error: str | None = "not connected yet"
        super().__init__(**kwargs)

    # -- what the agents file -------------------------------------------------

    def record_score(self, game_id: str, season: str, user_id: str, state: SeasonScore) -> None:
        """File a player's new season score; never blocks."""
        row = (game_id, season, user_id, state.score, _utc(state.reached_at_us), _utc(state.updated_at_us),
               _column_values(state.columns))
        self._latest[("score", game_id, user_id, season)] = (
            ("tagged_score", (*row, state.tags, state.updated_at_us)) if state.tags
            else ("score", (*row, state.updated_at_us)))
        self._wakeup.set()

    def record_submission(self, game_id: str, user_id: str, score: int, season: str,
                          achieved_at_us: int, accepted_at_us: int, written_at_us: int | None = None) -> None:
        """File one history row, written at ``written_at_us`` (default: when accepted); never blocks."""
        month = _month(achieved_at_us)
        stamp = accepted_at_us if written_at_us is None else written_at_us
        self._ordered.append(("history", (game_id, user_id, month, _utc(achieved_at_us), accepted_at_us, score,
                                          season, stamp)))
        self._latest[("month", game_id, user_id, month)] = ("month", (game_id, user_id, month, stamp))
        self._wakeup.set()

    def record_moderation(self, game_id: str, user_id: str, banned: bool, reason: str | None,
                          accepted_at_us: int, written_at_us: int) -> None:
        """File the history row of a ban (or a lifted ban), dated when it was accepted; never blocks."""
        month = _month(accepted_at_us)
        self._ordered.append(("moderation", (game_id, user_id, month, _utc(accepted_at_us), accepted_at_us,
                                             BAN_EVENT if banned else RESTORE_EVENT, reason, written_at_us)))
        self._latest[("month", game_id, user_id, month)] = ("month", (game_id, user_id, month, written_at_us))
        self._wakeup.set()

    def record_rules(self, game_id: str, rules: GameRules, at_us: int) -> None:
        presentation = orjson.dumps({"tiers": rules.as_json()["tiers"], "tags": list(rules.tags),
                                     "columns": [column.as_json() for column in rules.columns]}).decode()
        self._ordered.append(("rules", (game_id, rules.order, rules.operator, rules.reset, presentation, _utc(at_us),
                                        at_us)))
        self._urgent = True
        self._wakeup.set()

    def record_deletion(self, game_id: str, user_id: str, seasons: Sequence[str], at_us: int) -> None:
        """File the erasure of a player from a game: scores of ``seasons`` and all history."""
        pending_months = []
        for key in [key for key in self._latest if key[1:3] == (game_id, user_id)]:
            if key[0] == "month":
                pending_months.append(key[3])
            del self._latest[key]
        for season in seasons:
            self._ordered.append(("delete_score", (at_us, game_id, season, user_id)))
            self._ordered.append(("delete_standing_of", (game_id, season, user_id, at_us)))
        # Months whose rows were still pending are not in Cassandra for the delete to find.
        self._ordered.append(("delete_player_history", (game_id, user_id, at_us, tuple(pending_months))))
        self._urgent = True
        self._wakeup.set()

    def mark_filed(self, partition: int, next_offset: int) -> None:
        """Note that the writes of every record of ``partition`` below ``next_offset`` are filed.

        Once they are made, ``written_through`` says so (what the agent keeps in
        the table, for whoever owns the partition next).
        """
        if next_offset > self._filed_through.get(partition, -1):
            self._filed_through[partition] = next_offset
            self._wakeup.set()

    def written(self) -> asyncio.Future[None]:
        """A future done once every write filed so far is made (it waits while Cassandra is away)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        self._urgent = True
        self._wakeup.set()
        return future

    @property
    def pending_count(self) -> int:
        return len(self._latest) + len(self._ordered)

    # -- reads ------------------------------------------------------------------

    async def history(self, game_id: str, user_id: str, limit: int) -> list[HistoryEntry]:
        """Return the player's newest ``limit`` submissions, newest first."""
        months = [row.month for row in await self._reading("months", (game_id, user_id))]
        entries: list[HistoryEntry] = []
        for month in months:
            rows = await self._reading("history_page", (game_id, user_id, month, limit - len(entries)))
            entries.extend(HistoryEntry(row.score, row.achieved_at, row.season, row.event, row.reason)
                           for row in rows)
            if len(entries) >= limit:
                break
        return entries

    # -- closed seasons: final standings, written once by the archiver -------

    async def store_standings(self, game_id: str, season: str, rows: Sequence[tuple[int, PlayerStanding]],
                              at_us: int) -> None:
        """Write (position, standing) rows of a closed season's final standings; raise if Cassandra fails."""
        statements: list[tuple[str, tuple[Any, ...]]] = []
        for position, standing in rows:
            player, above = standing.player, standing.next
            columns = _column_values(tuple(player.columns.values()) if player.columns else ())
            statements.append(("standing", (game_id, season, position // STANDINGS_BUCKET, position,
                                            player.user_id, player.score, player.rank, columns, at_us)))
            statements.append(("season_player", (
                game_id, season, player.user_id, position, player.rank, player.score, standing.worse,
                above and above.user_id, above and above.score, above and above.rank, columns, at_us)))
        for start in range(0, len(statements), self.concurrency):
            await asyncio.gather(*(self._execute(name, params)
                                   for name, params in statements[start:start + self.concurrency]))

    async def store_season_total(self, game_id: str, season: str, total: int, at_us: int) -> None:
        """Write how many players a closed season had, once its standings are written."""
        await self._execute("season_total", (game_id, season, total, at_us))

    async def archived_total(self, game_id: str, season: str) -> int | None:
        """How many players the archived standings of the season hold (None: the season is not archived)."""
        total = _first(await self._reading("total", (game_id, season)))
        return None if total is None else total.players

    async def delete_standings(self, game_id: str, season: str, positions: range, user_ids: Sequence[str],
                               at_us: int) -> None:
        """Delete the rows of ``positions`` and of the players ``user_ids`` from a season's archived standings."""
        statements = [("delete_standing", (at_us, game_id, season, position // STANDINGS_BUCKET, position))
                      for position in positions]
        statements += [("delete_season_player", (at_us, game_id, season, user_id)) for user_id in user_ids]
        for start in range(0, len(statements), self.concurrency):
            await asyncio.gather(*(self._execute(name, params)
                                   for name, params in statements[start:start + self.concurrency]))

    async def has_standings(self, game_id: str, season: str) -> bool:
        return _first(await self._reading("total", (game_id, season))) is not None

    async def top(self, game_id: str, season: str, order: str, count: int, offset: int = 0,
                  columns: Sequence[SortColumn] = ()) -> list[RankedPlayer]:
        """Return ``count`` players of an archived season from ``offset``, best first."""
        return await self._positions(game_id, season, offset, offset + count, columns)

    async def around(self, game_id: str, season: str, order: str, user_id: str, n: int,
                     columns: Sequence[SortColumn] = ()) -> list[RankedPlayer] | None:
        row = _first(await self._reading("player_standing", (game_id, season, user_id)))
        if row is None:
            return None
        position = row.position
        return await self._positions(game_id, season, max(0, position - n), position + n + 1, columns)

    async def ranks(self, game_id: str, season: str, order: str, user_ids: Sequence[str],
                    columns: Sequence[SortColumn] = ()) -> list[RankedPlayer]:
        found = await asyncio.gather(*(self._reading("player_standing", (game_id, season, user))
                                       for user in user_ids))
        rows = sorted((row.position, user, row) for user, result in zip(user_ids, found)
                      if (row := _first(result)) is not None)
        return [_archived_player(user, row, columns) for _, user, row in rows]

    async def rank_for(self, game_id: str, season: str, order: str, user_id: str,
                       columns: Sequence[SortColumn] = ()) -> PlayerStanding | None:
        row = _first(await self._reading("player_standing", (game_id, season, user_id)))
        if row is None:
            return None
        total = _first(await self._reading("total", (game_id, season)))
        above = None if row.next_user is None else RankedPlayer(row.next_user, row.next_score, row.next_rank)
        return PlayerStanding(player=_archived_player(user_id, row, columns),
                              total=total.players if total else 0, worse=row.worse, next=above)

    async def total_members(self, game_id: str, season: str) -> int:
        total = _first(await self._reading("total", (game_id, season)))
        return total.players if total else 0

    async def count_reaching(self, game_id: str, season: str, order: str, score: int) -> int:
        """How many players of an archived season have ``score`` or better: a binary search over
        its positions (they are best first), one row read per step."""
        low, high = 0, await self.total_members(game_id, season)
        while low < high:
            middle = (low + high) // 2
            found = await self._positions(game_id, season, middle, middle + 1)
            if found and reaches(order, found[0].score, score):
                low = middle + 1
            else:
                high = middle
        return low

    async def _positions(self, game_id: str, season: str, first: int, end: int,
                         columns: Sequence[SortColumn] = ()) -> list[RankedPlayer]:
        players: list[RankedPlayer] = []
        for bucket in range(first // STANDINGS_BUCKET, (end - 1) // STANDINGS_BUCKET + 1):
            rows = await self._reading("standings_page", (game_id, season, bucket, first, end))
            players.extend(_archived_player(row.user_id, row, columns) for row in rows)
        return players

    async def _reading(self, name: str, params: tuple[Any, ...]) -> Any:
        try:
            return await self._execute(name, params)
        except BackendUnavailable:
            raise
        except Exception as exc:  # the driver raises many unrelated types
            raise BackendUnavailable(f"cassandra: {exc or type(exc).__name__}") from exc

    async def all_rules(self) -> list[tuple[str, GameRules]]:
        """Return every game's persisted rules (a small table: one row per configured game)."""
        rows = await self._reading("all_rules", ())
        return [(row.game_id, parse_rules({"order": row.ranking_order, "operator": row.operator, "reset": row.reset,
                                           **orjson.loads(row.presentation or "{}")}))
                for row in rows]

    async def wait_connected(self, timeout: float = 60.0) -> None:
        """Wait until the writer has connected (for commands run outside a worker)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._session is None:
            if asyncio.get_running_loop().time() > deadline:
                raise BackendUnavailable(f"cassandra: {self.last_error}")
            await asyncio.sleep(0.2)

    async def count_season_scores(self, game_id: str | None) -> int:
        name, params = ("count_game_scores", (game_id,)) if game_id else ("count_scores", ())
        return _first(await self._reading(name, params)).count

    async def season_scores(self, game_id: str | None) -> AsyncIterator[tuple[str, str, str, SeasonScore]]:
        """Yield every stored season score (of one game, or all): a full scan, for rebuilds only."""
        session = self._require_session()
        name, params = ("game_scores", (game_id,)) if game_id else ("scores", ())
        loop = asyncio.get_running_loop()
        rows = iter(await loop.run_in_executor(None, session.execute, self._prepared[name], params))
        while True:
            # Paging fetches the next page synchronously, so it runs off the event loop.
            page = await loop.run_in_executor(None, lambda: [row for _, row in zip(range(500), rows)])
            if not page:
                return
            for row in page:
                reached = int(row.reached_at.replace(tzinfo=timezone.utc).timestamp() * 1_000_000)
                updated = int(row.updated_at.replace(tzinfo=timezone.utc).timestamp() * 1_000_000)
                yield row.game_id, row.season, row.user_id, SeasonScore(row.score, reached, reached, updated,
                                                                        dict(row.tags or {}), tuple(row.columns or ()))

    async def check(self) -> None:
        """Raise BackendUnavailable unless Cassandra answers a query now."""
        session = self._require_session()
        try:
            await asyncio.wait_for(
                _await_response(session.execute_async("SELECT release_version FROM system.local")), 2.0)
        except Exception as exc:  # the driver raises many unrelated types
            raise BackendUnavailable(f"cassandra: {exc or type(exc).__name__}") from exc

    def _require_session(self) -> Session:
        if self._session is None:
            raise BackendUnavailable(f"cassandra: {self.last_error}")
        return self._session

    async def _execute(self, name: str, params: tuple[Any, ...]) -> Any:
        session = self._require_session()
        return await _await_response(session.execute_async(self._prepared[name], params))

    # -- lifecycle and the writer ----------------------------------------------

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
                if not self.pending_count and not self._filed_through and not self._waiting:
                    await self._wakeup.wait()
                    self._wakeup.clear()
                    continue
                if not self._urgent and self.pending_count < self.batch_rows * self.concurrency:
                    # Rows filed in the next moment join these: a few full batches cost
                    # Cassandra and this event loop far less than many batches of a few rows.
                    await self.sleep(self.linger)
                await self._write_pending()
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the writer alive whatever the driver raises
                self.last_error = str(exc) or type(exc).__name__
                self.log.warning("cassandra unavailable (%s); %d pending; retrying in %.1fs",
                                 self.last_error, self.pending_count, delay)
                await self.sleep(delay)
                delay = min(delay * 2, self.max_retry_delay)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        self._cluster, self._session, self._prepared = await loop.run_in_executor(None, self._connect_blocking)
        self.last_error = None
        self.log.info("cassandra connected; %d pending writes", self.pending_count)

    def _connect_blocking(self) -> tuple[Cluster, Session, dict[str, PreparedStatement]]:
        settings = self._settings
        auth = None
        if settings.cassandra_username:
            auth = PlainTextAuthProvider(settings.cassandra_username, settings.cassandra_password)
        # Writes (batches and single statements) at the write consistency; every
        # prepared SELECT carries the read consistency.
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
            request_timeout=self.request_timeout,
            consistency_level=ConsistencyLevel.name_to_value[settings.cassandra_write_consistency],
        )
        cluster = Cluster(
            list(settings.cassandra_contact_points), port=settings.cassandra_port, auth_provider=auth,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile}, connect_timeout=5,
            # The driver's default backoff grows to 10 minutes; a node back after
            # an outage should take writes again within seconds.
            reconnection_policy=ExponentialReconnectionPolicy(0.5, 10.0),
        )
        try:
            session = cluster.connect()
            keyspace = settings.cassandra_keyspace
            for statement in _SCHEMA:
                session.execute(statement.format(ks=keyspace, rf=settings.cassandra_replication_factor))
            prepared = {name: session.prepare(cql.format(ks=keyspace)) for name, cql in _STATEMENTS.items()}
            read_consistency = ConsistencyLevel.name_to_value[settings.cassandra_read_consistency]
            for name, statement in prepared.items():
                if _STATEMENTS[name].startswith("SELECT"):
                    statement.consistency_level = read_consistency
            return cluster, session, prepared
        except BaseException:
            cluster.shutdown()
            raise

    async def _write_pending(self) -> None:
        # Marks filed by now cover only writes filed by now: true once these are made.
        marks, self._filed_through = self._filed_through, {}
        waiting, self._waiting = self._waiting, []
        try:
            await self._write_filed()
        except BaseException:
            for partition, offset in marks.items():
                self.mark_filed(partition, offset)
            self._waiting[:0] = waiting
            raise
        for partition, offset in marks.items():
            self.written_through[partition] = max(offset, self.written_through.get(partition, -1))
        if marks and self.on_written is not None:
            self.on_written(marks)
        for future in waiting:
            if not future.done():
                future.set_result(None)

    async def _write_filed(self) -> None:
        latest, self._latest = self._latest, {}
        ordered, self._ordered = self._ordered, []
        self._urgent = False
        # Ordered writes first: a deletion filed before a player's next score is
        # outranked by that score's later timestamp whichever lands first.
        writes: list[tuple[tuple[str, str, str, str] | None, _Write]] = [(None, write) for write in ordered]
        writes.extend(latest.items())
        # Plain upserts travel as unlogged batches of BATCH_ROWS: one request, one
        # response and one callback each, instead of one per row (the driver's
        # per-request work, on this process's event loop, was most of its CPU).
        chunks = [writes[start:start + self.batch_rows] for start in range(0, len(writes), self.batch_rows)]
        for start in range(0, len(chunks), self.concurrency):
            group = chunks[start:start + self.concurrency]
            results = await asyncio.gather(*(self._write_chunk(chunk) for chunk in group), return_exceptions=True)
            errors = [result for result in results if isinstance(result, Exception)]
            if errors:
                unwritten = [item for chunk, result in zip(group, results) if isinstance(result, Exception)
                             for item in chunk]
                self._put_back(unwritten + [item for chunk in chunks[start + len(group):] for item in chunk])
                raise errors[0]

    async def _write_chunk(self, chunk: Sequence[tuple[Any, _Write]]) -> None:
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        for _, (name, params) in chunk:
            if name in _COMPOUND_WRITES:
                await self._write((name, params))
            else:
                batch.add(self._prepared[name], params)
        if len(batch):
            session = self._require_session()
            with self._metrics.time_sink_write("cassandra") if self._metrics else nullcontext():
                await _await_response(session.execute_async(batch))

    def _put_back(self, writes: list[tuple[tuple[str, str, str, str] | None, _Write]]) -> None:
        ordered = [write for key, write in writes if key is None]
        self._ordered[:0] = ordered
        for key, write in writes:
            if key is not None:
                self._latest.setdefault(key, write)  # unless a newer state arrived meanwhile

    async def _write(self, write: _Write) -> None:
        name, params = write
        if name == "delete_standing_of":
            game_id, season, user_id, at_us = params
            for row in await self._execute("player_standing", (game_id, season, user_id)):
                bucket = row.position // STANDINGS_BUCKET
                await self._execute("delete_standing", (at_us, game_id, season, bucket, row.position))
            await self._execute("delete_season_player", (at_us, game_id, season, user_id))
            return
        if name == "delete_player_history":
            game_id, user_id, at_us, pending_months = params
            months = {row.month for row in await self._execute("months", (game_id, user_id))} | set(pending_months)
            await asyncio.gather(*(self._execute("delete_history", (at_us, game_id, user_id, month))
                                   for month in months))
            await self._execute("delete_months", (at_us, game_id, user_id))
            return
        await self._execute(name, params)
