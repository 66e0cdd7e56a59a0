"""Reads answered from Redis: /topk, /around, /ranks, /rank; and /history from Cassandra."""

from __future__ import annotations

from faust.web import Blueprint, Request, Response

from leaderboard_app.errors import InvalidInput
from leaderboard_app.models import validate_id
from leaderboard_app.web.base import LeaderboardView, query_game_id, query_int, query_value

MAX_K = 1000
MAX_OFFSET = 100_000
MAX_AROUND = 100
MAX_FRIENDS = 100
MAX_HISTORY = 1000

blueprint = Blueprint("queries")


@blueprint.route("/topk", name="topk")
class TopView(LeaderboardView):
    async def get(self, request: Request) -> Response:
        """Return ``k`` players from ``offset``, best first, with their ranks."""
        game_id, rules, season = await self.game_and_season(request)
        count = query_int(request, "k", default=10, low=1, high=MAX_K)
        offset = query_int(request, "offset", default=0, low=0, high=MAX_OFFSET)
        players = await (await self.standings(game_id, rules, season)).top(game_id, season, rules.order, count, offset)
        return self.read_response([player.as_json() for player in players], season)


def listed_user_ids(request: Request) -> list[str]:
    """The players ``/ranks`` asks for: each ``userId`` parameter verbatim (an id may hold a comma),
    and the ids of a comma-separated ``userIds``; repeats once."""
    listed = [validate_id("userId", user) for user in request.query.getall("userId", [])]
    text = query_value(request, "userIds")
    if text is not None:
        listed += [validate_id("userIds", user) for user in text.split(",")]
    user_ids = list(dict.fromkeys(listed))
    if not user_ids:
        raise InvalidInput("userIds", f"is required: 1 to {MAX_FRIENDS} user ids, as userId=<id> parameters"
                                      " or one comma-separated userIds")
    if len(user_ids) > MAX_FRIENDS:
        raise InvalidInput("userIds", f"must list at most {MAX_FRIENDS} user ids")
    return user_ids


# aiohttp's default segment pattern excludes "{" and "}", which are valid in ids.
@blueprint.route("/around/{userId:[^/]+}", name="around")
class AroundView(LeaderboardView):
    async def get(self, request: Request, userId: str) -> Response:  # noqa: N803 (route name)
        """Return the player with ``n`` players above and ``n`` below."""
        user_id = validate_id("userId", userId)
        game_id, rules, season = await self.game_and_season(request)
        n = query_int(request, "n", default=5, low=1, high=MAX_AROUND)
        players = await (await self.standings(game_id, rules, season)).around(game_id, season, rules.order, user_id, n)
        if players is None:
            raise self.NotFound("user not found")
        return self.read_response([player.as_json() for player in players], season)


@blueprint.route("/ranks", name="ranks")
class RanksView(LeaderboardView):
    async def get(self, request: Request) -> Response:
        """Return the global ranks of the listed players who have a score, best first."""
        game_id, rules, season = await self.game_and_season(request)
        user_ids = listed_user_ids(request)
        players = await (await self.standings(game_id, rules, season)).ranks(game_id, season, rules.order, user_ids)
        return self.read_response([player.as_json() for player in players], season)


@blueprint.route("/rank/{userId:[^/]+}", name="rank")
class RankView(LeaderboardView):
    async def get(self, request: Request, userId: str) -> Response:  # noqa: N803 (route name)
        """Return the player's rank, score, the game's size, percentile and the next player up."""
        user_id = validate_id("userId", userId)
        game_id, rules, season = await self.game_and_season(request)
        standing = await (await self.standings(game_id, rules, season)).rank_for(game_id, season, rules.order, user_id)
        if standing is None:
            raise self.NotFound("user not found")
        player = standing.player
        above = standing.next
        body = {
            **player.as_json(),
            "season": season,
            "total": standing.total,
            "percentile": standing.percentile,
            "next": None if above is None else {
                "userId": above.user_id, "score": above.score, "rank": above.rank,
                "gap": abs(above.score - player.score),
            },
        }
        return self.read_response(body)


@blueprint.route("/history/{userId:[^/]+}", name="history")
class HistoryView(LeaderboardView):
    async def get(self, request: Request, userId: str) -> Response:  # noqa: N803 (route name)
        """Return the player's submissions, newest first, from Cassandra."""
        user_id = validate_id("userId", userId)
        game_id = query_game_id(request)
        limit = query_int(request, "limit", default=50, low=1, high=MAX_HISTORY)
        entries = await self.leaderboard.archive.history(game_id, user_id, limit)
        return self.read_response([entry.as_json() for entry in entries], "all")
