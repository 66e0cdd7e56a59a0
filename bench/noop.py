"""The Faust no-op limit: how fast Faust alone hands a backlog of the service's records to an agent.

A Faust app of its own (app id ``leaderboard-<game>-noop``, hence a consumer group of its own),
Kafka only: store ``memory://``, no table, no web server. Its one agent counts the events it
receives (``async for event in stream.events()``), and Faust acks and commits them as it does by
default. It consumes a topic of its own, with the service's partition count, filled before the
workers start with the records of the pipeline phase (``pipeline.produce_topic_backlog``), and
runs as one worker process per worker of the service, with the broker session the bench gives
the service's workers.

How consumption is timed: each process writes to a JSON file, every 0.2 s, the partitions it was
assigned and, per partition, the offset after the newest event its agent received and when
(``time.monotonic``: CLOCK_MONOTONIC, one clock for every process of the machine). The agents
wait at a barrier (a file the run creates) until every process has joined the group and the
partitions are split between them: Faust workers start a couple of seconds apart, and the first
would otherwise drain alone until the others join (the service's workers join while they recover
their table, before the first event). Until then Faust fetches and buffers at most a stream
buffer (4,096 events) per process, hence a backlog of at least 100,000 records. The backlog is
consumed once every partition's records have reached an agent; the rate is the records over the
time from the barrier's release to the moment the last partition's last record arrived. A
rebalance during the drain would be in that time, and the events it makes Faust deliver twice
are reported (``redelivered``). The group's committed offsets would say when the drain ended
only to Faust's commit interval (2.8 s), too coarse for a drain of half a minute.

    python -m bench.noop --app-id ID --broker URL --topic T --partitions N --datadir DIR --status FILE --go FILE
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click
import faust

from bench.kafka import Kafka
from bench.pipeline import TopicBacklog, produce_topic_backlog, sample_record_size
from bench.processes import ChildProcess
from bench.progress import say, warn
from leaderboard_app.loadgen import Population
from leaderboard_app.settings import Settings

NOOP_TOPIC = "leaderboard-bench-noop"
#: Records: the population's, but at least MIN_RECORDS, which dwarf what the workers buffer
#: before the start (a stream buffer, 4,096 events, each: with a backlog of a few of those the
#: figure would be mostly the buffered events' head start) ...
MIN_RECORDS = 100_000
#: ... and at most MAX_RECORDS: two no-op workers move 12,000 to 14,000 events/s on the 2-core
#: machine, so the limit stays near half a minute there (the quick profile's players all fit).
MAX_RECORDS = 200_000
#: Seconds between the status files a worker writes, and between the run's reads of them.
STATUS_INTERVAL_S = 0.2
#: How often an agent waiting at the barrier looks for the start signal.
BARRIER_POLL_S = 0.005
#: Longest the workers may take to start and share the partitions ...
STARTUP_TIMEOUT = 120.0
#: ... and to drain the backlog after the start; past it the rate is of what they received by then.
DRAIN_TIMEOUT = 180.0
#: Faust's settings that environment variables override (faust/types/settings): the ones
#: the no-op app fixes are dropped from its workers' environment, so that they hold.
_FIXED_FAUST_VARIABLES = ("APP_STORE", "APP_DATADIR", "APP_WEB_ENABLED", "TOPIC_PARTITIONS", "BROKER_URL")


@dataclass
class Tally:
    """What one worker's agent has received."""

    events: int = 0
    #: Partition -> (the offset after the newest event received, when it arrived).
    reached: dict[int, tuple[int, float]] = field(default_factory=dict)
    #: The partitions of the topic the worker is assigned now.
    assigned: list[int] = field(default_factory=list)

    def count(self, partition: int, offset: int) -> None:
        self.events += 1
        self.reached[partition] = (offset + 1, time.monotonic())

    def to_json(self) -> str:
        return json.dumps({"events": self.events,
                           "reached": {str(p): list(entry) for p, entry in self.reached.items()},
                           "assigned": self.assigned})

    @classmethod
    def from_json(cls, text: str) -> Tally:
        data = json.loads(text)
        return cls(events=data["events"],
                   reached={int(p): (int(offset), float(at)) for p, (offset, at) in data["reached"].items()},
                   assigned=[int(p) for p in data["assigned"]])


def write_tally(path: Path, tally: Tally) -> None:
    # Replaced whole, so the run never reads half a file.
    partial = path.with_suffix(".tmp")
    partial.write_text(tally.to_json())
    os.replace(partial, path)


def read_tally(path: Path) -> Tally | None:
    try:
        return Tally.from_json(path.read_text())
    except FileNotFoundError:
        return None


def consumed(tallies: Sequence[Tally], starts: Mapping[int, int], ends: Mapping[int, int]) -> int:
    """Records of ``starts``..``ends`` that reached some agent (each counted once)."""
    total = 0
    for partition, end in ends.items():
        reached = max((t.reached[partition][0] for t in tallies if partition in t.reached), default=starts[partition])
        total += max(0, min(reached, end) - starts[partition])
    return total


def drained_at(tallies: Sequence[Tally], starts: Mapping[int, int], ends: Mapping[int, int]) -> float | None:
    """When the last partition's last record first reached an agent; None while any has not."""
    finished = []
    for partition, end in ends.items():
        if end <= starts[partition]:
            continue
        arrivals = [t.reached[partition][1] for t in tallies
                    if partition in t.reached and t.reached[partition][0] >= end]
        if not arrivals:
            return None
        finished.append(min(arrivals))  # a second delivery after a rebalance came later
    return max(finished, default=None)


def balanced(assignments: Sequence[Sequence[int]], partitions: int) -> bool:
    """Whether the workers own every partition once, each at least one (while there are enough)."""
    owned = sorted(p for assigned in assignments for p in assigned)
    busy = sum(1 for assigned in assignments if assigned)
    return owned == list(range(partitions)) and busy == min(len(assignments), partitions)


async def _wait_for_file(path: Path) -> None:
    while not path.exists():
        await asyncio.sleep(BARRIER_POLL_S)


def build_app(app_id: str, broker_url: str, topic: str, partitions: int, datadir: str, status: Path,
              go: Path) -> faust.App:
    """The no-op app: one agent counting the events of ``topic`` once ``go`` exists, and a timer writing the count."""
    # The broker's security as the service's own workers have it (KAFKA_* variables).
    credentials = Settings.from_env().kafka.faust_credentials()
    app = faust.App(app_id, broker=broker_url, broker_credentials=credentials, store="memory://", datadir=datadir,
                    topic_partitions=partitions, web_enabled=False, autodiscover=False)
    # Raw bytes, as the service's topic: no value is decoded before the agent.
    source = app.topic(topic, key_type=bytes, value_type=bytes, value_serializer="raw", partitions=partitions)
    tally = Tally()

    @app.agent(source, name="count_events")
    async def count_events(stream: faust.StreamT) -> None:
        await _wait_for_file(go)
        async for event in stream.events():
            tally.count(event.message.partition, event.message.offset)

    @app.timer(STATUS_INTERVAL_S, name="write_tally")
    async def report() -> None:
        tally.assigned = sorted(tp.partition for tp in app.consumer.assignment() if tp.topic == topic)
        write_tally(status, tally)

    return app


def _worker(index: int, app_id: str, settings: Settings, root: Path, go: Path) -> tuple[ChildProcess, Path]:
    status = root / f"noop-{index}.json"
    env = {name: value for name, value in os.environ.items() if name not in _FIXED_FAUST_VARIABLES}
    # As the bench's service workers run (bench/workers.py): a worker that dies leaves the group after 10 s.
    env.update(BROKER_SESSION_TIMEOUT="10", PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "bench.noop", "--app-id", app_id, "--broker", settings.broker_url,
               "--topic", NOOP_TOPIC, "--partitions", str(settings.topic_partitions),
               "--datadir", str(root / f"noop-data-{index}"), "--status", str(status), "--go", str(go)]
    return ChildProcess(f"noop worker {index}", command, root / f"noop-{index}.log", env), status


def _tallies(statuses: Sequence[Path]) -> list[Tally]:
    return [t for t in map(read_tally, statuses) if t is not None]


def _wait_balanced(workers: Sequence[ChildProcess], statuses: Sequence[Path], partitions: int) -> list[list[int]]:
    """Wait until the workers share the partitions; return each one's."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        for worker in workers:
            worker.require_alive()
        tallies = _tallies(statuses)
        assignments = [t.assigned for t in tallies]
        if len(tallies) == len(workers) and balanced(assignments, partitions):
            return assignments
        if time.monotonic() > deadline:
            raise TimeoutError(f"the no-op workers did not share the {partitions} partitions within"
                               f" {STARTUP_TIMEOUT:g} s (last: {assignments}); see {workers[0].log_path}")
        time.sleep(STATUS_INTERVAL_S)


@dataclass(frozen=True)
class _Drain:
    tallies: list[Tally]
    done: float
    events: int
    complete: bool


def _watch(workers: Sequence[ChildProcess], statuses: Sequence[Path], starts: Mapping[int, int],
           ends: Mapping[int, int], began: float) -> _Drain:
    """Follow the workers' status files until the backlog is consumed or the deadline passes."""
    target = sum(ends[p] - starts[p] for p in ends)
    shown = 0
    with click.progressbar(length=target, label=f"no-op Faust agents consuming {target} events") as bar:
        while True:
            for worker in workers:
                worker.require_alive()
            tallies = _tallies(statuses)
            now = time.monotonic()
            count = consumed(tallies, starts, ends)
            bar.update(count - shown)
            shown = count
            done = drained_at(tallies, starts, ends)
            if done is not None or now > began + DRAIN_TIMEOUT:
                break
            time.sleep(STATUS_INTERVAL_S)
    if done is None:
        warn(f"the no-op workers consumed {count} of {target} events within {DRAIN_TIMEOUT:g} s")
    return _Drain(tallies, done if done is not None else now, count, done is not None)


def measure_noop(settings: Settings, population: Population, processes: int, root: Path) -> dict[str, object]:
    """``faust_noop_events_per_s``: a backlog of the service's records through no-op Faust agents."""
    kafka = Kafka(settings.kafka)
    partitions = settings.topic_partitions
    records = Population(f"{population.game_id}-noop", min(max(population.size, MIN_RECORDS), MAX_RECORDS))
    app_id = f"leaderboard-{records.game_id}"
    go = root / "noop.go"
    workers: list[tuple[ChildProcess, Path]] = []
    try:
        backlog: TopicBacklog = produce_topic_backlog(settings, kafka, NOOP_TOPIC, records)
        # A new group reads from the beginning (Faust's default), leftovers of an interrupted run included.
        starts = kafka.beginning_offsets(NOOP_TOPIC, partitions)
        workers = [_worker(index, app_id, settings, root, go) for index in range(processes)]
        started = time.monotonic()
        for worker, _ in workers:
            worker.start()
        children, statuses = [w for w, _ in workers], [s for _, s in workers]
        assignments = _wait_balanced(children, statuses, partitions)
        go.touch()
        began = time.monotonic()
        drain = _watch(children, statuses, starts, backlog.ends, began)
    finally:
        for worker, _ in workers:
            worker.terminate()
        for worker, _ in workers:
            worker.wait_stopped()
        kafka.delete_topic(NOOP_TOPIC)
        kafka.delete_topic(f"{app_id}-__assignor-__leader")  # Faust's leader election topic
    seconds = drain.done - began
    rate = round(drain.events / seconds, 1) if seconds > 0 else None
    say(f"no-op Faust: {drain.events} events in {seconds:.1f} s ({rate or 0:,.0f}/s) by {processes} workers")
    return {
        "faust_noop_events_per_s": rate,
        "faust_noop_settings": {
            "processes": processes, "partitions": partitions, "assignments": assignments, "events": drain.events,
            "record_bytes": sample_record_size(records), "seconds": round(seconds, 2),
            "startup_s": round(began - started, 1), "complete": drain.complete,
            "redelivered": max(0, sum(t.events for t in drain.tallies) - drain.events),
            "app_id": app_id, "store": "memory://", "web": False, "topic": NOOP_TOPIC,
            "agent": "async for event in stream.events(): count (Faust's default acks)",
            "timed": "all workers released together, once they share the partitions, to the last record of every"
                     " partition received",
        },
    }


@click.command()
@click.option("--app-id", required=True)
@click.option("--broker", "broker_url", required=True)
@click.option("--topic", required=True)
@click.option("--partitions", type=int, required=True)
@click.option("--datadir", required=True)
@click.option("--status", type=click.Path(path_type=Path), required=True)
@click.option("--go", type=click.Path(path_type=Path), required=True, help="The agent starts once it appears.")
def main(app_id: str, broker_url: str, topic: str, partitions: int, datadir: str, status: Path, go: Path) -> None:
    """One worker of the no-op Faust app (the bench starts and stops it)."""
    app = build_app(app_id, broker_url, topic, partitions, datadir, status, go)
    faust.Worker(app, loglevel="info").execute_from_commandline()


if __name__ == "__main__":
    main()
