"""Where a record's time goes under a load: the workers' ``leaderboard_event_stage_seconds``
histograms (accepted -> consumed, consumed -> Redis, consumed -> Cassandra), scraped from
every worker's /metrics before and after the load and differenced, so the percentiles are of
that window's records only. A percentile is the upper bound of the bucket it falls in (the
histogram's resolution: see ``_STAGE_BUCKETS`` in leaderboard_app/metrics.py)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import httpx
from prometheus_client.parser import text_string_to_metric_families

METRIC = "leaderboard_event_stage_seconds"

#: stage -> [(upper bound in seconds, cumulative count)], bounds ascending, summed over workers.
Buckets = dict[str, list[tuple[float, float]]]


def parse(exposition: str) -> Buckets:
    """The stage histograms' buckets in one worker's /metrics text."""
    found: dict[str, dict[float, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(exposition):
        if family.name != METRIC:
            continue
        for sample in family.samples:
            if sample.name == f"{METRIC}_bucket":
                found[sample.labels["stage"]][float(sample.labels["le"])] = sample.value
    return {stage: sorted(bounds.items()) for stage, bounds in found.items()}


def add(histograms: Sequence[Buckets]) -> Buckets:
    """Several workers' buckets summed, stage by stage and bound by bound."""
    total: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for histogram in histograms:
        for stage, buckets in histogram.items():
            for bound, count in buckets:
                total[stage][bound] += count
    return {stage: sorted(bounds.items()) for stage, bounds in total.items()}


def difference(before: Buckets, after: Buckets) -> Buckets:
    """What ``after`` counted that ``before`` had not (a worker restarted in between counts from zero)."""
    result: Buckets = {}
    for stage, buckets in after.items():
        earlier = dict(before.get(stage, []))
        result[stage] = [(bound, max(0.0, count - earlier.get(bound, 0.0))) for bound, count in buckets]
    return result


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The upper bound (seconds) of the first bucket holding a share ``q`` of the counts; None if empty."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    wanted = q * buckets[-1][1]
    for bound, count in buckets:
        if count >= wanted:
            return bound
    return math.inf


def summary(buckets: Buckets) -> dict[str, dict[str, float | None]]:
    """Per stage: records counted, p50 and p99 in ms (None: none; "inf": above the largest bound)."""
    result: dict[str, dict[str, float | None]] = {}
    for stage, stage_buckets in sorted(buckets.items()):
        entry: dict[str, float | None] = {"records": stage_buckets[-1][1] if stage_buckets else 0}
        for name, q in (("p50_ms", 0.5), ("p99_ms", 0.99)):
            value = quantile(stage_buckets, q)
            entry[name] = None if value is None or value == math.inf else round(value * 1000, 1)
        result[stage] = entry
    return result


def scrape(urls: Sequence[str]) -> Buckets:
    """Every worker's stage buckets, summed (a worker that does not answer is left out)."""
    histograms = []
    for url in urls:
        try:
            response = httpx.get(f"{url.rstrip('/')}/metrics", timeout=5)
        except httpx.HTTPError:
            continue
        if response.status_code == 200:
            histograms.append(parse(response.text))
    return add(histograms)
