"""archiver.FinalStandings: a closed season's rows, from pages of players best first."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from leaderboard_app.archiver import FinalStandings
from leaderboard_app.models import RankedPlayer
from leaderboard_app.scoring import competition_ranks


def season(scores: list[int]) -> list[RankedPlayer]:
    """Players best first (descending scores), ranked as the index ranks them."""
    ordered = sorted(scores, reverse=True)
    return [RankedPlayer(user_id=f"p{index}", score=score, rank=rank)
            for index, (score, rank) in enumerate(zip(ordered, competition_ranks(ordered)))]


def rows_in_pages(players: list[RankedPlayer], page: int) -> list[tuple[int, object]]:
    standings = FinalStandings(len(players))
    rows = []
    for start in range(0, len(players), page):
        rows += standings.add(players[start:start + page])
    return rows + list(standings.finish())


@given(st.lists(st.integers(min_value=-3, max_value=3), max_size=60), st.integers(min_value=1, max_value=7))
def test_each_row_has_the_players_worse_and_the_last_of_the_tie_group_above(scores: list[int], page: int) -> None:
    players = season(scores)
    rows = rows_in_pages(players, page)
    assert [position for position, _ in rows] == list(range(len(players)))
    for position, standing in rows:
        player = players[position]
        assert standing.player == player and standing.total == len(players)
        assert standing.worse == sum(other.score < player.score for other in players)
        better = [other for other in players if other.score > player.score]
        assert standing.next == (better[-1] if better else None)


def test_a_hundred_thousand_tied_players_are_handled_once_each() -> None:
    players = season([0] * 100_000)
    rows = rows_in_pages(players, 2_000)
    assert len(rows) == 100_000
    assert {(standing.player.rank, standing.worse, standing.next) for _, standing in rows} == {(1, 0, None)}
