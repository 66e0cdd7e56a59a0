"""The HTTP API, served by every worker's Faust web server."""

from __future__ import annotations

import faust

from leaderboard_app.web import (
    docs,
    games,
    health,
    ingest,
    live,
    metrics,
    moderation,
    openapi,
    queries,
    streams,
    tournaments,
)


def register_views(app: faust.App) -> None:
    """Route every endpoint on ``app``'s web server."""
    # live serves GET /, as does Faust's own index, routed after these when the
    # server starts: the first route wins, but aiohttp refuses a second GET on
    # a path that is the last one routed, so live must not come last.
    for module in (ingest, games, moderation, queries, tournaments, streams, live, metrics, health, openapi, docs):
        module.blueprint.register(app, url_prefix="")
