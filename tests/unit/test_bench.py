"""The benchmark harness's own arithmetic and parsing (bench/): no services, no wrk."""

from __future__ import annotations

import pytest

from bench.freshness import percentile
from bench.limits import parse_producer_performance, parse_redis_benchmark_csv
from bench.load import WrkReport, combine, merged_percentile
from bench.report import figure, results_row, with_row

GRID = [i / 10 for i in range(1, 1000)] + [99.9 + i / 100 for i in range(1, 10)] + [100.0]


def report(requests: int, latency_us, errors: dict[str, int] | None = None, seconds: float = 10.0) -> WrkReport:
    """A wrk report whose latency at percentile p is ``latency_us(p)``."""
    return WrkReport(requests=requests, seconds=seconds,
                     errors={"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0, **(errors or {})},
                     latency_us=[(p, float(latency_us(p))) for p in GRID])


def test_merged_percentile_of_one_report_is_its_own() -> None:
    only = report(1000, lambda p: p * 10)
    assert merged_percentile([only], 50) == 500.0
    assert merged_percentile([only], 99) == 990.0
    assert merged_percentile([only], 100) == 1000.0


def test_merged_percentile_weights_reports_by_their_requests() -> None:
    fast = report(900, lambda p: 1000)  # every answer 1 ms
    slow = report(100, lambda p: 50_000)  # every answer 50 ms
    # 90 % of all answers took 1 ms: the median is fast, the 95th percentile slow.
    assert merged_percentile([fast, slow], 50) == 1000.0
    assert merged_percentile([fast, slow], 90) == 1000.0
    assert merged_percentile([fast, slow], 95) == 50_000.0


def test_merged_percentile_without_answers_is_none() -> None:
    assert merged_percentile([report(0, lambda p: 0)], 99) is None


def test_combine_counts_only_answers_below_400_as_served() -> None:
    result = combine([report(1000, lambda p: 2000, {"status": 100}), report(500, lambda p: 4000)],
                     wrk_cpu_seconds=2.0, wall_seconds=10.0, connections=64, rate=None)
    assert result.requests == 1500
    assert result.ok_per_s == pytest.approx(140.0)
    assert result.errors["status"] == 100
    assert result.p50_ms == 2.0 and result.max_ms == 4.0


def test_nearest_rank_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([5.0], 99) == 5.0
    assert percentile([], 50) is None


def test_redis_benchmark_csv() -> None:
    output = ('"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",'
              '"p99_latency_ms","max_latency_ms"\n"ZADD","251999.98","1.165","0.104","1.087","2.327","2.543","2.543"\n')
    assert parse_redis_benchmark_csv(output) == 251999.98
    with pytest.raises(ValueError):
        parse_redis_benchmark_csv("")


def test_producer_performance_summary_is_the_last_line() -> None:
    output = ("249520 records sent, 49904.0 records/sec (11.90 MB/sec), 1500.3 ms avg latency, 2261.0 ms max latency.\n"
              "500000 records sent, 74184.0 records/sec (17.69 MB/sec), 328.72 ms avg latency, 451.00 ms max latency,"
              " 300 ms 50th, 440 ms 95th, 449 ms 99th, 451 ms 99.9th.\n")
    summary = parse_producer_performance(output)
    assert summary["records"] == 500000
    assert summary["records_per_s"] == 74184.0
    assert summary["avg_latency_ms"] == 328.72


def test_results_row_shows_missing_figures_as_dashes() -> None:
    results = {"date": "2026-11-30T10:00:00Z", "git_commit": "0123456789abcdef", "profile": "quick",
               "service": {"started_by_bench": True, "base_urls": []}, "workers": 2,
               "limits": {"http_hello_rps": 32000.0}, "query": {"topk10_rps": 9000.4, "topk10_p99_ms": 3.21}}
    row = results_row(results)
    assert row.startswith("| 2026-11-30 10:00 | `0123456789ab` | quick | bench workers | 2 | 32,000 |")
    assert "| 9,000 (3.2) |" in row
    assert row.count("–") >= 10
    assert figure(results, "query.rank_rps") is None


def test_a_row_goes_to_the_end_of_the_run_table_not_of_the_file() -> None:
    document = ("# Results\n\n| date (UTC) | commit | profile | service | x |\n|---|---|---|---|---|\n| old |\n"
                "\n## Another table\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    updated = with_row(document, "| new |")
    assert updated.splitlines()[5] == "| new |"
    assert updated.endswith("| 1 | 2 |\n")
