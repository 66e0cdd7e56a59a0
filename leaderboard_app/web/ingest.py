"""Writes: POST /score, POST /scores, DELETE /users/{userId} (HTTP -> score_updates)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import faust
from aiokafka.errors import KafkaError
from faust.exceptions import FaustError
from faust.web import Blueprint, Request, Response

from leaderboard_app.auth import Scope
from leaderboard_app.errors import BackendUnavailable, InvalidInput
from leaderboard_app.columns import parse_column_values
from leaderboard_app.models import (
    PlayerDeletion,
    ScoreSubmission,
    parse_json_object,
    parse_submission_fields,
    parse_tags,
    player_key,
    tournament_of,
    validate_id,
)
from leaderboard_app.seasons import accepted_season, parse_achieved_at
from leaderboard_app.subscriptions import answer_within
from leaderboard_app.web.base import LeaderboardView, query_flag, query_value, read_body

if TYPE_CHECKING:
    from leaderboard_app.app import LeaderboardApp

#: Largest accepted body of POST /score and of POST /scores.
MAX_SCORE_BODY = 64 * 1024
MAX_BATCH_BODY = 1024 * 1024
MAX_BATCH = 1000
#: How long ``wait=true`` (and DELETE) wait for the agent before answering 202.
WAIT_TIMEOUT = 5.0

blueprint = Blueprint("ingest")


async def produce(topic: faust.TopicT, records: Sequence[tuple[bytes, bytes]], timeout: float) -> None:
    """Produce ``records`` (key, value) and wait until Kafka acknowledged all of them (``acks=all``).

    Raises BackendUnavailable if that takes longer than ``timeout`` seconds, so a
    client is never told "queued" for a record Kafka does not hold.
    """

    async def send_and_wait() -> None:
        acknowledgements = [await topic.send(key=key, value=value) for key, value in records]
        await asyncio.gather(*acknowledgements)

    try:
        await asyncio.wait_for(send_and_wait(), timeout)
    except asyncio.TimeoutError:
        raise BackendUnavailable(f"kafka did not acknowledge within {timeout:g} s") from None
    except (KafkaError, FaustError) as exc:
        raise BackendUnavailable(f"kafka: {exc or type(exc).__name__}") from exc


async def build_submission(app: LeaderboardApp, data: Any, now_us: int,
                           reply_to: str | None = None) -> ScoreSubmission:
    """Validate one client submission and stamp it with its game's rules and season."""
    if not isinstance(data, dict):
        raise InvalidInput("body", "must be a JSON object")
    fields = parse_submission_fields(data)
    rules = await app.rules_for(fields.game_id)
    achieved_at_us = now_us if fields.achieved_at is None else parse_achieved_at(fields.achieved_at)
    season = accepted_season(rules.reset, achieved_at_us, now_us, app.settings.season_grace_us)
    return ScoreSubmission(
        game_id=fields.game_id, user_id=fields.user_id, score=fields.score, accepted_at_us=time.time_ns() // 1000,
        achieved_at_us=achieved_at_us, season=season, rules=rules, display_name=fields.display_name,
        metadata=fields.metadata, reply_to=reply_to, event_id=fields.event_id,
        tags=None if fields.tags is None else parse_tags(fields.tags, rules.tags),
        columns=parse_column_values(fields.columns, rules.columns),
    )


def _record(submission: ScoreSubmission | PlayerDeletion) -> tuple[bytes, bytes]:
    return player_key(submission.game_id, submission.user_id), submission.to_bytes()


class WriteView(LeaderboardView):
    scope = Scope.WRITE

    async def produce(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        app = self.leaderboard
        await produce(app.score_updates_topic, records, app.settings.kafka_ack_timeout)


@blueprint.route("/score", name="score")
class ScoreView(WriteView):
    async def post(self, request: Request) -> Response:
        """Queue one score: 202 once Kafka holds it; with ``wait=true``, 200 once it is ranked."""
        wait = query_flag(request, "wait")
        started = time.monotonic()
        app = self.leaderboard
        body = parse_json_object(await read_body(request, MAX_SCORE_BODY, app.settings.body_timeout))
        replies = app.waiting_replies
        token = replies.new_token() if wait else None
        submission = await build_submission(app, body, app.clock.now_us(), reply_to=token)
        if token is None:
            await self.produce([_record(submission)])
            return self.json_response({"status": "queued"}, status=202)
        with replies.expecting([token]) as answers:
            await self.produce([_record(submission)])
            answer = await answer_within(answers[token], WAIT_TIMEOUT - (time.monotonic() - started))
        if answer is not None:
            return self.json_response(answer)
        return self.json_response({"status": "queued"}, status=202)


@blueprint.route("/scores", name="scores")
class ScoresView(WriteView):
    async def post(self, request: Request) -> Response:
        """Queue 1 to 1000 scores, all or none: 202 with their count once Kafka holds them."""
        app = self.leaderboard
        body = parse_json_object(await read_body(request, MAX_BATCH_BODY, app.settings.body_timeout))
        items = body.get("scores")
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
            raise InvalidInput("scores", f"must be an array of 1 to {MAX_BATCH} submissions")
        if await self.over_rate_limit(request, cost=len(items) - 1):  # each submission counts, not the request
            return self.rate_limited()
        now_us = app.clock.now_us()
        submissions = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise InvalidInput(f"scores[{index}]", "must be a JSON object")
            try:
                submissions.append(await build_submission(app, item, now_us))
            except InvalidInput as exc:
                raise exc.within(f"scores[{index}].") from None
        await self.produce([_record(submission) for submission in submissions])
        return self.json_response({"status": "queued", "count": len(submissions)}, status=202)


@blueprint.route("/users/{userId:[^/]+}", name="user")
class UserView(WriteView):
    scope = Scope.ADMIN

    async def delete(self, request: Request, userId: str) -> Response:  # noqa: N803 (route name)
        """Erase the player from one game (``gameId``) or every game: 200 once done, else 202."""
        started = time.monotonic()
        user_id = validate_id("userId", userId)
        app = self.leaderboard
        game_id = query_value(request, "gameId")
        games = [validate_id("gameId", game_id)] if game_id is not None else await app.redis_leaderboard.games_of(
            user_id)
        if not games:
            raise self.NotFound("user not found")
        now_us = time.time_ns() // 1000
        replies = app.waiting_replies
        deletions = [PlayerDeletion(game, user_id, now_us, reply_to=replies.new_token()) for game in games]
        # Tournament boards are listed by tournament id: a board id is no id a client can use.
        erased = {"userId": user_id, "games": [game for game in games if tournament_of(game) is None],
                  "tournaments": [tournament for game in games if (tournament := tournament_of(game)) is not None]}
        with replies.expecting(deletion.reply_to or "" for deletion in deletions) as answers:
            await self.produce([_record(deletion) for deletion in deletions])
            for answered in answers.values():
                if await answer_within(answered, WAIT_TIMEOUT - (time.monotonic() - started)) is None:
                    return self.json_response({"status": "queued", **erased}, status=202)
        return self.json_response({"status": "deleted", **erased})
