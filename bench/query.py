"""Queries over the population: GET /topk (k=10) and GET /rank/{userId} of random players.

Each endpoint runs once as fast as wrk's connections go (its rate), then paced at half that
rate (its latency there: the issue's "p99 at half the max rate").
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from bench.load import Load, LoadResult
from bench.profiles import Profile
from bench.progress import say, warn
from leaderboard_app.loadgen import Population


def check_population(load: Load, population: Population) -> None:
    """Fail early if the service does not rank the population's game; warn if players are missing."""
    headers = {"Authorization": f"Bearer {load.api_key}"} if load.api_key else {}
    url = load.base_urls[0]
    top = httpx.get(f"{url}/topk", params={"gameId": population.game_id, "k": 10}, headers=headers, timeout=10)
    if top.status_code != 200 or not top.json():
        raise RuntimeError(f"GET /topk of the population's game answered {top.status_code} {top.text[:200]}")
    last = population.player(population.size - 1)
    rank = httpx.get(f"{url}/rank/{quote(last, safe='')}", params={"gameId": population.game_id},
                     headers=headers, timeout=10)
    if rank.status_code != 200:
        warn(f"GET /rank of the population's last player answered {rank.status_code} {rank.text[:200]}:"
             " /rank of players not ranked yet will count as errors")


def _measure(load: Load, label: str, script: str, path: str, profile: Profile, connections: int,
             env: dict[str, str]) -> tuple[LoadResult, LoadResult]:
    load.run(script, path, seconds=profile.warmup_seconds, connections=connections, env=env)
    fastest = load.run(script, path, seconds=profile.load_seconds, connections=connections, env=env)
    say(f"{label}: {fastest.ok_per_s:,.0f}/s at most (p99 {fastest.p99_ms} ms, wrk CPU {fastest.wrk_cpu_share:.0%})")
    half = load.run(script, path, seconds=profile.load_seconds, connections=connections, env=env,
                    rate=max(1.0, fastest.ok_per_s / 2))
    say(f"{label}: at {half.ok_per_s:,.0f}/s (half) p50 {half.p50_ms} ms, p99 {half.p99_ms} ms")
    for result in (fastest, half):
        if result.error_count:
            warn(f"{label}: {result.errors} errors in {result.requests} requests")
    return fastest, half


def measure_queries(load: Load, population: Population, profile: Profile, connections: int) -> dict:
    """The ``query`` section."""
    check_population(load, population)
    game = quote(population.game_id, safe="")
    env = {"BENCH_GAME": game, "BENCH_USER_PREFIX": population.prefix, "BENCH_PLAYERS": str(population.size)}
    topk_max, topk_half = _measure(load, "GET /topk", "get", f"/topk?gameId={game}&k=10", profile, connections, env)
    rank_max, rank_half = _measure(load, "GET /rank", "rank", "/", profile, connections, env)
    return {
        "players": population.size,
        "topk10_rps": round(topk_max.ok_per_s, 1),
        "topk10_p99_ms": topk_half.p99_ms,
        "topk10_p50_ms": topk_half.p50_ms,
        "rank_rps": round(rank_max.ok_per_s, 1),
        "rank_p99_ms": rank_half.p99_ms,
        "rank_p50_ms": rank_half.p50_ms,
        "runs": {"topk10_max": topk_max.as_json(), "topk10_half": topk_half.as_json(),
                 "rank_max": rank_max.as_json(), "rank_half": rank_half.as_json()},
    }
