"""The benchmark harness's own arithmetic and parsing (bench/): no services, no wrk."""

from __future__ import annotations

import pytest

from bench.bare_pipeline import Span, player_write, split_partitions
from bench.freshness import percentile
from bench.limits import parse_producer_performance, parse_redis_benchmark_csv
from bench.load import WrkReport, combine, merged_percentile
from bench.noop import Tally, balanced, consumed, drained_at
from bench.report import figure, results_row, with_row
from leaderboard_app.models import GameRules, ScoreSubmission
from leaderboard_app.seasons import closes_at_us

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


def test_a_span_reads_partition_start_and_end_and_prints_back() -> None:
    span = Span.parse("3:100:250")
    assert span == Span(3, 100, 250)
    assert Span.parse(str(span)) == span
    for bad in ("3:100", "3:a:5", "-1:0:5", "1:9:5", ""):
        with pytest.raises(ValueError):
            Span.parse(bad)


def test_partitions_are_dealt_in_turn_and_each_once() -> None:
    assert split_partitions(range(4), 2) == [[0, 2], [1, 3]]
    assert split_partitions(range(5), 2) == [[0, 2, 4], [1, 3]]
    assert split_partitions(range(4), 1) == [[0, 1, 2, 3]]
    assert split_partitions(range(2), 3) == [[0], [1], []]
    with pytest.raises(ValueError):
        split_partitions(range(4), 0)


def test_a_new_players_write_is_the_agents() -> None:
    submission = ScoreSubmission(game_id="g", user_id="u", score=42, accepted_at_us=2_000, achieved_at_us=1_000,
                                 season="2026-11", rules=GameRules(order="asc", reset="monthly"))
    write, state = player_write(submission, grace_us=600_000_000)
    assert state is not None and (state.score, state.reached_at_us, state.updated_at_us) == (42, 1_000, 2_000)
    assert (write.game_id, write.user_id, write.season, write.order) == ("g", "u", "2026-11", "asc")
    assert write.state == state and write.activity_us == 2_000 and write.profile is None
    assert write.closes_at_us == closes_at_us("monthly", "2026-11", 600_000_000)


def test_a_new_players_profile_is_written_when_the_submission_has_one() -> None:
    submission = ScoreSubmission(game_id="g", user_id="u", score=1, accepted_at_us=2, achieved_at_us=1,
                                 display_name="Ann")
    write, _ = player_write(submission, grace_us=0)
    assert write.profile == {"displayName": "Ann", "metadata": None}
    assert write.closes_at_us is None  # the "all" season never closes


def tally(reached: dict[int, tuple[int, float]], events: int = 0, assigned: list[int] | None = None) -> Tally:
    return Tally(events=events, reached=reached, assigned=assigned or [])


def test_a_tally_survives_its_file() -> None:
    original = tally({0: (10, 1.5), 3: (7, 2.25)}, events=17, assigned=[0, 3])
    assert Tally.from_json(original.to_json()) == original


def test_records_consumed_count_each_offset_once_across_workers() -> None:
    starts, ends = {0: 0, 1: 5}, {0: 10, 1: 15}
    # Partition 0 went to the second worker after a rebalance, which read it again from 4.
    first, second = tally({0: (6, 1.0), 1: (15, 2.0)}), tally({0: (9, 3.0)})
    assert consumed([first, second], starts, ends) == 9 + 10
    assert consumed([], starts, ends) == 0


def test_the_drain_ends_when_the_last_partition_first_reached_its_end() -> None:
    starts, ends = {0: 0, 1: 0, 2: 4}, {0: 10, 1: 10, 2: 4}  # partition 2 holds nothing to consume
    assert drained_at([tally({0: (10, 5.0), 1: (9, 6.0)})], starts, ends) is None
    # Partition 1 reached its end at 7.0 in one worker, and again at 9.0 in another (redelivered).
    workers = [tally({0: (10, 5.0), 1: (10, 7.0)}), tally({1: (10, 9.0)})]
    assert drained_at(workers, starts, ends) == 7.0


def test_workers_are_balanced_when_they_own_each_partition_once() -> None:
    assert balanced([[0, 1], [2, 3]], 4)
    assert not balanced([[0, 1, 2, 3], []], 4)  # the second has not joined yet
    assert not balanced([[0, 1, 2, 3], [2, 3]], 4)  # the first's status predates the rebalance
    assert not balanced([[0, 1], [2]], 4)
    assert balanced([[0], [1], []], 2)  # more workers than partitions


def test_targets_are_ratios_to_limits_of_the_same_run_and_unmeasured_ones_stay_open() -> None:
    from bench.report import check_targets

    results = {"limits": {"faust_noop_events_per_s": 10_000.0, "bare_query_rps": 4_000.0},
               "pipeline": {"redis_events_per_s": 7_500.0, "cassandra_events_per_s": 6_000.0},
               "query": {"rank_rps": 2_000.0},
               "freshness": {"low": {"p99_ms": 40.0}, "half": {"p99_ms": 300.0}}}
    met = {entry["target"]: entry["met"] for entry in check_targets(results)}
    assert met["drain to Redis >= 0.7 x no-op Faust agent"] is True
    assert met["drain to Cassandra >= 0.9 x drain to Redis"] is False  # 6,000 < 6,750
    assert met["GET /rank >= 0.7 x bare query"] is False
    assert met["freshness p99 <= 50 ms at 50/s"] is True
    assert met["freshness p99 <= 250 ms at half the drain rate"] is False
    assert met["POST /score >= 0.6 x bare ingest"] is None


def test_stage_percentiles_come_from_the_window_between_two_scrapes() -> None:
    from bench import stages

    def exposition(counts: list[int]) -> str:
        bounds = ["0.005", "0.05", "0.5", "+Inf"]
        lines = [f'leaderboard_event_stage_seconds_bucket{{le="{le}",stage="consumed_to_redis"}} {count}'
                 for le, count in zip(bounds, counts)]
        return "# TYPE leaderboard_event_stage_seconds histogram\n" + "\n".join(lines) + "\n"

    before = stages.add([stages.parse(exposition([90, 100, 100, 100]))])
    after = stages.add([stages.parse(exposition([100, 190, 200, 200])), stages.parse(exposition([0, 0, 0, 0]))])
    window = stages.summary(stages.difference(before, after))["consumed_to_redis"]
    # Of the window's 100 records, 10 took up to 5 ms, 80 up to 50 ms and 10 up to 500 ms.
    assert window == {"records": 100.0, "p50_ms": 50.0, "p99_ms": 500.0}
    assert stages.summary(stages.difference(after, after))["consumed_to_redis"]["p50_ms"] is None


def test_a_freshness_percentile_on_samples_never_seen_misses_its_target() -> None:
    from bench.report import check_targets

    results = {"freshness": {"half": {"p99_ms": None, "samples_failed": 144}, "low": {"p99_ms": None}}}
    met = {entry["target"]: entry["met"] for entry in check_targets(results)}
    assert met["freshness p99 <= 250 ms at half the drain rate"] is False
    assert met["freshness p99 <= 50 ms at 50/s"] is None  # not measured, not missed
