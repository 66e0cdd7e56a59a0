"""``make bench``: measure the service and the limits it sits on, in one run on this machine.

    python -m bench.run [--profile quick|full] [--base-url URL ...] [--only PHASES]

Phases, in order: limits (Redis, Kafka, bare aiohttp), pipeline (a backlog produced straight
to score_updates, then drained by two workers started for the run), query (/topk, /rank over
the backlog's players), freshness (202 -> visible in /rank under a steady write load) and
ingest (POST /score, then POST /scores), last because its writes leave the longest backlog.
Each HTTP phase starts once the workers have applied every event.

With --base-url the HTTP phases load that service instead, which must speak the original API
(/score, /topk, /rank): no workers are started, no pipeline or memory figures are taken, and
the players are submitted over HTTP.

A run of every phase writes bench/results/latest.json (and a dated copy), latest.png and a
row of bench/RESULTS.md (see report.py); a run of some phases writes bench/results/partial.json.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import click

from bench import bare_pipeline, freshness, ingest, limits, noop, query, report
from bench.kafka import Kafka, group_members
from bench.load import Load, wrk_binary
from bench.machine import git_commit, machine
from bench.pipeline import events_behind, measure_drain, produce_backlog, sample_record_size, wait_caught_up
from bench.populate import populate_over_http
from bench.profiles import PROFILES, Profile
from bench.progress import elapsed, say, warn
from bench.stores import CassandraRecord, RedisIndex
from bench.workers import API_KEYS, WORKER_PORTS, WorkerGroup
from leaderboard_app.loadgen import Population
from leaderboard_app.settings import Settings

PHASES = ("limits", "pipeline", "query", "ingest", "freshness")
READY_TIMEOUT = 300.0
#: Longer than a Faust worker's default broker session timeout (60 s).
GROUP_LEAVE_TIMEOUT = 75.0
#: Connections of the POST /scores load (each request carries a whole batch).
BATCH_CONNECTIONS = 8
#: The freshness load stays below the rate the drain reached: the same workers answer the writes too.
FRESHNESS_SHARE_OF_DRAIN = 0.5


def wrk_version() -> str:
    run = subprocess.run([wrk_binary(), "--version"], capture_output=True, text=True)
    return (run.stdout or run.stderr).splitlines()[0].split(" [")[0]


def preflight(settings: Settings, phases: set[str], own_workers: bool) -> None:
    wrk_binary()
    if "limits" in phases:
        for tool in ("redis-benchmark", "java"):
            if shutil.which(tool) is None:
                raise click.ClickException(f"{tool} is not installed (the limits phase needs it)")
    if own_workers:
        deadline = time.monotonic() + GROUP_LEAVE_TIMEOUT
        members = group_members(settings.kafka, settings.app_id)
        if members:
            # A worker killed just before (a chaos test, say) stays a member until its session times out.
            say(f"waiting up to {GROUP_LEAVE_TIMEOUT:g} s for the {members} members of group"
                f" {settings.app_id!r} to leave")
        while members and time.monotonic() < deadline:
            time.sleep(1)
            members = group_members(settings.kafka, settings.app_id)
        if members:
            raise click.ClickException(
                f"{members} consumers of group {settings.app_id!r} are running (`make run`, or integration tests?): "
                "the bench needs the group to itself. Run it under the stack lock: "
                "flock /tmp/leaderboard-stack.lock make bench")


def load_generator_summary(results: dict, processes: int, connections: int) -> dict:
    shares = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            if "wrk_cpu_share" in node:
                shares.append(node["wrk_cpu_share"])
            for value in node.values():
                collect(value)

    collect(results)
    return {"tool": wrk_version(), "processes": processes, "threads_per_process": 1, "connections": connections,
            "max_cpu_share": max(shares, default=None),
            "mean_cpu_share": round(statistics.fmean(shares), 3) if shares else None,
            "cpu_share_means": "wrk's CPU time over wall time and every core of the machine (1.0 = all cores)"}


def run_phases(results: dict, profile: Profile, phases: set[str], settings: Settings, root: Path,
               base_urls: list[str], api_key: str | None, connections: int, freshness_rate: float | None,
               worker_ports: tuple[int, ...] = WORKER_PORTS) -> None:
    own_workers = not base_urls
    population = Population(game_id=f"bench-{results['run_id']}", size=profile.players)
    processes = len(worker_ports) if own_workers else len(base_urls)
    if "limits" in phases:
        results["limits"] = measure_limits(settings, profile, population, processes, root, connections)
    if not phases - {"limits"}:
        return
    workers = WorkerGroup(root, settings.topic_partitions, worker_ports) if own_workers else None
    kafka = Kafka(settings.kafka)
    index = RedisIndex(settings) if own_workers else None
    populated = False
    try:
        if workers is not None:
            if "pipeline" in phases:
                record = CassandraRecord(settings)
                try:
                    memory_before = index.used_memory()
                    backlog = produce_backlog(settings, kafka, index, population)
                    results.update(measure_drain(backlog, workers, index, record, profile.drain_timeout,
                                                 memory_before))
                finally:
                    record.close()
                populated = True
            else:
                workers.start()
            results["assignments"] = workers.wait_balanced(READY_TIMEOUT)
            base_urls, api_key = workers.urls, API_KEYS["write"]
        load = Load(base_urls, api_key)

        def quiet() -> dict:
            """Wait for the workers to apply every event; the state the next phase starts in."""
            if workers is None:
                return {}
            try:
                waited = wait_caught_up(kafka, index, settings.topic_partitions, profile.catch_up_timeout)
            except TimeoutError as exc:
                warn(f"{exc}; the next phase runs all the same")
                waited = profile.catch_up_timeout
            return {"caught_up_after_s": round(waited, 1),
                    "events_behind_at_start": events_behind(kafka, index, settings.topic_partitions),
                    "pending_cassandra_writes_at_start": workers.pending_cassandra_writes()}

        if phases & {"query", "freshness"} and not populated:
            results["populate_s"] = round(populate_over_http(base_urls, api_key, population), 1)
        if "query" in phases:
            state = quiet()
            # Here, not with the other limits: it reads the board the pipeline (or populate) filled.
            results.setdefault("limits", {}).update(limits.bare_query_limits(
                settings, population, processes, root, profile.load_seconds, profile.warmup_seconds, connections))
            results["query"] = {**query.measure_queries(load, population, profile, connections), **state}
        if "freshness" in phases:
            behind = (lambda: events_behind(kafka, index, settings.topic_partitions)) if index is not None else None
            found: dict = {}
            sampled = 0
            for name, rate in (("low", profile.freshness_low_rate),
                               ("half", freshness_rate or _sustainable_rate(results, profile))):
                state = quiet()
                found[name] = {**freshness.measure_freshness(load, population, profile, rate, 2 * connections,
                                                             behind, first_sample=sampled), **state}
                sampled = found[name]["samples_end"]
            if workers is not None:
                # From a quiet state, as a restart in production would be: a worker resumes
                # applying what the last load left behind before it counts as ready.
                quiet()
                found["start"], results["recovery"] = measure_from_start(
                    workers, load, population, profile, 2 * connections, behind, settings, kafka, sampled)
            results["freshness"] = found
        if "ingest" in phases:
            state = quiet()
            single = ingest.measure_single(load, f"{population.game_id}-ingest", profile, connections)
            batch_state = quiet()
            batch = ingest.measure_batch(load, f"{population.game_id}-ingest", profile, BATCH_CONNECTIONS)
            results["ingest"] = {**single, **batch, "runs": {**single["runs"], **batch["runs"]}, **state,
                                 "batch_state": batch_state}
    finally:
        if workers is not None:
            try:
                pending = workers.pending_cassandra_writes()
            except RuntimeError:  # a worker died (or never started): stop the rest all the same
                pending = None
            if pending:
                warn(f"the workers stop with {pending} writes for Cassandra not yet made")
            results["pending_cassandra_writes_at_stop"] = pending
            say("stopping the workers")
            workers.stop()
        if index is not None:
            index.close()


def measure_from_start(workers: WorkerGroup, load: Load, population: Population, profile: Profile,
                       connections: int, behind: Callable[[], int] | None, settings: Settings,
                       kafka: Kafka, first_sample: int) -> tuple[dict, dict]:
    """Freshness from the first moment both workers are ready again, and how fast they recover.

    The workers are restarted with their data directories (``ready_after_restart_s``) and the
    freshness load starts as soon as both answer /ready 200. Then they are restarted with empty
    ones: the time until ready again, over the changelog records they had to read, is
    ``records_per_s`` (the changelog topic is compacted, so it is fewer than every write).
    """
    say("freshness from the start: restarting the workers with their data directories")
    workers.stop()
    started = time.monotonic()
    workers.start()
    workers.wait_balanced(READY_TIMEOUT)
    ready_after = time.monotonic() - started
    start = {**freshness.measure_freshness(load, population, profile, profile.freshness_low_rate, connections,
                                           behind, settle_s=0.0, first_sample=first_sample),
             "ready_after_restart_s": round(ready_after, 1)}
    say("recovery: restarting the workers with empty data directories")
    workers.stop()
    workers.wipe_data()
    changelog = f"{settings.app_id}-player_scores-changelog"
    ends, beginnings = (kafka.end_offsets(changelog, settings.topic_partitions),
                        kafka.beginning_offsets(changelog, settings.topic_partitions))
    records = sum(ends[p] - beginnings.get(p, 0) for p in ends)
    started = time.monotonic()
    workers.start()
    workers.wait_balanced(READY_TIMEOUT)
    restored_s = time.monotonic() - started
    recovery = {"ready_after_restart_s": start["ready_after_restart_s"],
                "empty_datadir_ready_s": round(restored_s, 1), "changelog_records": records,
                "records_per_s": round(records / restored_s, 1)}
    say(f"recovery: ready {recovery['ready_after_restart_s']} s after a restart; from empty data directories"
        f" {records:,} changelog records in {restored_s:.1f} s ({recovery['records_per_s']:,.0f}/s)")
    return start, recovery


def measure_limits(settings: Settings, profile: Profile, population: Population, processes: int, root: Path,
                   connections: int) -> dict:
    say("limits: Redis (redis-benchmark)")
    found = limits.redis_limits(settings.redis_url, profile.redis_benchmark_requests, profile.players)
    say("limits: Kafka (ProducerPerformance)")
    found.update(limits.kafka_limits(settings.kafka, profile.kafka_perf_records,
                                     sample_record_size(population), settings.topic_partitions))
    say(f"limits: bare aiohttp ({processes} processes, wrk)")
    found.update(limits.http_limits(processes, root, profile.load_seconds, profile.warmup_seconds, connections))
    say(f"limits: bare ingest ({processes} processes, wrk)")
    found.update(limits.bare_ingest_limits(settings, f"{population.game_id}-bare-ingest", processes, root,
                                           profile.load_seconds, profile.warmup_seconds, connections))
    say(f"limits: no-op Faust agent ({processes} workers)")
    found.update(noop.measure_noop(settings, population, processes, root))
    say(f"limits: bare pipeline, aiokafka -> Redis and Cassandra ({processes} processes)")
    found.update(bare_pipeline.measure_bare_pipeline(settings, population, processes, root))
    say(f"limits: ZADD -P16 {found['redis_zadd_pipelined_per_s']:,.0f}/s, "
        f"ZREVRANK {found['redis_zrevrank_per_s']:,.0f}/s, Kafka {found['kafka_produce_per_s']:,.0f}/s, "
        f"hello {found['http_hello_rps']:,.0f}/s, bare ingest {found['bare_ingest_rps']:,.0f}/s, "
        f"no-op Faust {found['faust_noop_events_per_s'] or 0:,.0f}/s, "
        f"bare pipeline {found['bare_pipeline_events_per_s'] or 0:,.0f}/s")
    return found


def _sustainable_rate(results: dict, profile: Profile) -> float:
    """The freshness write rate: the profile's, or half the drain rate if that is less.

    Above the rate at which the workers apply events the lag only grows, and freshness with it;
    while they also answer the writes (and the reads of the samples) they apply fewer than in
    the drain, hence the margin. Whether the rate was sustained is in the result.
    """
    rate = float(profile.freshness_rate)
    drained = (results.get("pipeline") or {}).get("redis_events_per_s")
    if drained:
        rate = min(rate, round(drained * FRESHNESS_SHARE_OF_DRAIN))
    return rate


def keep_logs(root: Path) -> None:
    """Keep the last run's worker and server logs in bench/results/logs/ (their data directories go)."""
    kept = report.RESULTS_DIR / "logs"
    shutil.rmtree(kept, ignore_errors=True)
    kept.mkdir(parents=True)
    for log in root.glob("*.log"):
        shutil.copy2(log, kept / log.name)


@click.command()
@click.option("--profile", "profile_name", type=click.Choice(sorted(PROFILES)), default="quick", show_default=True)
@click.option("--base-url", "base_urls", multiple=True, metavar="URL",
              help="Load this running service instead of starting workers; repeat for each of its processes.")
@click.option("--api-key", default=None, help="Bearer key presented to a --base-url service.")
@click.option("--players", type=int, default=None, help="Population (and backlog) size instead of the profile's.")
@click.option("--connections", type=int, default=64, show_default=True, help="wrk connections in all.")
@click.option("--freshness-rate", type=float, default=None,
              help="Writes per second during freshness (default: the profile's, or half the drain rate if less).")
@click.option("--workers", "worker_count", type=click.IntRange(1, len(WORKER_PORTS)), default=len(WORKER_PORTS),
              show_default=True, help="Workers the run starts (to measure how the service scales with them).")
@click.option("--only", default=",".join(PHASES), show_default=True,
              help="Comma-separated phases to run; a partial run writes bench/results/partial.json only.")
def main(profile_name: str, base_urls: tuple[str, ...], api_key: str | None, players: int | None,
         connections: int, freshness_rate: float | None, worker_count: int, only: str) -> None:
    """Benchmark the leaderboard service against the limits of this machine."""
    phases = {phase.strip() for phase in only.split(",") if phase.strip()}
    unknown = phases - set(PHASES)
    if unknown:
        raise click.BadParameter(f"unknown phases {sorted(unknown)}; choose from {', '.join(PHASES)}",
                                 param_hint="--only")
    if base_urls and "pipeline" in phases:
        phases.discard("pipeline")  # the backlog goes through Kafka, which another service may not have
    profile = PROFILES[profile_name]
    if players is not None:
        profile = replace(profile, players=players)
    settings = Settings.from_env()
    worker_ports = WORKER_PORTS[:worker_count]
    preflight(settings, phases, own_workers=not base_urls)
    now = datetime.now(timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    results: dict = {
        "date": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "git_commit": git_commit(),
        "profile": profile.name,
        "run_id": f"{stamp}-{uuid.uuid4().hex[:6]}",
        "phases": [phase for phase in PHASES if phase in phases],
        "service": {"base_urls": list(base_urls) or [f"http://127.0.0.1:{p}" for p in worker_ports],
                    "started_by_bench": not base_urls},
        "workers": len(base_urls) or len(worker_ports),
        "partitions": settings.topic_partitions,
        "machine": machine(),
    }
    say(f"{profile.name} profile, phases {', '.join(results['phases'])}, {profile.players} players")
    root = Path(tempfile.mkdtemp(prefix="leaderboard-bench-"))
    try:
        run_phases(results, profile, phases, settings, root, list(base_urls), api_key, connections, freshness_rate,
                   worker_ports)
    except BaseException:
        say(f"the run failed; worker and server logs are kept in {root}")
        raise
    keep_logs(root)
    shutil.rmtree(root, ignore_errors=True)
    results["load_generator"] = load_generator_summary(results, results["workers"], connections)
    results["duration_s"] = round(elapsed(), 1)
    if phases != set(PHASES) - ({"pipeline"} if base_urls else set()):
        path = report.RESULTS_DIR / "partial.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")
        say(f"partial run: wrote {path}")
        return
    results["targets"] = report.check_targets(results)
    for entry in results["targets"]:
        if entry["met"] is False:
            warn(f"target missed: {entry['target']}: {entry['value']} against {entry['bound']}")
    written = report.write_json(results, stamp)
    written.append(report.write_chart(results))
    report.append_row(results)
    say(f"wrote {', '.join(str(p.relative_to(report.BENCH_DIR.parent)) for p in written)} and a row of bench/RESULTS.md"
        f" in {results['duration_s']:.0f} s")


if __name__ == "__main__":
    main()
