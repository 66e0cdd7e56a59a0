"""A real-time game leaderboard service on Faust, Kafka, Redis and Cassandra."""

__version__ = "0.1.0"

# `faust -A leaderboard_app ...` looks for an attribute named `app` on the package.
from leaderboard_app.app import app  # noqa: E402

__all__ = ["__version__", "app"]
