"""What every view shares: keys, JSON responses, error translation, parameter parsing."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import TYPE_CHECKING, Any, ClassVar, cast

import orjson
from aiohttp import web
from yarl import URL
from faust.web import Request, Response, View

from leaderboard_app.auth import AuthError, Scope, authorize
from leaderboard_app.errors import (
    BackendUnavailable,
    InvalidInput,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)
from leaderboard_app.models import GameRules, validate_id
from leaderboard_app.rate_limits import client_address, rate_bucket
from leaderboard_app.seasons import RESETS, parse_season, season_of

if TYPE_CHECKING:
    from leaderboard_app.app import LeaderboardApp

logger = logging.getLogger(__name__)

# Ten digits reach every bound in use (GET /games takes offsets up to 10**9) while
# keeping int() away from arbitrarily long inputs.
_DIGITS = re.compile(r"[0-9]{1,10}")

SEASON_HEADER = "X-Leaderboard-Season"
LAG_HEADER = "X-Leaderboard-Lag"


class LeaderboardView(View):
    """A faust View that checks keys, speaks JSON and maps domain errors to status codes."""

    #: The scope a key needs for this endpoint; None for probes that stay open.
    scope: ClassVar[Scope | None] = Scope.READ

    @property
    def leaderboard(self) -> LeaderboardApp:
        return cast("LeaderboardApp", self.app)

    async def dispatch(self, request: Any) -> Any:
        try:
            if not self._host_allowed(request):
                return self.error(421, f"Host {request.host!r} is not served here while no API key is set"
                                       " (LEADERBOARD_ALLOWED_HOSTS)")
            if self.scope is not None:
                # Counted before the key is checked, so failed authentications count too.
                if await self.over_rate_limit(request):
                    return self.rate_limited()
                scope = self.scope_for(request.method)
                authorize(self.leaderboard.settings.api_keys, scope, self.authorization(request))
            return await super().dispatch(request)
        except AuthError as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            return self.json_response({"error": exc.message}, status=exc.status, headers=headers)
        except InvalidInput as exc:
            return self.error(400, str(exc))
        except BackendUnavailable as exc:
            return self.error(503, str(exc))

    def _host_allowed(self, request: Any) -> bool:
        """Without API keys, only the configured host names: a DNS-rebinding page sends its own."""
        settings = self.leaderboard.settings
        if settings.api_keys.configured:
            return True
        try:
            host = URL(f"http://{request.host}").host
        except ValueError:
            return False
        return host is not None and host.lower().strip("[]") in settings.allowed_hosts

    async def over_rate_limit(self, request: Any, cost: int = 1) -> bool:
        """Count ``cost`` requests against the sender's budget of this second; whether it is now spent."""
        settings = self.leaderboard.settings
        if not settings.rate_limit or cost <= 0:
            return False
        return await self.leaderboard.redis_leaderboard.count_request(
            self.client_bucket(request), int(time.time()), cost) > settings.rate_limit

    def client_bucket(self, request: Any) -> str:
        """Who sends ``request``, as limits count clients: its known API key, else its address."""
        settings = self.leaderboard.settings
        address = client_address(request.remote, request.headers.getall("X-Forwarded-For", []),
                                 settings.trusted_proxies)
        return rate_bucket(settings.api_keys, self.authorization(request), address)

    def rate_limited(self) -> Response:
        return self.json_response({"error": "rate limit exceeded; retry after 1 s"}, status=429,
                                  headers={"Retry-After": "1"})

    def authorization(self, request: Any) -> str | None:
        """Return the credentials presented, as an Authorization header value (None: none)."""
        return request.headers.get("Authorization")

    def scope_for(self, method: str) -> Scope:
        """Return the scope ``method`` needs on this endpoint (reads by default)."""
        return cast(Scope, self.scope)

    def json_response(self, value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        """Serialize with orjson (exact integers, fast)."""
        return self.bytes(orjson.dumps(value), content_type="application/json", status=status, headers=headers)

    def read_response(self, value: Any, season: str | None = None) -> Response:
        """Answer a read: JSON plus the index's lag and, for lists, the season."""
        lag = self.leaderboard.lag_monitor.events_behind
        headers = {LAG_HEADER: "unknown" if lag is None else str(lag)}
        if season is not None:
            headers[SEASON_HEADER] = season
        return self.json_response(value, headers=headers)

    async def standings(self, game_id: str, rules: GameRules, season: str, current: str | None = None) -> Any:
        """Return what answers rankings of the season: Redis, or Cassandra once Redis evicted it.

        ``current``: the season being played (default: the game's; a tournament's run, if on).
        """
        app = self.leaderboard
        if current is None and rules.reset in RESETS:
            current = season_of(rules.reset, app.clock.now_us())
        if season == current or await app.redis_leaderboard.season_in_index(game_id, season):
            return app.redis_leaderboard
        if await app.archive.has_standings(game_id, season):
            return app.archive
        return app.redis_leaderboard

    async def game_and_season(self, request: Request) -> tuple[str, GameRules, str]:
        """Return the ``gameId`` query parameter, its rules and the season asked for (default: current)."""
        game_id = query_game_id(request)
        rules = await self.leaderboard.rules_for(game_id)
        text = query_value(request, "season")
        if text is None:
            return game_id, rules, season_of(rules.reset, self.leaderboard.clock.now_us())
        return game_id, rules, parse_season(rules.reset, text)


def query_value(request: Request, name: str) -> str | None:
    """Return the query parameter ``name``, None if absent; twice is an error."""
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise InvalidInput(name, "must be given at most once")
    return values[0] if values else None


def query_game_id(request: Request) -> str:
    """Return the required, valid ``gameId`` query parameter."""
    value = query_value(request, "gameId")
    if value is None:
        raise InvalidInput("gameId", "is required")
    return validate_id("gameId", value)


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    """Return an integer query parameter in [low, high]; absent means ``default``."""
    value = query_value(request, name)
    if value is None:
        return default
    if not _DIGITS.fullmatch(value) or not low <= int(value) <= high:
        raise InvalidInput(name, f"must be an integer from {low} to {high}")
    return int(value)


def query_flag(request: Request, name: str) -> bool:
    """Return a boolean query parameter: ``true`` or ``false``, absent means false."""
    value = query_value(request, name)
    if value not in (None, "true", "false"):
        raise InvalidInput(name, "must be true or false")
    return value == "true"


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """Read a JSON request body: 415 unless declared ``application/json``, 413 past ``limit``
    bytes, 408 if it takes longer than ``timeout`` s.

    The deadline keeps slow or half-open clients from holding a worker's
    connections and memory indefinitely.
    """
    if request.content_type != "application/json":  # aiohttp's: lower case, parameters dropped
        raise UnsupportedMediaType()
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"request body exceeds {limit} bytes")

    async def read_all() -> bytes:
        chunks: list[bytes] = []
        size = 0
        while chunk := await request.content.read(limit + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body exceeds {limit} bytes")
        return b"".join(chunks)

    try:
        return await asyncio.wait_for(read_all(), timeout)
    except asyncio.TimeoutError:
        raise RequestTimeout(f"request body not received within {timeout:g} s") from None


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Answer aiohttp's own errors (unknown path, bad method) and crashes in JSON."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return web.json_response({"error": exc.reason}, status=exc.status, headers=headers)
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("unhandled error answering %s %s", request.method, request.rel_url.path)
        return web.json_response({"error": "internal server error"}, status=500)
