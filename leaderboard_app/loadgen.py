"""Synthetic load for trying and benchmarking the service.

A :class:`Population` is one game of ``size`` players named ``<prefix><index in 7 digits>``
(``bench/lua/lib.lua`` names them the same way, so its wrk scripts can draw any of them),
each with a score drawn from a seeded generator. :func:`score_records` turns it into
``score_updates`` records, encoded exactly as ``POST /score`` encodes a submission.

``faust -A leaderboard_app load-scores --game G --players N [--seed S]`` produces them
through the app's own Kafka producer (so every record lands on the partition the API
would have chosen), with a progress bar. ``make bench`` produces its backlog from the
same records with a producer of its own (``bench/pipeline.py``).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import click
from aiokafka.errors import KafkaError
from faust.cli import AppCommand, option
from faust.exceptions import FaustError

from leaderboard_app.errors import BackendUnavailable, InvalidInput
from leaderboard_app.models import DEFAULT_RULES, GameRules, ScoreSubmission, player_key, validate_id
from leaderboard_app.seasons import season_of
from leaderboard_app.settings import SCORE_UPDATES_TOPIC

if TYPE_CHECKING:
    from leaderboard_app.app import LeaderboardApp

#: Synthetic scores lie below this; the bench's write loads submit scores above it,
#: so nearly each of their submissions raises its player's score.
SCORE_CEILING = 1_000_000_000
#: The seed of every run that names none: the same players get the same scores.
DEFAULT_SEED = 5
#: Records sent before waiting for their acknowledgements, so memory stays bounded.
PRODUCE_WINDOW = 10_000


@dataclass(frozen=True)
class Population:
    """The players of one game that a load (or a benchmark run) ranks."""

    game_id: str
    size: int
    prefix: str = "p"

    def player(self, index: int) -> str:
        return f"{self.prefix}{index:07d}"

    def scores(self, seed: int = DEFAULT_SEED) -> list[int]:
        """One score per player, spread over [0, SCORE_CEILING) and the same for every run with ``seed``."""
        draw = random.Random(seed)
        return [draw.randrange(SCORE_CEILING) for _ in range(self.size)]


def score_records(population: Population, now_us: int, rules: GameRules = DEFAULT_RULES,
                  seed: int = DEFAULT_SEED) -> Iterator[tuple[bytes, bytes]]:
    """One submission per player as a (key, value) record of score_updates, stamped with ``rules``
    and the season of its instant as the HTTP edge stamps them, achieved a microsecond apart and
    all in the past (so records made just after midnight may fall in the day before)."""
    size = population.size
    for index, score in enumerate(population.scores(seed)):
        at_us = now_us - (size - index)
        submission = ScoreSubmission(
            game_id=population.game_id, user_id=population.player(index), score=score,
            accepted_at_us=at_us, achieved_at_us=at_us, season=season_of(rules.reset, at_us), rules=rules)
        yield player_key(submission.game_id, submission.user_id), submission.to_bytes()


class Sender(Protocol):
    """What producing needs of a topic (a ``faust.TopicT`` is one): a send that returns its acknowledgement."""

    async def send(self, *, key: bytes, value: bytes) -> Awaitable[Any]: ...


async def produce_records(topic: Sender, records: Iterable[tuple[bytes, bytes]],
                          on_acknowledged: Callable[[int], None] = lambda count: None,
                          window: int = PRODUCE_WINDOW) -> int:
    """Send (key, value) records to ``topic``; return how many Kafka acknowledged.

    At most ``window`` records wait for their acknowledgement at a time, and
    ``on_acknowledged`` is told how many each time a window has landed.
    """
    produced = 0
    pending: list[Awaitable[Any]] = []
    for key, value in records:
        pending.append(await topic.send(key=key, value=value))
        if len(pending) >= window:
            produced += await _acknowledged(pending, on_acknowledged)
            pending = []
    return produced + await _acknowledged(pending, on_acknowledged)


async def _acknowledged(pending: list[Awaitable[Any]], on_acknowledged: Callable[[int], None]) -> int:
    await asyncio.gather(*pending)
    on_acknowledged(len(pending))
    return len(pending)


async def rules_of(app: LeaderboardApp, game_id: str) -> GameRules:
    """The game's rules as Redis holds them for every worker (defaults for a game never configured).

    Records carry their game's rules, and the agent applies them as stamped, so
    a load must not stamp defaults onto a game whose rules differ. The worker's
    global table is not read: opening its store here could collide with a worker's.
    """
    await app.redis_leaderboard.start()
    try:
        raw = await app.redis_leaderboard.rules(game_id)
    finally:
        await app.redis_leaderboard.stop()
    return GameRules.from_bytes(raw) if raw else DEFAULT_RULES


@dataclass(frozen=True)
class Produced:
    """What a load produced, and how long producing took (not counting start-up)."""

    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


async def produce_scores(app: LeaderboardApp, population: Population, rules: GameRules, seed: int,
                         on_acknowledged: Callable[[int], None]) -> Produced:
    """Produce one synthetic submission per player of ``population`` to score_updates."""
    now_us = app.clock.now_us()
    topic = app.score_updates_topic
    await app.maybe_start_producer()
    try:
        # Declared as a worker declares it: auto-created by the broker, it would get the
        # broker's default partition count instead of TOPIC_PARTITIONS.
        await topic.maybe_declare()
        started = time.monotonic()
        count = await produce_records(topic, score_records(population, now_us, rules, seed), on_acknowledged)
        return Produced(count, time.monotonic() - started)
    finally:
        await app.producer.stop()


def _game_id(context: click.Context, param: click.Parameter, value: str) -> str:
    """Refuse at the command line an id the API would refuse (the agent would dead-letter its records)."""
    try:
        return validate_id("gameId", value)
    except InvalidInput as exc:
        raise click.BadParameter(str(exc)) from exc


def register_load_command(app: LeaderboardApp) -> None:
    """Add ``faust -A leaderboard_app load-scores --game G --players N [--seed S]``."""

    @app.command(
        option("--game", required=True, callback=_game_id, help="The game the players' scores go to."),
        option("--players", type=click.IntRange(min=1), required=True,
               help="How many players (one score event each)."),
        option("--seed", type=int, default=DEFAULT_SEED, help="Seed of the scores: the same seed, the same scores."),
    )
    async def load_scores(self: AppCommand, game: str, players: int, seed: int) -> None:
        """Produce synthetic scores for one game.

        One score event per player, straight to score_updates as POST /score would
        queue it, with a progress bar; then how many were produced, and how fast.
        """
        try:
            rules = await rules_of(app, game)
            with click.progressbar(length=players, label=f"producing {players} scores", file=sys.stderr) as bar:
                produced = await produce_scores(app, Population(game_id=game, size=players), rules, seed,
                                                bar.update)
        except (BackendUnavailable, KafkaError, FaustError) as exc:
            # A plain message and exit status 1: mode, which runs the command, would log
            # any other exception with every traceback twice.
            click.echo(f"Error: {exc or type(exc).__name__}", err=True)
            raise SystemExit(1) from exc
        click.echo(f"produced {produced.count} score events for game {game!r} to {SCORE_UPDATES_TOPIC}"
                   f" in {produced.seconds:.1f} s ({produced.per_second:,.0f}/s)")
