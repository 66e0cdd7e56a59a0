"""When a worker counts as caught up with its partitions (leaderboard_app.health.Freshness, GET /ready)."""

from leaderboard_app.health import READY_LAG_EVENTS, Freshness


def test_a_worker_is_not_caught_up_while_restoring_or_behind_or_while_the_ends_are_unknown() -> None:
    freshness = Freshness()
    assert not freshness.caught_up(True, {0: 10}, {0: 10})
    assert not freshness.caught_up(False, {}, {0: 10})
    assert not freshness.caught_up(False, {0: 10_000, 1: 5}, {0: 10_000 - READY_LAG_EVENTS, 1: None})
    assert freshness.caught_up(False, {0: 10_000, 1: 5}, {0: 10_000 - READY_LAG_EVENTS + 5, 1: None})


def test_once_caught_up_load_does_not_unready_it_but_new_partitions_and_restoring_do() -> None:
    freshness = Freshness()
    assert freshness.caught_up(False, {0: 100}, {0: 100})
    assert freshness.caught_up(False, {0: 100_000}, {0: 100})  # a burst of load: still ready
    assert not freshness.caught_up(True, {0: 100_000}, {0: 100})
    freshness.reset()  # a rebalance
    assert not freshness.caught_up(False, {0: 100_000}, {0: 100})
    assert freshness.caught_up(False, {}, {})  # a worker with no partition serves reads
