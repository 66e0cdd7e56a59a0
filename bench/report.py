"""What a run leaves behind: bench/results/latest.json and a dated copy, latest.png (the
service's figures against the limits and the issue's targets), and a row of bench/RESULTS.md."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
RESULTS_TABLE = BENCH_DIR / "RESULTS.md"

#: The targets of issue 11, each a figure against a limit measured in the same run (or a bound):
#: (name, figure, "at least"/"at most", the limit's figure or None, factor or bound).
TARGETS = (
    ("drain to Redis >= 0.7 x no-op Faust agent", "pipeline.redis_events_per_s", "at least",
     "limits.faust_noop_events_per_s", 0.7),
    ("drain to Cassandra >= 0.9 x drain to Redis", "pipeline.cassandra_events_per_s", "at least",
     "pipeline.redis_events_per_s", 0.9),
    ("POST /score >= 0.6 x bare ingest", "ingest.single_rps", "at least", "limits.bare_ingest_rps", 0.6),
    ("GET /rank >= 0.7 x bare query", "query.rank_rps", "at least", "limits.bare_query_rps", 0.7),
    ("GET /topk k=10 >= 0.7 x bare query", "query.topk10_rps", "at least", "limits.bare_query_rps", 0.7),
    ("freshness p99 <= 50 ms at 50/s", "freshness.low.p99_ms", "at most", None, 50),
    ("freshness p99 <= 250 ms at half the drain rate", "freshness.half.p99_ms", "at most", None, 250),
    ("freshness p99 <= 250 ms at 50/s from the first /ready", "freshness.start.p99_ms", "at most", None, 250),
    ("ready <= 10 s after a restart with its data", "recovery.ready_after_restart_s", "at most", None, 10),
    ("/rank p99 <= 10 ms at half rate", "query.rank_p99_ms", "at most", None, 10),
    ("/topk p99 <= 10 ms at half rate", "query.topk10_p99_ms", "at most", None, 10),
)


def figure(results: dict, dotted: str) -> Any:
    """``results["a"]["b"]`` for ``"a.b"``, or None where any part is missing."""
    value: Any = results
    for part in dotted.split("."):
        if not isinstance(value, dict) or value.get(part) is None:
            return None
        value = value[part]
    return value


def result_name(results: dict) -> str:
    """``latest`` for the service the run started, ``latest-external`` for a ``--base-url`` one."""
    return "latest" if results["service"]["started_by_bench"] else "latest-external"


def write_json(results: dict, stamp: str) -> list[Path]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2) + "\n"
    name = result_name(results)
    suffix = "" if name == "latest" else "-external"
    paths = [RESULTS_DIR / f"{name}.json", RESULTS_DIR / f"{stamp}-{results['profile']}{suffix}.json"]
    for path in paths:
        path.write_text(text)
    return paths


def short_commit(commit: str) -> str:
    """The first 12 hex digits, keeping a ``+dirty`` mark."""
    return commit[:12] + ("+dirty" if commit.endswith("+dirty") else "")


def _number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _drain_marks(results: dict, complete: str) -> str:
    """What qualifies a drain figure: not finished by the deadline, or slowed by an index rebuild."""
    marks = []
    if figure(results, f"pipeline.{complete}") is False:
        marks.append("unfinished")
    if figure(results, "pipeline.index_rebuilt_during_drain"):
        marks.append("index rebuilt")
    return f" ({', '.join(marks)})" if marks else ""


def check_targets(results: dict) -> list[dict]:
    """Each target of :data:`TARGETS`: the figure, what it is held to, and whether it holds (None: not measured)."""
    checked = []
    for name, dotted, sense, limit, factor in TARGETS:
        value = figure(results, dotted)
        if value is None and _never_seen(results, dotted):
            value = math.inf  # a percentile that landed on a sample never seen: later than any bound
        base = figure(results, limit) if limit else 1.0
        bound = base * factor if base is not None else None
        met = None
        if value is not None and bound is not None:
            met = value >= bound if sense == "at least" else value <= bound
        checked.append({"target": name, "figure": dotted, "value": None if value == math.inf else value,
                        "bound": None if bound is None else round(bound, 1), "met": met})
    return checked


def _never_seen(results: dict, dotted: str) -> bool:
    """Whether ``dotted`` is a freshness percentile left empty because samples were never seen."""
    section = figure(results, dotted.rsplit(".", 1)[0]) if "." in dotted else None
    return isinstance(section, dict) and bool(section.get("samples_failed"))


def _freshness_cell(results: dict, name: str) -> str:
    entry = figure(results, f"freshness.{name}") or {}
    if not entry:
        return "–"
    cell = f"{_number(entry.get('p50_ms'))} / {_number(entry.get('p99_ms'))} @ {_number(entry.get('rate_per_s'))}"
    return cell + (" (not sustained)" if entry.get("sustained") is False else "")


def results_row(results: dict) -> str:
    """One Markdown table row summing up a run (columns as in the header of bench/RESULTS.md)."""
    f = lambda dotted: figure(results, dotted)  # noqa: E731
    cells = [
        f("date")[:16].replace("T", " "),
        f"`{short_commit(str(f('git_commit')))}`",
        f("profile"),
        "bench workers" if f("service.started_by_bench") else ", ".join(f("service.base_urls")),
        str(f("workers")),
        _number(f("limits.http_hello_rps")),
        f"{_number(f('ingest.single_rps'))} ({_number(f('ingest.single_p99_ms'), 1)})",
        _number(f("ingest.batch_scores_per_s")),
        _number(f("pipeline.redis_events_per_s")) + _drain_marks(results, "redis_complete"),
        _number(f("pipeline.cassandra_events_per_s")) + _drain_marks(results, "cassandra_complete"),
        f"{_number(f('limits.faust_noop_events_per_s'))} / {_number(f('limits.bare_pipeline_events_per_s'))}",
        f"{_number(f('limits.bare_ingest_rps'))} / {_number(f('limits.bare_query_rps'))}",
        _freshness_cell(results, "low"),
        _freshness_cell(results, "half"),
        _freshness_cell(results, "start"),
        f"{_number(f('recovery.ready_after_restart_s'), 1)} s / {_number(f('recovery.records_per_s'))}",
        f"{_number(f('query.topk10_rps'))} ({_number(f('query.topk10_p99_ms'), 1)})",
        f"{_number(f('query.rank_rps'))} ({_number(f('query.rank_p99_ms'), 1)})",
        _number(f("query.players")),
        _number(f("memory.redis_bytes_per_player")),
        _number(f("memory.worker_rss_bytes_per_player")),
        f"{_number((f('load_generator.max_cpu_share') or 0) * 100)} %",
        f"{_number(f('duration_s'))} s",
        _targets_cell(results),
    ]
    return "| " + " | ".join(cells) + " |"


def _targets_cell(results: dict) -> str:
    checked = results.get("targets") or check_targets(results)
    measured = [entry for entry in checked if entry["met"] is not None]
    return f"{sum(1 for entry in measured if entry['met'])} of {len(measured)}"


#: How the header of the run table in bench/RESULTS.md begins (other tables may follow it).
TABLE_HEADER = "| date (UTC) | commit | profile | service |"


def with_row(document: str, row: str) -> str:
    """``document`` with ``row`` added at the end of the run table (after its last row)."""
    lines = document.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(TABLE_HEADER)), None)
    if start is None:
        raise ValueError(f"no table beginning {TABLE_HEADER!r} in {RESULTS_TABLE}")
    end = start
    while end + 1 < len(lines) and lines[end + 1].startswith("|"):
        end += 1
    return "\n".join(lines[:end + 1] + [row] + lines[end + 1:]) + "\n"


def append_row(results: dict) -> None:
    RESULTS_TABLE.write_text(with_row(RESULTS_TABLE.read_text(), results_row(results)))


def _bars(axis: Any, title: str, entries: list[tuple[str, Any, str, Any]], unit: str, log: bool) -> None:
    """Bars of (label, value, kind, target) where kind is "limit" or "service"."""
    colours = {"limit": "#9e9e9e", "service": "#1f77b4"}
    labels = [label for label, *_ in entries]
    for x, (label, value, kind, target) in enumerate(entries):
        if value is None:
            axis.text(x, 0.5, "n/a", ha="center", transform=axis.get_xaxis_transform(), color="#777777")
            continue
        axis.bar(x, value, color=colours[kind], width=0.7)
        axis.annotate(f"{value:,.0f}" if value >= 100 else f"{value:.1f}", (x, value), ha="center",
                      va="bottom", fontsize=7)
        if target is not None:
            axis.hlines(target, x - 0.42, x + 0.42, colors="#d62728", linestyles="dashed", linewidth=1.5)
    axis.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    axis.set_xlim(-0.6, len(labels) - 0.4)
    axis.set_title(title, fontsize=10)
    axis.set_ylabel(unit, fontsize=8)
    if log:
        axis.set_yscale("log")
    axis.grid(axis="y", alpha=0.3)


def write_chart(results: dict) -> Path:
    """Draw the service's figures beside the limits, targets dashed in red."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    f = lambda dotted: figure(results, dotted)  # noqa: E731

    def share(limit: str, factor: float) -> float | None:
        value = f(limit)
        return value * factor if value else None

    fig, (http, events, latency) = pyplot.subplots(1, 3, figsize=(15, 5.2))
    _bars(http, "HTTP requests/s (one wrk per worker)", [
        ("bare aiohttp", f("limits.http_hello_rps"), "limit", None),
        ("bare ingest", f("limits.bare_ingest_rps"), "limit", None),
        ("POST /score", f("ingest.single_rps"), "service", share("limits.bare_ingest_rps", 0.6)),
        ("bare query", f("limits.bare_query_rps"), "limit", None),
        ("GET /topk k=10", f("query.topk10_rps"), "service", share("limits.bare_query_rps", 0.7)),
        ("GET /rank", f("query.rank_rps"), "service", share("limits.bare_query_rps", 0.7)),
    ], "requests/s", log=False)
    _bars(events, "events/s", [
        ("Redis ZADD -P16", f("limits.redis_zadd_pipelined_per_s"), "limit", None),
        ("Kafka produce", f("limits.kafka_produce_per_s"), "limit", None),
        ("no-op Faust agent", f("limits.faust_noop_events_per_s"), "limit", None),
        ("bare pipeline", f("limits.bare_pipeline_events_per_s"), "limit", None),
        ("POST /scores", f("ingest.batch_scores_per_s"), "service", None),
        ("drain to Redis", f("pipeline.redis_events_per_s"), "service", share("limits.faust_noop_events_per_s", 0.7)),
        ("drain to Cassandra", f("pipeline.cassandra_events_per_s"), "service",
         share("pipeline.redis_events_per_s", 0.9)),
    ], "events/s (log)", log=True)
    _bars(latency, "latency, ms", [
        ("fresh p99 @ 50/s", f("freshness.low.p99_ms"), "service", 50),
        ("fresh p99 @ half", f("freshness.half.p99_ms"), "service", 250),
        ("fresh p99 from start", f("freshness.start.p99_ms"), "service", 250),
        ("/topk p99 @ half", f("query.topk10_p99_ms"), "service", 10),
        ("/rank p99 @ half", f("query.rank_p99_ms"), "service", 10),
        ("POST /score p99 @ half", f("ingest.single_p99_ms"), "service", None),
    ], "ms (log)", log=True)
    fig.legend(handles=[Patch(color="#9e9e9e", label="limit (each tool on this machine)"),
                        Patch(color="#1f77b4", label="service"),
                        Line2D([], [], color="#d62728", linestyle="dashed", label="target (issue 11)")],
               loc="lower center", ncol=3, fontsize=8)
    machine = f("machine") or {}
    fig.suptitle(f"leaderboard bench, {f('profile')} profile, {f('date')[:16].replace('T', ' ')} UTC, "
                 f"{short_commit(str(f('git_commit')))}, "
                 f"{f('workers')} workers, {f('query.players') or '?'} players, "
                 f"{machine.get('cores')} cores {machine.get('cpu_model')}", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    path = RESULTS_DIR / f"{result_name(results)}.png"
    fig.savefig(path, dpi=110)
    pyplot.close(fig)
    return path
