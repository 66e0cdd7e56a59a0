"""Redis: the query index of every game and season.

Key schema. All keys of one game share a Cluster hash tag ``{<game>}``, so one
script may touch any of them; ``<game>`` is the game id's UTF-8 in unpadded
base64url, so two games never share a key and no id can inject ``{``, ``}``,
``*`` or ``:``. Season ids (``all``, ``2026-11-26``, ``2026-W48``, ``2026-11``)
are plain ASCII; so are run ids (``2026-11-28T18:00:00Z/2026-11-28T19:00:00Z``), the seasons
of a tournament's board, whose game id is ``models.board_id`` (tournaments.py).

    lb:{<game>}:<season>:scores   sorted set; member = 16 hex digits per sort column of the game
                                  (leaderboard_app.columns.encode_prefix; none without columns)
                                  + 16 hex digits of tie-break + userId
    lb:{<game>}:<season>:members  hash userId -> that player's member in :scores
    lb:{<game>}:<season>:slice:<key>:<value>  sorted set of one slice (tag key, value in base64url),
                                  same members and scores as :scores (the tie-break included)
    lb:{<game>}:<season>:tagged   hash userId -> the player's slice keys, newline-separated
    lb:{<game>}:<season>:slices   set of the season's slice keys (to evict them with the season)
    lb:{<game>}:<season>:watched  sorted set "<worker id>:<userId>" -> expiry (ms): players whose
                                  rank changes a worker streams (GET /stream/player)
    lb:{<game>}:<season>:joined   set of userIds in a tournament's run (joined, or submitted without join)
    lb:{<game>}:<season>:attempts hash userId -> submissions counted in a tournament's run
    lb:{<game>}:seasons           sorted set season -> last activity (microseconds)
    lb:{<game>}:profiles          hash userId -> {"displayName", "metadata"} (latest)
    lb:{<game>}:banned            set of the userIds banned from the game (written by the agent;
                                  GET /games/{gameId}/bans, and the archived standings' recompute)
    lb:games                      sorted set gameId -> last activity (GET /games)
    lb:rules                      hash gameId -> its rules (JSON), read by every worker; for a
                                  tournament's board id, the tournament's definition
    lb:tournaments                sorted set tournamentId -> when last defined (GET /tournaments)
    lb:index-partitions           set of score_updates partitions whose players are indexed (rebuild)
    lb:closing                    sorted set [gameId, season] -> when its grace period ends (archiver)
    lb:recompute                  sorted set gameId -> when asked (ms): games whose archived standings
                                  the archiver recomputes, after a ban or its lifting
    lb:user:{<user>}:games        set of gameIds the user has scores in (DELETE /users)
    lb:applied:<appId>            hash partition -> next offset to apply (lag)
    lb:failover                   hash {generation, slots}: the repair after the last Cluster failover
    lb:repaired:<generation>      set of partitions repaired since that failover

Channels (leaderboard_app.subscriptions): ``lb:rules-changed`` carries the id of
each game whose rules were just written; ``lb:replies:<worker id>`` the agent's
answer for a request waiting on that worker, as ``{"token", "answer"}``;
``lb:rank-changes:<worker id>`` the rank changes of the players that worker
streams, as a JSON list of events (leaderboard_app.rank_changes).

Ranks are 1-based in the API, 0-based in Redis. Competition ranking: rank = 1 +
the number of players with a strictly better score (ZCOUNT), so equal scores
share a rank. Among equal scores the member prefix orders players: it encodes
when the score was reached, inverted for "desc" games because ZREVRANGE reverses
member order too, so whoever reached the score first is listed first.
Scores are exact: every integer up to 2**53 - 1 is exact in Redis' doubles.

In a game with sort columns the member starts with the columns, written so that
their byte order is the ranking's; players with equal scores are then ranked by
them, and only equal (score, columns) share a rank. Counting the players ranked
above one then takes a binary search over the members of its score (_RANKING):
O(log n) reads within a tie group, and nothing more where scores do not tie.
Column values are signed 64-bit integers, exact because they never pass through a double.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import redis.asyncio as aioredis
from mode import Service
from redis.crc import key_slot
from redis.exceptions import NoScriptError, RedisError

from leaderboard_app.columns import COLUMN_DIGITS, SortColumn, as_named, decode_prefix, encode_prefix
from leaderboard_app.errors import BackendUnavailable
from leaderboard_app.models import BOARD_MARK, PlayerStanding, RankedPlayer, SeasonScore, tournament_of
from leaderboard_app.rank_changes import SeasonReport, parse_report
from leaderboard_app.scoring import competition_ranks
from leaderboard_app.sinks.redis_connection import FailoverGuard, RedisTarget, cached_primary, close_client, \
    primary_by_slot

if TYPE_CHECKING:
    from leaderboard_app.metrics import LeaderboardMetrics

KEY_PREFIX = "lb"
#: The worker ids in reply tokens (leaderboard_app.subscriptions.new_worker_id).
_WORKER_ID = re.compile(r"[0-9a-f]{32}")
GAMES_KEY = f"{KEY_PREFIX}:games"
RULES_KEY = f"{KEY_PREFIX}:rules"
TOURNAMENTS_KEY = f"{KEY_PREFIX}:tournaments"
RULES_CHANGED_CHANNEL = f"{KEY_PREFIX}:rules-changed"
INDEXED_PARTITIONS_KEY = f"{KEY_PREFIX}:index-partitions"
#: Sorted set of [gameId, season] (JSON) -> when the season stops taking scores (microseconds).
CLOSING_KEY = f"{KEY_PREFIX}:closing"
#: Sorted set gameId -> when asked (ms): games whose archived standings are to be recomputed (archiver).
RECOMPUTE_KEY = f"{KEY_PREFIX}:recompute"
#: Hash {generation, slots}: the repair after the last Redis Cluster failover (leaderboard_app.failover).
FAILOVER_KEY = f"{KEY_PREFIX}:failover"
#: Seconds the partitions repaired after a failover are remembered.
REPAIR_MARK_TTL = 86400
TIEBREAK_DIGITS = 16
_TIEBREAK_MAX = 2**64 - 1

# Every read script takes KEYS = scores, members, profiles and returns, per
# player, its member, score and profile (false when it has none).

#: KEYS: scores, members, seasons, tagged, slices, watched. ARGV: season, last activity, order, now (ms),
#: width of the members' column prefix (16 hex digits per sort column), then userId, member, score
#: and slice keys (newline-separated; "" for none) for each player (in order: a player listed twice
#: ends with the later entry). A player with slices leaves those they were in (read from :tagged, so
#: a rewrite or a replay needs no memory of them) and enters their own.
#:
#: Also reports the rank changes of the players streamed (leaderboard_app.rank_changes): with
#: nobody watched (the hot path) it costs one ZRANGEBYSCORE of an absent key and returns {}.
#: Otherwise it returns {} unless a watched player's rank changed, else
#: {{userId, score before or false, columns before or false, score after or false, columns after or false}...
#:  of each writer,
#:  {userId, {worker ids}, score before, score after, rank before, rank after (false: none),
#:   non-writers passed: count, {first 10 names, nearest first}, columns before, columns after}...
#:  of each changed watched player}; columns are the members' column prefixes ("" without columns).
_RANK_MEMBERS_HEAD = """
local board, order, width = KEYS[1], ARGV[3], tonumber(ARGV[5])
"""

_RANK_MEMBERS = """
local function standing(user)
  local member = redis.call('HGET', KEYS[2], user)
  local score = member and redis.call('ZSCORE', KEYS[1], member)
  if not score then return false end
  return {score, member, better_than(score, member) + 1}
end
-- watched entries are '<32 hex worker id>:<userId>' -> expiry (ms); expired ones are skipped
local workers, watched, before = {}, {}, {}
for _, entry in ipairs(redis.call('ZRANGEBYSCORE', KEYS[6], ARGV[4], '+inf')) do
  local user = string.sub(entry, 34)
  if not workers[user] then
    workers[user] = {}
    watched[#watched + 1] = user
    before[user] = standing(user)
  end
  table.insert(workers[user], string.sub(entry, 1, 32))
end
local writers, old_entries = {}, {}
for i = 6, #ARGV, 4 do
  local old = redis.call('HGET', KEYS[2], ARGV[i])
  if #watched > 0 and old_entries[ARGV[i]] == nil then
    writers[#writers + 1] = ARGV[i]
    local old_score = old and redis.call('ZSCORE', KEYS[1], old)
    old_entries[ARGV[i]] = old_score and {old_score, old} or false
  end
  if old and old ~= ARGV[i + 1] then redis.call('ZREM', KEYS[1], old) end
  redis.call('ZADD', KEYS[1], ARGV[i + 2], ARGV[i + 1])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  if ARGV[i + 3] ~= '' then
    local had = redis.call('HGET', KEYS[4], ARGV[i])
    if had and old then
      for slice in string.gmatch(had, '[^\\n]+') do redis.call('ZREM', slice, old) end
    end
    for slice in string.gmatch(ARGV[i + 3], '[^\\n]+') do
      redis.call('ZADD', slice, ARGV[i + 2], ARGV[i + 1])
      redis.call('SADD', KEYS[5], slice)
    end
    redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 3])
  end
end
redis.call('ZADD', KEYS[3], 'GT', ARGV[2], ARGV[1])
if #watched == 0 then return {} end
local new_entries = {}
for _, user in ipairs(writers) do
  local member = redis.call('HGET', KEYS[2], user)
  local score = member and redis.call('ZSCORE', KEYS[1], member)
  new_entries[user] = score and {score, member} or false
end
-- the players ranked strictly between the entries high (better) and low who did not write:
-- count, and the first 10 names nearest to high
local function others_between(high, low)
  local first = better_than(high[1], high[2]) + tied_with(high[1], high[2])
  local last = better_than(low[1], low[2])
  local skipped = 0
  for _, user in ipairs(writers) do
    local now = new_entries[user]
    if now and ranks_above(high, now) and ranks_above(now, low) then skipped = skipped + 1 end
  end
  local count = math.max(0, last - first - skipped)
  local names = {}
  if last > first then
    for _, member in ipairs(range_members(first, math.min(last, first + 10 + skipped) - 1)) do
      local user = string.sub(member, width + 17)
      if old_entries[user] == nil and #names < 10 then names[#names + 1] = user end
    end
  end
  return count, names
end
local function prefix(entry) return entry and string.sub(entry[2], 1, width) or false end
local changes = {}
for _, user in ipairs(watched) do
  local now = standing(user)
  local was = before[user]
  local rank = now and now[3] or false
  local rank_before = was and was[3] or false
  if rank ~= rank_before then
    local count, names = 0, {}
    if was and now and ranks_above(now, was) then count, names = others_between(now, was) end
    changes[#changes + 1] = {user, workers[user], was and was[1] or false, now and now[1] or false,
                             rank_before, rank, count, names, prefix(was), prefix(now)}
  end
end
if #changes == 0 then return {} end
local written = {}
for _, user in ipairs(writers) do
  local old, now = old_entries[user], new_entries[user]
  for _, value in ipairs({user, old and old[1] or false, prefix(old), now and now[1] or false, prefix(now)}) do
    written[#written + 1] = value
  end
end
return {written, changes}
"""

#: KEYS: scores, members and tagged of each season to leave. ARGV: userId.
_LEAVE_SEASONS = """
for i = 1, #KEYS, 3 do
  local member = redis.call('HGET', KEYS[i + 1], ARGV[1])
  if member then
    redis.call('ZREM', KEYS[i], member)
    redis.call('HDEL', KEYS[i + 1], ARGV[1])
    local had = redis.call('HGET', KEYS[i + 2], ARGV[1])
    if had then
      for slice in string.gmatch(had, '[^\\n]+') do redis.call('ZREM', slice, member) end
      redis.call('HDEL', KEYS[i + 2], ARGV[1])
    end
  end
end
return 1
"""

#: The entry rules of a tournament's run, atomically. KEYS: joined, attempts. ARGV: action (join,
#: submit, or return: give back an attempt Kafka did not take), userId, joinRequired (1/0),
#: maxSize and maxAttempts (0: no limit), when the keys expire (Unix seconds). Returns {verdict,
#: number}: {ok, attempts used}, {full, maxSize}, {not_joined, 0} or {attempts, maxAttempts}.
#: Without joinRequired, a player's first counted submission takes a place among maxSize.
_ENTER = """
local action, user = ARGV[1], ARGV[2]
local join_required, max_size, max_attempts = ARGV[3] == '1', tonumber(ARGV[4]), tonumber(ARGV[5])
local joined = redis.call('SISMEMBER', KEYS[1], user) == 1
if action == 'return' then
  local left = redis.call('HINCRBY', KEYS[2], user, -1)
  if left <= 0 then
    redis.call('HDEL', KEYS[2], user)
    if not join_required then redis.call('SREM', KEYS[1], user) end
  end
  return {'ok', left}
end
if not joined then
  if action == 'submit' and join_required then return {'not_joined', 0} end
  if max_size > 0 and redis.call('SCARD', KEYS[1]) >= max_size then return {'full', max_size} end
end
local used = tonumber(redis.call('HGET', KEYS[2], user) or '0')
if action == 'submit' then
  if max_attempts > 0 and used >= max_attempts then return {'attempts', max_attempts} end
  used = redis.call('HINCRBY', KEYS[2], user, 1)
  redis.call('EXPIREAT', KEYS[2], ARGV[6])
end
if not joined then redis.call('SADD', KEYS[1], user) end
redis.call('EXPIREAT', KEYS[1], ARGV[6])
return {'ok', used}
"""

#: KEYS: the recompute set. ARGV: gameId, when it was asked. Forgets the request unless asked again since.
_RECOMPUTED = """
local asked = redis.call('ZSCORE', KEYS[1], ARGV[1])
if asked and tonumber(asked) == tonumber(ARGV[2]) then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
"""

#: How a board ranks its players, for every script: ``board``, ``order`` and ``width`` (the
#: length of the members' column prefix) are locals the script sets first. better_than counts the
#: players ranked strictly above a (score, member), tied_with those ranked equal (the player
#: included, if in the board); with sort columns, equal scores are told apart by a binary search
#: over their members, which Redis keeps in column order (leaderboard_app.columns.encode_prefix).
_RANKING = """
local function better_score(score)
  if order == 'asc' then return redis.call('ZCOUNT', board, '-inf', '(' .. score) end
  return redis.call('ZCOUNT', board, '(' .. score, '+inf')
end
local function range_members(first, last)
  if order == 'asc' then return redis.call('ZRANGE', board, first, last) end
  return redis.call('ZREVRANGE', board, first, last)
end
-- whether column prefix a ranks strictly above b, read 8 hex digits at a time (exact as
-- Lua numbers, and free of the locale that Lua's string comparison follows)
local function columns_ahead(a, b)
  for i = 1, width, 8 do
    local x, y = tonumber(string.sub(a, i, i + 7), 16), tonumber(string.sub(b, i, i + 7), 16)
    if x ~= y then
      if order == 'asc' then return x < y end
      return x > y
    end
  end
  return false
end
-- the first index in [low, high) of one score's players whose columns are not ahead of
-- prefix (past_equal: nor equal to it)
local function search(low, high, prefix, past_equal)
  while low < high do
    local middle = math.floor((low + high) / 2)
    local found = string.sub(range_members(middle, middle)[1], 1, width)
    if columns_ahead(found, prefix) or (past_equal and found == prefix) then low = middle + 1 else high = middle end
  end
  return low
end
local function better_than(score, member)
  local better = better_score(score)
  if width == 0 then return better end
  local tied = redis.call('ZCOUNT', board, score, score)
  if tied == 0 then return better end
  return search(better, better + tied, string.sub(member, 1, width), false)
end
local function tied_with(score, member)
  local tied = redis.call('ZCOUNT', board, score, score)
  if width == 0 or tied == 0 then return tied end
  local better, prefix = better_score(score), string.sub(member, 1, width)
  return search(better, better + tied, prefix, true) - search(better, better + tied, prefix, false)
end
-- whether entry a ({score, member}) ranks strictly above entry b
local function ranks_above(a, b)
  local x, y = tonumber(a[1]), tonumber(b[1])
  if x ~= y then
    if order == 'asc' then return x < y end
    return x > y
  end
  return columns_ahead(string.sub(a[2], 1, width), string.sub(b[2], 1, width))
end
"""

# Every read script takes KEYS = board (scores, or a slice), members, profiles, and ARGV =
# order, width of the column prefix, then its own; it returns, per player, its member, score
# and profile (false when it has none).
_HELPERS = """
local board, order, width = KEYS[1], ARGV[1], tonumber(ARGV[2])
""" + _RANKING + """
local function range(first, last)
  if order == 'asc' then return redis.call('ZRANGE', board, first, last, 'WITHSCORES') end
  return redis.call('ZREVRANGE', board, first, last, 'WITHSCORES')
end
local function with_profiles(entries)
  local out = {}
  for i = 1, #entries, 2 do
    out[#out + 1] = entries[i]
    out[#out + 1] = entries[i + 1]
    out[#out + 1] = redis.call('HGET', KEYS[3], string.sub(entries[i], width + 17))
  end
  return out
end
"""

#: ARGV: order, width, offset, count. Returns {better-than-first, entries...}.
_TOP = _HELPERS + """
local entries = range(tonumber(ARGV[3]), tonumber(ARGV[3]) + tonumber(ARGV[4]) - 1)
if #entries == 0 then return {0} end
return {better_than(entries[2], entries[1]), with_profiles(entries)}
"""

#: ARGV: order, width, userId, n. Returns nil, or {start index, better-than-first, entries...}.
_AROUND = _HELPERS + """
local member = redis.call('HGET', KEYS[2], ARGV[3])
if not member then return nil end
local index
if order == 'asc' then index = redis.call('ZRANK', board, member)
else index = redis.call('ZREVRANK', board, member) end
if not index then return nil end
local n = tonumber(ARGV[4])
local first = math.max(0, index - n)
local entries = range(first, index + n)
return {first, better_than(entries[2], entries[1]), with_profiles(entries)}
"""

#: ARGV: order, width, userIds... Returns {member, score, profile, better}... for players with a score.
_RANKS = _HELPERS + """
local out = {}
for i = 3, #ARGV do
  local member = redis.call('HGET', KEYS[2], ARGV[i])
  local score = member and redis.call('ZSCORE', board, member)
  if score then
    out[#out + 1] = member
    out[#out + 1] = score
    out[#out + 1] = redis.call('HGET', KEYS[3], ARGV[i])
    out[#out + 1] = better_than(score, member)
  end
end
return out
"""

#: ARGV: order, width, userId. Returns nil, or {member, score, profile, better, worse, total,
#: [next member, next score, next profile, better-than-next]}.
_RANK_FOR = _HELPERS + """
local member = redis.call('HGET', KEYS[2], ARGV[3])
if not member then return nil end
local score = redis.call('ZSCORE', board, member)
if not score then return nil end
local better = better_than(score, member)
local total = redis.call('ZCARD', board)
local tied = tied_with(score, member)
local out = {member, score, redis.call('HGET', KEYS[3], ARGV[3]), better, total - better - tied, total}
if better > 0 then
  local above = with_profiles(range(better - 1, better - 1))
  for i = 1, 3 do out[#out + 1] = above[i] end
  out[#out + 1] = better_than(above[2], above[1])
end
return out
"""


def _tag(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=").decode("ascii")


def game_prefix(game_id: str) -> str:
    return f"{KEY_PREFIX}:{{{_tag(game_id)}}}"


def season_keys(game_id: str, season: str) -> tuple[str, str]:
    """Return the (scores, members) keys of a game's season."""
    prefix = game_prefix(game_id)
    return f"{prefix}:{season}:scores", f"{prefix}:{season}:members"


def slice_key(game_id: str, season: str, tag_key: str, value: str) -> str:
    """The sorted set of one slice of a game's season: the players whose latest ``tag_key`` is ``value``."""
    return f"{game_prefix(game_id)}:{season}:slice:{tag_key}:{_tag(value)}"


def slice_bookkeeping_keys(game_id: str, season: str) -> tuple[str, str]:
    """Return the (tagged, slices) keys of a game's season."""
    prefix = game_prefix(game_id)
    return f"{prefix}:{season}:tagged", f"{prefix}:{season}:slices"


def _season_entry_keys(game_id: str, season: str) -> tuple[str, str, str]:
    """The keys that hold a player's entry in a season: scores, members, tagged."""
    return (*season_keys(game_id, season), slice_bookkeeping_keys(game_id, season)[0])


def watched_key(game_id: str, season: str) -> str:
    """The players of a game's season whose rank changes some worker streams."""
    return f"{game_prefix(game_id)}:{season}:watched"


def entry_keys(game_id: str, season: str) -> tuple[str, str]:
    """Return the (joined, attempts) keys of a tournament's run (its board id and run id)."""
    prefix = game_prefix(game_id)
    return f"{prefix}:{season}:joined", f"{prefix}:{season}:attempts"


def seasons_key(game_id: str) -> str:
    return f"{game_prefix(game_id)}:seasons"


def profiles_key(game_id: str) -> str:
    return f"{game_prefix(game_id)}:profiles"


def banned_key(game_id: str) -> str:
    """The set of players banned from the game."""
    return f"{game_prefix(game_id)}:banned"


def user_games_key(user_id: str) -> str:
    return f"{KEY_PREFIX}:user:{{{_tag(user_id)}}}:games"


def repaired_key(generation: str) -> str:
    return f"{KEY_PREFIX}:repaired:{generation}"


def replies_channel(worker_id: str) -> str:
    return f"{KEY_PREFIX}:replies:{worker_id}"


def rank_changes_channel(worker_id: str) -> str:
    return f"{KEY_PREFIX}:rank-changes:{worker_id}"


def applied_offsets_key(app_id: str) -> str:
    return f"{KEY_PREFIX}:applied:{app_id}"


def encode_member(user_id: str, reached_at_us: int, order: str = "desc", columns: Sequence[SortColumn] = (),
                  values: Sequence[int] = ()) -> bytes:
    """Return the sorted-set member of a player who reached their score (and sort column ``values``) at
    ``reached_at_us``."""
    tiebreak = reached_at_us if order == "asc" else _TIEBREAK_MAX - reached_at_us
    return encode_prefix(order, columns, values) + b"%016x" % tiebreak + user_id.encode("utf-8")


def prefix_width(columns: Sequence[SortColumn]) -> int:
    """The length of the column prefix of the members of a game with these sort columns."""
    return COLUMN_DIGITS * len(columns)


def decode_member(member: bytes, columns: Sequence[SortColumn] = ()) -> str:
    """Return the user id held in a sorted-set member."""
    return member[prefix_width(columns) + TIEBREAK_DIGITS:].decode("utf-8")


def _exact_int(score: float | bytes) -> int:
    # Every stored score is an integer below 2**53, so the double is exact.
    return int(float(score))


@dataclass(frozen=True)
class Ranking:
    """How a board orders its players: the game's ``order`` and sort ``columns``."""

    order: str
    columns: tuple[SortColumn, ...] = ()

    def script_args(self) -> tuple[str, int]:
        return self.order, prefix_width(self.columns)

    def player(self, member: bytes, score: bytes, profile: bytes | None, rank: int) -> RankedPlayer:
        details = orjson.loads(profile) if profile else {}
        return RankedPlayer(
            user_id=decode_member(member, self.columns), score=_exact_int(score), rank=rank,
            display_name=details.get("displayName"), metadata=details.get("metadata"),
            columns=as_named(self.columns, decode_prefix(self.order, self.columns, member)) if self.columns else None,
        )

    def tie_key(self, member: bytes, score: bytes) -> tuple[int, bytes]:
        """What equal-ranked players share: the score and the column prefix."""
        return _exact_int(score), member[:prefix_width(self.columns)]


def _standing(ranking: Ranking, found: Sequence[Any] | None) -> PlayerStanding | None:
    """The standing the rank_for script returned (None: no score in that season)."""
    if found is None:
        return None
    member, score, profile, better, worse, total = found[:6]
    above = None
    if len(found) > 6:
        next_member, next_score, next_profile, next_better = found[6:10]
        above = ranking.player(next_member, next_score, next_profile, next_better + 1)
    return PlayerStanding(player=ranking.player(member, score, profile, better + 1), total=total, worse=worse,
                          next=above)


def _page(ranking: Ranking, entries: Sequence[Any], offset: int, first_rank: int) -> list[RankedPlayer]:
    triples = [entries[i:i + 3] for i in range(0, len(entries), 3)]
    ranks = competition_ranks((ranking.tie_key(member, score) for member, score, _ in triples),
                              offset=offset, first_rank=first_rank)
    return [ranking.player(member, score, profile, rank) for (member, score, profile), rank in zip(triples, ranks)]


#: One slice of a board: (tag key, tag value).
Slice = tuple[str, str]


@dataclass
class PlayerWrite:
    """What one applied event changes in Redis; built by the agent."""

    game_id: str
    user_id: str
    activity_us: int
    season: str | None = None
    state: SeasonScore | None = None
    order: str = "desc"
    profile: dict[str, Any] | None = None
    #: When the season stops taking scores (end + grace), for seasons that close.
    closes_at_us: int | None = None
    #: False for a banned player: everything is written but their place in the season's boards.
    ranked: bool = True
    #: The game's sort columns, whose values (``state.columns``) the member carries.
    columns: tuple[SortColumn, ...] = ()


class RedisLeaderboard(Service):
    """Writes players' scores to, and answers rankings from, Redis."""

    #: Longest pause between retries of a failed write.
    max_retry_delay = 5.0
    #: Connections to Redis per worker, and how long a call waits for a free one (seconds).
    max_connections = 200
    pool_wait = 5.0

    def __init__(self, target: RedisTarget, app_id: str, metrics: LeaderboardMetrics | None = None,
                 **kwargs: Any) -> None:
        self._target = target
        #: In a cluster: which slots may miss writes after a failover (leaderboard_app.failover).
        self.failover = FailoverGuard()
        self._metrics = metrics
        self._applied_key = applied_offsets_key(app_id)
        self._client: aioredis.Redis | None = None
        super().__init__(**kwargs)

    @property
    def client(self) -> aioredis.Redis | aioredis.RedisCluster:
        if self._client is None:
            raise BackendUnavailable("redis: not started")
        return self._client

    async def on_start(self) -> None:
        # redis-py connects lazily: a Redis that is down at start-up shows in
        # /ready and stalls the agent's writes, but does not stop the worker.
        # A blocking pool: a burst of more concurrent calls than connections waits
        # for a free one (up to ``pool_wait`` seconds) instead of failing at once.
        client = self._client = self._target.client(
            max_connections=self.max_connections, pool_wait=self.pool_wait,
            socket_timeout=10, socket_connect_timeout=5, health_check_interval=30,
        )
        self._scripts = {
            name: client.register_script(source)
            for name, source in (("rank_members", _RANK_MEMBERS_HEAD + _RANKING + _RANK_MEMBERS),
                                 ("leave", _LEAVE_SEASONS), ("top", _TOP),
                                 ("around", _AROUND), ("ranks", _RANKS), ("rank_for", _RANK_FOR),
                                 ("enter", _ENTER), ("recomputed", _RECOMPUTED))
        }

    async def on_stop(self) -> None:
        if self._client is not None:
            await close_client(self._client)
            self._client = None

    async def ping(self) -> None:
        """Raise BackendUnavailable unless Redis answers."""
        await self._read(self.client.ping())

    # -- writes (the agent) ---------------------------------------------------

    async def apply(self, writes: Sequence[PlayerWrite], next_offsets: Mapping[int, int] | None = None,
                    banned: Sequence[tuple[str, str]] = ()) -> list[SeasonReport]:
        """Store what a batch of events changed, in one round trip; return the rank changes of
        watched players it made, per game and season (none: nobody watched changed rank).

        ``next_offsets`` (partition -> next offset to apply) records the agent's
        progress for the lag; rebuilds pass none, but the (gameId, userId) of the
        ``banned`` players they found, put back in their games' banned sets. Every command writes absolute
        values, so retrying after an unclear failure, or replaying the events, is
        harmless. Retrying instead of raising keeps the events unacknowledged in
        Kafka while Redis is down: nothing is lost, the agent waits.
        """

        seasons: list[tuple[str, str, str]] = []

        async def queue(pipe: Any) -> None:
            seasons[:] = self._queue_apply(pipe, writes)
            for game_id, user_id in banned:
                pipe.sadd(banned_key(game_id), user_id)
            if next_offsets:
                pipe.hset(self._applied_key, mapping={str(p): o for p, o in next_offsets.items()})

        results = await self._retrying(queue)
        # The rank_members calls come first in the pipeline, one per (game, season, order).
        reports = [parse_report(*season, raw) for season, raw in zip(seasons, results)]
        return [report for report in reports if report.changes]

    async def restore_rules(self, rules: Sequence[tuple[str, bytes]]) -> None:
        """Put back rules Redis lost, never replacing any written since (HSETNX)."""

        async def queue(pipe: Any) -> None:
            for game_id, raw in rules:
                pipe.hsetnx(RULES_KEY, game_id, raw)
                pipe.zadd(GAMES_KEY, {game_id: 0}, nx=True)

        await self._retrying(queue, publish=[(RULES_CHANGED_CHANNEL, game_id.encode()) for game_id, _ in rules])

    def _queue_apply(self, pipe: Any, writes: Sequence[PlayerWrite]) -> list[tuple[str, str, str]]:
        """Queue the batch's writes, the rank_members calls first; return their (game, season, order)."""
        # One script call per game and season, one command per other key: a
        # batch costs a few commands, not a few per player.
        ranked: dict[tuple[str, str], list[Any]] = {}
        orders: dict[tuple[str, str], str] = {}
        now_ms = int(time.time() * 1000)
        games: dict[str, int] = {}
        closing: dict[bytes, int] = {}
        profiles: dict[str, dict[str, bytes]] = {}
        user_games: dict[str, set[str]] = {}
        #: Seasons of banned players' writes: listed with the game's seasons (an erasure finds
        #: them there), though the player is not ranked in them.
        unranked: dict[str, dict[str, int]] = {}
        for write in writes:
            if not write.ranked:
                if write.season is not None:
                    seasons = unranked.setdefault(write.game_id, {})
                    seasons[write.season] = max(seasons.get(write.season, 0), write.activity_us)
            elif write.state is not None and write.season is not None:
                args = ranked.setdefault((write.game_id, write.season), [write.season, 0, write.order, now_ms, 0])
                args[1] = max(args[1], write.activity_us)
                args[2] = orders[write.game_id, write.season] = write.order
                args[4] = prefix_width(write.columns)
                args += (write.user_id, encode_member(write.user_id, write.state.reached_at_us, write.order,
                                                      write.columns, write.state.columns),
                         write.state.score, "\n".join(slice_key(write.game_id, write.season, tag_key, value)
                                                       for tag_key, value in sorted(write.state.tags.items())))
            if write.closes_at_us is not None and write.season is not None:
                closing[orjson.dumps([write.game_id, write.season])] = write.closes_at_us
            if write.profile is not None:
                profiles.setdefault(write.game_id, {})[write.user_id] = orjson.dumps(write.profile)
            if not write.game_id.startswith(BOARD_MARK):  # tournaments are listed by GET /tournaments
                games[write.game_id] = max(games.get(write.game_id, 0), write.activity_us)
            user_games.setdefault(write.user_id, set()).add(write.game_id)
        for (game_id, season), args in ranked.items():
            scores, members = season_keys(game_id, season)
            self._queue_script(pipe, "rank_members", (scores, members, seasons_key(game_id),
                                                      *slice_bookkeeping_keys(game_id, season),
                                                      watched_key(game_id, season)), args)
        for game_id, activity in unranked.items():
            pipe.zadd(seasons_key(game_id), activity, gt=True)
        if closing:
            pipe.zadd(CLOSING_KEY, closing, nx=True)
        for game_id, mapping in profiles.items():
            pipe.hset(profiles_key(game_id), mapping=mapping)
        if games:
            pipe.zadd(GAMES_KEY, games, gt=True)
        for user_id, user_game_ids in user_games.items():
            pipe.sadd(user_games_key(user_id), *user_game_ids)
        return [(game_id, season, orders[game_id, season]) for game_id, season in ranked]

    async def seasons_of(self, game_id: str) -> list[str]:
        """The seasons of the game that have players in the index."""
        found = await self._retrying_read(lambda: self.client.zrange(seasons_key(game_id), 0, -1))
        return [season.decode("ascii") for season in found]

    async def remove_player(self, game_id: str, user_id: str) -> list[str]:
        """Erase the player from every season of the game (and its profile); return the seasons."""
        seasons = await self.seasons_of(game_id)

        async def queue(pipe: Any) -> None:
            keys = [key for season in seasons for key in _season_entry_keys(game_id, season)]
            self._queue_script(pipe, "leave", keys, (user_id,))
            pipe.hdel(profiles_key(game_id), user_id)
            pipe.srem(user_games_key(user_id), game_id)

        await self._retrying(queue)
        return seasons

    async def ban_player(self, game_id: str, user_id: str) -> None:
        """Take the player out of every season of the game and its slices, and list them as banned.

        Their profile and game list stay: they come back as they were when the ban is lifted.
        """
        seasons = await self.seasons_of(game_id)

        async def queue(pipe: Any) -> None:
            keys = [key for season in seasons for key in _season_entry_keys(game_id, season)]
            if keys:
                self._queue_script(pipe, "leave", keys, (user_id,))
            pipe.sadd(banned_key(game_id), user_id)

        await self._retrying(queue)
        # Asked only once the banned set has the player, which the recompute reads.
        await self.request_recompute(game_id)

    async def restore_player(self, game_id: str, user_id: str, writes: Sequence[PlayerWrite]) -> None:
        """Lift the player's ban: out of the banned set, and ``writes`` (their seasons) back in the index."""
        async def queue(pipe: Any) -> None:
            pipe.srem(banned_key(game_id), user_id)
            self._queue_apply(pipe, writes)

        await self._retrying(queue)
        await self.request_recompute(game_id)

    async def seasons_in_index(self, game_id: str, seasons: Sequence[str]) -> set[str]:
        """Those of ``seasons`` whose board Redis holds (an archived season leaves it after its retention)."""
        async def queue(pipe: Any) -> None:
            for season in seasons:
                pipe.exists(season_keys(game_id, season)[0])

        found = await self._retrying(queue) if seasons else []
        return {season for season, exists in zip(seasons, found) if exists}

    async def banned_players(self, game_id: str) -> list[str]:
        """The players banned from the game, sorted (GET /games/{gameId}/bans)."""
        members = await self._read_game(game_id, lambda: self.client.smembers(banned_key(game_id)))
        return sorted(user.decode("utf-8") for user in members)

    async def banned_set(self, game_id: str) -> set[str]:
        """The players banned from the game, read even while a failover repair holds the game's reads."""
        members = await self._retrying_read(lambda: self.client.smembers(banned_key(game_id)))
        return {user.decode("utf-8") for user in members}

    async def unban_stale(self, game_id: str, user_ids: Sequence[str]) -> None:
        """Take players whose ban the table no longer holds out of the banned set (after a failover)."""
        async def queue(pipe: Any) -> None:
            pipe.srem(banned_key(game_id), *user_ids)

        if user_ids:
            await self._retrying(queue)

    # -- archived standings to recompute (leaderboard_app.archiver) ---------------------

    async def request_recompute(self, game_id: str) -> None:
        """Ask the archiver to recompute the game's archived standings."""
        async def queue(pipe: Any) -> None:
            pipe.zadd(RECOMPUTE_KEY, {game_id: int(time.time() * 1000)}, gt=True)

        await self._retrying(queue)

    async def recompute_requests(self, limit: int = 100) -> list[tuple[str, int]]:
        """(gameId, when asked) of the games whose archived standings are to be recomputed, oldest first."""
        found = await self._read(self.client.zrange(RECOMPUTE_KEY, 0, limit - 1, withscores=True,
                                                    score_cast_func=_exact_int))
        return [(game.decode("utf-8"), asked) for game, asked in found]

    async def recompute_done(self, game_id: str, asked: int) -> None:
        """Forget the request of ``game_id`` made at ``asked``, unless another came since."""
        await self._read(self._scripts["recomputed"](keys=(RECOMPUTE_KEY,), args=(game_id, asked)))

    async def set_rules(self, game_id: str, rules: bytes, at_us: int) -> None:
        """Publish a game's rules (or a tournament's definition) to every worker, and list the game in
        GET /games (the tournament in GET /tournaments)."""
        tournament_id = tournament_of(game_id)

        async def queue(pipe: Any) -> None:
            pipe.hset(RULES_KEY, game_id, rules)
            if tournament_id is None:
                pipe.zadd(GAMES_KEY, {game_id: at_us}, gt=True)
            else:
                pipe.zadd(TOURNAMENTS_KEY, {tournament_id: at_us}, gt=True)

        await self._retrying(queue, publish=[(RULES_CHANGED_CHANNEL, game_id.encode())])

    async def rules(self, game_id: str) -> bytes | None:
        return await self._read(self.client.hget(RULES_KEY, game_id))

    async def indexed_partitions(self) -> set[int]:
        """Return the partitions whose players the index holds (empty after Redis lost its data)."""
        return {int(p) for p in await self._read(self.client.smembers(INDEXED_PARTITIONS_KEY))}

    async def mark_partitions_indexed(self, partitions: set[int]) -> None:
        if partitions:
            await self._read(self.client.sadd(INDEXED_PARTITIONS_KEY, *sorted(partitions)))

    async def send_replies(self, replies: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Hand waiting requests (on any worker) the outcomes of their events, in one round trip.

        Each token names the worker its request waits on (``<worker id>.<request
        id>``); one in any other shape (a record of an older version, or produced by
        hand) waits nowhere.
        """
        addressed = []
        for token, answer in replies:
            worker_id, dot, request_id = token.partition(".")
            if dot and _WORKER_ID.fullmatch(worker_id) and request_id:
                addressed.append((replies_channel(worker_id), orjson.dumps({"token": token, "answer": answer})))
        if not addressed:
            return

        async def queue(pipe: Any) -> None:
            pass

        await self._retrying(queue, publish=addressed)

    async def publish_rank_events(self, by_worker: Mapping[str, Sequence[dict[str, Any]]]) -> None:
        """Hand each worker the rank events of the players it streams, one message per worker."""
        addressed = [(rank_changes_channel(worker_id), orjson.dumps(events))
                     for worker_id, events in by_worker.items() if _WORKER_ID.fullmatch(worker_id)]
        if not addressed:
            return

        async def queue(pipe: Any) -> None:
            pass

        await self._retrying(queue, publish=addressed)

    async def watch(self, players: Sequence[tuple[str, str, str]], worker_id: str, ttl: float) -> None:
        """Mark the (gameId, season, userId) players as streamed by ``worker_id`` for ``ttl`` seconds."""
        now_ms = int(time.time() * 1000)

        async def queue(pipe: Any) -> None:
            for game_id, season, user_id in players:
                pipe.zadd(watched_key(game_id, season), {f"{worker_id}:{user_id}": now_ms + int(ttl * 1000)})
            for key in {watched_key(game_id, season) for game_id, season, _ in players}:
                # Entries of workers that died without unwatching go here; the key
                # itself once nobody refreshes it.
                pipe.zremrangebyscore(key, "-inf", f"({now_ms}")
                pipe.expire(key, max(1, int(2 * ttl)))

        if players:
            await self._read(self._pipelined(queue))

    async def unwatch(self, game_id: str, season: str, user_id: str, worker_id: str) -> None:
        """Stop marking the player as streamed by ``worker_id``."""
        await self._read(self.client.zrem(watched_key(game_id, season), f"{worker_id}:{user_id}"))

    async def _retrying(self, queue: Any, publish: Sequence[tuple[str, bytes]] = ()) -> list[Any]:
        """Run the commands ``queue`` puts in a pipeline until Redis has them all, then
        ``publish`` each (channel, message): subscribers hear of the writes after they are made.
        Return the results of ``queue``'s commands.

        A cluster pipeline cannot carry PUBLISH (it has no key to route by), so there the
        messages follow the pipeline, each reaching every node of the cluster.
        """
        async def queue_all(pipe: Any) -> None:
            await queue(pipe)
            if not self._target.cluster:
                for channel, message in publish:
                    pipe.publish(channel, message)

        delay = 0.1
        while True:
            try:
                with self._timed():
                    results = await self._pipelined(queue_all)
                    if self._target.cluster and publish:
                        await asyncio.gather(*(self.client.publish(channel, message) for channel, message in publish))
                return results
            except RedisError as exc:
                delay = await self._pause_after(exc, delay)

    def _queue_script(self, pipe: Any, name: str, keys: Sequence[str], args: Sequence[Any]) -> None:
        # EVALSHA itself: redis-py's Script objects refuse cluster pipelines, and on one
        # server ask SCRIPT EXISTS before every pipeline that holds them.
        pipe.execute_command("EVALSHA", self._scripts[name].sha, len(keys), *keys, *args)

    async def _pipelined(self, queue: Any) -> list[Any]:
        """The results of the commands ``queue`` puts in a pipeline, run in one round trip (per node).

        A server without our scripts (restarted empty, or a replica just promoted) is given
        them and the pipeline runs once more: every pipeline here writes absolute values or
        only reads, so running it again is harmless.
        """
        async def run() -> list[Any]:
            async with self.client.pipeline(transaction=False) as pipe:
                await queue(pipe)
                return await pipe.execute()

        try:
            return await run()
        except NoScriptError:
            await self._load_scripts()
            return await run()

    async def _load_scripts(self) -> None:
        for script in self._scripts.values():
            await self.client.script_load(script.script)  # a cluster loads it on every primary

    def _timed(self) -> AbstractContextManager[None]:
        return self._metrics.time_sink_write("redis") if self._metrics else nullcontext()

    async def _retrying_read(self, read: Any) -> Any:
        delay = 0.1
        while True:
            try:
                return await read()
            except RedisError as exc:
                delay = await self._pause_after(exc, delay)

    async def _pause_after(self, exc: Exception, delay: float) -> float:
        if self.should_stop:
            raise exc
        self.log.warning("redis write failed (%s); retrying in %.1fs", exc, delay)
        await asyncio.sleep(delay)
        return min(delay * 2, self.max_retry_delay)

    # -- reads (the views) ----------------------------------------------------

    async def _read(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except RedisError as exc:
            raise BackendUnavailable(f"redis: {exc}") from exc

    async def _read_game(self, game_id: str, read: Callable[[], Awaitable[Any]]) -> Any:
        """``read()`` of one game's keys; in a cluster, refused (503) while they may miss writes after a failover."""
        if not self._target.cluster:
            return await self._read(read())
        slot = key_slot(game_prefix(game_id).encode("utf-8"))
        self._check_readable(slot)
        found = await self._read(read())
        self._check_readable(slot)  # the node that answered: a failover may have happened meanwhile
        return found

    def _check_readable(self, slot: int) -> None:
        if not self.failover.readable(slot, cached_primary(self.client, slot)):  # type: ignore[arg-type]
            raise BackendUnavailable("redis: a failover may have lost writes of this game; repairing it")

    def _read_keys(self, game_id: str, season: str, slice_: Slice | None = None) -> tuple[str, str, str]:
        """The keys a read script takes: the board (the season's, or one slice of it), members, profiles.

        A slice holds the same members as the season, so the season's members hash finds them.
        """
        scores, members = season_keys(game_id, season)
        board = scores if slice_ is None else slice_key(game_id, season, *slice_)
        return board, members, profiles_key(game_id)

    async def top(self, game_id: str, season: str, order: str, count: int, offset: int = 0,
                  slice_: Slice | None = None, columns: Sequence[SortColumn] = ()) -> list[RankedPlayer]:
        """Return ``count`` players from ``offset`` (0-based), best first."""
        ranking = Ranking(order, tuple(columns))
        found = await self._read_game(game_id, lambda: self._scripts["top"](
            keys=self._read_keys(game_id, season, slice_), args=(*ranking.script_args(), offset, count)))
        if len(found) < 2:
            return []
        better, entries = found
        return _page(ranking, entries, offset, first_rank=better + 1)

    async def around(self, game_id: str, season: str, order: str, user_id: str, n: int,
                     slice_: Slice | None = None, columns: Sequence[SortColumn] = ()) -> list[RankedPlayer] | None:
        """Return the player with up to ``n`` players above and below, or None if unranked."""
        ranking = Ranking(order, tuple(columns))
        found = await self._read_game(game_id, lambda: self._scripts["around"](
            keys=self._read_keys(game_id, season, slice_), args=(*ranking.script_args(), user_id, n)))
        if found is None:
            return None
        first, better, entries = found
        return _page(ranking, entries, first, first_rank=better + 1)

    async def ranks(self, game_id: str, season: str, order: str, user_ids: Sequence[str],
                    slice_: Slice | None = None, columns: Sequence[SortColumn] = ()) -> list[RankedPlayer]:
        """Return the ranks of those of ``user_ids`` who have a score, best first."""
        ranking = Ranking(order, tuple(columns))
        found = await self._read_game(game_id, lambda: self._scripts["ranks"](
            keys=self._read_keys(game_id, season, slice_), args=(*ranking.script_args(), *user_ids)))
        rows = [found[i:i + 4] for i in range(0, len(found), 4)]
        # Members sort like the ranking within equal scores (see the module docstring).
        rows.sort(key=lambda row: (_exact_int(row[1]), row[0]), reverse=order != "asc")
        return [ranking.player(member, score, profile, better + 1) for member, score, profile, better in rows]

    async def rank_for(self, game_id: str, season: str, order: str, user_id: str,
                       slice_: Slice | None = None, columns: Sequence[SortColumn] = ()) -> PlayerStanding | None:
        """Return the player's standing, or None if they have no score in that season (or slice)."""
        ranking = Ranking(order, tuple(columns))
        return _standing(ranking, await self._read_game(game_id, lambda: self._scripts["rank_for"](
            keys=self._read_keys(game_id, season, slice_), args=(*ranking.script_args(), user_id))))

    async def standings_of(self, players: Sequence[tuple[str, str, Ranking, str]]) -> list[PlayerStanding | None]:
        """:meth:`rank_for` of each (gameId, season, ranking, userId), in one round trip."""
        if not players:
            return []

        async def queue(pipe: Any) -> None:
            for game_id, season, ranking, user_id in players:
                self._queue_script(pipe, "rank_for", self._read_keys(game_id, season),
                                   (*ranking.script_args(), user_id))

        found = await self._read(self._pipelined(queue))
        return [_standing(ranking, each) for (_, _, ranking, _), each in zip(players, found)]

    async def season_in_index(self, game_id: str, season: str) -> bool:
        """Return whether Redis still holds the season (closed seasons are evicted)."""
        return bool(await self._read_game(game_id, lambda: self.client.exists(season_keys(game_id, season)[0])))

    async def due_seasons(self, now_us: int, limit: int = 100) -> list[tuple[str, str, int]]:
        """Return (gameId, season, closesAtUs) of seasons whose grace period has ended, oldest first.

        closesAtUs is the instant recorded when the season got its first score (end + grace).
        """
        due = await self._read(self.client.zrangebyscore(CLOSING_KEY, "-inf", now_us, start=0, num=limit,
                                                         withscores=True, score_cast_func=_exact_int))
        return [(*orjson.loads(item), closes_at_us) for item, closes_at_us in due]

    async def evict_season(self, game_id: str, season: str, retention: float) -> None:
        """Let Redis forget an archived season after ``retention`` seconds, and stop tracking it."""
        tagged, slices = slice_bookkeeping_keys(game_id, season)
        slice_keys = await self._retrying_read(lambda: self.client.smembers(slices))
        keys = [*season_keys(game_id, season), tagged, slices, *sorted(key.decode("utf-8") for key in slice_keys)]

        async def queue(pipe: Any) -> None:
            for key in keys:
                if retention > 0:
                    pipe.expire(key, max(1, int(retention)))
                else:
                    pipe.delete(key)
            pipe.zrem(CLOSING_KEY, orjson.dumps([game_id, season]))

        await self._retrying(queue)

    async def total_members(self, game_id: str, season: str) -> int:
        return await self._read_game(game_id, lambda: self.client.zcard(season_keys(game_id, season)[0]))

    async def count_reaching(self, game_id: str, season: str, order: str, score: int) -> int:
        """How many players of the season have ``score`` or better."""
        scores = season_keys(game_id, season)[0]
        low, high = ("-inf", score) if order == "asc" else (score, "+inf")
        return await self._read_game(game_id, lambda: self.client.zcount(scores, low, high))

    async def games(self, offset: int, limit: int) -> list[str]:
        """Return game ids, most recently active first."""
        ids = await self._read(self.client.zrevrange(GAMES_KEY, offset, offset + limit - 1))
        return [game.decode("utf-8") for game in ids]

    async def tournaments(self) -> list[tuple[str, bytes]]:
        """Every tournament's id and definition, in id order."""
        ids = sorted(found.decode("utf-8") for found in await self._read(self.client.zrange(TOURNAMENTS_KEY, 0, -1)))
        if not ids:
            return []
        found = await self._read(self.client.hmget(RULES_KEY, [BOARD_MARK + tid for tid in ids]))
        return [(tid, raw) for tid, raw in zip(ids, found) if raw is not None]

    async def enter(self, game_id: str, season: str, action: str, user_id: str, join_required: bool,
                    max_size: int | None, max_attempts: int | None, expire_at: int) -> tuple[str, int]:
        """Apply a tournament run's entry rules to one join, submission or returned attempt (script _ENTER)."""
        verdict, number = await self._read_game(game_id, lambda: self._scripts["enter"](
            keys=entry_keys(game_id, season),
            args=(action, user_id, int(join_required), max_size or 0, max_attempts or 0, expire_at)))
        return verdict.decode("ascii"), int(number)

    async def game_has_scores(self, game_id: str) -> bool:
        """Return whether any score of the game has been applied (in any season)."""
        return bool(await self._read_game(game_id, lambda: self.client.zcard(seasons_key(game_id))))

    async def games_of(self, user_id: str) -> list[str]:
        members = await self._read(self.client.smembers(user_games_key(user_id)))
        return sorted(game.decode("utf-8") for game in members)

    async def mark_applied(self, next_offsets: Mapping[int, int]) -> None:
        """Record each partition's next offset to apply as the index holds it (for the lag)."""
        if not next_offsets:
            return

        async def queue(pipe: Any) -> None:
            pipe.hset(self._applied_key, mapping={str(p): o for p, o in next_offsets.items()})

        await self._retrying(queue)

    async def applied_offsets(self) -> dict[int, int]:
        offsets = await self._read(self.client.hgetall(self._applied_key))
        return {int(partition): int(offset) for partition, offset in offsets.items()}

    # -- repairs after a Redis Cluster failover (leaderboard_app.failover) --------------

    async def primaries(self) -> tuple[str, ...]:
        """Each slot's primary now, as the cluster reports it ("" where none serves)."""
        return primary_by_slot(await self._read(self.client.cluster_slots()))

    async def failover_under_repair(self) -> tuple[str, list[list[int]]] | None:
        """The repair under way: its generation and the slot ranges it covers, or None."""
        found = await self._read(self.client.hmget(FAILOVER_KEY, "generation", "slots"))
        if found[0] is None or found[1] is None:
            return None
        return found[0].decode("ascii"), orjson.loads(found[1])

    async def begin_failover_repair(self, generation: str, ranges: list[list[int]]) -> None:
        await self._read(self.client.hset(FAILOVER_KEY, mapping={"generation": generation,
                                                                  "slots": orjson.dumps(ranges)}))

    async def repaired_partitions(self, generation: str) -> set[int]:
        return {int(p) for p in await self._read(self.client.smembers(repaired_key(generation)))}

    async def mark_repaired(self, generation: str, partitions: set[int]) -> None:
        async def queue(pipe: Any) -> None:
            pipe.sadd(repaired_key(generation), *sorted(partitions))
            pipe.expire(repaired_key(generation), REPAIR_MARK_TTL)

        await self._retrying(queue)

    async def season_members(self, game_id: str, season: str) -> AsyncIterator[tuple[str, bytes]]:
        """Every (userId, member) of the season's index, a page at a time."""
        members_key = season_keys(game_id, season)[1]
        cursor = 0
        while True:
            cursor, page = await self._read(self.client.hscan(members_key, cursor, count=1000))
            for user, member in page.items():
                yield user.decode("utf-8"), member
            if not cursor:
                return

    async def drop_members(self, game_id: str, season: str, members: Sequence[tuple[str, bytes]]) -> None:
        """Take players the table no longer ranks in the season out of its index (and its slices)."""
        keys = _season_entry_keys(game_id, season)

        async def queue(pipe: Any) -> None:
            for user_id, _member in members:
                self._queue_script(pipe, "leave", keys, (user_id,))

        if members:
            await self._retrying(queue)

    async def forget_players(self, game_id: str, user_ids: Sequence[str]) -> None:
        """Forget the profiles, and the game in the game lists, of players erased from the game."""
        async def queue(pipe: Any) -> None:
            for user_id in user_ids:
                pipe.hdel(profiles_key(game_id), user_id)
                pipe.srem(user_games_key(user_id), game_id)

        if user_ids:
            await self._retrying(queue)

    async def count_request(self, client_id: str, second: int, cost: int = 1) -> int:
        """Count ``cost`` requests of ``client_id`` in this second (shared by every worker); return the count."""
        key = f"{KEY_PREFIX}:rate:{client_id}:{second}"
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.incrby(key, cost)
            pipe.expire(key, 2)
            count, _ = await self._read(pipe.execute())
        return int(count)
