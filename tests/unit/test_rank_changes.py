"""Turning the write script's report into rank events: ties, counts, tops entered and left."""

from __future__ import annotations

import orjson
import pytest

from leaderboard_app.models import PlayerStanding, RankedPlayer
from leaderboard_app.rank_changes import (
    SeasonReport,
    WatchedChange,
    Writer,
    entered_top,
    events_by_worker,
    left_top,
    parse_report,
    rank_event,
    standing_event,
)

WORKER = "a" * 32
OTHER_WORKER = "b" * 32


def at(score: int | None, columns: bytes = b"") -> tuple[int, bytes] | None:
    """A standing as the script reports it: the score and the member's column prefix."""
    return None if score is None else (score, columns)


def change(**fields: object) -> WatchedChange:
    values: dict = dict(user_id="w", workers=(WORKER,), score_before=50, score=50, rank_before=3, rank=4)
    values.update(fields)
    return WatchedChange(**values)


def event(order: str, watched: WatchedChange, *writers: Writer) -> dict:
    return rank_event(SeasonReport("g", "all", order, writers, (watched,)), watched)


def test_a_writer_who_was_below_and_is_now_above_overtook() -> None:
    data = event("desc", change(), Writer("b", at(40), at(60)), Writer("c", at(None), at(70)))
    assert data["overtakenBy"] == ["b", "c"] and data["overtakenByCount"] == 2
    assert (data["rank"], data["previousRank"], data["passed"], data["passedCount"]) == (4, 3, [], 0)


def test_ties_neither_overtake_nor_are_passed() -> None:
    # b reaches w's score exactly: tied, not overtaking; c was tied with w and is now above.
    data = event("desc", change(), Writer("b", at(40), at(50)), Writer("c", at(50), at(51)))
    assert data["overtakenBy"] == ["c"]
    # w improves from 50 to 60: d was above (55) and is now below; e ends tied at 60; f was tied at 50.
    improved = change(score_before=50, score=60, rank_before=5, rank=2)
    data = event("desc", improved, Writer("d", at(55), at(55)), Writer("e", at(58), at(60)),
                 Writer("f", at(50), at(50)))
    assert data["passed"] == ["d"] and data["passedCount"] == 1


def test_a_writer_who_was_above_already_did_not_overtake() -> None:
    assert event("desc", change(), Writer("b", at(60), at(70)))["overtakenBy"] == []


def test_asc_games_rank_lower_scores_better() -> None:
    data = event("asc", change(score_before=50, score=50), Writer("b", at(60), at(40)), Writer("c", at(30), at(20)))
    assert data["overtakenBy"] == ["b"]
    improved = change(score_before=50, score=30, rank_before=4, rank=2)
    assert event("asc", improved, Writer("d", at(40), at(45)))["passed"] == ["d"]


def test_passed_counts_the_script_count_of_others_plus_the_writers_and_names_at_most_ten() -> None:
    others = tuple(f"o{i}" for i in range(10))
    improved = change(score_before=10, score=100, rank_before=40, rank=1, others_passed=25, others_passed_named=others)
    data = event("desc", improved, Writer("x", at(50), at(50)), Writer("y", at(20), at(5)))
    assert data["passedCount"] == 27
    assert data["passed"] == list(others)


def test_overtakers_are_counted_beyond_the_ten_named() -> None:
    writers = [Writer(f"p{i}", at(10), at(60 + i)) for i in range(12)]
    data = event("desc", change(), *writers)
    assert data["overtakenByCount"] == 12 and data["overtakenBy"] == [f"p{i}" for i in range(10)]


def test_a_player_who_just_got_a_score_was_neither_overtaken_nor_passing() -> None:
    first = change(score_before=None, score=70, rank_before=None, rank=2)
    data = event("desc", first, Writer("w", at(None), at(70)), Writer("b", at(10), at(80)),
                 Writer("c", at(75), at(72)))
    assert (data["overtakenBy"], data["passed"], data["entered"], data["previousRank"]) == ([], [], "top10", None)


def test_the_watched_player_is_never_listed_about_themself() -> None:
    improved = change(score_before=10, score=90, rank_before=20, rank=1)
    data = event("desc", improved, Writer("w", at(10), at(90)))
    assert data["passed"] == [] and data["overtakenBy"] == []


@pytest.mark.parametrize("before, after, entered, left", [
    (11, 10, "top10", None),
    (10, 11, None, "top10"),
    (101, 100, "top100", None),
    (100, 101, None, "top100"),
    (150, 3, "top10", None),  # the narrowest top entered
    (3, 150, None, "top100"),  # the widest top left
    (50, 20, None, None),
    (None, 7, "top10", None),
    (None, 500, None, None),
    (10, 10, None, None),
])
def test_tops_entered_and_left(before: int | None, after: int | None, entered: str | None, left: str | None) -> None:
    assert (entered_top(before, after), left_top(before, after)) == (entered, left)


def test_the_script_answer_is_read_with_nulls_and_bytes() -> None:
    raw = [[b"b", None, None, b"60", b""],
           [[b"w", [WORKER.encode(), OTHER_WORKER.encode()], b"50", b"50", 1, 2, 0, [], b"", b""]]]
    report = parse_report("g", "all", "desc", raw)
    assert report.writers == (Writer("b", at(None), at(60)),)
    assert report.changes == (WatchedChange("w", (WORKER, OTHER_WORKER), 50, 50, 1, 2, 0, ()),)
    assert parse_report("g", "all", "desc", []).changes == ()


def test_with_sort_columns_equal_scores_are_told_apart_by_the_column_prefix() -> None:
    # The prefixes are written so that, read in the board's direction, better columns come first:
    # in a "desc" board a greater prefix ranks higher.
    raw = [[b"b", b"50", b"0000000000000001", b"50", b"00000000000000ff"],
           [[b"w", [WORKER.encode()], b"50", b"50", 1, 2, 0, [], b"0000000000000010", b"0000000000000010"]]]
    report = parse_report("g", "all", "desc", raw)
    assert report.changes[0].standing == (50, b"0000000000000010")
    data = rank_event(report, report.changes[0])
    assert (data["overtakenBy"], data["score"], data["previousScore"]) == (["b"], 50, 50)
    # b ends with w's very columns: tied, so not overtaking.
    tied = [[b"b", b"50", b"0000000000000001", b"50", b"0000000000000010"], raw[1]]
    assert rank_event(parse_report("g", "all", "desc", tied), report.changes[0])["overtakenBy"] == []


def test_events_go_to_every_worker_streaming_the_player_and_serialize() -> None:
    watched = change(workers=(WORKER, OTHER_WORKER))
    report = SeasonReport("g", "2026-11", "desc", (Writer("b", at(1), at(99)),), (watched,))
    by_worker = events_by_worker([report])
    assert set(by_worker) == {WORKER, OTHER_WORKER}
    assert orjson.loads(orjson.dumps(by_worker[WORKER])) == [{
        "gameId": "g", "season": "2026-11", "userId": "w", "rank": 4, "previousRank": 3, "score": 50,
        "previousScore": 50, "overtakenBy": ["b"], "overtakenByCount": 1, "passed": [], "passedCount": 0,
        "entered": None, "left": None,
    }]


def test_the_first_event_is_the_standing_at_connect() -> None:
    standing = PlayerStanding(RankedPlayer(user_id="w", score=5, rank=7), total=9, worse=2, next=None)
    assert standing_event("g", "all", "w", standing)["rank"] == 7
    empty = standing_event("g", "all", "w", None)
    assert (empty["rank"], empty["score"], empty["previousRank"]) == (None, None, None)
