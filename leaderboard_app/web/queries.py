"""Reads answered from Redis: /topk, /around, /ranks, /rank; and /history from Cassandra.

Every ranking read may name a ``slice`` (``country:FR``: the board of the players whose
latest ``country`` tag is FR); in games with tiers every ranked player carries their tier,
which the global board decides (a slice's ranks do not change anyone's tier).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from faust.web import Blueprint, Request, Response

from leaderboard_app.errors import InvalidInput
from leaderboard_app.models import MAX_TAG_VALUE_LENGTH, GameRules, RankedPlayer, validate_id
from leaderboard_app.sinks.redis import Slice
from leaderboard_app.tiers import next_tier, score_gap, tier_index, tier_name, tier_span
from leaderboard_app.web.base import LeaderboardView, query_game_id, query_int, query_value

MAX_K = 1000
MAX_OFFSET = 100_000
MAX_AROUND = 100
MAX_FRIENDS = 100
MAX_HISTORY = 1000

blueprint = Blueprint("queries")


def query_slice(request: Request, rules: GameRules) -> Slice | None:
    """The ``slice`` parameter (``<tag key>:<value>``, a key the game declares), or None."""
    return parse_slice(query_value(request, "slice"), rules)


def parse_slice(text: str | None, rules: GameRules) -> Slice | None:
    """A slice as written in a query (``<tag key>:<value>``, a key the game declares), or None."""
    if text is None:
        return None
    tag_key, colon, value = text.partition(":")
    if not colon or not value or len(value) > MAX_TAG_VALUE_LENGTH:
        raise InvalidInput("slice", f"must be <tag key>:<value> with a value of 1 to {MAX_TAG_VALUE_LENGTH}"
                                    " characters, such as country:FR")
    if tag_key not in rules.tags:
        declared = ", ".join(rules.tags) if rules.tags else "none"
        raise InvalidInput("slice", f"names the tag key {tag_key!r}, which this game does not declare"
                                    f" (declared: {declared})")
    return tag_key, value


def query_tier(request: Request, rules: GameRules) -> int | None:
    """The index of the ``tier`` parameter among the game's tiers, or None."""
    name = query_value(request, "tier")
    if name is None:
        return None
    names = [tier.name for tier in rules.tiers]
    if name not in names:
        raise InvalidInput("tier", f"must be one of this game's tiers ({', '.join(names) or 'none declared'})")
    return names.index(name)


@dataclass(frozen=True)
class Board:
    """What a ranking read reads: one game's season, or a slice of it, and who answers for it."""

    game_id: str
    rules: GameRules
    season: str
    slice: Slice | None
    #: Redis, or the Cassandra archive once Redis evicted the season.
    standings: Any


class BoardView(LeaderboardView):
    async def board(self, request: Request) -> Board:
        game_id, rules, season = await self.game_and_season(request)
        return await self.board_of(game_id, rules, season, query_slice(request, rules))

    async def board_of(self, game_id: str, rules: GameRules, season: str, slice_: Slice | None,
                       current: str | None = None) -> Board:
        standings = await self.standings(game_id, rules, season, current)
        if slice_ is not None and standings is not self.leaderboard.redis_leaderboard:
            raise self.NotFound(f"season {season} is archived: its slices are not kept, only its global standings")
        return Board(game_id, rules, season, slice_, standings)

    def ranked_response(self, board: Board, players: list[RankedPlayer]) -> Response:
        return self.read_response([player.as_json() for player in players], board.season)


async def with_tiers(board: Board, players: list[RankedPlayer]) -> list[RankedPlayer]:
    """``players`` with their tiers, where the game declares tiers (from their global ranks)."""
    tiers = board.rules.tiers
    if not tiers or not players:
        return players
    total = await board.standings.total_members(board.game_id, board.season)
    global_ranks = {player.user_id: player.rank for player in players}
    if board.slice is not None:
        ranked = await board.standings.ranks(board.game_id, board.season, board.rules.order, list(global_ranks),
                                             **ranking(board, sliced=False))
        global_ranks = {player.user_id: player.rank for player in ranked}
    # A player gone from the board between the two reads keeps no tier.
    return [replace(player, tier=tier_name(tiers, board.rules.order, rank, player.score, total))
            if (rank := global_ranks.get(player.user_id)) is not None else player
            for player in players]


async def tier_prefix_lengths(board: Board, total: int, upto: int) -> list[int]:
    """How many players meet the cut-off of each tier up to index ``upto`` (every cut-off is met by a prefix)."""
    lengths = []
    for tier in board.rules.tiers[:upto + 1]:
        limit = tier.rank_limit(total)
        if limit is not None and limit >= total:
            lengths.append(total)
        elif limit is None:
            lengths.append(await board.standings.count_reaching(board.game_id, board.season, board.rules.order,
                                                                tier.value))
        else:
            lengths.append(await _ranked_with(board, limit - 1))
    return lengths


async def _player_at(board: Board, position: int) -> RankedPlayer:
    found = await board.standings.top(board.game_id, board.season, board.rules.order, 1, position,
                                      **ranking(board, sliced=False))
    return found[0]


async def _ranked_with(board: Board, position: int) -> int:
    """How many players rank as high as the one at ``position`` (0-based) or higher: those above and
    those tied with them (equal score and sort columns)."""
    player = await _player_at(board, position)
    standing = await board.standings.rank_for(board.game_id, board.season, board.rules.order, player.user_id,
                                              **ranking(board, sliced=False))
    # Gone from the board between the two reads: count the players of their score instead.
    if standing is None:
        return await board.standings.count_reaching(board.game_id, board.season, board.rules.order, player.score)
    return standing.total - standing.worse


@blueprint.route("/topk", name="topk")
class TopView(BoardView):
    async def get(self, request: Request) -> Response:
        """Return ``k`` players from ``offset``, best first, with their ranks (of one tier, with ``tier``)."""
        return await self.top_of(request, await self.board(request))

    async def top_of(self, request: Request, board: Board) -> Response:
        """The /topk answer on ``board`` (also a tournament's, web/tournaments.py)."""
        count = query_int(request, "k", default=10, low=1, high=MAX_K)
        offset = query_int(request, "offset", default=0, low=0, high=MAX_OFFSET)
        tier = query_tier(request, board.rules)
        if tier is not None:
            if board.slice is not None:
                raise InvalidInput("tier", "cannot be combined with slice: tiers are cut on the global board")
            total = await board.standings.total_members(board.game_id, board.season)
            start, end = tier_span(await tier_prefix_lengths(board, total, tier), tier)
            offset, count = start + offset, min(count, end - start - offset)
            if count <= 0:
                return self.ranked_response(board, [])
        players = await board.standings.top(board.game_id, board.season, board.rules.order, count, offset,
                                            **ranking(board))
        return self.ranked_response(board, await with_tiers(board, players))


def ranking(board: Board, sliced: bool = True) -> dict[str, Any]:
    """The keyword arguments of a read of ``board`` besides its game, season and order: the game's
    sort columns, and its slice (``sliced``: the slice's board rather than the global one)."""
    found: dict[str, Any] = {"columns": board.rules.columns} if board.rules.columns else {}
    # The archive takes no slice argument; boards served from it never have one.
    if sliced and board.slice is not None:
        found["slice_"] = board.slice
    return found


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
class AroundView(BoardView):
    async def get(self, request: Request, userId: str) -> Response:  # noqa: N803 (route name)
        """Return the player with ``n`` players above and ``n`` below."""
        user_id = validate_id("userId", userId)
        board = await self.board(request)
        n = query_int(request, "n", default=5, low=1, high=MAX_AROUND)
        players = await board.standings.around(board.game_id, board.season, board.rules.order, user_id, n,
                                               **ranking(board))
        if players is None:
            raise self.NotFound("user not found" if board.slice is None else "user not found in this slice")
        return self.ranked_response(board, await with_tiers(board, players))


@blueprint.route("/ranks", name="ranks")
class RanksView(BoardView):
    async def get(self, request: Request) -> Response:
        """Return the ranks of the listed players who have a score (in the slice, with ``slice``), best first."""
        board = await self.board(request)
        user_ids = listed_user_ids(request)
        players = await board.standings.ranks(board.game_id, board.season, board.rules.order, user_ids,
                                              **ranking(board))
        return self.ranked_response(board, await with_tiers(board, players))


@blueprint.route("/rank/{userId:[^/]+}", name="rank")
class RankView(BoardView):
    async def get(self, request: Request, userId: str) -> Response:  # noqa: N803 (route name)
        """Return the player's rank, score, the board's size, percentile and the next player up;
        with ``slice``, within the slice plus the global rank; with tiers, the tier and the next one's gap."""
        return await self.rank_on(await self.board(request), validate_id("userId", userId))

    async def rank_on(self, board: Board, user_id: str) -> Response:
        """The /rank answer on ``board`` (also a tournament's, web/tournaments.py)."""
        standings, order = board.standings, board.rules.order
        standing = await standings.rank_for(board.game_id, board.season, order, user_id, **ranking(board))
        if standing is None:
            raise self.NotFound("user not found" if board.slice is None else "user not found in this slice")
        overall = standing if board.slice is None else await standings.rank_for(
            board.game_id, board.season, order, user_id, **ranking(board, sliced=False))
        player, above = standing.player, standing.next
        body: dict[str, Any] = {
            **player.as_json(),
            "season": board.season,
            "total": standing.total,
            "percentile": standing.percentile,
            "next": None if above is None else {
                "userId": above.user_id, "score": above.score, "rank": above.rank,
                "gap": abs(above.score - player.score),
            },
        }
        if board.slice is not None:
            body["slice"] = ":".join(board.slice)
            body["globalRank"] = overall.player.rank if overall else None
            body["globalTotal"] = overall.total if overall else None
        if board.rules.tiers and overall is not None:
            body.update(await self.tier_standing(board, overall.player, overall.total))
        return self.read_response(body)

    async def tier_standing(self, board: Board, player: RankedPlayer, total: int) -> dict[str, Any]:
        """The player's ``tier`` and ``nextTier`` ({name, gap}: the points they lack to enter it)."""
        rules = board.rules
        index = tier_index(rules.tiers, rules.order, player.rank, player.score, total)
        body: dict[str, Any] = {"tier": None if index is None else rules.tiers[index].name, "nextTier": None}
        above = next_tier(rules.tiers, index)
        if above is not None:
            tier = rules.tiers[above]
            limit = tier.rank_limit(total)
            needed = tier.value if limit is None else (await _player_at(board, limit - 1)).score
            body["nextTier"] = {"name": tier.name, "gap": score_gap(rules.order, player.score, needed)}
        return body


@blueprint.route("/history/{userId:[^/]+}", name="history")
class HistoryView(LeaderboardView):
    async def get(self, request: Request, userId: str) -> Response:  # noqa: N803 (route name)
        """Return the player's submissions, bans and lifted bans, newest first, from Cassandra."""
        user_id = validate_id("userId", userId)
        game_id = query_game_id(request)
        limit = query_int(request, "limit", default=50, low=1, high=MAX_HISTORY)
        entries = await self.leaderboard.archive.history(game_id, user_id, limit)
        return self.read_response([entry.as_json() for entry in entries], "all")
