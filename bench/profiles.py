"""How big and how long each phase is: the quick profile (``make bench``) and the full one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    #: Events in the backlog the pipeline drains; one per player, all in one game,
    #: so they are also the population the queries rank.
    players: int
    #: Seconds of each measured wrk run (a shorter unmeasured warm-up precedes the max-rate ones).
    load_seconds: float
    warmup_seconds: float
    #: Submissions per second of the steady write load while freshness is sampled: the highest
    #: one (at most half the drain rate) ...
    freshness_rate: int
    freshness_seconds: float
    #: Sampled submissions per second (part of ``freshness_rate``), each polled on /rank.
    freshness_samples_per_s: int
    redis_benchmark_requests: int
    kafka_perf_records: int
    #: Longest the backlog may take to reach Redis and Cassandra before its rates are taken as they are.
    drain_timeout: float
    #: Longest wait, before a phase, for the workers to apply the events still in score_updates.
    catch_up_timeout: float
    #: Items per POST /scores request.
    batch_size: int = 1000
    #: ... and the low one (a small game's evening), also measured from the workers' start.
    freshness_low_rate: int = 50


PROFILES = {
    "quick": Profile(
        name="quick", players=200_000, load_seconds=10, warmup_seconds=2,
        freshness_rate=2000, freshness_seconds=30, freshness_samples_per_s=20,
        redis_benchmark_requests=500_000, kafka_perf_records=500_000, drain_timeout=240, catch_up_timeout=120,
    ),
    "full": Profile(
        name="full", players=1_000_000, load_seconds=30, warmup_seconds=5,
        freshness_rate=2000, freshness_seconds=60, freshness_samples_per_s=20,
        redis_benchmark_requests=2_000_000, kafka_perf_records=2_000_000, drain_timeout=1800,
        catch_up_timeout=900,
    ),
}
