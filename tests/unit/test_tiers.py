"""Tiers cut from rank, percentile and score (leaderboard_app/tiers.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaderboard_app.errors import InvalidInput
from leaderboard_app.models import MAX_ABS_SCORE, GameRules, parse_rules
from leaderboard_app.scoring import competition_ranks
from leaderboard_app.tiers import Tier, next_tier, parse_tiers, score_gap, tier_index, tier_span

TIERS = parse_tiers([{"name": "champion", "top": 1}, {"name": "gold", "top": "20%"},
                     {"name": "silver", "score": 50}, {"name": "wood"}], MAX_ABS_SCORE)


def test_tiers_parse_each_kind_of_cut_off_and_print_back_as_given() -> None:
    assert TIERS == (Tier("champion", "rank", 1), Tier("gold", "percent", "20"), Tier("silver", "score", 50),
                     Tier("wood", "rest"))
    assert [tier.as_json() for tier in TIERS] == [{"name": "champion", "top": 1}, {"name": "gold", "top": "20%"},
                                                  {"name": "silver", "score": 50}, {"name": "wood"}]
    rules = GameRules(tiers=TIERS, tags=("country",))
    assert GameRules.from_bytes(rules.to_bytes()) == rules


@pytest.mark.parametrize(("total", "share", "limit"), [(11, "20", 3), (10, "20", 2), (1, "0.01", 1), (0, "1", 0),
                                                       (3, "100", 3), (10**9, "0.0001", 1000)])
def test_a_percentile_tier_holds_the_ranks_up_to_the_rounded_up_share(total: int, share: str, limit: int) -> None:
    assert Tier("t", "percent", share).rank_limit(total) == limit


def test_a_player_is_in_the_first_tier_whose_cut_off_they_meet() -> None:
    assert tier_index(TIERS, "desc", rank=1, score=100, total=11) == 0
    assert tier_index(TIERS, "desc", rank=2, score=90, total=11) == 1
    assert tier_index(TIERS, "desc", rank=4, score=80, total=11) == 2  # 20 % of 11 is rank 3 at worst
    assert tier_index(TIERS, "desc", rank=9, score=30, total=11) == 3
    assert tier_index(TIERS[:3], "desc", rank=9, score=30, total=11) is None  # below every tier
    assert tier_index((Tier("fast", "score", 30),), "asc", rank=1, score=30, total=1) == 0


def test_the_next_tier_is_the_one_above_or_the_last_for_players_below_all() -> None:
    assert [next_tier(TIERS, index) for index in (0, 1, 3, None)] == [None, 0, 2, 3]
    assert next_tier((), None) is None
    assert (score_gap("desc", 20, 50), score_gap("asc", 31, 30), score_gap("desc", 60, 50)) == (30, 1, 0)


@given(st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=60))
def test_each_tier_is_one_run_of_the_board_and_ties_never_split(scores: list[int]) -> None:
    board = sorted(scores, reverse=True)
    ranks = list(competition_ranks(board))
    total = len(board)
    tiers = parse_tiers([{"name": "a", "top": 2}, {"name": "b", "top": "50%"}, {"name": "c", "score": 5}],
                        MAX_ABS_SCORE)
    found = [tier_index(tiers, "desc", rank, score, total) for rank, score in zip(ranks, board)]
    # The prefix each cut-off admits, counted as the views count it: everyone reaching the score
    # of the last player within a rank cut-off.
    lengths = []
    for tier in tiers:
        limit = tier.rank_limit(total)
        cut = tier.value if limit is None else board[min(limit, total) - 1]
        lengths.append(sum(1 for score in board if score >= cut))
    for index in range(len(tiers)):
        start, end = tier_span(lengths, index)
        assert [position for position, tier in enumerate(found) if tier == index] == list(range(start, end))
    for position in range(1, total):
        if board[position] == board[position - 1]:
            assert found[position] == found[position - 1]


@pytest.mark.parametrize(("tiers", "field"), [
    ([{"name": "a"}, {"name": "b", "top": 3}], "tiers[0]"),
    ([{"name": "a", "top": 3}, {"name": "a", "top": 5}], "tiers[1].name"),
    ([{"name": "a", "top": "0%"}], "tiers[0].top"),
    ([{"name": "a", "top": True}], "tiers[0].top"),
    ([{"name": "", "top": 1}], "tiers[0].name"),
    ([{"name": "a", "score": 1.5}], "tiers[0].score"),
    ([{"name": f"t{i}"} for i in range(11)], "tiers"),
])
def test_invalid_tiers_name_the_field(tiers: list, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_rules({"tiers": tiers})
    assert raised.value.field == field
