"""The client's mapping of calls to requests and of answers to results and errors.

A ``httpx.MockTransport`` stands in for the worker; every test runs against both
clients (sync and async), which share that mapping.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from leaderboard_app.archiver import FinalStandings
from leaderboard_app.client import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    GameRules,
    LeaderboardClient,
    LeaderboardClientError,
    NotFound,
    PayloadTooLarge,
    RankedPlayer,
    RateLimited,
    RequestTimeout,
    SeasonClosed,
    SeasonStanding,
    ServerSentEvents,
    ServiceUnavailable,
    SortColumn,
    StreamOverflow,
    SubmissionFields,
    SyncLeaderboardClient,
    TransportError,
    Unauthorized,
    UnexpectedResponse,
    decode_season_result,
)
from leaderboard_app.season_results import season_result_values

Handler = Callable[[httpx.Request], httpx.Response]


class Server:
    """Records requests and answers each with a canned response."""

    def __init__(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None,
                 content: bytes | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.status, self.body, self.headers, self.content = status, body, headers or {}, content

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.content is not None:
            return httpx.Response(self.status, content=self.content, headers=self.headers)
        return httpx.Response(self.status, json=self.body, headers=self.headers)

    @property
    def request(self) -> httpx.Request:
        assert len(self.requests) == 1, self.requests
        return self.requests[0]

    @property
    def sent_json(self) -> Any:
        return json.loads(self.request.content)


@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``call(server, "top", *args)``: run one client method against ``server`` and return its result."""

    async def run(server: Server, method: str, *args: Any, api_key: str | None = "k3y", **kwargs: Any) -> Any:
        transport = httpx.MockTransport(server)
        if request.param == "sync":
            with SyncLeaderboardClient("http://lb.test", api_key, transport=transport) as client:
                return getattr(client, method)(*args, **kwargs)
        async with LeaderboardClient("http://lb.test", api_key, transport=transport) as client:
            result = getattr(client, method)(*args, **kwargs)
            assert inspect.isawaitable(result)
            return await result

    return run


async def test_submit_score_posts_the_submission_with_the_key(call: Any) -> None:
    server = Server(202, {"status": "queued"})
    result = await call(server, "submit_score", "tetris", "ann", 2500, display_name="Ann",
                        metadata={"level": 7}, event_id="run-1")
    assert (result.status, result.applied) == ("queued", False)
    request = server.request
    assert (request.method, request.url.path, request.url.query) == ("POST", "/score", b"")
    assert request.headers["Authorization"] == "Bearer k3y"
    assert server.sent_json == {"gameId": "tetris", "userId": "ann", "score": 2500, "displayName": "Ann",
                                "metadata": {"level": 7}, "eventId": "run-1"}


async def test_submit_score_with_wait_reads_the_applied_answer(call: Any) -> None:
    server = Server(200, {"status": "applied", "season": "2026-W48", "rank": 1, "score": 2700})
    result = await call(server, "submit_score", "tetris", "ann", 2700, wait=True)
    assert server.request.url.params["wait"] == "true"
    assert (result.applied, result.season, result.rank, result.score) == (True, "2026-W48", 1, 2700)


async def test_achieved_at_is_sent_in_utc_and_a_naive_time_is_refused(call: Any) -> None:
    server = Server(202, {"status": "queued"})
    moment = datetime(2026, 11, 26, 19, 12, 26, 500000, tzinfo=timezone(timedelta(hours=1)))
    await call(server, "submit_score", "g", "u", 1, achieved_at=moment)
    assert server.sent_json["achievedAt"] == "2026-11-26T18:12:26.500000Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        await call(Server(), "submit_score", "g", "u", 1, achieved_at=datetime(2026, 1, 1))


async def test_no_key_sends_no_authorization_header(call: Any) -> None:
    server = Server(200, {"status": "ok"})
    await call(server, "health", api_key=None)
    assert "Authorization" not in server.request.headers


async def test_submit_scores_sends_the_batch(call: Any) -> None:
    server = Server(202, {"status": "queued", "count": 2})
    result = await call(server, "submit_scores", [SubmissionFields("g", "a", 1),
                                                   SubmissionFields("g", "b", -2, event_id="e")])
    assert result.count == 2
    assert server.sent_json == {"scores": [{"gameId": "g", "userId": "a", "score": 1},
                                           {"gameId": "g", "userId": "b", "score": -2, "eventId": "e"}]}


async def test_submissions_carry_their_sort_columns_exactly(call: Any) -> None:
    server = Server(202, {"status": "queued"})
    await call(server, "submit_score", "race", "ann", 3, columns={"time": 2**63 - 1, "laps": -(2**63)})
    assert server.sent_json == {"gameId": "race", "userId": "ann", "score": 3,
                                "columns": {"time": 9223372036854775807, "laps": -9223372036854775808}}
    server = Server(202, {"status": "queued", "count": 2})
    await call(server, "submit_scores", [SubmissionFields("race", "a", 1, columns={"time": 5234}),
                                         SubmissionFields("race", "b", 2)])
    assert server.sent_json == {"scores": [{"gameId": "race", "userId": "a", "score": 1, "columns": {"time": 5234}},
                                           {"gameId": "race", "userId": "b", "score": 2}]}


async def test_ranked_players_read_their_sort_columns(call: Any) -> None:
    server = Server(200, [{"userId": "a", "score": 3, "rank": 1, "columns": {"time": 5234}},
                          {"userId": "b", "score": 3, "rank": 2, "columns": {"time": 2**63 - 1}}],
                    {"X-Leaderboard-Season": "all", "X-Leaderboard-Lag": "0"})
    ranking = await call(server, "top", "race")
    assert [player.columns for player in ranking.players] == [{"time": 5234}, {"time": 2**63 - 1}]
    body = {"userId": "b", "score": 3, "rank": 2, "columns": {"time": 6000}, "season": "all", "total": 2,
            "percentile": 0.0, "next": {"userId": "a", "score": 3, "rank": 1, "gap": 0}}
    standing = await call(Server(200, body), "rank", "race", "b")
    assert standing.player == RankedPlayer("b", 3, 2, columns={"time": 6000})
    assert standing.next.gap == 0
    plain = await call(Server(200, [{"userId": "a", "score": 3, "rank": 1}], {"X-Leaderboard-Season": "all"}),
                       "top", "g")
    assert plain.players[0].columns is None


async def test_ids_are_one_encoded_path_segment(call: Any) -> None:
    server = Server(200, {"status": "deleted", "userId": "a/b?c", "games": ["g"]})
    result = await call(server, "delete_user", "a/b?c", game_id="g")
    assert server.request.url.raw_path == b"/users/a%2Fb%3Fc?gameId=g"
    assert (result.user_id, result.games, result.done) == ("a/b?c", ("g",), True)


async def test_a_slow_deletion_is_reported_as_not_done(call: Any) -> None:
    server = Server(202, {"status": "queued", "userId": "u", "games": ["g1", "g2"]})
    result = await call(server, "delete_user", "u")
    assert "gameId" not in server.request.url.params
    assert (result.games, result.done) == (("g1", "g2"), False)


async def test_set_rules_sends_all_three_rules_and_reads_the_game(call: Any) -> None:
    server = Server(200, {"gameId": "g", "order": "asc", "operator": "best", "reset": "weekly",
                          "season": "2026-W48", "players": 0})
    game = await call(server, "set_rules", "g", GameRules(order="asc", reset="weekly"))
    assert (server.request.method, server.request.url.path) == ("PUT", "/games/g")
    assert server.sent_json == {"order": "asc", "operator": "best", "reset": "weekly", "tiers": [], "tags": []}
    assert (game.rules, game.season, game.players, game.pending) == (
        GameRules("asc", "best", "weekly"), "2026-W48", 0, False)


async def test_set_rules_sends_declared_sort_columns_and_reads_them_back(call: Any) -> None:
    columns = [{"name": "time", "order": "asc", "operator": "set"}, {"name": "kills", "order": "desc",
                                                                      "operator": "incr"}]
    server = Server(200, {"gameId": "g", "order": "desc", "operator": "incr", "reset": "never", "tiers": [],
                          "tags": [], "columns": columns, "season": "all", "players": 0})
    rules = GameRules(operator="incr", columns=(SortColumn("time", "asc", "set"), SortColumn("kills", "desc", "incr")))
    game = await call(server, "set_rules", "g", rules)
    assert server.sent_json == {"order": "desc", "operator": "incr", "reset": "never", "tiers": [], "tags": [],
                                "columns": columns}
    assert game.rules == rules


async def test_a_column_without_an_operator_is_sent_without_one_so_the_game_s_applies(call: Any) -> None:
    answered = [{"name": "kills", "order": "desc", "operator": "incr"}]
    server = Server(200, {"gameId": "g", "order": "desc", "operator": "incr", "reset": "never", "tiers": [],
                          "tags": [], "columns": answered, "season": "all", "players": 0})
    game = await call(server, "set_rules", "g", GameRules(operator="incr", columns=(SortColumn("kills"),)))
    assert server.sent_json["columns"] == [{"name": "kills", "order": "desc"}]
    assert game.rules.columns == (SortColumn("kills", "desc", "incr"),)


async def test_a_game_without_sort_columns_reads_as_none(call: Any) -> None:
    body = {"gameId": "g", "order": "desc", "operator": "best", "reset": "never", "tiers": [], "tags": [],
            "season": "all", "players": 0}
    for answer in ({**body, "columns": []}, body):  # a server that predates columns leaves the key out
        game = await call(Server(200, answer, {"X-Leaderboard-Lag": "0"}), "get_rules", "g")
        assert game.rules.columns == () and game.rules == GameRules()


async def test_rules_not_yet_in_effect_are_pending(call: Any) -> None:
    server = Server(202, {"status": "queued", "gameId": "g", "order": "desc", "operator": "incr", "reset": "never"})
    game = await call(server, "set_rules", "g", GameRules(operator="incr"))
    assert (game.pending, game.rules.operator, game.season, game.players) == (True, "incr", None, None)


async def test_top_reads_players_season_and_lag(call: Any) -> None:
    server = Server(200, [{"userId": "a", "score": 9, "rank": 1, "displayName": "A", "metadata": {"x": 1}},
                          {"userId": "b", "score": 9, "rank": 1}],
                    {"X-Leaderboard-Season": "2026-11", "X-Leaderboard-Lag": "3"})
    ranking = await call(server, "top", "g", k=2, offset=0)
    assert server.request.url.params == httpx.QueryParams({"gameId": "g", "k": "2", "offset": "0"})
    assert ranking.players == [RankedPlayer("a", 9, 1, "A", {"x": 1}), RankedPlayer("b", 9, 1)]
    assert (ranking.season, ranking.lag, ranking.user_ids) == ("2026-11", 3, ["a", "b"])


async def test_an_unknown_lag_is_none_and_defaults_are_left_to_the_server(call: Any) -> None:
    server = Server(200, [], {"X-Leaderboard-Season": "all", "X-Leaderboard-Lag": "unknown"})
    ranking = await call(server, "around", "g", "u")
    assert server.request.url.params == httpx.QueryParams({"gameId": "g"})
    assert (ranking.players, ranking.lag) == ([], None)


async def test_ranks_names_each_user_in_a_parameter_of_its_own(call: Any) -> None:
    server = Server(200, [], {"X-Leaderboard-Season": "all", "X-Leaderboard-Lag": "0"})
    await call(server, "ranks", "g", ["a", "b,c"], season="all")
    assert server.request.url.params == httpx.QueryParams(
        [("gameId", "g"), ("season", "all"), ("userId", "a"), ("userId", "b,c")])


async def test_rank_reads_the_standing_and_the_next_player(call: Any) -> None:
    body = {"userId": "p4", "score": 1900, "rank": 4, "season": "2026-W48", "total": 5, "percentile": 20.0,
            "next": {"userId": "p2", "score": 2500, "rank": 3, "gap": 600}}
    standing = await call(Server(200, body, {"X-Leaderboard-Lag": "0"}), "rank", "g", "p4")
    assert (standing.player, standing.total, standing.percentile, standing.lag) == (
        RankedPlayer("p4", 1900, 4), 5, 20.0, 0)
    assert (standing.next.user_id, standing.next.gap) == ("p2", 600)
    leader = await call(Server(200, {**body, "rank": 1, "next": None}), "rank", "g", "p4")
    assert leader.next is None and leader.lag is None


async def test_history_entries_carry_datetimes(call: Any) -> None:
    server = Server(200, [{"score": 2700, "achievedAt": "2026-11-26T20:39:33.953Z", "season": "all"}],
                    {"X-Leaderboard-Season": "all", "X-Leaderboard-Lag": "0"})
    (entry,) = await call(server, "history", "g", "p", limit=5)
    assert entry.achieved_at == datetime(2026, 11, 26, 20, 39, 33, 953000, tzinfo=timezone.utc)
    assert server.request.url.params["limit"] == "5"


async def test_games_lists_descriptions(call: Any) -> None:
    server = Server(200, [{"gameId": "s", "order": "desc", "operator": "best", "reset": "never", "season": "all",
                           "players": 1}], {"X-Leaderboard-Lag": "0"})
    (game,) = await call(server, "games", limit=2)
    assert (game.game_id, game.players) == ("s", 1)


async def test_not_ready_is_an_answer_not_an_error(call: Any) -> None:
    body = {"status": "unavailable", "kafka": "ok", "redis": "connection refused", "cassandra": "ok",
            "partitions": [0, 1], "pendingCassandraWrites": 3, "restoringTables": False,
            "lag": None}
    readiness = await call(Server(503, body), "ready")
    assert (readiness.ready, readiness.redis, readiness.partitions, readiness.pending_cassandra_writes) == (
        False, "connection refused", (0, 1), 3)


@pytest.mark.parametrize(("status", "kind"), [
    (400, BadRequest), (401, Unauthorized), (403, Forbidden), (404, NotFound), (408, RequestTimeout),
    (409, Conflict), (413, PayloadTooLarge), (429, RateLimited), (503, ServiceUnavailable), (500, ApiError),
])
async def test_error_answers_raise_their_class_with_status_and_message(call: Any, status: int,
                                                                       kind: type[ApiError]) -> None:
    with pytest.raises(kind) as caught:
        await call(Server(status, {"error": "k must be an integer from 1 to 1000"}), "top", "g", k=0)
    assert type(caught.value) is kind
    assert (caught.value.status, caught.value.message) == (status, "k must be an integer from 1 to 1000")
    assert isinstance(caught.value, LeaderboardClientError)


async def test_rate_limited_carries_retry_after(call: Any) -> None:
    with pytest.raises(RateLimited) as caught:
        await call(Server(429, {"error": "rate limit exceeded"}, {"Retry-After": "1"}), "health")
    assert caught.value.retry_after == 1.0


async def test_an_error_without_a_json_body_keeps_its_text(call: Any) -> None:
    with pytest.raises(ApiError) as caught:
        await call(Server(502, content=b"Bad Gateway from the proxy"), "top", "g")
    assert (caught.value.status, caught.value.message) == (502, "Bad Gateway from the proxy")


async def test_an_answer_of_the_wrong_shape_is_unexpected(call: Any) -> None:
    with pytest.raises(UnexpectedResponse):
        await call(Server(200, {"not": "a list"}, {"X-Leaderboard-Season": "all"}), "top", "g")


async def test_no_answer_is_a_transport_error(call: Any) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(TransportError, match="connection refused"):
        await call(refuse, "health")


# -- season_results records ------------------------------------------------------------


def test_season_result_records_decode_into_typed_standings_and_the_summary() -> None:
    players = [RankedPlayer("ann", 30, 1, display_name="Ann"), RankedPlayer("bob", 20, 2), RankedPlayer("cy", 20, 2)]
    standings = FinalStandings(3)
    rows = [*standings.add(players), *standings.finish()]
    decoded = [decode_season_result(value) for value in season_result_values("tetris", "2026-11", 3, 17, rows)]
    assert decoded == [
        SeasonStanding("tetris", "2026-11", RankedPlayer("ann", 30, 1, display_name="Ann"), 0, 3, 17),
        SeasonStanding("tetris", "2026-11", RankedPlayer("bob", 20, 2), 1, 3, 17),
        SeasonStanding("tetris", "2026-11", RankedPlayer("cy", 20, 2), 2, 3, 17),
        SeasonClosed("tetris", "2026-11", 3, 17, players),
    ]


def test_season_result_records_of_a_game_with_sort_columns_decode_them() -> None:
    players = [RankedPlayer("ann", 3, 1, columns={"time": 5234}), RankedPlayer("bob", 3, 2, columns={"time": 6000})]
    standings = FinalStandings(2)
    rows = [*standings.add(players), *standings.finish()]
    *decoded, summary = [decode_season_result(value) for value in season_result_values("race", "all", 2, 17, rows)]
    assert [standing.player for standing in decoded] == players
    assert summary.top == players


def test_a_season_result_of_an_unknown_type_decodes_to_none_and_a_malformed_one_raises() -> None:
    assert decode_season_result(b'{"type": "tournament_closed", "gameId": "g"}') is None
    with pytest.raises(KeyError):
        decode_season_result(b'{"type": "standing", "gameId": "g"}')
    with pytest.raises(ValueError):
        decode_season_result(b"not json")

# -- the rank stream ---------------------------------------------------------------

RANK_DATA = {"gameId": "tetris", "season": "all", "userId": "ann", "rank": 2, "previousRank": 1, "score": 50,
             "previousScore": 50, "overtakenBy": ["bob"], "overtakenByCount": 1, "passed": [], "passedCount": 0,
             "entered": None, "left": "top10"}


def sse(*parts: str) -> bytes:
    return "".join(parts).encode("utf-8")


async def stream_changes(mode: str, server: Server, *args: Any) -> list[Any]:
    transport = httpx.MockTransport(server)
    if mode == "sync":
        with SyncLeaderboardClient("http://lb.test", "k3y", transport=transport) as client:
            return list(client.stream_player(*args))
    async with LeaderboardClient("http://lb.test", "k3y", transport=transport) as client:
        return [change async for change in client.stream_player(*args)]


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_stream_player_reads_rank_events_and_skips_the_rest(mode: str) -> None:
    first = {**RANK_DATA, "rank": 1, "previousRank": None, "overtakenBy": [], "overtakenByCount": 0, "left": None}
    body = sse("retry: 2000\n\n",
               "event: rank\ndata: ", json.dumps(first), "\n\n",
               ": keepalive\n\n",
               "event: something-new\ndata: {}\n\n",  # an event kind this client does not know
               "event:rank\r\ndata:", json.dumps(RANK_DATA), "\r\n\r\n")  # no space after the colon, CRLF
    server = Server(200, content=body, headers={"Content-Type": "text/event-stream"})
    changes = await stream_changes(mode, server, "tetris", "a/nn", "2026-11")
    assert [(c.rank, c.previous_rank, c.overtaken_by, c.left) for c in changes] == [
        (1, None, (), None), (2, 1, ("bob",), "top10")]
    assert changes[1].overtaken_by_count == 1 and changes[1].user_id == "ann"
    request = server.request
    assert request.url.raw_path == b"/stream/player/a%2Fnn?gameId=tetris&season=2026-11"
    assert request.headers["Authorization"] == "Bearer k3y"


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_stream_player_raises_when_the_server_closes_an_overflowed_stream(mode: str) -> None:
    body = sse("event: rank\ndata: ", json.dumps(RANK_DATA), "\n\n",
               "event: overflow\ndata: {\"error\": \"the client fell 100 events behind; reconnect\"}\n\n")
    with pytest.raises(StreamOverflow, match="100 events behind"):
        await stream_changes(mode, Server(200, content=body), "tetris", "ann")


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_stream_player_raises_the_error_answered_instead_of_a_stream(mode: str) -> None:
    with pytest.raises(BadRequest, match="gameId is required"):
        await stream_changes(mode, Server(400, {"error": "gameId is required"}), "", "ann")
    with pytest.raises(UnexpectedResponse):
        await stream_changes(mode, Server(200, content=sse("event: rank\ndata: {\"rank\": 1}\n\n")), "g", "ann")


def test_server_sent_events_joins_data_lines_and_ignores_comments() -> None:
    events = ServerSentEvents()
    fed = [events.feed(line) for line in ("event: rank", "data: a", ": note", "data: b", "id: 7", "")]
    assert fed[-1] == ("rank", "a\nb") and fed[:-1] == [None] * 5
    assert events.feed("") is None  # an empty block is no event
    assert [events.feed("data: x"), events.feed("")] == [None, ("message", "x")]


# -- tournaments ------------------------------------------------------------------

TOURNAMENT = {"tournamentId": "cup/1", "title": None, "order": "desc", "operator": "best",
              "start": "2026-11-28T18:00:00Z", "end": "2026-11-28T20:00:00Z", "joinRequired": True, "maxSize": 2,
              "maxAttempts": None, "running": True,
              "run": {"runId": "2026-11-28T18:00:00Z/2026-11-28T20:00:00Z", "start": "2026-11-28T18:00:00Z",
                      "end": "2026-11-28T20:00:00Z"},
              "nextStart": None, "nextEnd": None, "players": 1}


async def test_set_tournament_puts_the_definition_and_reads_the_tournament(call: Any) -> None:
    server = Server(200, TOURNAMENT)
    definition = {"start": "2026-11-28T18:00:00Z", "end": "2026-11-28T20:00:00Z", "joinRequired": True, "maxSize": 2}
    info = await call(server, "set_tournament", "cup/1", definition)
    assert (server.request.method, server.request.url.raw_path) == ("PUT", b"/tournaments/cup%2F1")
    assert server.sent_json == definition
    assert (info.tournament_id, info.running, info.players, info.pending) == ("cup/1", True, 1, False)
    assert info.run["runId"] == TOURNAMENT["run"]["runId"] and info.definition["maxSize"] == 2
    queued = await call(Server(202, {"status": "queued", "tournamentId": "cup/1", **definition}), "set_tournament",
                        "cup/1", definition)
    assert queued.pending and queued.run is None


async def test_tournaments_lists_and_join_returns_the_run(call: Any) -> None:
    server = Server(200, [TOURNAMENT])
    listed = await call(server, "tournaments", limit=5)
    assert (server.request.url.path, server.request.url.query) == ("/tournaments", b"limit=5")
    assert [entry.tournament_id for entry in listed] == ["cup/1"]
    server = Server(200, {"tournamentId": "cup/1", "userId": "ann", "joined": True, "run": TOURNAMENT["run"]})
    assert await call(server, "join_tournament", "cup/1", "ann") == TOURNAMENT["run"]["runId"]
    assert (server.request.url.raw_path, server.sent_json) == (b"/tournaments/cup%2F1/join", {"userId": "ann"})


async def test_submit_tournament_score_sends_no_game_id_and_a_refusal_is_a_conflict(call: Any) -> None:
    server = Server(202, {"status": "queued", "run": TOURNAMENT["run"]["runId"]})
    result = await call(server, "submit_tournament_score", "cup/1", "ann", 7, event_id="e1")
    assert (server.request.url.raw_path, server.sent_json) == (b"/tournaments/cup%2F1/scores",
                                                               {"userId": "ann", "score": 7, "eventId": "e1"})
    assert (result.status, result.season) == ("queued", TOURNAMENT["run"]["runId"])
    with pytest.raises(Conflict, match="maxAttempts"):
        await call(Server(409, {"error": "'ann' has used all 1 attempts of run x (maxAttempts)"}),
                   "submit_tournament_score", "cup/1", "ann", 7)


async def test_tournament_reads_name_the_run(call: Any) -> None:
    run = TOURNAMENT["run"]["runId"]
    server = Server(200, [{"userId": "ann", "score": 7, "rank": 1}], {"X-Leaderboard-Season": run})
    ranking = await call(server, "tournament_top", "cup/1", k=3, run=run)
    assert server.request.url.path == "/tournaments/cup/1/topk" and server.request.url.params["run"] == run
    assert (ranking.user_ids, ranking.season) == (["ann"], run)
    body = {"userId": "ann", "score": 7, "rank": 1, "season": run, "total": 1, "percentile": 0.0, "next": None}
    server = Server(200, body)
    standing = await call(server, "tournament_rank", "cup/1", "a/b")
    assert server.request.url.raw_path == b"/tournaments/cup%2F1/rank/a%2Fb"
    assert (standing.player.rank, standing.season) == (1, run)


async def test_ban_posts_the_reason_and_reads_the_answer(call: Any) -> None:
    server = Server(200, {"status": "banned", "gameId": "g/1", "userId": "u"})
    result = await call(server, "ban", "g/1", "u", reason="cheating")
    request = server.request
    assert (request.method, request.url.raw_path) == ("POST", b"/games/g%2F1/bans/u")
    assert server.sent_json == {"reason": "cheating"}
    assert (result.game_id, result.user_id, result.banned, result.done) == ("g/1", "u", True, True)


async def test_a_ban_without_reason_sends_no_body_and_a_slow_one_is_not_done(call: Any) -> None:
    server = Server(202, {"status": "queued", "gameId": "g", "userId": "u"})
    result = await call(server, "ban", "g", "u")
    assert server.request.content == b""
    assert (result.banned, result.done) == (True, False)


async def test_unban_deletes_the_ban(call: Any) -> None:
    server = Server(200, {"status": "restored", "gameId": "g", "userId": "u"})
    result = await call(server, "unban", "g", "u")
    assert (server.request.method, server.request.url.path) == ("DELETE", "/games/g/bans/u")
    assert (result.banned, result.done) == (False, True)


async def test_bans_lists_the_banned_players(call: Any) -> None:
    server = Server(200, {"gameId": "g", "userIds": ["a", "b"]}, {"X-Leaderboard-Lag": "0"})
    assert await call(server, "bans", "g") == ["a", "b"]
    assert (server.request.method, server.request.url.path) == ("GET", "/games/g/bans")


async def test_history_reads_bans_and_restores_next_to_scores(call: Any) -> None:
    server = Server(200, [{"event": "restore", "achievedAt": "2026-11-26T21:00:00.000Z"},
                          {"event": "ban", "achievedAt": "2026-11-26T20:50:00.000Z", "reason": "cheating"},
                          {"score": 2700, "achievedAt": "2026-11-26T20:39:33.953Z", "season": "all"}],
                    {"X-Leaderboard-Season": "all", "X-Leaderboard-Lag": "0"})
    restore, ban, score = await call(server, "history", "g", "p")
    assert (restore.event, restore.reason, restore.score) == ("restore", None, None)
    assert (ban.event, ban.reason) == ("ban", "cheating")
    assert (score.event, score.score, score.season) == (None, 2700, "all")


async def test_a_banned_players_applied_score_says_so(call: Any) -> None:
    server = Server(200, {"status": "applied", "banned": True, "season": "all", "score": 30})
    result = await call(server, "submit_score", "g", "u", 30, wait=True)
    assert (result.applied, result.banned, result.rank, result.score) == (True, True, None, 30)
