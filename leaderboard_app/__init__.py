"""A real-time game leaderboard service on Faust, Kafka, Redis and Cassandra."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leaderboard_app.app import LeaderboardApp

    app: LeaderboardApp

__version__ = "0.1.0"

__all__ = ["__version__", "app"]


def __getattr__(name: str) -> Any:
    """Build the Faust app only when ``app`` is asked for (PEP 562).

    ``faust -A leaderboard_app ...`` looks for an attribute named ``app`` on the
    package; everything else (``leaderboard_app.client``, ``.models``, the bench)
    imports a submodule and must not pay for, or fail on, building the app.
    Code that imports the submodule itself (``import leaderboard_app.app``) before
    asking finds the submodule under that name, as Python binds it; the App is then
    ``leaderboard_app.app.app``.
    """
    if name == "app":
        from leaderboard_app.app import app as built

        # Importing the submodule bound ``app`` to the module leaderboard_app.app;
        # bind the App instead, so later lookups find it without this hook.
        globals()["app"] = built
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
