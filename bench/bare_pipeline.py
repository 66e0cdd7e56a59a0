"""The bare pipeline limit: what Redis and Cassandra take, written the service's way without Faust.

A backlog of the service's records (the pipeline phase's, for a game of its own,
``<population's game>-bare``) waits in a topic of its own with the service's partition count.
One process per worker of the service, each assigned its share of the partitions (no consumer
group), reads them with aiokafka ``getmany`` in batches of the service's batch size
(``LEADERBOARD_BATCH_SIZE``) and, per batch, makes the service's own writes:

* decodes each record with ``leaderboard_app.models.decode_update`` and scores it with
  ``scoring.apply_submission`` against an empty state (every player of the backlog is new);
* Redis: one ``RedisLeaderboard.apply`` of the batch's ``PlayerWrite``s, built as the agent
  builds them, with the progress hash of an app id of its own (``lb:applied:leaderboard-<game>``);
* Cassandra: ``CassandraArchive.record_submission`` and ``record_score`` per record, written
  behind by the archive's own writer, as in a worker.

No table, no changelog, no acks. The processes connect to everything first and wait at a
barrier (a file the run creates) with their partitions paused, so the clock starts when all of
them start together. A process is done with Redis when its last batch is applied, and with
Cassandra when ``CassandraArchive.written()`` says every filed write is made; the rates are the
records over the time from the start to the last process done with each. Afterwards the game's
Redis keys (and its id in each player's games set) go; its Cassandra rows stay, as the
pipeline phase's do.

    python -m bench.bare_pipeline --app-id ID --topic T --span P:START:END ... --ready F --go F --result F
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import click
import orjson
import redis
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from bench.kafka import Kafka
from bench.pipeline import TopicBacklog, produce_topic_backlog
from bench.processes import ChildProcess
from bench.progress import say, warn
from bench.stores import CassandraRecord
from leaderboard_app.loadgen import Population
from leaderboard_app.models import ScoreSubmission, SeasonScore, decode_update
from leaderboard_app.scoring import apply_submission
from leaderboard_app.seasons import closes_at_us
from leaderboard_app.settings import Settings
from leaderboard_app.sinks.cassandra import CassandraArchive
from leaderboard_app.sinks.redis import (
    CLOSING_KEY,
    GAMES_KEY,
    PlayerWrite,
    RedisLeaderboard,
    applied_offsets_key,
    profiles_key,
    season_keys,
    seasons_key,
    user_games_key,
)

BARE_TOPIC = "leaderboard-bench-bare-pipeline"
#: Records at most: Cassandra takes about 4,000 events/s this way on the 2-core machine, so
#: this keeps the limit under a minute there.
MAX_RECORDS = 150_000
#: Longest the processes may take to connect to Kafka, Redis and Cassandra ...
READY_TIMEOUT = 120.0
#: ... and to write the backlog to both stores once started.
DRAIN_TIMEOUT = 300.0
POLL_S = 0.2
#: How often a process waiting at the barrier looks for the start signal.
BARRIER_POLL_S = 0.005
#: Longest a fetch waits for records of a partition not yet drained (ms).
FETCH_WAIT_MS = 100
#: Players checked in Cassandra after the drain, and players per Redis cleanup round trip.
CASSANDRA_SAMPLE = 500
CLEANUP_CHUNK = 10_000


@dataclass(frozen=True)
class Span:
    """The records of one partition a process writes: offsets ``start`` up to ``end`` (excluded)."""

    partition: int
    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> Span:
        """``P:START:END``, as the run passes it on the command line."""
        try:
            partition, start, end = (int(part) for part in text.split(":"))
        except ValueError:
            raise ValueError(f"not a span PARTITION:START:END: {text!r}") from None
        if partition < 0 or not 0 <= start <= end:
            raise ValueError(f"not a span of offsets: {text!r}")
        return cls(partition, start, end)

    def __str__(self) -> str:
        return f"{self.partition}:{self.start}:{self.end}"


def split_partitions(partitions: Iterable[int], processes: int) -> list[list[int]]:
    """Deal the partitions to ``processes`` shares in turn (as Kafka's round-robin assignor would)."""
    if processes < 1:
        raise ValueError(f"processes must be at least 1, got {processes}")
    shares: list[list[int]] = [[] for _ in range(processes)]
    for index, partition in enumerate(sorted(partitions)):
        shares[index % processes].append(partition)
    return shares


def player_write(submission: ScoreSubmission, grace_us: int) -> tuple[PlayerWrite, SeasonScore | None]:
    """The Redis write and new season score of a new player's submission, as the agent makes them."""
    season_state = apply_submission(None, submission)
    # A new player's profile changes exactly when the submission carries one.
    profile = None
    if submission.display_name is not None or submission.metadata is not None:
        profile = {"displayName": submission.display_name, "metadata": submission.metadata}
    write = PlayerWrite(
        game_id=submission.game_id, user_id=submission.user_id, activity_us=submission.accepted_at_us,
        season=submission.season, state=season_state, order=submission.rules.order, profile=profile,
        closes_at_us=closes_at_us(submission.rules.reset, submission.season, grace_us),
    )
    return write, season_state


# -- one process --------------------------------------------------------------------


async def _wait_for_file(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout:g} s")
        await asyncio.sleep(BARRIER_POLL_S)


async def _write_batch(messages: Sequence[ConsumerRecord[bytes, bytes]], redis_leaderboard: RedisLeaderboard,
                       archive: CassandraArchive, next_offsets: dict[int, int], grace_us: int) -> None:
    """The service's writes of one batch: Redis in one round trip, Cassandra filed to be written behind."""
    writes = []
    for message in messages:
        update = decode_update(message.value or b"")
        if not isinstance(update, ScoreSubmission):
            raise ValueError(f"the backlog holds a deletion: {update}")
        write, season_state = player_write(update, grace_us)
        writes.append(write)
        archive.record_submission(update.game_id, update.user_id, update.score, update.season,
                                  update.achieved_at_us, update.accepted_at_us)
        if season_state is not None:
            archive.record_score(update.game_id, update.season, update.user_id, season_state)
    await redis_leaderboard.apply(writes, next_offsets)


async def drain(settings: Settings, app_id: str, topic: str, spans: Sequence[Span], ready: Path, go: Path,
                result: Path) -> None:
    """Write the records of ``spans`` to Redis and Cassandra once ``go`` exists; the times go to ``result``."""
    redis_leaderboard = RedisLeaderboard(settings.redis, app_id)
    archive = CassandraArchive(settings)
    consumer = AIOKafkaConsumer(**settings.kafka.client_options(), group_id=None,
                                enable_auto_commit=False, fetch_max_wait_ms=FETCH_WAIT_MS)
    await redis_leaderboard.start()
    await archive.start()
    await consumer.start()
    try:
        await redis_leaderboard.ping()
        await archive.wait_connected(READY_TIMEOUT)
        ends = {TopicPartition(topic, span.partition): span.end for span in spans if span.end > span.start}
        consumer.assign(list(ends))
        # Paused, nothing is fetched before the start: no process gets a head start.
        consumer.pause(*ends)
        for span in spans:
            if span.end > span.start:
                consumer.seek(TopicPartition(topic, span.partition), span.start)
        ready.touch()
        await _wait_for_file(go, DRAIN_TIMEOUT)
        consumer.resume(*ends)
        records = batches = 0
        while ends:
            fetched = await consumer.getmany(timeout_ms=FETCH_WAIT_MS, max_records=settings.batch_size)
            messages = [m for tp, ms in fetched.items() for m in ms if m.offset < ends[tp]]
            if not messages:
                continue
            next_offsets = {tp.partition: ms[-1].offset + 1 for tp, ms in fetched.items() if ms}
            await _write_batch(messages, redis_leaderboard, archive, next_offsets, settings.season_grace_us)
            records += len(messages)
            batches += 1
            for tp, ms in fetched.items():
                if ms and ms[-1].offset + 1 >= ends[tp]:
                    del ends[tp]
        redis_done = time.monotonic()
        await archive.written()
        cassandra_done = time.monotonic()
    finally:
        await consumer.stop()
        await archive.stop()
        await redis_leaderboard.stop()
    # Replaced whole: the run reads the file as soon as it exists.
    partial = result.with_suffix(".tmp")
    partial.write_text(json.dumps({"records": records, "batches": batches, "redis_done_at": redis_done,
                                   "cassandra_done_at": cassandra_done}))
    os.replace(partial, result)


# -- the run ----------------------------------------------------------------------------


def forget_game(redis_url: str, game_id: str, season: str, players: Iterable[str], app_id: str) -> None:
    """Remove from Redis everything writing the game left there (the pipeline writes of its players)."""
    client = redis.Redis.from_url(redis_url)
    try:
        chunk: list[str] = []
        for player in players:
            chunk.append(player)
            if len(chunk) >= CLEANUP_CHUNK:
                _forget_players(client, game_id, chunk)
                chunk = []
        _forget_players(client, game_id, chunk)
        client.unlink(*season_keys(game_id, season), seasons_key(game_id), profiles_key(game_id),
                      applied_offsets_key(app_id))
        client.zrem(GAMES_KEY, game_id)
        client.zrem(CLOSING_KEY, orjson.dumps([game_id, season]))
    finally:
        client.close()


def _forget_players(client: redis.Redis, game_id: str, players: Sequence[str]) -> None:
    with client.pipeline(transaction=False) as pipe:
        for player in players:
            pipe.srem(user_games_key(player), game_id)
        pipe.execute()


@dataclass(frozen=True)
class _Process:
    child: ChildProcess
    ready: Path
    result: Path


def _start(app_id: str, backlog: TopicBacklog, shares: Sequence[Sequence[int]], root: Path,
           go: Path) -> list[_Process]:
    """One process per share of the partitions, each connecting and then waiting for ``go``."""
    processes = []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for index, share in enumerate(shares):
        if not share:
            continue  # more processes than partitions
        spans = [str(Span(p, backlog.starts[p], backlog.ends[p])) for p in share]
        ready, result = root / f"bare-pipeline-{index}.ready", root / f"bare-pipeline-{index}.json"
        command = [sys.executable, "-m", "bench.bare_pipeline", "--app-id", app_id, "--topic", backlog.topic,
                   *(arg for span in spans for arg in ("--span", span)), "--ready", str(ready), "--go", str(go),
                   "--result", str(result)]
        child = ChildProcess(f"bare pipeline {index}", command, root / f"bare-pipeline-{index}.log", env)
        child.start()
        processes.append(_Process(child, ready, result))
    return processes


def _wait_ready(processes: Sequence[_Process]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not all(p.ready.exists() for p in processes):
        for process in processes:
            process.child.require_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"the bare pipeline's processes were not ready within {READY_TIMEOUT:g} s")
        time.sleep(0.05)


def _wait_done(processes: Sequence[_Process], redis_url: str, app_id: str, backlog: TopicBacklog,
               started: float) -> list[dict] | None:
    """Each process's result, or None if the deadline passed first."""
    client = redis.Redis.from_url(redis_url)
    shown = 0
    try:
        with click.progressbar(length=backlog.events, label=f"bare pipeline writing {backlog.events} events") as bar:
            while not all(p.result.exists() for p in processes):
                for process in processes:
                    if not process.result.exists():
                        process.child.require_alive()
                applied = _applied(client, app_id, backlog)
                bar.update(applied - shown)
                shown = applied
                if time.monotonic() > started + DRAIN_TIMEOUT:
                    return None
                time.sleep(POLL_S)
            bar.update(backlog.events - shown)
    finally:
        client.close()
    return [json.loads(p.result.read_text()) for p in processes]


def _applied(client: redis.Redis, app_id: str, backlog: TopicBacklog) -> int:
    """Records in Redis, by the progress the processes write with each batch."""
    progress = {int(p): int(o) for p, o in client.hgetall(applied_offsets_key(app_id)).items()}
    return sum(max(0, min(progress.get(p, start), backlog.ends[p]) - start) for p, start in backlog.starts.items())


def _incomplete(redis_url: str, app_id: str, backlog: TopicBacklog, processes: int) -> dict[str, object]:
    """The figures of a drain the deadline cut short: the Redis rate so far; Cassandra's is unknown."""
    client = redis.Redis.from_url(redis_url)
    try:
        applied = _applied(client, app_id, backlog)
    finally:
        client.close()
    warn(f"the bare pipeline wrote {applied} of {backlog.events} events to Redis within {DRAIN_TIMEOUT:g} s")
    return {"bare_pipeline_events_per_s": None,
            "bare_pipeline_redis_events_per_s": round(applied / DRAIN_TIMEOUT, 1),
            "bare_pipeline_settings": {"processes": processes, "partitions": len(backlog.ends),
                                       "events": backlog.events, "complete": False}}


def measure_bare_pipeline(settings: Settings, population: Population, processes: int,
                          root: Path) -> dict[str, object]:
    """``bare_pipeline_events_per_s``: a backlog into Redis and Cassandra by plain clients and the service's sinks."""
    kafka = Kafka(settings.kafka)
    partitions = settings.topic_partitions
    records = Population(f"{population.game_id}-bare", min(population.size, MAX_RECORDS))
    app_id = f"leaderboard-{records.game_id}"
    shares = split_partitions(range(partitions), processes)
    go = root / "bare-pipeline.go"
    started: list[_Process] = []
    backlog: TopicBacklog | None = None
    try:
        backlog = produce_topic_backlog(settings, kafka, BARE_TOPIC, records)
        started = _start(app_id, backlog, shares, root, go)
        _wait_ready(started)
        go.touch()
        began = time.monotonic()
        results = _wait_done(started, settings.redis_url, app_id, backlog, began)
        if results is None:
            return _incomplete(settings.redis_url, app_id, backlog, len(started))
        checked = _check_stores(settings, backlog)
    finally:
        for process in started:
            process.child.stop(30)
        kafka.delete_topic(BARE_TOPIC)
        if backlog is not None:
            forget_game(settings.redis_url, records.game_id, backlog.season,
                        (records.player(i) for i in range(records.size)), app_id)
    written = sum(r["records"] for r in results)
    redis_s = max(r["redis_done_at"] for r in results) - began
    cassandra_s = max(r["cassandra_done_at"] for r in results) - began
    say(f"bare pipeline: {written} events in Redis after {redis_s:.1f} s, in Cassandra after {cassandra_s:.1f} s"
        f" ({written / cassandra_s:,.0f}/s) by {len(started)} processes")
    if written != backlog.events:
        warn(f"the bare pipeline wrote {written} records, not the {backlog.events} of its backlog")
    return {
        "bare_pipeline_events_per_s": round(written / cassandra_s, 1),
        "bare_pipeline_redis_events_per_s": round(written / redis_s, 1),
        "bare_pipeline_settings": {
            "processes": len(started), "partitions": partitions, "shares": [s for s in shares if s],
            "events": written, "batch_size": settings.batch_size, "batches": sum(r["batches"] for r in results),
            "redis_seconds": round(redis_s, 2), "cassandra_seconds": round(cassandra_s, 2), "complete": True,
            "game_id": records.game_id, "topic": BARE_TOPIC, **checked,
            "timed": "all processes started together (after connecting) to the last one's Cassandra writes made",
        },
    }


def _check_stores(settings: Settings, backlog: TopicBacklog) -> dict[str, int]:
    """What the stores hold of the game after the drain: the sorted set's players, a sample in Cassandra."""
    population = backlog.population
    client = redis.Redis.from_url(settings.redis_url)
    try:
        in_redis = int(client.zcard(season_keys(population.game_id, backlog.season)[0]))
    finally:
        client.close()
    sample = [population.player(i)
              for i in random.Random(7).sample(range(population.size), min(CASSANDRA_SAMPLE, population.size))]
    record = CassandraRecord(settings)
    try:
        in_cassandra = len(record.present(population.game_id, backlog.season, sample))
    finally:
        record.close()
    if in_redis != population.size or in_cassandra != len(sample):
        warn(f"after the bare pipeline Redis ranks {in_redis} of {population.size} players and Cassandra holds"
             f" {in_cassandra} of {len(sample)} sampled")
    return {"redis_players": in_redis, "cassandra_sampled": len(sample), "cassandra_sample_present": in_cassandra}


@click.command()
@click.option("--app-id", required=True, help="Whose progress hash the Redis writes update (lb:applied:<id>).")
@click.option("--topic", required=True)
@click.option("--span", "spans", multiple=True, required=True, help="PARTITION:START:END, once per partition.")
@click.option("--ready", type=click.Path(path_type=Path), required=True, help="Created once connected.")
@click.option("--go", type=click.Path(path_type=Path), required=True, help="Starts the drain when it appears.")
@click.option("--result", type=click.Path(path_type=Path), required=True)
def main(app_id: str, topic: str, spans: tuple[str, ...], ready: Path, go: Path, result: Path) -> None:
    """One process of the bare pipeline (the bench starts it)."""
    try:
        parsed = [Span.parse(span) for span in spans]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--span") from None
    asyncio.run(drain(Settings.from_env(), app_id, topic, parsed, ready, go, result))


if __name__ == "__main__":
    main()
