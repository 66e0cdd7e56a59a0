"""Tournaments: PUT/GET /tournaments/{tournamentId}, GET /tournaments, POST .../join and .../scores,
GET .../topk and .../rank/{userId}.

A tournament's definition travels as a game's rules do (``game_rule_updates``, keyed by its
board id, ``models.board_id``), its scores as a game's do (``score_updates``, stamped with its
board and run): the same agent, exactly-once rules and ranking, read by the same code as
/topk and /rank.

Entry rules (the run is on, joined if ``joinRequired``, ``maxSize``, ``maxAttempts``) are
checked here, at the edge, by one Redis script per request (``sinks.redis._ENTER``). An
attempt is counted before the record is produced and given back if Kafka refuses it (503):
a 202 means the attempt was counted. Exactness is the edge's: a worker that dies between
counting and producing, or a Redis answer lost on the way back, leaves an attempt counted
that no score used.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from faust.web import Blueprint, Request, Response

from leaderboard_app.auth import Scope
from leaderboard_app.columns import parse_column_values
from leaderboard_app.errors import BackendUnavailable, InvalidInput
from leaderboard_app.models import (
    ScoreSubmission,
    board_id,
    parse_json_object,
    parse_submission_fields,
    player_key,
    validate_id,
)
from leaderboard_app.seasons import US_PER_SECOND, format_instant, parse_achieved_at
from leaderboard_app.subscriptions import answer_within
from leaderboard_app.tournaments import Run, Tournament, parse_tournament
from leaderboard_app.web.base import LeaderboardView, query_flag, query_int, query_value, read_body
from leaderboard_app.web.ingest import MAX_SCORE_BODY, WAIT_TIMEOUT, produce
from leaderboard_app.web.queries import Board, RankView, TopView

MAX_TOURNAMENTS_PAGE = 1000

blueprint = Blueprint("tournaments")


class Conflict(Exception):
    """A request the tournament's entry rules refuse (409); the message says why."""


def describe(tournament_id: str, tournament: Tournament, now_us: int) -> dict[str, Any]:
    """The tournament's definition with its current run (null between runs) and its next one."""
    current, following = tournament.run_at(now_us), tournament.next_run(now_us)
    return {
        "tournamentId": tournament_id,
        **tournament.as_json(),
        "running": current is not None,
        "run": None if current is None else current.as_json(),
        "nextStart": None if following is None else format_instant(following.start_us),
        "nextEnd": None if following is None else format_instant(following.end_us),
    }


def not_running(tournament_id: str, tournament: Tournament, now_us: int) -> str:
    """Why the tournament takes nothing now: when its next run starts, or that it is over."""
    following = tournament.next_run(now_us)
    if following is not None:
        return f"tournament {tournament_id!r} is not running (next run starts {format_instant(following.start_us)})"
    last = tournament.last_run(now_us)
    ended = "" if last is None else f" at {format_instant(last.end_us)}"
    return f"tournament {tournament_id!r} is not running (it ended{ended}; no run is left)"


class TournamentView(LeaderboardView):
    async def dispatch(self, request: Any) -> Any:
        try:
            return await super().dispatch(request)
        except Conflict as exc:
            return self.error(409, str(exc))

    async def tournament_or_404(self, tournament_id: str) -> Tournament:
        tournament = await self.leaderboard.tournament(tournament_id)
        if tournament is None:
            raise self.NotFound(f"tournament {tournament_id!r} not found")
        return tournament

    def running(self, tournament_id: str, tournament: Tournament, now_us: int) -> Run:
        """The run on now; Conflict if none is."""
        run = tournament.run_at(now_us)
        if run is None:
            raise Conflict(not_running(tournament_id, tournament, now_us))
        return run

    async def enter(self, tournament_id: str, tournament: Tournament, run: Run, action: str, user_id: str) -> None:
        """Apply the run's entry rules to a join (``join``), a submission (``submit``) or an attempt
        given back (``return``); Conflict naming the rule that refuses it."""
        settings = self.leaderboard.settings
        # The run's keys go with its board: kept through its grace and retention, like the season's.
        expire_at = (run.end_us + settings.season_grace_us) // US_PER_SECOND + int(settings.season_retention) + 1
        verdict, number = await self.leaderboard.redis_leaderboard.enter(
            board_id(tournament_id), run.id, action, user_id, tournament.join_required, tournament.max_size,
            tournament.max_attempts, expire_at)
        if verdict == "full":
            raise Conflict(f"tournament {tournament_id!r} is full: {number} players have joined run {run.id}"
                           " (maxSize)")
        if verdict == "not_joined":
            raise Conflict(f"tournament {tournament_id!r} requires joining first: POST /tournaments/"
                           f"{{tournamentId}}/join (joinRequired), and {user_id!r} has not joined run {run.id}")
        if verdict == "attempts":
            raise Conflict(f"{user_id!r} has used all {number} attempts of run {run.id} of tournament"
                           f" {tournament_id!r} (maxAttempts)")


@blueprint.route("/tournaments", name="tournaments")
class TournamentListView(TournamentView):
    async def get(self, request: Request) -> Response:
        """List the running and upcoming tournaments (running first, then by next start), paged by
        ``limit`` and ``offset``."""
        limit = query_int(request, "limit", default=100, low=1, high=MAX_TOURNAMENTS_PAGE)
        offset = query_int(request, "offset", default=0, low=0, high=10**9)
        now_us = self.leaderboard.clock.now_us()
        listed = []
        for tournament_id, raw in await self.leaderboard.redis_leaderboard.tournaments():
            entry = describe(tournament_id, Tournament.from_bytes(raw), now_us)
            if entry["running"] or entry["nextStart"] is not None:
                listed.append(entry)
        listed.sort(key=lambda entry: (not entry["running"], entry["run"]["start"] if entry["running"]
                                       else entry["nextStart"], entry["tournamentId"]))
        return self.read_response(listed[offset:offset + limit])


@blueprint.route("/tournaments/{tournamentId:[^/]+}", name="tournament")
class TournamentDefinitionView(TournamentView):
    def scope_for(self, method: str) -> Scope:
        return Scope.ADMIN if method == "PUT" else Scope.READ

    async def get(self, request: Request, tournamentId: str) -> Response:  # noqa: N803 (route name)
        """Describe one tournament: its definition, current run and players in it, next run."""
        tournament_id = validate_id("tournamentId", tournamentId)
        tournament = await self.tournament_or_404(tournament_id)
        return self.read_response(await self.described(tournament_id, tournament))

    async def described(self, tournament_id: str, tournament: Tournament) -> dict[str, Any]:
        entry = describe(tournament_id, tournament, self.leaderboard.clock.now_us())
        run = entry["run"]
        entry["players"] = 0 if run is None else await self.leaderboard.redis_leaderboard.total_members(
            board_id(tournament_id), run["runId"])
        return entry

    async def put(self, request: Request, tournamentId: str) -> Response:  # noqa: N803 (route name)
        """Define (or redefine) a tournament; 409 once it has scores and more than its title would change."""
        tournament_id = validate_id("tournamentId", tournamentId)
        app = self.leaderboard
        tournament = parse_tournament(parse_json_object(await read_body(request, MAX_SCORE_BODY,
                                                                        app.settings.body_timeout)))
        board = board_id(tournament_id)
        current = await app.tournament(tournament_id)
        if tournament == current:
            return self.json_response(await self.described(tournament_id, tournament))
        if (current is not None and not current.same_but_title(tournament)
                and await app.redis_leaderboard.game_has_scores(board)):
            return self.error(409, f"tournament {tournament_id!r} cannot change but for its title: it already has"
                                   " scores")
        value = orjson.dumps({"tournament": tournament.as_json(), "atUs": time.time_ns() // 1000})
        await produce(app.game_rule_updates_topic, [(board.encode("utf-8"), value)], app.settings.kafka_ack_timeout)
        # Answer once this worker has the definition, so the client's next request through it sees it.
        deadline = time.monotonic() + WAIT_TIMEOUT
        while await app.tournament(tournament_id) != tournament:
            if time.monotonic() > deadline:
                return self.json_response({"status": "queued", "tournamentId": tournament_id,
                                           **tournament.as_json()}, status=202)
            await asyncio.sleep(0.02)
        return self.json_response(await self.described(tournament_id, tournament))


@blueprint.route("/tournaments/{tournamentId:[^/]+}/join", name="tournament_join")
class JoinView(TournamentView):
    scope = Scope.WRITE

    async def post(self, request: Request, tournamentId: str) -> Response:  # noqa: N803 (route name)
        """Join the running run (``{"userId"}``): 200, again for a player who joined; 409 when it is full
        (maxSize) or not running."""
        tournament_id = validate_id("tournamentId", tournamentId)
        app = self.leaderboard
        tournament = await self.tournament_or_404(tournament_id)
        body = parse_json_object(await read_body(request, MAX_SCORE_BODY, app.settings.body_timeout))
        if "userId" not in body:
            raise InvalidInput("userId", "is required")
        user_id = validate_id("userId", body["userId"])
        run = self.running(tournament_id, tournament, app.clock.now_us())
        await self.enter(tournament_id, tournament, run, "join", user_id)
        return self.json_response({"tournamentId": tournament_id, "userId": user_id, "joined": True,
                                   "run": run.as_json()})


@blueprint.route("/tournaments/{tournamentId:[^/]+}/scores", name="tournament_scores")
class TournamentScoreView(TournamentView):
    scope = Scope.WRITE

    async def post(self, request: Request, tournamentId: str) -> Response:  # noqa: N803 (route name)
        """Queue one score of the running run (a /score body without gameId): 202 once Kafka holds it and
        the attempt is counted; with ``wait=true``, 200 once it is ranked; 409 naming the entry rule
        that refuses it."""
        wait = query_flag(request, "wait")
        started = time.monotonic()
        tournament_id = validate_id("tournamentId", tournamentId)
        app = self.leaderboard
        tournament = await self.tournament_or_404(tournament_id)
        body = parse_json_object(await read_body(request, MAX_SCORE_BODY, app.settings.body_timeout))
        for name in ("gameId", "tags"):
            if name in body:
                raise InvalidInput(name, "is not a field of a tournament's score")
        fields = parse_submission_fields({**body, "gameId": tournament_id})
        now_us = app.clock.now_us()
        run = self.running(tournament_id, tournament, now_us)
        achieved_at_us = now_us if fields.achieved_at is None else parse_achieved_at(fields.achieved_at)
        if not run.start_us <= achieved_at_us <= now_us:
            raise InvalidInput("achievedAt", f"must lie in the current run {run.id}, and not in the future")
        parse_column_values(fields.columns, ())  # tournaments rank by score alone: refuse columns (400)
        await self.enter(tournament_id, tournament, run, "submit", fields.user_id)
        replies = app.waiting_replies
        token = replies.new_token() if wait else None
        submission = ScoreSubmission(
            game_id=board_id(tournament_id), user_id=fields.user_id, score=fields.score,
            accepted_at_us=time.time_ns() // 1000, achieved_at_us=achieved_at_us, season=run.id,
            rules=tournament.rules(), display_name=fields.display_name, metadata=fields.metadata, reply_to=token,
            event_id=fields.event_id)
        record = (player_key(submission.game_id, submission.user_id), submission.to_bytes())
        with replies.expecting([token] if token else []) as answers:
            try:
                await produce(app.score_updates_topic, [record], app.settings.kafka_ack_timeout)
            except BackendUnavailable:
                await self.enter(tournament_id, tournament, run, "return", fields.user_id)
                raise
            if token is None:
                return self.json_response({"status": "queued", "run": run.id}, status=202)
            answer = await answer_within(answers[token], WAIT_TIMEOUT - (time.monotonic() - started))
        if answer is not None:
            return self.json_response(answer)
        return self.json_response({"status": "queued", "run": run.id}, status=202)


class TournamentBoardView(TournamentView):
    async def tournament_board(self, request: Request, tournament_id: str) -> Board:
        """The board of the run ``run`` names (its id or start), by default the one on now or the last one."""
        tournament = await self.tournament_or_404(tournament_id)
        now_us = self.leaderboard.clock.now_us()
        text = query_value(request, "run")
        run = tournament.run_named(text) if text is not None else tournament.last_run(now_us)
        if run is None:
            raise self.NotFound(not_running(tournament_id, tournament, now_us) + ": it has no board yet")
        current = tournament.run_at(now_us)
        return await self.board_of(board_id(tournament_id), tournament.rules(), run.id,  # type: ignore[attr-defined]
                                   None, current=None if current is None else current.id)


@blueprint.route("/tournaments/{tournamentId:[^/]+}/topk", name="tournament_topk")
class TournamentTopView(TournamentBoardView, TopView):
    async def get(self, request: Request, tournamentId: str) -> Response:  # type: ignore[override]  # noqa: N803
        """Return ``k`` players of a run from ``offset``, best first, with their ranks (as /topk)."""
        return await self.top_of(request, await self.tournament_board(request, validate_id("tournamentId",
                                                                                           tournamentId)))


@blueprint.route("/tournaments/{tournamentId:[^/]+}/rank/{userId:[^/]+}", name="tournament_rank")
class TournamentRankView(TournamentBoardView, RankView):
    async def get(  # type: ignore[override]
            self, request: Request, tournamentId: str, userId: str) -> Response:  # noqa: N803 (route names)
        """Return the player's rank in a run, score, the board's size, percentile and the next player up
        (as /rank)."""
        board = await self.tournament_board(request, validate_id("tournamentId", tournamentId))
        return await self.rank_on(board, validate_id("userId", userId))
