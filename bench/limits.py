"""The limits the service sits on, measured with each system's own tool on this machine:

* Redis: ``redis-benchmark`` ZADD pipelined 16 deep, then ZREVRANK (one command per round
  trip, 50 clients) of random members of the set that ZADD filled, in a database the
  service does not use; the set is deleted afterwards.
* Kafka: ``ProducerPerformance`` from the broker's own jars (``.state/lib/kafka``), records
  the size of the service's, ``acks=all`` as the service sends, to a topic of its own that
  is deleted afterwards.
* HTTP: a bare aiohttp server (bench/hello.py), one process per worker the service runs,
  loaded by the same wrk settings as the service.
* Bare ingest and bare query (bench/bare.py): the least the service's POST /score and
  GET /rank do (validate and produce with ``acks=all``; one ZREVRANK + ZSCORE round trip),
  one server per worker, loaded by the wrk script and connections of the service's own
  measurement. The query's is taken in the query phase, on the board the service ranks.

The no-op Faust agent (bench/noop.py) and the bare pipeline (bench/bare_pipeline.py) have
modules of their own.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlparse

import redis

from bench.kafka import Kafka
from bench.load import Load, LoadResult
from bench.machine import REPO_DIR
from bench.processes import ChildProcess, port_free, wait_listening
from bench.progress import say, warn
from leaderboard_app.kafka_connection import KafkaConnection
from leaderboard_app.loadgen import Population
from leaderboard_app.models import DEFAULT_RULES, GameRules
from leaderboard_app.seasons import season_of
from leaderboard_app.settings import Settings
from leaderboard_app.sinks.redis import RULES_KEY, season_keys

#: A database of the Redis server that the service (db 0) does not use, and the one key put there.
REDIS_BENCH_DB = 15
REDIS_BENCH_KEY = "myzset"
KAFKA_PERF_TOPIC = "leaderboard-bench-producer-perf"
HELLO_PORTS = (6091, 6092)
#: The bare servers' ports: 6093 and up, one per process (ingest and query never run at once).
BARE_FIRST_PORT = 6093
BARE_INGEST_TOPIC = "leaderboard-bench-bare-ingest"
#: The bare query server reads the game's members hash before it listens.
BARE_QUERY_START_TIMEOUT = 180.0


def parse_redis_benchmark_csv(output: str) -> float:
    """Requests per second from ``redis-benchmark --csv`` output (its last row)."""
    rows = [row for row in csv.reader(io.StringIO(output)) if row and row[0] != "test"]
    if not rows:
        raise ValueError(f"no result row in redis-benchmark output: {output!r}")
    return float(rows[-1][1])


_PRODUCER_SUMMARY = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), "
                               r"([\d.]+) ms avg latency, ([\d.]+) ms max latency")


def parse_producer_performance(output: str) -> dict[str, float]:
    """The final summary line of ProducerPerformance (the per-5-second lines come before it)."""
    found = _PRODUCER_SUMMARY.findall(output)
    if not found:
        raise ValueError(f"no summary line in ProducerPerformance output: {output[-500:]!r}")
    sent, per_s, mb_per_s, avg_ms, max_ms = found[-1]
    return {"records": int(sent), "records_per_s": float(per_s), "mb_per_s": float(mb_per_s),
            "avg_latency_ms": float(avg_ms), "max_latency_ms": float(max_ms)}


def redis_limits(redis_url: str, requests: int, members: int) -> dict[str, object]:
    """ZADD (pipelined 16) and ZREVRANK rates of this Redis server."""
    url = urlparse(redis_url)
    host, port = url.hostname or "127.0.0.1", str(url.port or 6379)
    client = redis.Redis(host=host, port=int(port), db=REDIS_BENCH_DB)
    try:
        if client.exists(REDIS_BENCH_KEY):
            raise RuntimeError(f"Redis db {REDIS_BENCH_DB} already holds {REDIS_BENCH_KEY!r}, which the bench "
                               "would overwrite and delete; remove it or free that database")
        base = ["redis-benchmark", "-h", host, "-p", port, "--dbnum", str(REDIS_BENCH_DB), "-n", str(requests),
                "-r", str(members), "--csv"]
        zadd = subprocess.run([*base, "-P", "16", "-t", "zadd"], capture_output=True, text=True, check=True)
        filled = client.zcard(REDIS_BENCH_KEY)
        zrevrank = subprocess.run([*base, "zrevrank", REDIS_BENCH_KEY, "element:__rand_int__"],
                                  capture_output=True, text=True, check=True)
    finally:
        client.delete(REDIS_BENCH_KEY)
        client.close()
    return {
        "redis_zadd_pipelined_per_s": parse_redis_benchmark_csv(zadd.stdout),
        "redis_zrevrank_per_s": parse_redis_benchmark_csv(zrevrank.stdout),
        "redis_settings": {"requests": requests, "clients": 50, "zadd_pipeline": 16, "zrevrank_pipeline": 1,
                           "zset_members": filled},
    }


def kafka_limits(connection: KafkaConnection, records: int, record_size: int, partitions: int) -> dict[str, object]:
    """The records per second Kafka's own producer reaches on this broker."""
    kafka = Kafka(connection)
    state_dir = Path(os.environ.get("LEADERBOARD_STATE_DIR", REPO_DIR / ".state"))
    jars = state_dir / "lib" / "kafka"
    if not any(jars.glob("kafka-tools-*.jar")):
        raise RuntimeError(f"Kafka's tools jar is not in {jars}: start the services (`make services`) first")
    kafka.create_topic(KAFKA_PERF_TOPIC, partitions)
    try:
        run = subprocess.run(
            ["java", f"-Dlog4j2.configurationFile={REPO_DIR / 'infra/kafka/tools-log4j2.xml'}", "-cp", f"{jars}/*",
             "org.apache.kafka.tools.ProducerPerformance", "--topic", KAFKA_PERF_TOPIC,
             "--num-records", str(records), "--record-size", str(record_size), "--throughput", "-1",
             "--producer-props", f"bootstrap.servers={','.join(kafka.servers)}", "acks=all"],
            capture_output=True, text=True, check=True)
    finally:
        kafka.delete_topic(KAFKA_PERF_TOPIC)
    summary = parse_producer_performance(run.stdout)
    return {"kafka_produce_per_s": summary["records_per_s"],
            "kafka_settings": {"records": records, "record_size": record_size, "acks": "all",
                               "partitions": partitions, **summary}}


@contextmanager
def _servers(label: str, ports: Sequence[int], module_args: Callable[[int], list[str]], root: Path,
             start_timeout: float = 30.0) -> Iterator[Load]:
    """Run ``python -m <module_args(port)>`` on each port; yield a Load over them; stop them (by PID)."""
    taken = [port for port in ports if not port_free(port)]
    if taken:
        raise RuntimeError(f"ports {taken} are in use; the {label} servers need them")
    servers = [ChildProcess(f"{label} {port}", [sys.executable, "-m", *module_args(port)],
                            root / f"{label}-{port}.log") for port in ports]
    try:
        for server in servers:
            server.start()
        for server, port in zip(servers, ports):
            wait_listening(server, port, start_timeout)
        yield Load([f"http://127.0.0.1:{port}" for port in ports])
    finally:
        for server in servers:
            server.stop(10)


def _fastest(load: Load, script: str, path: str, seconds: float, warmup: float, connections: int,
             env: Mapping[str, str], warmup_env: Mapping[str, str] | None = None) -> LoadResult:
    """An unmeasured warm-up, then one run as fast as the connections go."""
    load.run(script, path, seconds=warmup, connections=connections, env=warmup_env or env)
    return load.run(script, path, seconds=seconds, connections=connections, env=env)


def http_limits(processes: int, root: Path, seconds: float, warmup: float, connections: int) -> dict[str, object]:
    """The GET rate of bare aiohttp servers, one per worker the service runs, under the service's wrk settings."""
    with _servers("hello", HELLO_PORTS[:processes], lambda port: ["bench.hello", "--port", str(port)], root) as load:
        result = _fastest(load, "get", "/hello", seconds, warmup, connections, {})
    return {"http_hello_rps": round(result.ok_per_s, 1), "http_hello_run": result.as_json(),
            "http_hello_processes": processes}


def _bare_ports(processes: int) -> tuple[int, ...]:
    return tuple(range(BARE_FIRST_PORT, BARE_FIRST_PORT + processes))


def bare_ingest_limits(settings: Settings, game_id: str, processes: int, root: Path, seconds: float, warmup: float,
                       connections: int) -> dict[str, object]:
    """POST /score answers per second of bare servers that validate as the service does and produce with acks=all.

    Loaded as ``ingest.single_rps`` is (bench/ingest.py: score.lua, a new player per request).
    """
    kafka = Kafka(settings.kafka)
    kafka.create_topic(BARE_INGEST_TOPIC, settings.topic_partitions)
    try:
        with _servers("bare-ingest", _bare_ports(processes),
                      lambda port: ["bench.bare", "ingest", "--port", str(port), "--topic", BARE_INGEST_TOPIC],
                      root) as load:
            env = {"BENCH_GAME": quote(game_id, safe=""), "BENCH_USER_PREFIX": "s"}
            result = _fastest(load, "score", "/", seconds, warmup, connections, env,
                              warmup_env={**env, "BENCH_USER_PREFIX": "w"})
    finally:
        kafka.delete_topic(BARE_INGEST_TOPIC)
    if result.error_count:
        warn(f"bare ingest: {result.errors} errors in {result.requests} requests")
    return {"bare_ingest_rps": round(result.ok_per_s, 1), "bare_ingest_run": result.as_json(),
            "bare_ingest_settings": {"processes": processes, "partitions": settings.topic_partitions,
                                     "topic": BARE_INGEST_TOPIC, "acks": "all", "script": "score.lua",
                                     "rules": "defaults, not read from Redis"}}


def bare_query_limits(settings: Settings, population: Population, processes: int, root: Path, seconds: float,
                      warmup: float, connections: int) -> dict[str, object]:
    """GET /rank answers per second of bare servers making one ZREVRANK + ZSCORE round trip on the game's board.

    Loaded as ``query.rank_rps`` is (bench/query.py: rank.lua over the population). Nothing is
    measured when this Redis does not rank the population's game (a service elsewhere).
    """
    client = redis.Redis.from_url(settings.redis_url)
    try:
        raw = client.hget(RULES_KEY, population.game_id)
        rules = GameRules.from_bytes(raw) if raw else DEFAULT_RULES
        season = season_of(rules.reset, time.time_ns() // 1000)
        players = int(client.zcard(season_keys(population.game_id, season)[0]))
    finally:
        client.close()
    if not players:
        warn(f"Redis at {settings.redis_url} does not rank {population.game_id!r}: no bare query limit")
        return {}
    if players < population.size:
        warn(f"the board ranks {players} of {population.size} players: /rank of the others answers 404")
    say(f"limits: bare query ({processes} processes, wrk)")
    with _servers("bare-query", _bare_ports(processes),
                  lambda port: ["bench.bare", "query", "--port", str(port), "--game", population.game_id,
                                "--season", season], root, BARE_QUERY_START_TIMEOUT) as load:
        env = {"BENCH_GAME": quote(population.game_id, safe=""), "BENCH_USER_PREFIX": population.prefix,
               "BENCH_PLAYERS": str(population.size)}
        result = _fastest(load, "rank", "/", seconds, warmup, connections, env)
    if result.error_count:
        warn(f"bare query: {result.errors} errors in {result.requests} requests")
    say(f"limits: bare query {result.ok_per_s:,.0f}/s")
    return {"bare_query_rps": round(result.ok_per_s, 1), "bare_query_run": result.as_json(),
            "bare_query_settings": {"processes": processes, "players": players, "season": season,
                                    "round_trip": "ZREVRANK + ZSCORE in one pipeline", "script": "rank.lua"}}
