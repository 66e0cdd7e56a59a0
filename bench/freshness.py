"""Freshness: the time from a submission's 202 to its score showing in GET /rank, under a
steady write load.

wrk holds the background write load (POST /score to random players of the first half of the
population) at the asked rate minus the samples' own rate. Meanwhile, ``samples_per_s``
times a second, a sampled submission raises a player of the second half (each used once) to
a score no other submission gives, and /rank is then read until it shows that score.

Reading must not become the load: a sample is read again ``POLL_S`` or a tenth of the time it
has waited after its last read, whichever is longer, and all samples' reads together are held
to ``READS_PER_S``, first come first served. A sample's resolution is the time from the send
of the last read that did not show the score (or from the 202) to the answer that did: the
score became visible somewhere in it, and ``resolution_p99_ms`` says how sharp the figures are
(reads wait their turn when many samples are pending). A sample not visible after
``VISIBLE_TIMEOUT_S`` counts as infinitely late in the percentiles.

Whether the rate was sustained shows in the events still to apply when the last sample was
sent (``events_behind_when_sampling_ended``): more than a second's worth, and the workers were
falling behind, so the figures grow with the window instead of measuring a steady state.

Besides the samples' own reads, a second wrk holds ``READ_LOAD_PER_S`` GET /rank a second on
players of the first half, as players reading the board would; and the workers' stage
histograms over the sampling window (bench/stages.py) say where the time went.
"""

from __future__ import annotations

import asyncio
import math
import os
import resource
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp

from bench import stages
from bench.load import Load, LoadResult
from bench.profiles import Profile
from bench.progress import say, warn
from leaderboard_app.loadgen import SCORE_CEILING, Population

POLL_S = 0.01
#: The wait before the next read of a sample, as a share of the time it has waited so far.
POLL_BACKOFF = 0.1
#: /rank reads per second for all samples together (a tenth of the 2,000 writes/s target).
READS_PER_S = 200.0
VISIBLE_TIMEOUT_S = 30.0
#: Seconds the background load runs before sampling begins, and after it ends.
SETTLE_S = 2.0
#: GET /rank a second of the read load that runs beside the writes.
READ_LOAD_PER_S = 200.0
#: Scores of the sampled submissions: above every backlog score and every background one.
SAMPLE_SCORE_BASE = 4 * SCORE_CEILING


@dataclass
class Sample:
    user_id: str
    score: int
    visible_ms: float | None = None
    error: str | None = None
    #: When the score became visible is known to this many ms (see the module docstring).
    resolution_ms: float | None = None


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank percentile (the smallest value with at least p % of values at or below it)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]


class SampleReads:
    """The /rank reads of every sample: counted, and paced to ``per_s`` in all, in turn."""

    def __init__(self, per_s: float = READS_PER_S) -> None:
        self.count = 0
        self._interval = 1.0 / per_s
        self._next = 0.0
        self._turns = asyncio.Lock()  # asyncio's Lock wakes its waiters in order

    async def turn(self) -> None:
        async with self._turns:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
            self._next = max(now, self._next) + self._interval
            self.count += 1


async def follow_sample(session: aiohttp.ClientSession, url: str, game_id: str, sample: Sample,
                        reads: SampleReads) -> None:
    """Submit the sample, then read /rank until it shows the sample's score (see the module docstring)."""
    body = {"gameId": game_id, "userId": sample.user_id, "score": sample.score}
    async with session.post(f"{url}/score", json=body) as response:
        if response.status != 202:
            sample.error = f"POST /score answered {response.status}"
            return
    accepted = time.monotonic()
    path = f"{url}/rank/{quote(sample.user_id, safe='')}"
    last_unseen = accepted  # when the last read that did not show the score was sent
    while (waited := time.monotonic() - accepted) < VISIBLE_TIMEOUT_S:
        await reads.turn()
        sent = time.monotonic()
        async with session.get(path, params={"gameId": game_id}) as response:
            if response.status == 200 and (await response.json()).get("score") == sample.score:
                seen = time.monotonic()
                sample.visible_ms = (seen - accepted) * 1000
                sample.resolution_ms = (seen - last_unseen) * 1000
                return
        last_unseen = sent
        await asyncio.sleep(max(POLL_S, waited * POLL_BACKOFF))
    sample.error = f"not visible within {VISIBLE_TIMEOUT_S:g} s"


@dataclass
class _Sampling:
    samples: list[Sample]
    #: Seconds over which the samples were sent.
    sending_s: float
    events_behind_at_end: int | None


async def _sample(urls: list[str], api_key: str | None, population: Population, skip: int, per_s: int,
                  seconds: float,
                  reads: SampleReads, events_behind: Callable[[], int] | None) -> _Sampling:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    first = population.size // 2 + skip
    count = int(per_s * seconds)
    if first + count > population.size:
        raise ValueError(f"the population ({population.size}) is too small for {count} samples")
    samples = [Sample(population.player(first + n), SAMPLE_SCORE_BASE + skip + n) for n in range(count)]
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=10),
                                     connector=aiohttp.TCPConnector(limit=200)) as session:
        tasks = []
        started = time.monotonic()
        for n, sample in enumerate(samples):
            await asyncio.sleep(max(0.0, started + n / per_s - time.monotonic()))
            url = urls[n % len(urls)]
            tasks.append(asyncio.create_task(follow_sample(session, url, population.game_id, sample, reads)))
        sending_s = time.monotonic() - started
        behind = await asyncio.to_thread(events_behind) if events_behind else None
        await asyncio.gather(*tasks, return_exceptions=True)
    return _Sampling(samples, sending_s, behind)


def measure_freshness(load: Load, population: Population, profile: Profile, rate: float, connections: int,
                      events_behind: Callable[[], int] | None = None, settle_s: float = SETTLE_S,
                      first_sample: int = 0) -> dict:
    """A ``freshness`` entry, with the writes held at ``rate`` per second in all.

    ``events_behind`` (when the run knows it) counts the events the workers have yet to apply;
    ``settle_s`` is how long the loads run before the first sample (0: sample from the start);
    ``first_sample``: how many of the second half's players earlier runs sampled (each sample
    raises a player no earlier one raised, to a score no other has).
    """
    samples_per_s = profile.freshness_samples_per_s
    background: dict[str, LoadResult] = {}
    env = {"BENCH_GAME": quote(population.game_id, safe=""), "BENCH_USER_PREFIX": population.prefix,
           "BENCH_PLAYERS": str(population.size // 2), "BENCH_FIRST": "0", "BENCH_SCORE_BASE": str(SCORE_CEILING)}
    load_seconds = profile.freshness_seconds + settle_s + SETTLE_S

    def run_background() -> None:
        background["result"] = load.run("score", seconds=load_seconds, connections=connections,
                                        rate=max(1.0, rate - samples_per_s), env=env)

    def run_reads() -> None:
        background["reads"] = load.run("rank", seconds=load_seconds, connections=max(2, connections // 8),
                                       rate=READ_LOAD_PER_S, env=env)

    stages_before = stages.scrape(load.base_urls)
    readers = threading.Thread(target=run_reads, name="freshness-reads")
    readers.start()
    thread = threading.Thread(target=run_background, name="freshness-load")
    thread.start()
    time.sleep(settle_s)  # let the background load reach its rate before sampling
    usage = resource.getrusage(resource.RUSAGE_SELF)
    began = time.monotonic()
    reads = SampleReads()
    sampling = asyncio.run(_sample(load.base_urls, load.api_key, population, first_sample, samples_per_s,
                                   profile.freshness_seconds, reads, events_behind))
    following_s = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_SELF)
    stage_times = stages.summary(stages.difference(stages_before, stages.scrape(load.base_urls)))
    thread.join()
    readers.join()
    written = background["result"]
    read_load = background["reads"]
    samples = sampling.samples
    # A sample never seen is later than any seen: it counts, as infinity, in the percentiles.
    delays = [math.inf if s.visible_ms is None else s.visible_ms for s in samples]
    visible = [d for d in delays if d != math.inf]
    failed = [s for s in samples if s.visible_ms is None]
    if failed:
        warn(f"freshness: {len(failed)} of {len(samples)} samples failed (e.g. {failed[0].error})")
    rate_per_s = written.ok_per_s + len(samples) / sampling.sending_s
    behind = sampling.events_behind_at_end
    if behind is not None and behind > rate_per_s:
        warn(f"freshness: the workers were {behind} events behind when the last sample was sent:"
             f" {rate_per_s:,.0f} writes/s is more than they sustain")
    result = {
        "rate_per_s": round(rate_per_s, 1),
        "rate_asked_per_s": rate,
        "p50_ms": _round(percentile(delays, 50)),
        "p99_ms": _round(percentile(delays, 99)),
        "max_ms": _round(max(delays, default=None)),
        "mean_ms": _round(statistics.fmean(visible)) if visible and not failed else None,
        "samples": len(samples),
        "samples_end": first_sample + len(samples),
        "samples_failed": len(failed),
        "visible_timeout_ms": VISIBLE_TIMEOUT_S * 1000,
        "resolution_p99_ms": _round(percentile([s.resolution_ms for s in samples if s.resolution_ms is not None], 99)),
        "rank_reads_per_s": round(reads.count / following_s, 1),
        "events_behind_when_sampling_ended": behind,
        "sustained": None if behind is None else behind <= rate_per_s,
        # Rising from quarter to quarter: the workers fell behind the rate.
        "p50_ms_by_quarter": [_round(percentile(delays[i * len(delays) // 4:(i + 1) * len(delays) // 4], 50))
                              for i in range(4)],
        "sampler_cpu_share": round((after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime)
                                   / (following_s * (os.cpu_count() or 1)), 3),
        "read_load_per_s": round(read_load.ok_per_s, 1),
        "read_load_p99_ms": read_load.p99_ms,
        "stages": stage_times,
        "runs": {"background": written.as_json(), "reads": read_load.as_json()},
    }
    say(f"freshness at {rate_per_s:,.0f} writes/s and {read_load.ok_per_s:,.0f} reads/s: p50 {result['p50_ms']} ms,"
        f" p99 {result['p99_ms']} ms ({len(visible)} of {len(samples)} samples seen; null: later than"
        f" {VISIBLE_TIMEOUT_S:g} s); stages p50/p99 ms: "
        + ", ".join(f"{name} {entry['p50_ms']}/{entry['p99_ms']}" for name, entry in stage_times.items()))
    return result


def _round(value: float | None) -> float | None:
    """Milliseconds for the JSON; None for none, or for a sample never seen (infinitely late)."""
    return None if value is None or value == math.inf else round(value, 2)
