import pytest

from leaderboard_app.models import MAX_ABS_SCORE, GameRules, ScoreSubmission, SeasonScore
from leaderboard_app.scoring import apply_submission, competition_ranks, is_better


def sub(score, at, order="desc", operator="best"):
    return ScoreSubmission(game_id="g", user_id="p", score=score, accepted_at_us=at, achieved_at_us=at,
                           rules=GameRules(order=order, operator=operator))


def state(score, at=100):
    return SeasonScore(score=score, reached_at_us=at, achieved_at_us=at, updated_at_us=at)


def test_first_submission_creates_the_state():
    new = apply_submission(None, sub(10, at=100))
    assert (new.score, new.reached_at_us, new.updated_at_us) == (10, 100, 100)


@pytest.mark.parametrize(
    ("order", "previous", "submitted", "expected"),
    [
        ("desc", 10, 11, 11), ("desc", 10, 10, None), ("desc", 10, 9, None),
        ("asc", 10, 9, 9), ("asc", 10, 10, None), ("asc", 10, 11, None),
    ],
)
def test_best_keeps_the_better_score_in_the_games_order(order, previous, submitted, expected):
    new = apply_submission(state(previous), sub(submitted, at=200, order=order))
    assert (new.score if new else None) == expected


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_set_keeps_the_latest_by_event_time(order):
    assert apply_submission(state(10, at=100), sub(3, at=200, order=order, operator="set")).score == 3
    assert apply_submission(state(10, at=100), sub(3, at=50, order=order, operator="set")) is None


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_incr_and_decr_add_and_subtract(order):
    assert apply_submission(None, sub(5, at=1, order=order, operator="incr")).score == 5
    assert apply_submission(state(10), sub(5, at=200, order=order, operator="incr")).score == 15
    assert apply_submission(None, sub(5, at=1, order=order, operator="decr")).score == -5
    assert apply_submission(state(10), sub(4, at=200, order=order, operator="decr")).score == 6
    assert apply_submission(state(10), sub(0, at=200, order=order, operator="incr")) is None


def test_incr_saturates_at_the_largest_exact_score():
    assert apply_submission(state(MAX_ABS_SCORE - 1), sub(5, at=200, operator="incr")).score == MAX_ABS_SCORE


def test_write_timestamps_increase_even_when_clocks_go_back():
    assert apply_submission(state(10, at=500), sub(20, at=400)).updated_at_us == 501


def test_better_depends_on_order():
    assert is_better("desc", 2, 1) and not is_better("desc", 1, 1)
    assert is_better("asc", 1, 2) and not is_better("asc", 2, 1)


def test_competition_ranking_shares_ranks_and_skips():
    assert list(competition_ranks([90, 80, 80, 70])) == [1, 2, 2, 4]
    assert list(competition_ranks([5, 5, 5])) == [1, 1, 1]


def test_a_later_page_continues_ranks_from_its_offset():
    # Page starting at offset 3 whose first score ties with players on the page before.
    assert list(competition_ranks([80, 80, 70], offset=3, first_rank=2)) == [2, 2, 6]
