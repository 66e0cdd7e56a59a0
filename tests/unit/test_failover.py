"""The pure parts of noticing a Redis Cluster failover: slot maps, ranges, generations, the read guard."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from leaderboard_app.failover import changed_slots, game_slot, generation_of, slot_ranges, slots_in
from leaderboard_app.sinks.redis import profiles_key, season_keys, seasons_key
from leaderboard_app.sinks.redis_connection import SLOTS, FailoverGuard, primary_by_slot

CLUSTER_SLOTS = {
    (0, 5460): {"primary": ("127.0.0.1", 7001), "replicas": [("127.0.0.1", 7005)]},
    (5461, 10922): {"primary": ("127.0.0.1", 7002), "replicas": [("127.0.0.1", 7006)]},
    (10923, 16383): {"primary": ("127.0.0.1", 7003), "replicas": [("127.0.0.1", 7004)]},
}


def test_the_map_names_each_slot_s_primary():
    owners = primary_by_slot(CLUSTER_SLOTS)
    assert len(owners) == SLOTS
    assert (owners[0], owners[5461], owners[16383]) == ("127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003")
    partial = primary_by_slot({(0, 99): CLUSTER_SLOTS[(0, 5460)]})
    assert partial[99] == "127.0.0.1:7001" and partial[100] == ""


def test_a_promoted_replica_changes_exactly_its_master_s_slots():
    before = primary_by_slot(CLUSTER_SLOTS)
    after = primary_by_slot({**CLUSTER_SLOTS, (5461, 10922): {"primary": ("127.0.0.1", 7006), "replicas": []}})
    changed = changed_slots(before, after)
    assert slot_ranges(changed) == [[5461, 10922]]
    assert generation_of(after) != generation_of(before) == generation_of(primary_by_slot(dict(CLUSTER_SLOTS)))


@given(st.frozensets(st.integers(0, SLOTS - 1), max_size=200))
def test_ranges_hold_exactly_the_slots(slots):
    ranges = slot_ranges(slots)
    assert slots_in(ranges) == slots
    assert all(first <= last for first, last in ranges)
    assert all(a[1] + 1 < b[0] for a, b in zip(ranges, ranges[1:]))  # sorted, disjoint, not adjacent


def test_every_key_of_a_game_is_in_the_game_s_slot():
    from redis.crc import key_slot

    for game in ("tetris", "a}b", "{x}", "é🎮"):
        keys = [*season_keys(game, "all"), seasons_key(game), profiles_key(game)]
        assert {key_slot(key.encode()) for key in keys} == {game_slot(game)}


def test_reads_are_refused_while_repairing_or_served_by_an_unexpected_primary():
    guard = FailoverGuard()
    assert guard.readable(7, "127.0.0.1:7001")  # nothing known yet
    guard.accepted = primary_by_slot(CLUSTER_SLOTS)
    assert guard.readable(7, "127.0.0.1:7001") and guard.readable(7, None)
    assert not guard.readable(7, "127.0.0.1:7005")  # promoted before the watcher noticed
    guard.repairing = frozenset({7})
    assert not guard.readable(7, "127.0.0.1:7001") and guard.readable(8, "127.0.0.1:7001")
