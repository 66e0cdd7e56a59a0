"""Moderation: POST and DELETE /games/{gameId}/bans/{userId} (-> score_updates), GET /games/{gameId}/bans.

A ban goes through the player's partition of ``score_updates`` like their scores, so
the agent applies it in order with them: scores before it are ranked, scores after
it are kept (state, history) but ranked nowhere until the ban is lifted.
"""

from __future__ import annotations

import time

from faust.web import Blueprint, Request, Response

from leaderboard_app.auth import Scope
from leaderboard_app.errors import InvalidInput
from leaderboard_app.models import PlayerModeration, parse_json_object, player_key, validate_id, validate_reason
from leaderboard_app.subscriptions import answer_within
from leaderboard_app.web.base import LeaderboardView, read_body
from leaderboard_app.web.ingest import WAIT_TIMEOUT, WriteView

#: Largest accepted body of a ban ({"reason": ...}).
MAX_BAN_BODY = 4 * 1024

blueprint = Blueprint("moderation")


async def read_reason(request: Request, timeout: float) -> str | None:
    """The ``reason`` of a ban's optional JSON body (None: no body, or none given)."""
    if not request.body_exists:
        return None
    body = parse_json_object(await read_body(request, MAX_BAN_BODY, timeout))
    unknown = sorted(set(body) - {"reason"})
    if unknown:
        raise InvalidInput(unknown[0], "is not a field of a ban (reason)")
    reason = body.get("reason")
    return None if reason is None else validate_reason(reason)


@blueprint.route("/games/{gameId:[^/]+}/bans/{userId:[^/]+}", name="ban")
class BanView(WriteView):
    scope = Scope.ADMIN

    async def post(self, request: Request, gameId: str, userId: str) -> Response:  # noqa: N803 (route names)
        """Ban the player from every board of the game: 200 once applied, else 202."""
        started = time.monotonic()
        game_id, user_id = validate_id("gameId", gameId), validate_id("userId", userId)
        reason = await read_reason(request, self.leaderboard.settings.body_timeout)
        return await self._moderate(game_id, user_id, True, reason, started)

    async def delete(self, request: Request, gameId: str, userId: str) -> Response:  # noqa: N803 (route names)
        """Lift the player's ban, ranking them again: 200 once applied, else 202."""
        started = time.monotonic()
        game_id, user_id = validate_id("gameId", gameId), validate_id("userId", userId)
        return await self._moderate(game_id, user_id, False, None, started)

    async def _moderate(self, game_id: str, user_id: str, banned: bool, reason: str | None,
                        started: float) -> Response:
        replies = self.leaderboard.waiting_replies
        token = replies.new_token()
        moderation = PlayerModeration(game_id, user_id, time.time_ns() // 1000, banned, reason, reply_to=token)
        with replies.expecting([token]) as answers:
            await self.produce([(player_key(game_id, user_id), moderation.to_bytes())])
            answer = await answer_within(answers[token], WAIT_TIMEOUT - (time.monotonic() - started))
        if answer is None:
            return self.json_response({"status": "queued", "gameId": game_id, "userId": user_id}, status=202)
        return self.json_response(answer)


@blueprint.route("/games/{gameId:[^/]+}/bans", name="bans")
class BansView(LeaderboardView):
    scope = Scope.ADMIN

    async def get(self, request: Request, gameId: str) -> Response:  # noqa: N803 (route name)
        """List the players banned from the game, sorted by userId."""
        game_id = validate_id("gameId", gameId)
        players = await self.leaderboard.redis_leaderboard.banned_players(game_id)
        return self.read_response({"gameId": game_id, "userIds": players})
