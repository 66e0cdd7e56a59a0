from leaderboard_app.models import PlayerScore, ScoreSubmission
from leaderboard_app.scoring import apply_best, competition_ranks


def sub(score, at):
    return ScoreSubmission(game_id="g", user_id="p", score=score, accepted_at_us=at)


def test_first_submission_creates_the_state():
    state = apply_best(None, sub(10, at=100))
    assert (state.score, state.reached_at_us, state.updated_at_us) == (10, 100, 100)


def test_only_a_strictly_better_score_changes_the_state():
    best = PlayerScore(score=10, reached_at_us=100, updated_at_us=100)
    assert apply_best(best, sub(10, at=200)) is None
    assert apply_best(best, sub(9, at=200)) is None
    better = apply_best(best, sub(11, at=200))
    assert (better.score, better.reached_at_us) == (11, 200)


def test_write_timestamps_increase_even_when_clocks_go_back():
    best = PlayerScore(score=10, reached_at_us=500, updated_at_us=500)
    assert apply_best(best, sub(20, at=400)).updated_at_us == 501


def test_competition_ranking_shares_ranks_and_skips():
    assert list(competition_ranks([90, 80, 80, 70])) == [1, 2, 2, 4]
    assert list(competition_ranks([5, 5, 5])) == [1, 1, 1]


def test_a_later_page_continues_ranks_from_its_offset():
    # Page starting at offset 3 whose first score ties with players on the page before.
    assert list(competition_ranks([80, 80, 70], offset=3, first_rank=2)) == [2, 2, 6]
