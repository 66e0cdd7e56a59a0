"""The worker's Prometheus metrics, served by GET /metrics (web/metrics.py).

Every collector lives in a :class:`LeaderboardMetrics`, which owns its own
``CollectorRegistry``: the app builds one (``app.metrics``), so two apps in one
process (as in the unit tests) never share or collide on a series. Nothing here
touches prometheus_client's process-global ``REGISTRY``.

Series (all ``leaderboard_`` unless Faust's own, which are ``faust_``):

    http_requests_total{method,route,status}         every answer, by route pattern (never the raw path)
    http_request_duration_seconds{method,route}      latency of those answers (streams excluded)
    events_processed_total{outcome}                  score_updates records the agent handled
    agent_batch_duration_seconds                     time the agent took to apply one batch
    sink_write_duration_seconds{sink}                one write to Redis or Cassandra
    sink_write_failures_total{sink}                  writes that failed (each retry counts)
    consumer_lag_events{partition}                   events not yet applied, per partition this worker owns
    index_lag_events                                 the same over every partition (X-Leaderboard-Lag)
    cassandra_pending_writes                         writes Cassandra has yet to get from this worker
    malformed_records_total                          records sent to the dead-letter topic or skipped
    index_rebuild_running                            1 while this worker rewrites lost partitions into Redis
    index_rebuild_players / _players_done            size and progress of the current (or last) rebuild
    index_rebuilds_total{outcome}                    rebuilds completed or failed
    live_streams / live_feeds                        open GET /stream/topk answers, and the Redis pollers behind them

Faust's sensor (``faust.sensors.prometheus``) adds the ``faust_*`` series:
messages and events in, table operations, producer sends, commits, rebalances.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from aiohttp import web
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from leaderboard_app.app import LeaderboardApp

PREFIX = "leaderboard"
FAUST_PREFIX = "faust"
CONTENT_TYPE = CONTENT_TYPE_LATEST

#: What the agent did with a record (the ``outcome`` label of events_processed_total):
#: applied a new submission, replayed one already applied (sinks rewritten only),
#: recognised a client retry by its eventId, erased a player, banned one or lifted a ban, or dead-lettered it.
EVENT_OUTCOMES = ("applied", "replayed", "repeated", "deleted", "banned", "restored", "dead_lettered")
SINKS = ("redis", "cassandra")
#: Methods the request metrics name; any other (hostile clients send anything) counts as "other".
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The route label of requests that matched no route (their paths are unbounded).
UNMATCHED_ROUTE = "unmatched"

# Answers take milliseconds to seconds; batches and sink writes likewise.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A record's stages: finer below 100 ms, where a fresh score lives, and up to a minute behind.
_STAGE_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0,
                  2.5, 5.0, 10.0, 30.0, 60.0)
#: The stages of :meth:`LeaderboardMetrics.observe_stage`.
EVENT_STAGES = ("accepted_to_consumed", "consumed_to_redis", "consumed_to_cassandra")


class LeaderboardMetrics:
    """The collectors of one worker, in a registry of their own.

    The agent and the sinks report through the methods below
    (:meth:`count_events`, :meth:`time_batch`, :meth:`time_sink_write`,
    :meth:`count_sink_failure`); the web layer through :meth:`middleware`;
    the index rebuild through the ``rebuild_*`` methods. The rest is read from
    the app when Prometheus scrapes (:meth:`watch`).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        reg = self.registry
        self.http_requests = Counter(
            f"{PREFIX}_http_requests", "HTTP answers, by method, route pattern and status.",
            ["method", "route", "status"], registry=reg)
        self.http_request_seconds = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route pattern (event streams excluded).",
            ["method", "route"], buckets=_LATENCY_BUCKETS, registry=reg)
        self.events_processed = Counter(
            f"{PREFIX}_events_processed", "score_updates records the agent handled, by outcome.",
            ["outcome"], registry=reg)
        self.batch_seconds = Histogram(
            f"{PREFIX}_agent_batch_duration_seconds",
            "Time the agent took to apply one batch of score_updates records.",
            buckets=_LATENCY_BUCKETS, registry=reg)
        self.stage_seconds = Histogram(
            f"{PREFIX}_event_stage_seconds",
            "Time each score_updates record spent in each stage on its way to the indexes: accepted"
            " (the record's Kafka timestamp, set as POST /score sends it) -> consumed (handed to the"
            " agent), consumed -> redis (its batch's Redis writes made), consumed -> cassandra.",
            ["stage"], buckets=_STAGE_BUCKETS, registry=reg)
        self.sink_write_seconds = Histogram(
            f"{PREFIX}_sink_write_duration_seconds", "Time one write to a sink took, by sink.",
            ["sink"], buckets=_LATENCY_BUCKETS, registry=reg)
        self.sink_write_failures = Counter(
            f"{PREFIX}_sink_write_failures", "Writes to a sink that failed (every failed try), by sink.",
            ["sink"], registry=reg)
        self.rebuild_running = Gauge(
            f"{PREFIX}_index_rebuild_running", "1 while this worker rewrites lost partitions into Redis.",
            registry=reg)
        self.rebuild_players = Gauge(
            f"{PREFIX}_index_rebuild_players", "Players the current (or last) index rebuild rewrites.",
            registry=reg)
        self.rebuild_players_done = Gauge(
            f"{PREFIX}_index_rebuild_players_done", "Players the current (or last) index rebuild has rewritten.",
            registry=reg)
        self.rebuilds = Counter(
            f"{PREFIX}_index_rebuilds", "Index rebuilds this worker finished, by outcome.",
            ["outcome"], registry=reg)
        self.live_streams = Gauge(
            f"{PREFIX}_live_streams", "Open GET /stream/topk answers.", registry=reg)
        self.live_feeds = Gauge(
            f"{PREFIX}_live_feeds", "Distinct (game, season, k) polled in Redis for /stream/topk.", registry=reg)
        # Every series that may stay at zero is created now, so dashboards and
        # rate() see it from the first scrape instead of from its first event.
        # The agent counts every record: its series are looked up once, here, not per record.
        self._events_by_outcome = {outcome: self.events_processed.labels(outcome=outcome)
                                   for outcome in EVENT_OUTCOMES}
        self._stages = {stage: self.stage_seconds.labels(stage=stage) for stage in EVENT_STAGES}
        for sink in SINKS:
            self.sink_write_seconds.labels(sink=sink)
            self.sink_write_failures.labels(sink=sink)
        for outcome in ("completed", "failed"):
            self.rebuilds.labels(outcome=outcome)
        ProcessCollector(registry=reg)
        PlatformCollector(registry=reg)
        GCCollector(registry=reg)

    # -- scraping -----------------------------------------------------------------

    def exposition(self) -> bytes:
        """Return every series in Prometheus' text format (see :data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)

    def faust_monitor(self) -> PrometheusMonitor:
        """Return Faust's Prometheus sensor, writing the ``faust_*`` series into this registry."""
        return PrometheusMonitor(metrics=FaustMetrics.create(self.registry, FAUST_PREFIX))

    def watch(self, app: LeaderboardApp) -> None:
        """Read ``app``'s lag, pending writes and malformed records at each scrape."""
        self.registry.register(_WorkerStateCollector(app))

    # -- the agent (agents.py) ------------------------------------------------------

    def count_events(self, outcome: str, count: int = 1) -> None:
        """Count ``count`` records the agent handled with ``outcome`` (one of :data:`EVENT_OUTCOMES`)."""
        try:
            series = self._events_by_outcome[outcome]
        except KeyError:
            raise ValueError(f"unknown outcome {outcome!r}; one of {', '.join(EVENT_OUTCOMES)}") from None
        series.inc(count)

    @contextmanager
    def time_batch(self) -> Iterator[None]:
        """Observe how long the agent's ``with`` block (one batch) takes."""
        with self.batch_seconds.time():
            yield

    def observe_stage(self, stage: str, seconds: float) -> None:
        """Observe the time one record spent in ``stage`` (one of :data:`EVENT_STAGES`)."""
        self._stages[stage].observe(seconds)

    # -- the sinks (sinks/redis.py, sinks/cassandra.py) -----------------------------

    @contextmanager
    def time_sink_write(self, sink: str) -> Iterator[None]:
        """Observe one write to ``sink`` ("redis" or "cassandra"); an exception out of it counts as a failure."""
        started = time.perf_counter()
        try:
            yield
        except BaseException:
            self.count_sink_failure(sink)
            raise
        finally:
            self.sink_write_seconds.labels(sink=sink).observe(time.perf_counter() - started)

    def count_sink_failure(self, sink: str) -> None:
        """Count a failed write to ``sink`` that the sink caught (and will retry) itself."""
        if sink not in SINKS:
            raise ValueError(f"unknown sink {sink!r}; one of {', '.join(SINKS)}")
        self.sink_write_failures.labels(sink=sink).inc()

    # -- the index rebuild (rebuild.py) ---------------------------------------------

    def rebuild_started(self, players: int) -> None:
        """A rebuild of ``players`` players into Redis begins."""
        self.rebuild_running.set(1)
        self.rebuild_players.set(players)
        self.rebuild_players_done.set(0)

    def rebuild_advanced(self, players: int) -> None:
        """The running rebuild rewrote ``players`` more players."""
        self.rebuild_players_done.inc(players)

    def rebuild_finished(self, completed: bool) -> None:
        """The running rebuild ended, ``completed`` or failed."""
        self.rebuild_running.set(0)
        self.rebuilds.labels(outcome="completed" if completed else "failed").inc()

    # -- the web layer ----------------------------------------------------------------

    def middleware(self) -> Callable[[web.Request, Any], Awaitable[web.StreamResponse]]:
        """Return an aiohttp middleware counting and timing every answer.

        It must come first (outermost), so it sees the status that other
        middlewares turned errors into.
        """

        @web.middleware
        async def request_metrics(request: web.Request, handler: Any) -> web.StreamResponse:
            started = time.perf_counter()
            method = request.method if request.method in HTTP_METHODS else "other"
            route = route_label(request)
            status = "500"
            response: web.StreamResponse | None = None
            try:
                response = await handler(request)
                status = str(response.status)
                return response
            except web.HTTPException as exc:  # redirects, and errors no other middleware answered
                status = str(exc.status)
                raise
            finally:
                self.http_requests.labels(method=method, route=route, status=status).inc()
                # An event stream's duration is how long the client watched, not a latency.
                if response is None or isinstance(response, web.Response):
                    self.http_request_seconds.labels(method=method, route=route).observe(
                        time.perf_counter() - started)

        return request_metrics


def route_label(request: web.Request) -> str:
    """Return the pattern of the route ``request`` matched (``/rank/{userId}``), or ``unmatched``."""
    resource = request.match_info.route.resource
    if resource is None:
        return UNMATCHED_ROUTE
    return resource.canonical


class _WorkerStateCollector(Collector):
    """Reports, at scrape time, what the app already keeps: no copy can go stale."""

    def __init__(self, app: LeaderboardApp) -> None:
        self.app = app

    def collect(self) -> Iterable[Metric]:
        app = self.app
        lag = GaugeMetricFamily(
            f"{PREFIX}_consumer_lag_events",
            "score_updates events not yet applied to the Redis index, per partition this worker consumes.",
            labels=["partition"])
        behind = app.lag_monitor.behind_by_partition
        # Only a running worker knows its lag, and asking an app that never
        # started for its partitions would create its Kafka consumer.
        for partition in app.assigned_partitions() if behind else ():
            if partition in behind:
                lag.add_metric([str(partition)], behind[partition])
        yield lag
        total = app.lag_monitor.events_behind
        index_lag = GaugeMetricFamily(
            f"{PREFIX}_index_lag_events",
            "score_updates events not yet applied to the Redis index, over every partition (absent while unknown).")
        if total is not None:
            index_lag.add_metric([], total)
        yield index_lag
        yield GaugeMetricFamily(
            f"{PREFIX}_cassandra_pending_writes", "Writes this worker has yet to make to Cassandra.",
            value=app.archive.pending_count)
        yield CounterMetricFamily(
            f"{PREFIX}_malformed_records", "Records the agents could not read (dead-lettered or skipped).",
            value=app.malformed_records)
