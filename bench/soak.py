"""``make soak``: ten minutes of mixed load at half the measured maximum, over two workers.

    python -m bench.soak [--minutes 10] [--players 20000]

1. Two workers are started (as ``make bench`` starts them) and a population of players is
   submitted over HTTP.
2. The maximum mixed rate is measured: ``lua/mixed.lua`` (80 % reads: /rank and /topk; 20 %
   writes: POST /score) unpaced for ``PROBE_SECONDS``, then the workers are given the time to
   apply the events it left in score_updates. The maximum is the probe's requests over both
   times: the same worker processes serve the requests and apply the events, and a busy
   event loop defers the events, so the probe's own rate would count work left undone (half
   of it was more than the workers sustained: soak of 2026-11-27 04:43).
3. The soak: the same mix paced at half that rate for ``--minutes``. Meanwhile a sampled
   submission a second is followed until /rank shows it (freshness), and every worker's
   resident memory is read every ``MEMORY_EVERY_S`` seconds.

It passes when no request failed (connection errors, timeouts, non-2xx answers), every sample
became visible, and no worker's memory grew by more than ``MEMORY_BOUND_BYTES`` between the
end of the first minute (caches and connection pools warm) and the end. The result goes to
bench/results/soak-<date>.json and a row of the soak table in bench/RESULTS.md.
"""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import click

from bench.freshness import Sample, SampleReads, follow_sample, percentile
from bench.kafka import Kafka
from bench.load import Load, LoadResult
from bench.machine import git_commit, machine, rss_bytes
from bench.pipeline import wait_caught_up
from bench.populate import populate_over_http
from bench.progress import say
from bench.stores import RedisIndex
from bench.workers import API_KEYS, WorkerGroup
from leaderboard_app.loadgen import SCORE_CEILING, Population
from leaderboard_app.settings import Settings

PROBE_SECONDS = 20
PROBE_CONNECTIONS = 32
SOAK_CONNECTIONS = 32
#: Longest wait for the workers to apply what the probe left in score_updates.
CATCH_UP_TIMEOUT_S = 300.0
MEMORY_EVERY_S = 10.0
#: Largest growth of one worker's resident memory allowed from minute 1 to the end.
MEMORY_BOUND_BYTES = 64 * 1024 * 1024
SAMPLES_PER_S = 1
RESULTS = Path(__file__).resolve().parent / "results"
RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"
SOAK_TABLE_HEADER = "## Soak runs"


async def _sample_freshness(load: Load, population: Population, seconds: float) -> list[Sample]:
    """One sampled submission a second (players of the population's second half, each once)."""
    import aiohttp

    headers = {"Authorization": f"Bearer {load.api_key}"} if load.api_key else {}
    first = population.size // 2
    count = int(seconds * SAMPLES_PER_S)
    samples = [Sample(population.player(first + n % (population.size - first)), 4 * SCORE_CEILING + n)
               for n in range(count)]
    reads = SampleReads()
    started = time.monotonic()
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=60)) as session:
        tasks = []
        for n, sample in enumerate(samples):
            await asyncio.sleep(max(0.0, started + n / SAMPLES_PER_S - time.monotonic()))
            url = load.base_urls[n % len(load.base_urls)]
            tasks.append(asyncio.create_task(follow_sample(session, url, population.game_id, sample, reads)))
        await asyncio.gather(*tasks, return_exceptions=True)
    return samples


def _mixed_env(population: Population) -> dict[str, str]:
    return {"BENCH_GAME": quote(population.game_id, safe=""), "BENCH_USER_PREFIX": population.prefix,
            "BENCH_PLAYERS": str(population.size // 2), "BENCH_FIRST": "0",
            "BENCH_SCORE_BASE": str(SCORE_CEILING)}


def _watch_memory(workers: WorkerGroup, stop: threading.Event, readings: list[dict]) -> None:
    started = time.monotonic()
    while not stop.wait(MEMORY_EVERY_S):
        readings.append({"s": round(time.monotonic() - started, 1),
                         "rss_bytes": [rss_bytes(pid) for pid in workers.pids]})


def _memory_growth(readings: list[dict]) -> list[int]:
    """Each worker's growth from the first reading after one minute to the last one."""
    warm = next((r for r in readings if r["s"] >= 60), readings[0])
    return [end - start for start, end in zip(warm["rss_bytes"], readings[-1]["rss_bytes"])]


def run_soak(minutes: float, players: int) -> dict:
    settings = Settings.from_env()
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as root:
        workers = WorkerGroup(Path(root), settings.topic_partitions)
        workers.start()
        try:
            workers.wait_balanced(300)
            load = Load(workers.urls, API_KEYS["admin"])
            population = Population(game_id=f"soak-{uuid.uuid4().hex[:8]}", size=players)
            populate_over_http(workers.urls, load.api_key, population)
            probe = load.run("mixed", seconds=PROBE_SECONDS, connections=PROBE_CONNECTIONS,
                             env=_mixed_env(population))
            catch_up_s = wait_caught_up(Kafka(settings.kafka), RedisIndex(settings), settings.topic_partitions,
                                        CATCH_UP_TIMEOUT_S)
            sustained = probe.ok_per_s * probe.seconds / (probe.seconds + catch_up_s)
            rate = sustained / 2
            say(f"maximum mixed rate {sustained:,.0f} requests/s ({probe.ok_per_s:,.0f}/s answered, then"
                f" {catch_up_s:.1f} s to apply the events); soaking at {rate:,.0f}/s for {minutes:g} min")
            seconds = minutes * 60
            outcome: dict[str, LoadResult] = {}

            def soak() -> None:
                outcome["load"] = load.run("mixed", seconds=seconds, connections=SOAK_CONNECTIONS, rate=rate,
                                           env=_mixed_env(population))

            readings = [{"s": 0.0, "rss_bytes": [rss_bytes(pid) for pid in workers.pids]}]
            stop = threading.Event()
            threads = [threading.Thread(target=soak, name="soak-load"),
                       threading.Thread(target=_watch_memory, args=(workers, stop, readings), name="soak-memory")]
            for thread in threads:
                thread.start()
            samples = asyncio.run(_sample_freshness(load, population, seconds - 5))
            threads[0].join()
            stop.set()
            threads[1].join()
            for worker in workers.workers:
                worker.require_alive()
        finally:
            workers.stop()
    result = outcome["load"]
    delays = [math.inf if s.visible_ms is None else s.visible_ms for s in samples]
    growth = _memory_growth(readings)
    failures = {"requests": result.error_count, "samples": sum(s.visible_ms is None for s in samples),
                "memory_over_bound": [g for g in growth if g > MEMORY_BOUND_BYTES]}
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "machine": machine(),
        "workers": len(workers.workers),
        "minutes": minutes,
        "players": players,
        "max_mixed_per_s": round(sustained, 1),
        "probe": {"answered_per_s": round(probe.ok_per_s, 1), "seconds": round(probe.seconds, 1),
                  "catch_up_seconds": round(catch_up_s, 1)},
        "rate_asked_per_s": round(rate, 1),
        "load": result.as_json(),
        "freshness": {"samples": len(samples), "p50_ms": _ms(percentile(delays, 50)),
                      "p99_ms": _ms(percentile(delays, 99)), "max_ms": _ms(max(delays, default=None))},
        "memory": {"bound_bytes": MEMORY_BOUND_BYTES, "growth_after_minute_1_bytes": growth,
                   "readings": readings},
        "failures": failures,
        "passed": not failures["requests"] and not failures["samples"] and not failures["memory_over_bound"],
    }


def _ms(value: float | None) -> float | None:
    return None if value is None or value == math.inf else round(value, 1)


def record(summary: dict) -> Path:
    """Write the result file and add its row to the soak table of RESULTS.md."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"soak-{summary['date'][:19].replace(':', '')}.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    load = summary["load"]
    mib = [round(g / 2**20, 1) for g in summary["memory"]["growth_after_minute_1_bytes"]]
    row = (f"| {summary['date'][:16].replace('T', ' ')} | `{summary['git_commit'][:8]}` | {summary['minutes']:g} min"
           f" | {summary['max_mixed_per_s']:,.0f} | {load.get('ok_per_s', 0):,.0f} | {summary['failures']['requests']}"
           f" | {summary['freshness']['p50_ms']} / {summary['freshness']['p99_ms']}"
           f" | {', '.join(map(str, mib))} | {'pass' if summary['passed'] else 'FAIL'} |\n")
    text = RESULTS_MD.read_text() if RESULTS_MD.exists() else ""
    if SOAK_TABLE_HEADER not in text:
        text += (f"\n{SOAK_TABLE_HEADER}\n\n`make soak` (bench/soak.py): two workers, mixed load (80 % reads, 20 %"
                 " writes) at half the maximum measured just before, on the machine of the row.\n\n"
                 "| date (UTC) | commit | length | max mixed req/s | soak req/s | failed requests"
                 " | freshness p50 / p99 ms | worker memory growth after minute 1 (MiB) | result |\n"
                 "|---|---|---|---|---|---|---|---|---|\n")
    RESULTS_MD.write_text(text + row)
    return path


@click.command()
@click.option("--minutes", default=10.0, show_default=True, help="Length of the soak.")
@click.option("--players", default=20_000, show_default=True, help="Players of the soaked game.")
def main(minutes: float, players: int) -> None:
    """Soak two workers with mixed load at half the measured maximum."""
    summary = run_soak(minutes, players)
    path = record(summary)
    say(f"soak {'passed' if summary['passed'] else 'FAILED'}: {path}")
    if not summary["passed"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
