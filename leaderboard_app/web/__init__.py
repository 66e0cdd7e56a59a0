"""The HTTP API, served by every worker's Faust web server."""

from __future__ import annotations

import faust

from leaderboard_app.web import games, health, ingest, queries


def register_views(app: faust.App) -> None:
    """Route every endpoint on ``app``'s web server."""
    for module in (ingest, games, queries, health):
        module.blueprint.register(app, url_prefix="")
