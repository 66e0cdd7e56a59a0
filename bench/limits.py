"""The limits the service sits on, measured with each system's own tool on this machine:

* Redis: ``redis-benchmark`` ZADD pipelined 16 deep, then ZREVRANK (one command per round
  trip, 50 clients) of random members of the set that ZADD filled, in a database the
  service does not use; the set is deleted afterwards.
* Kafka: ``ProducerPerformance`` from the broker's own jars (``.state/lib/kafka``), records
  the size of the service's, ``acks=all`` as the service sends, to a topic of its own that
  is deleted afterwards.
* HTTP: a bare aiohttp server (bench/hello.py), one process per worker the service runs,
  loaded by the same wrk settings as the service.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import redis

from bench.kafka import Kafka
from bench.load import Load, LoadResult
from bench.machine import REPO_DIR
from bench.processes import ChildProcess, port_free, wait_listening

#: A database of the Redis server that the service (db 0) does not use, and the one key put there.
REDIS_BENCH_DB = 15
REDIS_BENCH_KEY = "myzset"
KAFKA_PERF_TOPIC = "leaderboard-bench-producer-perf"
HELLO_PORTS = (6091, 6092)


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


def kafka_limits(broker_url: str, records: int, record_size: int, partitions: int) -> dict[str, object]:
    """The records per second Kafka's own producer reaches on this broker."""
    kafka = Kafka(broker_url)
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


def http_limits(processes: int, root: Path, seconds: float, warmup: float, connections: int) -> dict[str, object]:
    """The GET rate of bare aiohttp servers, one per worker the service runs, under the service's wrk settings."""
    ports = HELLO_PORTS[:processes]
    taken = [port for port in ports if not port_free(port)]
    if taken:
        raise RuntimeError(f"ports {taken} are in use; the hello servers need them")
    servers = [ChildProcess(f"hello {port}", [sys.executable, "-m", "bench.hello", "--port", str(port)],
                            root / f"hello-{port}.log") for port in ports]
    try:
        for server in servers:
            server.start()
        for server, port in zip(servers, ports):
            wait_listening(server, port)
        load = Load([f"http://127.0.0.1:{port}" for port in ports])
        load.run("get", "/hello", seconds=warmup, connections=connections)
        result: LoadResult = load.run("get", "/hello", seconds=seconds, connections=connections)
    finally:
        for server in servers:
            server.stop(10)
    return {"http_hello_rps": round(result.ok_per_s, 1), "http_hello_run": result.as_json(),
            "http_hello_processes": processes}
