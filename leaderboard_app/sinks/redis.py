"""Redis sorted sets: the query index of every game.

Key schema (both keys of a game share one Cluster hash tag, so one script can
touch both):

    lb:{<game>}:scores    sorted set; member = 16 hex digits of tie-break + userId,
                          score = the player's score
    lb:{<game>}:members   hash; userId -> that player's current member in :scores

``<game>`` is the game id's UTF-8 in unpadded base64url: two games never share a
key, and no id can put ``{``, ``}``, ``*`` or ``:`` into one.

Ranks are 1-based in the API and 0-based in Redis. Ranking is competition
ranking: rank = 1 + the number of players with a strictly better score (ZCOUNT),
so equal scores share a rank. Among equal scores the member's prefix orders
players: it is ``2**64 - 1 - reached_at_us`` in hex, and ZREVRANGE reverses member
order too, so whoever reached the score first is listed first.

Scores are exact: every integer up to 2**53 - 1 is exact in Redis' doubles.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass

import redis.asyncio as aioredis
from mode import Service
from redis.exceptions import RedisError

from leaderboard_app.errors import BackendUnavailable
from leaderboard_app.models import PlayerScore
from leaderboard_app.scoring import competition_ranks

KEY_PREFIX = "lb"
TIEBREAK_DIGITS = 16
_TIEBREAK_MAX = 2**64 - 1

#: Replace the player's member (its tie-break may have changed) in one atomic step.
#: KEYS: scores, members. ARGV: userId, member, score.
_RANK_MEMBER = """
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old and old ~= ARGV[2] then redis.call('ZREM', KEYS[1], old) end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"""

#: A player's score and the number of players strictly better, or nil.
#: KEYS: scores, members. ARGV: userId.
_RANK_FOR = """
local member = redis.call('HGET', KEYS[2], ARGV[1])
if not member then return nil end
local score = redis.call('ZSCORE', KEYS[1], member)
if not score then return nil end
return {score, redis.call('ZCOUNT', KEYS[1], '(' .. score, '+inf')}
"""


@dataclass(frozen=True, slots=True)
class RankedPlayer:
    """A player's place in one game."""

    user_id: str
    score: int
    rank: int

    def as_json(self) -> dict[str, object]:
        return {"userId": self.user_id, "score": self.score, "rank": self.rank}


def game_keys(game_id: str) -> tuple[str, str]:
    """Return the (scores, members) keys of a game."""
    tag = base64.urlsafe_b64encode(game_id.encode("utf-8")).rstrip(b"=").decode("ascii")
    return f"{KEY_PREFIX}:{{{tag}}}:scores", f"{KEY_PREFIX}:{{{tag}}}:members"


def encode_member(user_id: str, reached_at_us: int) -> bytes:
    """Return the sorted-set member of a player who reached their score at ``reached_at_us``."""
    return b"%016x" % (_TIEBREAK_MAX - reached_at_us) + user_id.encode("utf-8")


def decode_member(member: bytes) -> str:
    """Return the user id held in a sorted-set member."""
    return member[TIEBREAK_DIGITS:].decode("utf-8")


def _exact_int(score: float | bytes) -> int:
    # Every stored score is an integer below 2**53, so the double is exact.
    return int(float(score))


class RedisLeaderboard(Service):
    """Writes players' scores to, and answers rankings from, Redis."""

    #: Longest pause between retries of a failed write.
    max_retry_delay = 5.0

    def __init__(self, redis_url: str, **kwargs: object) -> None:
        self._redis_url = redis_url
        self._client: aioredis.Redis | None = None
        super().__init__(**kwargs)

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            raise BackendUnavailable("redis: not started")
        return self._client

    async def on_start(self) -> None:
        # redis-py connects lazily: a Redis that is down at start-up shows in
        # /ready and stalls the agent's writes, but does not stop the worker.
        self._client = aioredis.Redis.from_url(
            self._redis_url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30
        )
        self._rank_member = self._client.register_script(_RANK_MEMBER)
        self._rank_for = self._client.register_script(_RANK_FOR)

    async def on_stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ping(self) -> None:
        """Raise BackendUnavailable unless Redis answers."""
        try:
            await self.client.ping()
        except RedisError as exc:
            raise BackendUnavailable(f"redis: {exc}") from exc

    async def rank_member(self, game_id: str, user_id: str, state: PlayerScore) -> None:
        """Store the player's absolute state; retry until Redis takes it.

        The write is idempotent (the same state gives the same member and score),
        so retrying after an unclear failure, or replaying an event, is harmless.
        Retrying instead of raising keeps the event unacknowledged in Kafka while
        Redis is down: nothing is lost, the agent just waits.
        """
        keys = game_keys(game_id)
        args = (user_id, encode_member(user_id, state.reached_at_us), state.score)
        delay = 0.1
        while True:
            try:
                await self._rank_member(keys=keys, args=args)
                return
            except RedisError as exc:
                if self.should_stop:
                    raise
                self.log.warning("redis write failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry_delay)

    async def rank_for(self, game_id: str, user_id: str) -> RankedPlayer | None:
        """Return the player's rank and score, or None if they have no score."""
        try:
            found = await self._rank_for(keys=game_keys(game_id), args=(user_id,))
        except RedisError as exc:
            raise BackendUnavailable(f"redis: {exc}") from exc
        if found is None:
            return None
        score, better = found
        return RankedPlayer(user_id=user_id, score=_exact_int(score), rank=int(better) + 1)

    async def top(self, game_id: str, count: int, offset: int = 0) -> list[RankedPlayer]:
        """Return ``count`` players from ``offset`` (0-based), best first."""
        scores_key, _ = game_keys(game_id)
        try:
            entries = await self.client.zrevrange(scores_key, offset, offset + count - 1, withscores=True)
            first_rank = 1
            if entries and offset:
                first_rank = 1 + await self.client.zcount(scores_key, f"({_exact_int(entries[0][1])}", "+inf")
        except RedisError as exc:
            raise BackendUnavailable(f"redis: {exc}") from exc
        scores = [_exact_int(score) for _, score in entries]
        ranks = competition_ranks(scores, offset=offset, first_rank=first_rank)
        return [
            RankedPlayer(user_id=decode_member(member), score=score, rank=rank)
            for (member, _), score, rank in zip(entries, scores, ranks)
        ]
