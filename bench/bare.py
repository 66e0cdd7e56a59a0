"""Bare aiohttp servers doing the least the service's endpoints do, served as bench/hello.py serves:

* ``ingest``: POST /score reads and validates the body exactly as the service's POST /score
  does (``web.base.read_body``, ``models.parse_json_object``, ``web.ingest.build_submission``),
  then awaits an ``acks=all`` ``send_and_wait`` of the record, keyed and encoded as the service
  keys and encodes it, to a topic of its own, and answers 202. No API key, no rate limit, and
  the game's rules are the defaults: the service reads them from Redis first.
* ``query``: GET /rank/{userId} answers the player's rank and score from one Redis round trip,
  ZREVRANK and ZSCORE in one pipeline (redis-py asyncio, hiredis), on the sorted set the
  service's /rank reads. Members carry a tie-break prefix (sinks/redis.py), which the service's
  script looks up in the game's members hash within its round trip; this server reads that hash
  once at start-up instead.

    python -m bench.bare ingest --port 6093 --topic leaderboard-bench-bare-ingest
    python -m bench.bare query --port 6093 --game bench-... [--season all]

Kafka, Redis and the service's limits come from the environment, as a worker's do (Settings).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import click
import orjson
import redis.asyncio as aioredis
from aiohttp import web
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from faust.web.exceptions import WebError

from bench.hello import serve_until_stopped
from leaderboard_app.errors import InvalidInput
from leaderboard_app.models import DEFAULT_RULES, GameRules, parse_json_object, player_key
from leaderboard_app.seasons import Clock
from leaderboard_app.settings import Settings
from leaderboard_app.sinks.redis import season_keys
from leaderboard_app.web.base import read_body
from leaderboard_app.web.ingest import MAX_SCORE_BODY, build_submission

if TYPE_CHECKING:
    from leaderboard_app.app import LeaderboardApp

QUEUED = orjson.dumps({"status": "queued"})
#: Members read per HSCAN round trip when loading the board.
SCAN_COUNT = 10_000


def _error(status: int, message: str) -> web.Response:
    return web.Response(body=orjson.dumps({"error": message}), status=status, content_type="application/json")


# -- ingest ------------------------------------------------------------------------------


class DefaultRules:
    """What ``build_submission`` reads of the app: its settings and a game's rules (here the defaults, no I/O)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def rules_for(self, game_id: str) -> GameRules:
        return DEFAULT_RULES


@dataclass(frozen=True)
class Ingest:
    producer: AIOKafkaProducer
    topic: str
    edge: DefaultRules
    clock: Clock
    body_timeout: float


INGEST = web.AppKey("ingest", Ingest)


async def post_score(request: web.Request) -> web.Response:
    """202 once Kafka holds the submission, as the service's POST /score answers."""
    ingest = request.app[INGEST]
    try:
        body = parse_json_object(await read_body(request, MAX_SCORE_BODY, ingest.body_timeout))
        # build_submission reads only ``settings`` and ``rules_for`` of the app it is given.
        submission = await build_submission(cast("LeaderboardApp", ingest.edge), body, ingest.clock.now_us())
    except InvalidInput as exc:
        return _error(400, str(exc))
    except WebError as exc:  # the body was too large or too slow
        return _error(exc.code, exc.detail)
    try:
        await ingest.producer.send_and_wait(ingest.topic, key=player_key(submission.game_id, submission.user_id),
                                            value=submission.to_bytes())
    except KafkaError as exc:
        return _error(503, f"kafka: {exc or type(exc).__name__}")
    return web.Response(body=QUEUED, status=202, content_type="application/json")


def ingest_application(settings: Settings, topic: str) -> web.Application:
    application = web.Application()

    async def producer_ctx(app: web.Application) -> AsyncIterator[None]:
        # acks=all as the service's producer (producer_acks=-1); the rest Faust's defaults, which are aiokafka's.
        producer = AIOKafkaProducer(**settings.kafka.client_options(), acks="all")
        await producer.start()
        app[INGEST] = Ingest(producer, topic, DefaultRules(settings),
                             Clock(offset_us=int(settings.clock_offset * 1_000_000)), settings.body_timeout)
        yield
        await producer.stop()

    application.cleanup_ctx.append(producer_ctx)
    application.router.add_post("/score", post_score)
    return application


# -- query -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Board:
    client: aioredis.Redis
    scores_key: str
    #: userId -> its member in the sorted set.
    members: dict[str, bytes]


BOARD = web.AppKey("board", Board)


async def get_rank(request: web.Request) -> web.Response:
    """The player's 1-based rank and score, from one ZREVRANK + ZSCORE round trip."""
    board = request.app[BOARD]
    user_id = request.match_info["userId"]
    member = board.members.get(user_id)
    if member is None:
        return _error(404, "user not found")
    async with board.client.pipeline(transaction=False) as pipe:
        pipe.zrevrank(board.scores_key, member)
        pipe.zscore(board.scores_key, member)
        rank, score = await pipe.execute()
    if rank is None or score is None:
        return _error(404, "user not found")
    return web.Response(body=orjson.dumps({"userId": user_id, "rank": rank + 1, "score": int(score)}),
                        content_type="application/json")


async def load_members(client: aioredis.Redis, members_key: str) -> dict[str, bytes]:
    """The game's members hash (userId -> member), read in HSCAN pages so Redis is never held long."""
    members: dict[str, bytes] = {}
    async for user_id, member in client.hscan_iter(members_key, count=SCAN_COUNT):
        members[user_id.decode("utf-8")] = member
    return members


def query_application(settings: Settings, game_id: str, season: str) -> web.Application:
    application = web.Application()
    scores_key, members_key = season_keys(game_id, season)

    async def board_ctx(app: web.Application) -> AsyncIterator[None]:
        client = aioredis.Redis.from_url(settings.redis_url)
        app[BOARD] = Board(client, scores_key, await load_members(client, members_key))
        yield
        await client.aclose()

    application.cleanup_ctx.append(board_ctx)
    application.router.add_get("/rank/{userId}", get_rank)
    return application


# -- command line ------------------------------------------------------------------------


@click.group()
def main() -> None:
    """Bare servers of the bench's limits (one process per worker of the service)."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, required=True)
@click.option("--topic", required=True, help="The topic submissions go to (the bench creates and deletes it).")
def ingest(host: str, port: int, topic: str) -> None:
    """POST /score: validate as the service does, then an acks=all send_and_wait."""
    asyncio.run(serve_until_stopped(ingest_application(Settings.from_env(), topic), host, port))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, required=True)
@click.option("--game", "game_id", required=True, help="The game whose board /rank reads.")
@click.option("--season", default="all", show_default=True)
def query(host: str, port: int, game_id: str, season: str) -> None:
    """GET /rank/{userId}: ZREVRANK + ZSCORE in one round trip."""
    asyncio.run(serve_until_stopped(query_application(Settings.from_env(), game_id, season), host, port))


if __name__ == "__main__":
    main()
