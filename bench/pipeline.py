"""Pipeline drain: how fast a backlog waiting in score_updates reaches Redis and Cassandra.

While no worker of the group runs, one submission per player of a new game is produced
straight to score_updates, encoded as POST /score encodes it: the records of
``faust -A leaderboard_app load-scores`` (``leaderboard_app.loadgen.score_records``), sent by
this run's own bulk producer. Then the workers start, and the run polls:

* Redis: the offsets the agent records as applied (``lb:applied:<app_id>``) until every
  partition reaches the end the backlog left. The rate counts the events applied after the
  first progress was seen, so worker start-up (changelog recovery, joining the group) is not in
  it. Then the game's sorted set must hold every player.
* Cassandra, written behind Redis: the season_scores rows of probe players (the last records
  of each partition, which the workers' writer files, and so stores, last; and a random sample)
  until all are there. Then every player is checked; should any still be missing, the end
  time moves to when the last of them appears.

If the deadline (counted from the first progress) passes first, each rate is of what was
applied (or written) by then, a lower bound, and ``redis_complete`` or ``cassandra_complete``
is false.

Memory: Redis ``used_memory`` from before the workers start to the end, over the players in
the game's sorted set;
the workers' resident memory (/proc) from the first progress to the end, over the events
applied in between.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass

import click

from bench.kafka import Kafka
from bench.progress import say, warn
from bench.stores import CassandraRecord, RedisIndex
from bench.workers import WorkerGroup
from leaderboard_app.loadgen import Population, score_records
from leaderboard_app.models import DEFAULT_RULES
from leaderboard_app.seasons import accepted_season
from leaderboard_app.settings import SCORE_UPDATES_TOPIC, Settings

#: Longest the workers may take from starting to applying their first events.
STARTUP_TIMEOUT = 900.0
PROBES_PER_PARTITION = 50
RANDOM_PROBES = 500
POLL_S = 0.2
#: How often the workers' partitions are read during the drain (each read is a GET /ready).
ASSIGNMENT_POLL_S = 1.0


def sample_record_size(population: Population) -> int:
    """Bytes of key and value of a typical backlog record (for Kafka's own producer test)."""
    key, value = next(score_records(Population(population.game_id, 1), time.time_ns() // 1000))
    return len(key) + len(value)


@dataclass
class Backlog:
    population: Population
    season: str
    #: Where applying starts (the agent's recorded progress) and ends (the topic's end), per partition.
    starts: dict[int, int]
    ends: dict[int, int]
    #: Events that were already waiting before the backlog was produced.
    preexisting: int
    probes: list[str]
    produce_s: float

    @property
    def events(self) -> int:
        return sum(self.ends[p] - self.starts[p] for p in self.ends)


def produce_backlog(settings: Settings, kafka: Kafka, index: RedisIndex, population: Population) -> Backlog:
    partitions = settings.topic_partitions
    before = kafka.end_offsets(SCORE_UPDATES_TOPIC, partitions)
    # Where the agent resumes: its progress as recorded in Redis, or, where Redis has none (it
    # lost its data), the group's committed offsets.
    resumes = {**kafka.committed_offsets(settings.app_id, SCORE_UPDATES_TOPIC), **index.applied_offsets()}
    starts = {p: min(resumes.get(p, 0), before[p]) for p in before}
    preexisting = sum(before[p] - starts[p] for p in before)
    if preexisting:
        warn(f"{preexisting} events were already waiting in {SCORE_UPDATES_TOPIC}; they drain with the backlog")
    season, landed, produce_s = _produce_population(settings, kafka, SCORE_UPDATES_TOPIC, population)
    ends = kafka.end_offsets(SCORE_UPDATES_TOPIC, partitions)
    say(f"produced {len(landed)} events in {produce_s:.1f} s ({len(landed) / produce_s:,.0f}/s)")
    return Backlog(population, season, starts, ends, preexisting, _probes(population, landed), produce_s)


def _produce_population(settings: Settings, kafka: Kafka, topic: str,
                        population: Population) -> tuple[str, list[int], float]:
    """Produce one submission per player to ``topic``, encoded as POST /score encodes it.

    Returns the season the records are stamped with, the partition each landed in and the
    seconds producing took.
    """
    now_us = time.time_ns() // 1000
    season = accepted_season(DEFAULT_RULES.reset, now_us, now_us, settings.season_grace_us)
    started = time.monotonic()
    with click.progressbar(length=population.size, label=f"producing {population.size} events") as bar:
        landed = kafka.produce(topic, score_records(population, now_us), bar.update)
    return season, landed, time.monotonic() - started


@dataclass(frozen=True)
class TopicBacklog:
    """Records of the service's kind waiting in a topic of the bench's own (the limits' backlogs)."""

    topic: str
    population: Population
    season: str
    #: Each partition's end offset before the records were produced (where they start) and after.
    starts: dict[int, int]
    ends: dict[int, int]
    produce_s: float

    @property
    def events(self) -> int:
        return sum(self.ends[p] - self.starts[p] for p in self.ends)


def produce_topic_backlog(settings: Settings, kafka: Kafka, topic: str, population: Population) -> TopicBacklog:
    """Create ``topic`` with the service's partition count and fill it as the pipeline phase fills score_updates.

    The records are exactly those of the pipeline's backlog (keys, values, partitions), so
    what consumes them pays for the same bytes and the same decoding.
    """
    partitions = settings.topic_partitions
    kafka.create_topic(topic, partitions)
    before = kafka.end_offsets(topic, partitions)
    season, landed, produce_s = _produce_population(settings, kafka, topic, population)
    ends = kafka.end_offsets(topic, partitions)
    say(f"produced {len(landed)} events to {topic} in {produce_s:.1f} s ({len(landed) / produce_s:,.0f}/s)")
    return TopicBacklog(topic, population, season, before, ends, produce_s)


def _probes(population: Population, landed: list[int]) -> list[str]:
    """The last players produced to each partition, and a random sample of all."""
    partitions = set(landed)
    last: dict[int, list[int]] = {p: [] for p in partitions}
    for index in range(len(landed) - 1, -1, -1):
        chosen = last[landed[index]]
        if len(chosen) < PROBES_PER_PARTITION:
            chosen.append(index)
        elif all(len(c) >= PROBES_PER_PARTITION for c in last.values()):
            break
    picked = {i for chosen in last.values() for i in chosen}
    picked.update(random.Random(7).sample(range(population.size), min(RANDOM_PROBES, population.size)))
    return [population.player(i) for i in sorted(picked)]


@dataclass
class _Progress:
    at: float
    applied: int
    rss: int
    cpu: float


def measure_drain(backlog: Backlog, workers: WorkerGroup, index: RedisIndex, record: CassandraRecord,
                  timeout: float, memory_before: int) -> dict[str, dict]:
    """Start the workers and time the backlog into Redis and Cassandra; the ``pipeline`` and ``memory`` sections."""
    population = backlog.population
    target = sum(backlog.ends.values())
    started_from = sum(backlog.starts.values())
    # Partitions with records applied before, whose players Redis no longer holds (on new
    # services nothing was applied, and there is nothing to rebuild).
    applied_before = {p for p, start in backlog.starts.items() if start > 0}
    missing = applied_before - index.indexed_partitions()
    if missing:
        warn(f"the Redis index lacks partitions {sorted(missing)} (Redis lost its data?): the workers rebuild"
             " them from the table while they drain, which slows the drain")
    workers.start()
    started = time.monotonic()
    # Start-up (recovering the changelog, which every run makes longer) has a deadline of its
    # own; the drain's runs from the first progress.
    deadline = started + STARTUP_TIMEOUT
    first: _Progress | None = None
    assignments: list[list[list[int]]] = []
    next_assignment_check = 0.0
    applied_total = started_from
    with click.progressbar(length=target - started_from, label="draining into Redis") as bar:
        while True:
            applied = index.applied_offsets()
            now = time.monotonic()
            new_total = sum(max(backlog.starts[p], min(applied.get(p, 0), end)) for p, end in backlog.ends.items())
            bar.update(new_total - applied_total)
            applied_total = new_total
            if first is None and applied_total > started_from:
                first = _Progress(now, applied_total, workers.rss_bytes(), workers.cpu_seconds())
                deadline = now + timeout
            if applied_total >= target:
                finished = now
                break
            if now >= next_assignment_check:
                owned = workers.assignment()  # raises if a worker died
                if first is not None and owned and (not assignments or assignments[-1] != owned):
                    assignments.append(owned)
                next_assignment_check = now + ASSIGNMENT_POLL_S
            if now > deadline:
                finished = now
                break
            time.sleep(POLL_S)
    redis_done = finished
    redis_complete = applied_total >= target
    if first is None:
        raise RuntimeError(f"the workers applied nothing within {STARTUP_TIMEOUT:g} s of starting;"
                           f" see {workers.workers[0].log_path}")
    events = applied_total - first.applied
    cpu_done = workers.cpu_seconds()
    players_in_redis = index.players(population.game_id, backlog.season)
    say(f"Redis: {events} events in {redis_done - first.at:.1f} s after the first progress"
        f" ({players_in_redis} players in the game's sorted set)")
    if not redis_complete:
        warn(f"the drain into Redis did not finish within {timeout:g} s")
    if players_in_redis != population.size:
        warn(f"the game's sorted set holds {players_in_redis} players, not {population.size}")

    cassandra = _wait_for_cassandra(backlog, record, deadline)
    rss_end = workers.rss_bytes()
    memory_end = index.used_memory()
    pipeline = {
        "events": events,
        "backlog_events": backlog.events,
        "preexisting_events": backlog.preexisting,
        "produce_per_s": round(population.size / backlog.produce_s, 1),
        "startup_s": round(first.at - started, 1),
        "redis_events_per_s": round(events / (redis_done - first.at), 1) if redis_done > first.at else None,
        "redis_seconds": round(redis_done - first.at, 2),
        "redis_complete": redis_complete,
        "redis_players": players_in_redis,
        "worker_cpu_share": round((cpu_done - first.cpu) / ((redis_done - first.at) * (os.cpu_count() or 1)), 3),
        "rebalances_during_drain": max(0, len(assignments) - 1),
        "index_rebuilt_during_drain": sorted(missing),
        "assignments": assignments[-1] if assignments else None,
    }
    done_at = cassandra.pop("done_at")
    if done_at is not None:
        pipeline["cassandra_events_per_s"] = round(events / (done_at - first.at), 1)
        pipeline["cassandra_seconds"] = round(done_at - first.at, 2)
    else:  # unfinished: the rows it wrote by the deadline, a lower bound of its rate
        counted_at = cassandra.pop("deadline_at")
        pipeline["cassandra_events_per_s"] = round(cassandra["rows_at_deadline"] / (counted_at - first.at), 1)
        pipeline["cassandra_seconds"] = round(counted_at - first.at, 2)
    pipeline["cassandra_complete"] = cassandra.pop("complete")
    pipeline["cassandra"] = cassandra
    memory = {
        "players": players_in_redis,
        # After Redis lost its data, its growth is mostly the rebuilt index: no figure per player.
        "redis_bytes_per_player": (round((memory_end - memory_before) / players_in_redis, 1)
                                   if players_in_redis and not missing else None),
        "worker_rss_bytes_per_player": round((rss_end - first.rss) / events, 1) if events else None,
        "redis_used_memory_delta_bytes": memory_end - memory_before,
        "worker_rss_delta_bytes": rss_end - first.rss,
        "worker_rss_bytes": rss_end,
    }
    return {"pipeline": pipeline, "memory": memory}


def _wait_for_cassandra(backlog: Backlog, record: CassandraRecord, deadline: float) -> dict:
    """When Cassandra held every player's row (``done_at``); past the deadline, how many it held then."""
    population = backlog.population
    game, season = population.game_id, backlog.season
    everyone = [population.player(i) for i in range(population.size)]
    waiting = set(backlog.probes)
    while waiting and time.monotonic() < deadline:
        waiting -= record.present(game, season, sorted(waiting))
        if waiting:
            time.sleep(POLL_S)
    if waiting:
        counted_at = time.monotonic()
        rows = len(record.present(game, season, everyone))
        warn(f"Cassandra held {rows} of {population.size} players at the deadline")
        return {"done_at": None, "complete": False, "rows_at_deadline": rows, "deadline_at": counted_at}
    probes_done = time.monotonic()
    say("Cassandra: every probe player is there; checking all players")
    missing = set(everyone) - record.present(game, season, everyone)
    checked_in = time.monotonic() - probes_done
    missing_after_probes = len(missing)
    done_at = probes_done
    while missing and time.monotonic() < deadline:
        time.sleep(POLL_S)
        missing -= record.present(game, season, sorted(missing))
        done_at = time.monotonic()
    if missing:
        warn(f"{len(missing)} players were still missing from Cassandra at the deadline")
        return {"done_at": None, "complete": False, "rows_at_deadline": population.size - len(missing),
                "deadline_at": time.monotonic()}
    if missing_after_probes:
        warn(f"{missing_after_probes} players were not yet in Cassandra when the probes were; timed to the last")
    return {"done_at": done_at, "complete": True, "missing_when_probes_seen": missing_after_probes,
            "full_check_s": round(checked_in, 1)}


def events_behind(kafka: Kafka, index: RedisIndex, partitions: int) -> int:
    """Events in score_updates that the agent has not yet applied to Redis."""
    ends = kafka.end_offsets(SCORE_UPDATES_TOPIC, partitions)
    applied = index.applied_offsets()
    return sum(max(0, end - applied.get(p, 0)) for p, end in ends.items())


def wait_caught_up(kafka: Kafka, index: RedisIndex, partitions: int, timeout: float) -> float:
    """Wait until the agent has applied everything in score_updates (so that one phase's writes
    do not load the next); return the seconds it took."""
    started = time.monotonic()
    announced = False
    while True:
        behind = events_behind(kafka, index, partitions)
        if not behind:
            return time.monotonic() - started
        if not announced:
            say(f"waiting for the workers to apply the {behind} events still in {SCORE_UPDATES_TOPIC}")
            announced = True
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"the workers are still {behind} events behind after {timeout:g} s")
        time.sleep(0.5)
