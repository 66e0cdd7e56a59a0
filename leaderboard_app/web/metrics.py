"""GET /metrics: this worker's series in Prometheus' text format (see ``leaderboard_app.metrics``)."""

from __future__ import annotations

from faust.web import Blueprint, Request, Response

from leaderboard_app.metrics import CONTENT_TYPE
from leaderboard_app.web.base import LeaderboardView

blueprint = Blueprint("metrics")


@blueprint.route("/metrics", name="metrics")
class MetricsView(LeaderboardView):
    # Like the probes, open to the scraper whatever keys are configured: the
    # series name routes, partitions and sinks, never a game, a player or a key.
    scope = None

    async def get(self, request: Request) -> Response:
        """Return every series of this worker, for Prometheus to scrape."""
        return self.bytes(self.leaderboard.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})
