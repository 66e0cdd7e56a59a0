"""GET /topk and GET /rank/{userId}: rankings answered from Redis."""

from __future__ import annotations

from faust.web import Blueprint, Request, Response

from leaderboard_app.models import validate_id
from leaderboard_app.web.base import LeaderboardView, query_game_id, query_int

MAX_K = 1000

blueprint = Blueprint("queries")


@blueprint.route("/topk", name="topk")
class TopView(LeaderboardView):
    async def get(self, request: Request) -> Response:
        """Return the game's best ``k`` players, best first, with their ranks."""
        game_id = query_game_id(request)
        count = query_int(request, "k", default=10, low=1, high=MAX_K)
        players = await self.leaderboard.redis_leaderboard.top(game_id, count)
        return self.json_response([player.as_json() for player in players])


# aiohttp's default segment pattern excludes "{" and "}", which are valid in ids.
@blueprint.route("/rank/{userId:[^/]+}", name="rank")
class RankView(LeaderboardView):
    async def get(self, request: Request, userId: str) -> Response:  # noqa: N803 (route name)
        """Return the player's rank and score in the game."""
        user_id = validate_id("userId", userId)
        game_id = query_game_id(request)
        player = await self.leaderboard.redis_leaderboard.rank_for(game_id, user_id)
        if player is None:
            raise self.NotFound("user not found")
        return self.json_response({"userId": player.user_id, "rank": player.rank, "score": player.score})
