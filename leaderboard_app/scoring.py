"""Scoring rules, free of I/O.

Until per-game rules exist, every game ranks higher scores first and keeps a
player's best submitted score. Equal scores share a rank (competition ranking:
1, 2, 2, 4); among equal scores the player who reached the score first is listed
first, which is why a state remembers when its score was reached.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from leaderboard_app.models import PlayerScore, ScoreSubmission


def apply_best(previous: PlayerScore | None, submission: ScoreSubmission) -> PlayerScore | None:
    """Return the player's state after ``submission``, or None if it changes nothing."""
    if previous is not None and submission.score <= previous.score:
        return None
    updated_at_us = submission.accepted_at_us
    if previous is not None:
        # Keep the write timestamp strictly increasing per player even if clocks
        # of two workers disagree, so Cassandra's last-write-wins keeps the newest.
        updated_at_us = max(updated_at_us, previous.updated_at_us + 1)
    return PlayerScore(score=submission.score, reached_at_us=submission.accepted_at_us, updated_at_us=updated_at_us)


def competition_ranks(scores: Iterable[int], offset: int = 0, first_rank: int = 1) -> Iterator[int]:
    """Yield the rank of each score of a best-first page that starts at ``offset``.

    ``first_rank`` is the rank of the page's first score (the count of strictly
    better scores + 1; it is below ``offset + 1`` when that score ties with players
    on the previous page). Ties keep the rank of the first of them; the next
    different score's rank is its 1-based position overall.
    """
    previous: int | None = None
    rank = first_rank
    for position, score in enumerate(scores):
        if previous is not None and score != previous:
            rank = offset + position + 1
        previous = score
        yield rank
