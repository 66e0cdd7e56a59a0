"""GET /health (the process runs) and GET /ready (its dependencies answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from faust.web import Blueprint, Request, Response

from leaderboard_app.errors import BackendUnavailable
from leaderboard_app.tables import stored_progress
from leaderboard_app.web.base import LeaderboardView

blueprint = Blueprint("health")

#: Dependencies without which a worker cannot serve; Cassandra is written behind
#: Redis, so its absence is reported but does not make the worker unready.
REQUIRED = ("kafka", "redis")


async def _status(check: Callable[[], Awaitable[None]]) -> str:
    try:
        await check()
    except BackendUnavailable as exc:
        return str(exc).split(": ", 1)[-1]
    return "ok"


@blueprint.route("/health", name="health")
class HealthView(LeaderboardView):
    scope = None  # probes stay open whatever keys are configured

    async def get(self, request: Request) -> Response:
        """Say the worker process is up."""
        return self.json_response({"status": "ok"})


@blueprint.route("/ready", name="ready")
class ReadyView(LeaderboardView):
    scope = None

    async def get(self, request: Request) -> Response:
        """Report each dependency's state and this worker's partitions; 503 unless ready."""
        app = self.leaderboard
        kafka, redis, cassandra = await asyncio.gather(
            _status(app.kafka_health.check), _status(app.redis_leaderboard.ping), _status(app.archive.check)
        )
        if redis == "ok":
            indexed = await app.redis_leaderboard.indexed_partitions()
            missing = sorted(set(range(app.conf.topic_partitions)) - indexed)
            if missing:
                # Rankings are served, but they are not whole until every partition is back.
                redis = f"rebuilding the index (partitions {missing} missing)"
        states = {"kafka": kafka, "redis": redis, "cassandra": cassandra}
        # Reads and writes are served meanwhile, but new scores wait until it is done.
        restoring = app.rebalancing or app.in_recovery or not app.tables.recovery.completed.is_set()
        partitions = app.assigned_partitions()
        applied = {partition: stored_progress(app.player_scores, partition) for partition in partitions}
        caught_up = app.freshness.caught_up(restoring, app.lag_monitor.end_offsets, applied)
        ready = all(states[name] == "ok" for name in REQUIRED) and caught_up
        body = {
            "status": "ready" if ready else "unavailable",
            **states,
            "partitions": partitions,
            "pendingCassandraWrites": app.archive.pending_count,
            "restoringTables": restoring,
            "caughtUp": caught_up,
            "lag": app.lag_monitor.events_behind,
        }
        return self.json_response(body, status=200 if ready else 503)
