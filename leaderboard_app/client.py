"""A typed Python client of the leaderboard HTTP API, on httpx.

``LeaderboardClient`` is async (``httpx.AsyncClient``), ``SyncLeaderboardClient``
blocking (``httpx.Client``). Both have the same methods, one per endpoint, and share
one mapping of each call to its request and of each answer to its result (the
``_Call`` objects built below): they differ only in how a request is sent.

    async with LeaderboardClient("http://127.0.0.1:6066", api_key="...") as client:
        await client.submit_score("tetris", "ann", 2500)
        leaders = await client.top("tetris", k=3)

Every error answer raises; all of them derive from ``LeaderboardClientError``:

    LeaderboardClientError          anything this client raises
     ├── TransportError             no answer: connection refused, timed out, ...
     ├── UnexpectedResponse         an answer the API does not describe
     └── ApiError                   an error answer; .status, and .message: the server's "error"
          ├── BadRequest            400  invalid body or parameter (message names the field)
          ├── Unauthorized          401  missing, malformed or unknown API key
          ├── Forbidden             403  the key's scope is too low
          ├── NotFound              404  the player has no score there
          ├── RequestTimeout        408  the body did not arrive in time
          ├── Conflict              409  the game's rules cannot change any more; a tournament's
          │                              entry rules refuse (not running, not joined, full, no attempts)
          ├── PayloadTooLarge       413  the body exceeds the endpoint's limit
          ├── RateLimited           429  too many requests; .retry_after seconds
          └── ServiceUnavailable    503  Kafka, Redis or Cassandra did not answer
     StreamOverflow                 a rank stream fell too far behind; the server closed it

``stream_player`` follows one player's rank (GET /stream/player, Server-Sent Events):

    async for change in client.stream_player("tetris", "ann"):
        print(change.rank, change.overtaken_by)

Other statuses (a 500, a proxy's 502) raise ``ApiError`` itself.

``decode_season_result`` reads the records of the ``season_results`` Kafka topic
(docs/season-results.md) into ``SeasonStanding`` and ``SeasonClosed``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from leaderboard_app.columns import SortColumn
from leaderboard_app.models import MAX_ABS_SCORE, GameRules, RankedPlayer, SubmissionFields
from leaderboard_app.tiers import Tier, parse_tiers

__all__ = [
    "ApiError",
    "BadRequest",
    "BanResult",
    "BatchResult",
    "Conflict",
    "DeleteResult",
    "Forbidden",
    "Game",
    "GameRules",
    "Health",
    "HistoryEntry",
    "LeaderboardClient",
    "LeaderboardClientError",
    "NextPlayer",
    "NotFound",
    "PayloadTooLarge",
    "RankChange",
    "RankedPlayer",
    "Ranking",
    "RateLimited",
    "Readiness",
    "RequestTimeout",
    "SeasonClosed",
    "SeasonStanding",
    "ServerSentEvents",
    "ServiceUnavailable",
    "SortColumn",
    "Standing",
    "StreamOverflow",
    "SubmissionFields",
    "SubmitResult",
    "SyncLeaderboardClient",
    "Tier",
    "TierGap",
    "TransportError",
    "Unauthorized",
    "UnexpectedResponse",
    "decode_season_result",
]

T = TypeVar("T")

#: Seconds to wait for an answer. The server may take LEADERBOARD_KAFKA_TIMEOUT (10 s by
#: default) for Kafka's acknowledgement and then 5 s more for ``wait=True``; beyond that a
#: worker that has not answered is in trouble.
DEFAULT_TIMEOUT = 30.0
#: Seconds a rank stream may stay silent before it counts as dead (the server sends a
#: comment every 15 s).
STREAM_READ_TIMEOUT = 60.0
SEASON_HEADER = "X-Leaderboard-Season"
LAG_HEADER = "X-Leaderboard-Lag"


# -- errors ----------------------------------------------------------------------


class LeaderboardClientError(Exception):
    """Base of everything this client raises."""


class TransportError(LeaderboardClientError):
    """The request got no answer (connection refused or reset, timeout, ...)."""


class UnexpectedResponse(LeaderboardClientError):
    """The server answered something the API does not describe."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class ApiError(LeaderboardClientError):
    """The server answered with an error status; ``message`` is its ``error`` text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class BadRequest(ApiError):
    """400: an invalid body or parameter; the message starts with the field at fault."""


class Unauthorized(ApiError):
    """401: the endpoint needs a key and none, a malformed one or an unknown one was sent."""


class Forbidden(ApiError):
    """403: the key's scope is too low for the endpoint."""


class NotFound(ApiError):
    """404: the player has no score there (or the path is unknown)."""


class RequestTimeout(ApiError):
    """408: the request body was not received in time."""


class Conflict(ApiError):
    """409: the game has had activity, so its rules cannot change."""


class PayloadTooLarge(ApiError):
    """413: the request body exceeds the endpoint's limit."""


class RateLimited(ApiError):
    """429: too many requests in one second; retry after ``retry_after`` seconds."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(status, message)
        self.retry_after = retry_after


class ServiceUnavailable(ApiError):
    """503: a backing service (Kafka, Redis, Cassandra) did not answer in time."""


class StreamOverflow(LeaderboardClientError):
    """The server closed a rank stream because its reader fell too far behind; open a new one."""


_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 408: RequestTimeout, 409: Conflict,
    413: PayloadTooLarge, 429: RateLimited, 503: ServiceUnavailable,
}


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    return response.text or response.reason_phrase


def error_for(response: httpx.Response) -> ApiError:
    """Return the error an error answer stands for."""
    kind = _ERRORS.get(response.status_code, ApiError)
    message = _error_message(response)
    if kind is RateLimited:
        retry_after = response.headers.get("Retry-After")
        return RateLimited(response.status_code, message,
                           float(retry_after) if retry_after and retry_after.isdigit() else None)
    return kind(response.status_code, message)


# -- results ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The answer to a submission: queued, or (``wait=True``) applied with the resulting rank and score."""

    status: str
    season: str | None = None
    rank: int | None = None
    score: int | None = None
    #: The player is banned from the game: the score is kept but not ranked (no rank).
    banned: bool = False

    @property
    def applied(self) -> bool:
        return self.status == "applied"


@dataclass(frozen=True, slots=True)
class BatchResult:
    """A batch queued all at once."""

    count: int


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """A player erased from ``games`` and ``tournaments`` (``done`` False: accepted, not finished within 5 s)."""

    user_id: str
    games: tuple[str, ...]
    done: bool
    tournaments: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BanResult:
    """A player banned (``banned`` True) or restored in a game (``done`` False: accepted, not applied within 5 s)."""

    game_id: str
    user_id: str
    banned: bool
    done: bool


@dataclass(frozen=True, slots=True)
class Game:
    """A game: its rules, and (unless its new rules are still ``pending``) its season and players."""

    game_id: str
    rules: GameRules
    season: str | None = None
    players: int | None = None
    #: True when PUT answered 202: the rules are accepted but not yet in effect.
    pending: bool = False


@dataclass(frozen=True, slots=True)
class TournamentInfo:
    """A tournament: its definition as the server echoes it (``definition``), the run on now
    (``run``: {runId, start, end}, or None) and the next run's bounds (None: no run left)."""

    tournament_id: str
    definition: dict[str, Any]
    running: bool
    run: dict[str, str] | None
    next_start: str | None
    next_end: str | None
    #: Players in the run on now (GET/PUT of one tournament only).
    players: int | None = None
    #: True when PUT answered 202: accepted, not yet in effect on that worker.
    pending: bool = False


@dataclass(frozen=True, slots=True)
class Ranking:
    """Players of one season, best first, and how far the index trailed (None: unknown)."""

    players: list[RankedPlayer]
    season: str
    lag: int | None

    @property
    def user_ids(self) -> list[str]:
        return [player.user_id for player in self.players]


@dataclass(frozen=True, slots=True)
class NextPlayer:
    """The last player listed with a better score, and the gap to them."""

    user_id: str
    score: int
    rank: int
    gap: int


@dataclass(frozen=True, slots=True)
class TierGap:
    """The tier above a player's, and the points they lack to enter it."""

    name: str
    gap: int


@dataclass(frozen=True, slots=True)
class Standing:
    """One player's rank with the figures around it (within ``slice`` when one was asked for)."""

    player: RankedPlayer
    season: str
    total: int
    percentile: float
    next: NextPlayer | None
    lag: int | None
    #: In games with tiers: the tier above the player's (None in the best tier).
    next_tier: TierGap | None = None
    #: With a slice: the slice ("country:FR"), and the player's rank and the players on the global board.
    slice: str | None = None
    global_rank: int | None = None
    global_total: int | None = None


@dataclass(frozen=True, slots=True)
class RankChange:
    """An event of a player's rank stream: their rank now (the first one: at connect) and what changed it.

    ``rank``/``score`` are None while the player has no score in the season;
    ``previous_rank`` is None in the first event. ``overtaken_by``/``passed`` name up to
    10 players; the counts say how many there were. ``entered``/``left``: "top10",
    "top100" or None.
    """

    game_id: str
    season: str
    user_id: str
    rank: int | None
    previous_rank: int | None
    score: int | None
    previous_score: int | None
    overtaken_by: tuple[str, ...]
    overtaken_by_count: int
    passed: tuple[str, ...]
    passed_count: int
    entered: str | None
    left: str | None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One submission as sent (``score`` and ``season``), or a ban or its lifting (``event`` "ban" or
    "restore", with the ban's ``reason``; ``achieved_at`` is then when it was accepted)."""

    score: int | None
    achieved_at: datetime
    season: str | None
    event: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Health:
    status: str


@dataclass(frozen=True, slots=True)
class Readiness:
    """What /ready reports; ``ready`` is False when it answered 503."""

    ready: bool
    kafka: str
    redis: str
    cassandra: str
    partitions: tuple[int, ...]
    pending_cassandra_writes: int
    restoring_tables: bool
    lag: int | None


# -- season_results records (Kafka, not HTTP) ---------------------------------------


@dataclass(frozen=True, slots=True)
class SeasonStanding:
    """A player's final place in a closed season (a ``standing`` record)."""

    game_id: str
    season: str
    player: RankedPlayer
    #: 0-based place in the final order (ties listed by who reached the score first).
    position: int
    total: int
    closed_at_us: int


@dataclass(frozen=True, slots=True)
class SeasonClosed:
    """The last record of a closed season: every standing of it came before this one."""

    game_id: str
    season: str
    total: int
    closed_at_us: int
    #: Up to the best 1,000 players, best first.
    top: list[RankedPlayer]


def decode_season_result(raw: bytes) -> SeasonStanding | SeasonClosed | None:
    """Decode a ``season_results`` record value; None for a record type this client does not know.

    Unknown types are not errors, so a consumer keeps working when a kind of record is added.
    """
    body = json.loads(raw)
    kind = body.get("type")
    if kind == "standing":
        return SeasonStanding(game_id=body["gameId"], season=body["season"], player=_ranked(body),
                              position=body["position"], total=body["total"], closed_at_us=body["closedAtUs"])
    if kind == "season_closed":
        return SeasonClosed(game_id=body["gameId"], season=body["season"], total=body["total"],
                            closed_at_us=body["closedAtUs"], top=[_ranked(entry) for entry in body["top"]])
    return None


# -- the mapping shared by both clients --------------------------------------------


@dataclass(frozen=True, slots=True)
class _Call(Generic[T]):
    """One request, and how to read its answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    #: Query parameters; a name may repeat (``userId`` of /ranks).
    params: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None
    #: Statuses answered with a result rather than an error.
    success: frozenset[int] = frozenset({200})

    def result(self, response: httpx.Response) -> T:
        """Return the result of ``response``, or raise the error it stands for."""
        if response.status_code not in self.success:
            raise error_for(response)
        try:
            return self.parse(response)
        except (KeyError, TypeError, ValueError) as exc:
            raise UnexpectedResponse(response.status_code, f"cannot read {self.method} {self.path} answer: "
                                                           f"{exc!r}: {response.text[:200]}") from None


def _segment(value: str) -> str:
    """An id as one path segment: every reserved character encoded (``a/b`` -> ``a%2Fb``)."""
    return quote(value, safe="")


def _params(**values: Any) -> list[tuple[str, str]]:
    """Query parameters, leaving out the ones not given (the server's defaults apply)."""
    return [(name, str(value)) for name, value in values.items() if value is not None]


def _lag(response: httpx.Response) -> int | None:
    value = response.headers.get(LAG_HEADER, "unknown")
    return int(value) if value.isdigit() else None


def _ranked(entry: Mapping[str, Any]) -> RankedPlayer:
    return RankedPlayer(user_id=entry["userId"], score=entry["score"], rank=entry["rank"],
                        display_name=entry.get("displayName"), metadata=entry.get("metadata"),
                        tier=entry.get("tier"), columns=entry.get("columns"))


def _ranking(response: httpx.Response) -> Ranking:
    return Ranking(players=[_ranked(entry) for entry in response.json()],
                   season=response.headers[SEASON_HEADER], lag=_lag(response))


def _game(body: Mapping[str, Any], pending: bool = False) -> Game:
    columns = tuple(SortColumn(column["name"], column["order"], column["operator"])
                    for column in body.get("columns", ()))
    rules = GameRules(order=body["order"], operator=body["operator"], reset=body["reset"],
                      tiers=parse_tiers(body.get("tiers", []), MAX_ABS_SCORE), tags=tuple(body.get("tags", ())),
                      columns=columns)
    return Game(game_id=body["gameId"], rules=rules, season=body.get("season"), players=body.get("players"),
                pending=pending)


def _timestamp(value: datetime | str) -> str:
    """RFC 3339 in UTC, as the API wants it; a naive datetime is refused rather than guessed."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("achieved_at must be a timezone-aware datetime")
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _submission(fields: SubmissionFields) -> dict[str, Any]:
    body: dict[str, Any] = {"gameId": fields.game_id, "userId": fields.user_id, "score": fields.score}
    optional = (("displayName", fields.display_name), ("metadata", fields.metadata),
                ("achievedAt", None if fields.achieved_at is None else _timestamp(fields.achieved_at)),
                ("eventId", fields.event_id), ("tags", fields.tags),
                ("columns", None if fields.columns is None else dict(fields.columns)))
    body.update((name, value) for name, value in optional if value is not None)
    return body


def _submit_score(fields: SubmissionFields, wait: bool) -> _Call[SubmitResult]:
    def parse(response: httpx.Response) -> SubmitResult:
        body = response.json()
        return SubmitResult(status=body["status"], season=body.get("season"), rank=body.get("rank"),
                            score=body.get("score"), banned=body.get("banned", False))

    return _Call("POST", "/score", parse, params=_params(wait="true" if wait else None), body=_submission(fields),
                 success=frozenset({200, 202}))


def _submit_scores(scores: Iterable[SubmissionFields]) -> _Call[BatchResult]:
    return _Call("POST", "/scores", lambda response: BatchResult(count=response.json()["count"]),
                 body={"scores": [_submission(fields) for fields in scores]}, success=frozenset({202}))


def _delete_user(user_id: str, game_id: str | None) -> _Call[DeleteResult]:
    def parse(response: httpx.Response) -> DeleteResult:
        body = response.json()
        return DeleteResult(user_id=body["userId"], games=tuple(body["games"]), done=body["status"] == "deleted",
                            tournaments=tuple(body.get("tournaments", ())))

    return _Call("DELETE", f"/users/{_segment(user_id)}", parse, params=_params(gameId=game_id),
                 success=frozenset({200, 202}))


def _moderate(game_id: str, user_id: str, banned: bool, reason: str | None) -> _Call[BanResult]:
    def parse(response: httpx.Response) -> BanResult:
        body = response.json()
        return BanResult(game_id=body["gameId"], user_id=body["userId"], banned=banned,
                         done=body["status"] == ("banned" if banned else "restored"))

    return _Call("POST" if banned else "DELETE", f"/games/{_segment(game_id)}/bans/{_segment(user_id)}", parse,
                 body=None if reason is None else {"reason": reason}, success=frozenset({200, 202}))


def _bans(game_id: str) -> _Call[list[str]]:
    return _Call("GET", f"/games/{_segment(game_id)}/bans", lambda response: list(response.json()["userIds"]))


def _set_rules(game_id: str, rules: GameRules) -> _Call[Game]:
    body = rules.as_json()
    if not rules.columns:
        # Left out, it takes its default (none): the body of a game without sort columns stays
        # what it was before columns existed, which servers that predate them also accept.
        del body["columns"]
    return _Call("PUT", f"/games/{_segment(game_id)}",
                 lambda response: _game(response.json(), pending=response.status_code == 202),
                 body=body, success=frozenset({200, 202}))


def _get_rules(game_id: str) -> _Call[Game]:
    return _Call("GET", f"/games/{_segment(game_id)}", lambda response: _game(response.json()))


def _games(limit: int | None, offset: int | None) -> _Call[list[Game]]:
    return _Call("GET", "/games", lambda response: [_game(body) for body in response.json()],
                 params=_params(limit=limit, offset=offset))


def _top(game_id: str, k: int | None, offset: int | None, season: str | None, slice: str | None,
         tier: str | None) -> _Call[Ranking]:
    return _Call("GET", "/topk", _ranking, params=_params(gameId=game_id, k=k, offset=offset, season=season,
                                                          slice=slice, tier=tier))


def _around(game_id: str, user_id: str, n: int | None, season: str | None, slice: str | None) -> _Call[Ranking]:
    return _Call("GET", f"/around/{_segment(user_id)}", _ranking,
                 params=_params(gameId=game_id, n=n, season=season, slice=slice))


def _ranks(game_id: str, user_ids: Iterable[str], season: str | None, slice: str | None) -> _Call[Ranking]:
    # One userId parameter per player: ids may hold the commas a userIds list would split them at.
    params = _params(gameId=game_id, season=season, slice=slice) + [("userId", user_id) for user_id in user_ids]
    return _Call("GET", "/ranks", _ranking, params=params)


def _standing(response: httpx.Response) -> Standing:
    body = response.json()
    above, next_tier = body["next"], body.get("nextTier")
    return Standing(
        player=_ranked(body), season=body["season"], total=body["total"], percentile=body["percentile"],
        next=None if above is None else NextPlayer(user_id=above["userId"], score=above["score"],
                                                   rank=above["rank"], gap=above["gap"]),
        lag=_lag(response),
        next_tier=None if next_tier is None else TierGap(name=next_tier["name"], gap=next_tier["gap"]),
        slice=body.get("slice"), global_rank=body.get("globalRank"), global_total=body.get("globalTotal"),
    )


def _rank(game_id: str, user_id: str, season: str | None, slice: str | None) -> _Call[Standing]:
    return _Call("GET", f"/rank/{_segment(user_id)}", _standing,
                 params=_params(gameId=game_id, season=season, slice=slice))


def _history(game_id: str, user_id: str, limit: int | None) -> _Call[list[HistoryEntry]]:
    def parse(response: httpx.Response) -> list[HistoryEntry]:
        return [HistoryEntry(score=entry.get("score"), achieved_at=datetime.fromisoformat(entry["achievedAt"]),
                             season=entry.get("season"), event=entry.get("event"), reason=entry.get("reason"))
                for entry in response.json()]

    return _Call("GET", f"/history/{_segment(user_id)}", parse, params=_params(gameId=game_id, limit=limit))


_TOURNAMENT_FIELDS = ("title", "order", "operator", "start", "end", "schedule", "duration", "joinRequired",
                      "maxSize", "maxAttempts")


def _tournament(body: Mapping[str, Any], pending: bool = False) -> TournamentInfo:
    return TournamentInfo(
        tournament_id=body["tournamentId"],
        definition={name: body[name] for name in _TOURNAMENT_FIELDS if name in body},
        running=body.get("running", False), run=body.get("run"), next_start=body.get("nextStart"),
        next_end=body.get("nextEnd"), players=body.get("players"), pending=pending)


def _tournament_path(tournament_id: str, *rest: str) -> str:
    return "/".join(("/tournaments", _segment(tournament_id), *rest))


def _set_tournament(tournament_id: str, definition: Mapping[str, Any]) -> _Call[TournamentInfo]:
    return _Call("PUT", _tournament_path(tournament_id),
                 lambda response: _tournament(response.json(), pending=response.status_code == 202),
                 body=dict(definition), success=frozenset({200, 202}))


def _get_tournament(tournament_id: str) -> _Call[TournamentInfo]:
    return _Call("GET", _tournament_path(tournament_id), lambda response: _tournament(response.json()))


def _tournaments(limit: int | None, offset: int | None) -> _Call[list[TournamentInfo]]:
    return _Call("GET", "/tournaments", lambda response: [_tournament(body) for body in response.json()],
                 params=_params(limit=limit, offset=offset))


def _join_tournament(tournament_id: str, user_id: str) -> _Call[str]:
    return _Call("POST", _tournament_path(tournament_id, "join"), lambda response: response.json()["run"]["runId"],
                 body={"userId": user_id})


def _submit_tournament_score(tournament_id: str, fields: SubmissionFields, wait: bool) -> _Call[SubmitResult]:
    def parse(response: httpx.Response) -> SubmitResult:
        body = response.json()
        return SubmitResult(status=body["status"], season=body.get("season", body.get("run")),
                            rank=body.get("rank"), score=body.get("score"))

    body = _submission(fields)
    del body["gameId"]
    return _Call("POST", _tournament_path(tournament_id, "scores"), parse,
                 params=_params(wait="true" if wait else None), body=body, success=frozenset({200, 202}))


def _tournament_top(tournament_id: str, k: int | None, offset: int | None, run: str | None) -> _Call[Ranking]:
    return _Call("GET", _tournament_path(tournament_id, "topk"), _ranking,
                 params=_params(k=k, offset=offset, run=run))


def _tournament_rank(tournament_id: str, user_id: str, run: str | None) -> _Call[Standing]:
    return _Call("GET", _tournament_path(tournament_id, "rank", _segment(user_id)), _standing,
                 params=_params(run=run))


def _health() -> _Call[Health]:
    return _Call("GET", "/health", lambda response: Health(status=response.json()["status"]))


def _ready() -> _Call[Readiness]:
    def parse(response: httpx.Response) -> Readiness:
        body = response.json()
        return Readiness(ready=response.status_code == 200, kafka=body["kafka"], redis=body["redis"],
                         cassandra=body["cassandra"], partitions=tuple(body["partitions"]),
                         pending_cassandra_writes=body["pendingCassandraWrites"],
                         restoring_tables=body["restoringTables"], lag=body["lag"])

    # 503 is an answer here, not an error: it says what is not ready.
    return _Call("GET", "/ready", parse, success=frozenset({200, 503}))


def _rank_change(data: Mapping[str, Any]) -> RankChange:
    return RankChange(
        game_id=data["gameId"], season=data["season"], user_id=data["userId"], rank=data["rank"],
        previous_rank=data["previousRank"], score=data["score"], previous_score=data.get("previousScore"),
        overtaken_by=tuple(data["overtakenBy"]), overtaken_by_count=data["overtakenByCount"],
        passed=tuple(data["passed"]), passed_count=data["passedCount"], entered=data["entered"], left=data["left"],
    )


class ServerSentEvents:
    """Reads Server-Sent Events a line at a time (the lines without their ends), as the HTML
    standard's parser does for the fields used here: ``event`` and ``data`` (several data
    lines join with a newline); comments, ``id`` and ``retry`` are ignored."""

    def __init__(self) -> None:
        self._name = "message"
        self._data: list[str] = []

    def feed(self, line: str) -> tuple[str, str] | None:
        """Take one line; return the (event name, data) it completes, if any."""
        if line == "":
            event = (self._name, "\n".join(self._data)) if self._data else None
            self._name, self._data = "message", []
            return event
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            self._name = value
        elif field == "data":
            self._data.append(value)
        return None


def _rank_stream_event(name: str, data: str, status: int) -> RankChange | None:
    """The change an event of a rank stream holds; None for events of other kinds."""
    try:
        if name == "rank":
            return _rank_change(json.loads(data))
        if name == "overflow":
            raise StreamOverflow(json.loads(data).get("error", "the stream fell behind"))
    except (KeyError, TypeError, ValueError) as exc:
        raise UnexpectedResponse(status, f"cannot read a rank event: {exc!r}: {data[:200]}") from None
    return None


def _rank_changes(status: int) -> Callable[[str], RankChange | None]:
    """What reads a rank stream's lines: each line in, the change it completes (or None) out."""
    events = ServerSentEvents()

    def feed(line: str) -> RankChange | None:
        event = events.feed(line)
        return _rank_stream_event(*event, status) if event else None

    return feed


def _stream_player(game_id: str, user_id: str, season: str | None, timeout: float) -> dict[str, Any]:
    return {"method": "GET", "url": f"/stream/player/{_segment(user_id)}",
            "params": _params(gameId=game_id, season=season),
            "timeout": httpx.Timeout(timeout, read=STREAM_READ_TIMEOUT)}


def _fields(game_id: str, user_id: str, score: int, display_name: str | None, metadata: dict[str, Any] | None,
            achieved_at: datetime | str | None, event_id: str | None,
            tags: dict[str, str] | None, columns: Mapping[str, int] | None = None) -> SubmissionFields:
    return SubmissionFields(game_id=game_id, user_id=user_id, score=score, achieved_at=achieved_at,
                            display_name=display_name, metadata=metadata, event_id=event_id, tags=tags,
                            columns=columns)


def _http_options(base_url: str, api_key: str | None, timeout: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return {"base_url": base_url, "headers": headers, "timeout": timeout}


# -- the two clients ---------------------------------------------------------------


class SyncLeaderboardClient:
    """A blocking client of one worker (or a load balancer in front of several).

    ``api_key`` is sent as ``Authorization: Bearer <key>``; ``transport`` replaces
    httpx's network transport (tests pass an ``httpx.MockTransport``).
    """

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(transport=transport, **_http_options(base_url, api_key, timeout))
        self._timeout = timeout

    def _send(self, call: _Call[T]) -> T:
        try:
            response = self._http.request(call.method, call.path, params=call.params, json=call.body)
        except httpx.TransportError as exc:
            raise TransportError(f"{call.method} {call.path}: {exc!r}") from exc
        return call.result(response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SyncLeaderboardClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def submit_score(self, game_id: str, user_id: str, score: int, *, display_name: str | None = None,
                     metadata: dict[str, Any] | None = None, achieved_at: datetime | str | None = None,
                     event_id: str | None = None, tags: dict[str, str] | None = None,
                     columns: Mapping[str, int] | None = None, wait: bool = False) -> SubmitResult:
        """Submit one score (``tags``: its slices, of the keys the game declares; ``columns``: a value
        for each of its sort columns); with ``wait``, return once it is applied (or queued after 5 s)."""
        fields = _fields(game_id, user_id, score, display_name, metadata, achieved_at, event_id, tags, columns)
        return self._send(_submit_score(fields, wait))

    def submit_scores(self, scores: Iterable[SubmissionFields]) -> BatchResult:
        """Submit 1 to 1000 scores, queued all or none."""
        return self._send(_submit_scores(scores))

    def delete_user(self, user_id: str, game_id: str | None = None) -> DeleteResult:
        """Erase a player from one game, or (``game_id`` None) from every game."""
        return self._send(_delete_user(user_id, game_id))

    def ban(self, game_id: str, user_id: str, reason: str | None = None) -> BanResult:
        """Ban a player from every board of a game (their scores are kept, not ranked)."""
        return self._send(_moderate(game_id, user_id, True, reason))

    def unban(self, game_id: str, user_id: str) -> BanResult:
        """Lift a player's ban: they are ranked again, with what they submitted meanwhile."""
        return self._send(_moderate(game_id, user_id, False, None))

    def bans(self, game_id: str) -> list[str]:
        """The players banned from a game, sorted."""
        return self._send(_bans(game_id))

    def set_rules(self, game_id: str, rules: GameRules) -> Game:
        """Set a game's rules, tiers, tag keys and sort columns (``GameRules()`` holds the defaults: none of
        the last three)."""
        return self._send(_set_rules(game_id, rules))

    def get_rules(self, game_id: str) -> Game:
        """Describe a game: its rules, current season and players."""
        return self._send(_get_rules(game_id))

    def games(self, limit: int | None = None, offset: int | None = None) -> list[Game]:
        """List games, most recently active first."""
        return self._send(_games(limit, offset))

    def top(self, game_id: str, k: int | None = None, offset: int | None = None,
            season: str | None = None, slice: str | None = None, tier: str | None = None) -> Ranking:
        """Return ``k`` players from ``offset``, best first (of one ``slice``, "country:FR", or one ``tier``)."""
        return self._send(_top(game_id, k, offset, season, slice, tier))

    def around(self, game_id: str, user_id: str, n: int | None = None, season: str | None = None,
               slice: str | None = None) -> Ranking:
        """Return the player with ``n`` players above and below (in one ``slice``, "country:FR")."""
        return self._send(_around(game_id, user_id, n, season, slice))

    def ranks(self, game_id: str, user_ids: Iterable[str], season: str | None = None,
              slice: str | None = None) -> Ranking:
        """Return the listed players that have a score (in one ``slice``, "country:FR"), best first."""
        return self._send(_ranks(game_id, user_ids, season, slice))

    def rank(self, game_id: str, user_id: str, season: str | None = None, slice: str | None = None) -> Standing:
        """Return one player's standing (within one ``slice``, "country:FR", with the global rank)."""
        return self._send(_rank(game_id, user_id, season, slice))

    def history(self, game_id: str, user_id: str, limit: int | None = None) -> list[HistoryEntry]:
        """Return the player's submissions, newest first."""
        return self._send(_history(game_id, user_id, limit))

    def set_tournament(self, tournament_id: str, definition: Mapping[str, Any]) -> TournamentInfo:
        """Define a tournament (the PUT /tournaments body: start and end, or schedule and duration, ...)."""
        return self._send(_set_tournament(tournament_id, definition))

    def get_tournament(self, tournament_id: str) -> TournamentInfo:
        """Describe a tournament: definition, run on now and its players, next run."""
        return self._send(_get_tournament(tournament_id))

    def tournaments(self, limit: int | None = None, offset: int | None = None) -> list[TournamentInfo]:
        """List the running and upcoming tournaments, running first."""
        return self._send(_tournaments(limit, offset))

    def join_tournament(self, tournament_id: str, user_id: str) -> str:
        """Join the run on now; return its run id (Conflict when full or not running)."""
        return self._send(_join_tournament(tournament_id, user_id))

    def submit_tournament_score(self, tournament_id: str, user_id: str, score: int, *,
                                display_name: str | None = None, metadata: dict[str, Any] | None = None,
                                achieved_at: datetime | str | None = None, event_id: str | None = None,
                                wait: bool = False) -> SubmitResult:
        """Submit a score to the run on now (``season`` of the result: the run id); Conflict names the
        entry rule that refuses it."""
        fields = _fields(tournament_id, user_id, score, display_name, metadata, achieved_at, event_id, None)
        return self._send(_submit_tournament_score(tournament_id, fields, wait))

    def tournament_top(self, tournament_id: str, k: int | None = None, offset: int | None = None,
                       run: str | None = None) -> Ranking:
        """A run's leaderboard (default: the run on now, else the last)."""
        return self._send(_tournament_top(tournament_id, k, offset, run))

    def tournament_rank(self, tournament_id: str, user_id: str, run: str | None = None) -> Standing:
        """A player's standing in a run."""
        return self._send(_tournament_rank(tournament_id, user_id, run))

    def health(self) -> Health:
        return self._send(_health())

    def stream_player(self, game_id: str, user_id: str, season: str | None = None) -> Iterator[RankChange]:
        """Follow the player's rank: their standing at connect, then every change (until closed)."""
        try:
            with self._http.stream(**_stream_player(game_id, user_id, season, self._timeout)) as response:
                if response.status_code != 200:
                    response.read()
                    raise error_for(response)
                changes = _rank_changes(response.status_code)
                for line in response.iter_lines():
                    if change := changes(line):
                        yield change
        except httpx.TransportError as exc:
            raise TransportError(f"GET /stream/player: {exc!r}") from exc

    def ready(self) -> Readiness:
        return self._send(_ready())


class LeaderboardClient:
    """The async twin of :class:`SyncLeaderboardClient`: the same methods, awaited."""

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(transport=transport, **_http_options(base_url, api_key, timeout))
        self._timeout = timeout

    async def _send(self, call: _Call[T]) -> T:
        try:
            response = await self._http.request(call.method, call.path, params=call.params, json=call.body)
        except httpx.TransportError as exc:
            raise TransportError(f"{call.method} {call.path}: {exc!r}") from exc
        return call.result(response)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> LeaderboardClient:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.aclose()

    async def submit_score(self, game_id: str, user_id: str, score: int, *, display_name: str | None = None,
                           metadata: dict[str, Any] | None = None, achieved_at: datetime | str | None = None,
                           event_id: str | None = None, tags: dict[str, str] | None = None,
                           columns: Mapping[str, int] | None = None, wait: bool = False) -> SubmitResult:
        """Submit one score (``tags``: its slices, of the keys the game declares; ``columns``: a value
        for each of its sort columns); with ``wait``, return once it is applied (or queued after 5 s)."""
        fields = _fields(game_id, user_id, score, display_name, metadata, achieved_at, event_id, tags, columns)
        return await self._send(_submit_score(fields, wait))

    async def submit_scores(self, scores: Iterable[SubmissionFields]) -> BatchResult:
        """Submit 1 to 1000 scores, queued all or none."""
        return await self._send(_submit_scores(scores))

    async def delete_user(self, user_id: str, game_id: str | None = None) -> DeleteResult:
        """Erase a player from one game, or (``game_id`` None) from every game."""
        return await self._send(_delete_user(user_id, game_id))

    async def ban(self, game_id: str, user_id: str, reason: str | None = None) -> BanResult:
        """Ban a player from every board of a game (their scores are kept, not ranked)."""
        return await self._send(_moderate(game_id, user_id, True, reason))

    async def unban(self, game_id: str, user_id: str) -> BanResult:
        """Lift a player's ban: they are ranked again, with what they submitted meanwhile."""
        return await self._send(_moderate(game_id, user_id, False, None))

    async def bans(self, game_id: str) -> list[str]:
        """The players banned from a game, sorted."""
        return await self._send(_bans(game_id))

    async def set_rules(self, game_id: str, rules: GameRules) -> Game:
        """Set a game's rules, tiers, tag keys and sort columns (``GameRules()`` holds the defaults: none of
        the last three)."""
        return await self._send(_set_rules(game_id, rules))

    async def get_rules(self, game_id: str) -> Game:
        """Describe a game: its rules, current season and players."""
        return await self._send(_get_rules(game_id))

    async def games(self, limit: int | None = None, offset: int | None = None) -> list[Game]:
        """List games, most recently active first."""
        return await self._send(_games(limit, offset))

    async def top(self, game_id: str, k: int | None = None, offset: int | None = None,
                  season: str | None = None, slice: str | None = None, tier: str | None = None) -> Ranking:
        """Return ``k`` players from ``offset``, best first (of one ``slice``, "country:FR", or one ``tier``)."""
        return await self._send(_top(game_id, k, offset, season, slice, tier))

    async def around(self, game_id: str, user_id: str, n: int | None = None, season: str | None = None,
                     slice: str | None = None) -> Ranking:
        """Return the player with ``n`` players above and below (in one ``slice``, "country:FR")."""
        return await self._send(_around(game_id, user_id, n, season, slice))

    async def ranks(self, game_id: str, user_ids: Iterable[str], season: str | None = None,
                    slice: str | None = None) -> Ranking:
        """Return the listed players that have a score (in one ``slice``, "country:FR"), best first."""
        return await self._send(_ranks(game_id, user_ids, season, slice))

    async def rank(self, game_id: str, user_id: str, season: str | None = None,
                   slice: str | None = None) -> Standing:
        """Return one player's standing (within one ``slice``, "country:FR", with the global rank)."""
        return await self._send(_rank(game_id, user_id, season, slice))

    async def history(self, game_id: str, user_id: str, limit: int | None = None) -> list[HistoryEntry]:
        """Return the player's submissions, newest first."""
        return await self._send(_history(game_id, user_id, limit))

    async def set_tournament(self, tournament_id: str, definition: Mapping[str, Any]) -> TournamentInfo:
        """Define a tournament (the PUT /tournaments body: start and end, or schedule and duration, ...)."""
        return await self._send(_set_tournament(tournament_id, definition))

    async def get_tournament(self, tournament_id: str) -> TournamentInfo:
        """Describe a tournament: definition, run on now and its players, next run."""
        return await self._send(_get_tournament(tournament_id))

    async def tournaments(self, limit: int | None = None, offset: int | None = None) -> list[TournamentInfo]:
        """List the running and upcoming tournaments, running first."""
        return await self._send(_tournaments(limit, offset))

    async def join_tournament(self, tournament_id: str, user_id: str) -> str:
        """Join the run on now; return its run id (Conflict when full or not running)."""
        return await self._send(_join_tournament(tournament_id, user_id))

    async def submit_tournament_score(self, tournament_id: str, user_id: str, score: int, *,
                                display_name: str | None = None, metadata: dict[str, Any] | None = None,
                                achieved_at: datetime | str | None = None, event_id: str | None = None,
                                wait: bool = False) -> SubmitResult:
        """Submit a score to the run on now (``season`` of the result: the run id); Conflict names the
        entry rule that refuses it."""
        fields = _fields(tournament_id, user_id, score, display_name, metadata, achieved_at, event_id, None)
        return await self._send(_submit_tournament_score(tournament_id, fields, wait))

    async def tournament_top(self, tournament_id: str, k: int | None = None, offset: int | None = None,
                       run: str | None = None) -> Ranking:
        """A run's leaderboard (default: the run on now, else the last)."""
        return await self._send(_tournament_top(tournament_id, k, offset, run))

    async def tournament_rank(self, tournament_id: str, user_id: str, run: str | None = None) -> Standing:
        """A player's standing in a run."""
        return await self._send(_tournament_rank(tournament_id, user_id, run))

    async def health(self) -> Health:
        return await self._send(_health())

    async def stream_player(self, game_id: str, user_id: str, season: str | None = None) -> AsyncIterator[RankChange]:
        """Follow the player's rank: their standing at connect, then every change (until closed)."""
        try:
            async with self._http.stream(**_stream_player(game_id, user_id, season, self._timeout)) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise error_for(response)
                changes = _rank_changes(response.status_code)
                async for line in response.aiter_lines():
                    if change := changes(line):
                        yield change
        except httpx.TransportError as exc:
            raise TransportError(f"GET /stream/player: {exc!r}") from exc

    async def ready(self) -> Readiness:
        return await self._send(_ready())
