"""Writes: POST /score (every request a new player), as fast as wrk's connections go and then
paced at half that rate for its latency; and POST /scores in batches of new players."""

from __future__ import annotations

from urllib.parse import quote

from bench.load import Load
from bench.profiles import Profile
from bench.progress import say, warn


def measure_single(load: Load, game_id: str, profile: Profile, connections: int) -> dict:
    """``single_*`` figures of the ``ingest`` section."""
    env = {"BENCH_GAME": quote(game_id, safe=""), "BENCH_USER_PREFIX": "s"}
    load.run("score", seconds=profile.warmup_seconds, connections=connections, env={**env, "BENCH_USER_PREFIX": "w"})
    fastest = load.run("score", seconds=profile.load_seconds, connections=connections, env=env)
    say(f"POST /score: {fastest.ok_per_s:,.0f}/s at most (p99 {fastest.p99_ms} ms,"
        f" wrk CPU {fastest.wrk_cpu_share:.0%})")
    half = load.run("score", seconds=profile.load_seconds, connections=connections, rate=max(1.0, fastest.ok_per_s / 2),
                    env={**env, "BENCH_USER_PREFIX": "h"})
    say(f"POST /score: at {half.ok_per_s:,.0f}/s (half) p50 {half.p50_ms} ms, p99 {half.p99_ms} ms")
    for result in (fastest, half):
        if result.error_count:
            warn(f"POST /score: {result.errors} errors in {result.requests} requests")
    return {
        "single_rps": round(fastest.ok_per_s, 1),
        "single_p50_ms": half.p50_ms,
        "single_p99_ms": half.p99_ms,
        "single_p99_ms_at_max": fastest.p99_ms,
        "runs": {"single_max": fastest.as_json(), "single_half": half.as_json()},
    }


def measure_batch(load: Load, game_id: str, profile: Profile, connections: int) -> dict:
    """``batch_*`` figures of the ``ingest`` section (None when the service has no POST /scores)."""
    env = {"BENCH_GAME": quote(game_id, safe=""), "BENCH_USER_PREFIX": "b", "BENCH_BATCH": str(profile.batch_size)}
    result = load.run("scores", seconds=profile.load_seconds, connections=connections, env=env)
    served = result.requests - result.errors.get("status", 0)
    if not served:
        warn(f"POST /scores answered no request successfully ({result.errors}); no batch figure")
        return {"batch_scores_per_s": None, "batch_size": profile.batch_size, "runs": {"batch": result.as_json()}}
    say(f"POST /scores: {result.ok_per_s * profile.batch_size:,.0f} scores/s in batches of {profile.batch_size}"
        f" (p99 {result.p99_ms} ms)")
    return {
        "batch_scores_per_s": round(result.ok_per_s * profile.batch_size, 1),
        "batch_size": profile.batch_size,
        "batch_p99_ms": result.p99_ms,
        "runs": {"batch": result.as_json()},
    }
