"""Shared test helpers: polling with a deadline instead of sleeping, and a Cassandra session."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from cassandra.cluster import Cluster, Session
from cassandra.policies import ExponentialReconnectionPolicy

from leaderboard_app.settings import Settings

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 15.0, interval: float = 0.05) -> T:
    """Call ``check`` until it returns without an AssertionError; re-raise the last one at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(interval)


def cassandra_session(settings: Settings) -> Iterator[Session]:
    """A session of the settings' Cassandra, for a fixture to yield from; short reconnection
    backoff, because tests stop and restart nodes."""
    ring = Cluster(list(settings.cassandra_contact_points), port=settings.cassandra_port, protocol_version=5,
                   reconnection_policy=ExponentialReconnectionPolicy(0.5, 5.0))
    try:
        yield ring.connect()
    finally:
        ring.shutdown()
