"""Sort columns, pure: declaring them, reading submissions' values, merging, and the member prefix whose
byte order must be the ranking's."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaderboard_app.columns import (
    INT64_MAX,
    INT64_MIN,
    SortColumn,
    decode_prefix,
    encode_prefix,
    merged_values,
    parse_column_values,
    rank_key,
)
from leaderboard_app.errors import InvalidInput
from leaderboard_app.models import GameRules, ScoreSubmission, SeasonScore, parse_rules
from leaderboard_app.scoring import apply_submission

TIME = SortColumn("time", "asc")
KILLS = SortColumn("kills", "desc")

int64 = st.integers(INT64_MIN, INT64_MAX)
orders = st.sampled_from(["desc", "asc"])
column_lists = st.lists(st.builds(SortColumn, st.sampled_from(["a", "b", "c"]), orders), min_size=1, max_size=3,
                        unique_by=lambda column: column.name)


def test_columns_are_declared_with_an_order_and_the_games_operator_by_default() -> None:
    rules = parse_rules({"operator": "incr", "columns": [{"name": "time", "order": "asc"},
                                                         {"name": "kills", "operator": "best"}]})
    assert rules.columns == (SortColumn("time", "asc", "incr"), SortColumn("kills", "desc", "best"))
    assert rules.ranking().columns == rules.columns  # part of what cannot change once scores exist


@pytest.mark.parametrize(("columns", "field"), [
    ("time", "columns"),
    ([{"name": c} for c in "abcd"], "columns"),
    ([{"name": "Time"}], "columns[0].name"),
    ([{"name": "t"}, {"name": "t"}], "columns[1].name"),
    ([{"name": "t", "order": "up"}], "columns[0].order"),
    ([{"name": "t", "operator": "max"}], "columns[0].operator"),
    ([{"name": "t", "width": 3}], "columns[0].width"),
    ([{"name": "t", "operator": "set"}], "columns[0].operator"),  # the game's operator is best
])
def test_bad_declarations_name_the_field(columns: object, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_rules({"columns": columns})
    assert raised.value.field == field


def test_rules_without_columns_keep_the_bytes_records_carried_before() -> None:
    assert GameRules().ranking_json() == {"order": "desc", "operator": "best", "reset": "never"}
    assert "columns" in GameRules(columns=(TIME,)).ranking_json()


@pytest.mark.parametrize(("values", "field"), [
    ({}, "columns.time"),
    ({"time": 1}, "columns.kills"),
    ({"time": 1, "kills": 2, "deaths": 3}, "columns.deaths"),
    ({"time": 1.5, "kills": 2}, "columns.time"),
    ({"time": True, "kills": 2}, "columns.time"),
    ({"time": 2**63, "kills": 2}, "columns.time"),
    ([1, 2], "columns"),
])
def test_a_submission_needs_every_declared_column_as_an_int64(values: object, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_column_values(values, (TIME, KILLS))
    assert raised.value.field == field


def test_a_game_without_columns_refuses_them_and_values_come_in_declared_order() -> None:
    with pytest.raises(InvalidInput):
        parse_column_values({"time": 1}, ())
    assert parse_column_values(None, ()) == ()
    assert parse_column_values({"kills": INT64_MIN, "time": INT64_MAX}, (TIME, KILLS)) == (INT64_MAX, INT64_MIN)


@given(orders, column_lists, st.data())
def test_the_prefix_byte_order_read_in_the_boards_direction_is_the_ranking(order: str, columns: list[SortColumn],
                                                                          data: st.DataObject) -> None:
    a = tuple(data.draw(int64) for _ in columns)
    b = tuple(data.draw(int64) for _ in columns)
    prefix_a, prefix_b = encode_prefix(order, columns, a), encode_prefix(order, columns, b)
    assert decode_prefix(order, columns, prefix_a + b"tail") == a
    # A "desc" board is read in reverse byte order, an "asc" one forwards.
    a_first = prefix_a > prefix_b if order == "desc" else prefix_a < prefix_b
    assert a_first == (rank_key(order, columns, 0, a) > rank_key(order, columns, 0, b))
    assert (prefix_a == prefix_b) == (a == b)


def test_values_beyond_two_to_the_53_stay_exact_and_ordered() -> None:
    big = 2**62 + 1
    assert decode_prefix("desc", (KILLS,), encode_prefix("desc", (KILLS,), (big,))) == (big,)
    assert encode_prefix("desc", (KILLS,), (big,)) > encode_prefix("desc", (KILLS,), (big - 1,))


def submission(score: int, columns: tuple[int, ...], at: int, rules: GameRules) -> ScoreSubmission:
    return ScoreSubmission("g", "u", score, at, at, rules=rules, columns=columns)


def test_best_keeps_the_better_whole_tuple() -> None:
    rules = GameRules(columns=(TIME,))
    first = apply_submission(None, submission(10, (500,), 1, rules))
    assert first is not None and (first.score, first.columns) == (10, (500,))
    assert apply_submission(first, submission(10, (600,), 2, rules)) is None  # slower at the same score
    faster = apply_submission(first, submission(10, (400,), 3, rules))
    assert faster is not None and (faster.score, faster.columns, faster.reached_at_us) == (10, (400,), 3)
    higher = apply_submission(faster, submission(11, (900,), 4, rules))
    assert higher is not None and (higher.score, higher.columns) == (11, (900,))  # a better score takes its time


def test_other_operators_merge_each_column_by_its_own() -> None:
    rules = GameRules(operator="incr", columns=(SortColumn("kills", "desc", "incr"), SortColumn("lap", "asc", "best"),
                                                SortColumn("level", "desc", "set")))
    state = apply_submission(None, submission(5, (2, 70, 1), 1, rules))
    assert state is not None and (state.score, state.columns) == (5, (2, 70, 1))
    state = apply_submission(state, submission(1, (3, 90, 4), 2, rules))
    assert state is not None and (state.score, state.columns) == (6, (5, 70, 4))
    assert merged_values(rules.columns, (INT64_MAX, 0, 0), (1, 0, 0))[0] == INT64_MAX  # saturates


def test_a_set_submission_that_changes_only_a_column_is_applied() -> None:
    rules = GameRules(operator="set", columns=(SortColumn("level", "desc", "set"),))
    state = SeasonScore(7, 1, 1, 1, columns=(1,))
    after = apply_submission(state, submission(7, (2,), 2, rules))
    assert after is not None and after.columns == (2,)
    assert apply_submission(state, submission(7, (1,), 2, rules)) is None


def test_season_scores_with_columns_round_trip_and_without_keep_their_bytes() -> None:
    plain = SeasonScore(1, 2, 3, 4)
    assert plain.as_list() == [1, 2, 3, 4]
    columned = SeasonScore(1, 2, 3, 4, columns=(-(2**63), 2**63 - 1))
    assert SeasonScore.from_list(columned.as_list()) == columned
    assert SeasonScore.from_list(SeasonScore(1, 2, 3, 4, {"c": "FR"}).as_list()).tags == {"c": "FR"}
