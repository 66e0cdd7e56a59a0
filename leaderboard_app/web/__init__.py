"""The HTTP API, served by every worker's Faust web server."""

from __future__ import annotations

import faust

from leaderboard_app.web import health, ingest, queries


def register_views(app: faust.App) -> None:
    """Route every endpoint on ``app``'s web server."""
    for module in (ingest, queries, health):
        module.blueprint.register(app, url_prefix="")
