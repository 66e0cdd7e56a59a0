"""Per-game rules: PUT /games/{gameId}, GET /games/{gameId}, GET /games (-> game_rule_updates)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from faust.web import Blueprint, Request, Response

from leaderboard_app.auth import Scope
from leaderboard_app.models import GameRules, parse_json_object, parse_rules, validate_id
from leaderboard_app.seasons import season_of
from leaderboard_app.web.base import LeaderboardView, query_int, read_body
from leaderboard_app.web.ingest import MAX_SCORE_BODY, WAIT_TIMEOUT, produce

MAX_GAMES_PAGE = 1000
#: Games GET /games describes at once. Each takes Redis round trips on a pool of at
#: most 100 connections: a page of hundreds described at once got 503 "Too many connections".
DESCRIBE_AT_ONCE = 16

blueprint = Blueprint("games")


class GamesView(LeaderboardView):
    async def describe(self, game_id: str, rules: GameRules | None = None) -> dict[str, Any]:
        """Return the flat description of a game: rules, current season, players in it."""
        app = self.leaderboard
        rules = rules or await app.rules_for(game_id)
        season = season_of(rules.reset, app.clock.now_us())
        players = await app.redis_leaderboard.total_members(game_id, season)
        return {"gameId": game_id, **rules.as_json(), "season": season, "players": players}


@blueprint.route("/games", name="games")
class GameListView(GamesView):
    async def get(self, request: Request) -> Response:
        """List games, most recently active first, paged by ``limit`` and ``offset``."""
        limit = query_int(request, "limit", default=100, low=1, high=MAX_GAMES_PAGE)
        offset = query_int(request, "offset", default=0, low=0, high=10**9)
        games = await self.leaderboard.redis_leaderboard.games(offset, limit)
        described: list[dict[str, Any]] = []
        for start in range(0, len(games), DESCRIBE_AT_ONCE):
            chunk = games[start:start + DESCRIBE_AT_ONCE]
            described += await asyncio.gather(*(self.describe(game) for game in chunk))
        return self.read_response(described)


@blueprint.route("/games/{gameId:[^/]+}", name="game")
class GameView(GamesView):
    def scope_for(self, method: str) -> Scope:
        return Scope.ADMIN if method == "PUT" else Scope.READ

    async def get(self, request: Request, gameId: str) -> Response:  # noqa: N803 (route name)
        """Describe one game (a game never configured has the default rules)."""
        return self.read_response(await self.describe(validate_id("gameId", gameId)))

    async def put(self, request: Request, gameId: str) -> Response:  # noqa: N803 (route name)
        """Set a game's rules; 409 once the game has scores and the rules would change."""
        game_id = validate_id("gameId", gameId)
        app = self.leaderboard
        rules = parse_rules(parse_json_object(await read_body(request, MAX_SCORE_BODY, app.settings.body_timeout)))
        current = await app.rules_for(game_id)
        if rules == current:
            return self.json_response(await self.describe(game_id, rules))
        # Tiers and tag keys only say how boards are shown and cut: they may change any time.
        if rules.ranking() != current.ranking() and await app.redis_leaderboard.game_has_scores(game_id):
            return self.error(409, f"the rules of game {game_id!r} cannot change: it already has scores "
                                   f"(order {current.order}, operator {current.operator}, reset {current.reset})")
        value = orjson.dumps({"rules": rules.as_json(), "atUs": time.time_ns() // 1000})
        await produce(app.game_rule_updates_topic, [(game_id.encode("utf-8"), value)], app.settings.kafka_ack_timeout)
        # Answer once this worker's replica has the rules, so the client's next
        # submission through it is stamped with them.
        deadline = time.monotonic() + WAIT_TIMEOUT
        while await app.rules_for(game_id) != rules:
            if time.monotonic() > deadline:
                return self.json_response({"status": "queued", "gameId": game_id, **rules.as_json()}, status=202)
            await asyncio.sleep(0.02)
        return self.json_response(await self.describe(game_id, rules))
