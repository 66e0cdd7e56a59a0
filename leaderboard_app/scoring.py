"""Scoring rules, free of I/O.

A game's ``order`` says which scores are better ("desc": higher, "asc": lower, as
for lap times); its ``operator`` how a submission merges into a player's score:
"best" keeps the better one, "set" the latest (by event time), "incr"/"decr" add
or subtract the submitted amount. Equal scores share a rank (competition ranking:
1, 2, 2, 4); among equal scores the player who reached the score first (event
time) is listed first.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from typing import Any

from leaderboard_app.columns import is_ahead, merged_values
from leaderboard_app.models import MAX_ABS_SCORE, ScoreSubmission, SeasonScore


def is_better(order: str, score: Any, than: Any) -> bool:
    """Return whether ``score`` ranks strictly above ``than`` in a game of ``order`` (also of
    (score, column prefix) standings, whose prefix's byte order is the columns' in the board's direction)."""
    return score < than if order == "asc" else score > than


def _clamp(score: int) -> int:
    # incr/decr are applied after the 202, so an overflow cannot be refused any
    # more; it saturates at the largest exact score instead.
    return max(-MAX_ABS_SCORE, min(MAX_ABS_SCORE, score))


def merged_score(previous: SeasonScore | None, submission: ScoreSubmission) -> int | None:
    """Return the player's score after ``submission``, or None if it stays as it is."""
    rules, amount = submission.rules, submission.score
    if rules.operator == "incr":
        return _clamp((previous.score if previous else 0) + amount) if amount or previous is None else None
    if rules.operator == "decr":
        return _clamp((previous.score if previous else 0) - amount) if amount or previous is None else None
    if previous is None:
        return amount
    if rules.operator == "set":
        if submission.achieved_at_us < previous.achieved_at_us or amount == previous.score:
            return None
        return amount
    return amount if is_better(rules.order, amount, previous.score) else None


def merged(previous: SeasonScore | None, submission: ScoreSubmission) -> tuple[int, tuple[int, ...]] | None:
    """The player's (score, columns) after ``submission``, or None if they stay as they are.

    In a game with sort columns, ``best`` keeps the better whole tuple (a submission's
    columns stay together); the other operators merge the score by the game's operator and
    each column by its own.
    """
    rules = submission.rules
    if not rules.columns:
        score = merged_score(previous, submission)
        return None if score is None else (score, ())
    if rules.operator == "best":
        if previous is None or is_ahead(rules.order, rules.columns, submission.score, submission.columns,
                                        previous.score, previous.columns):
            return submission.score, submission.columns
        return None
    if rules.operator == "set" and previous is not None and submission.achieved_at_us < previous.achieved_at_us:
        return None
    # The score as without columns (None: it stays), each column by its own operator.
    score = merged_score(previous, submission)
    columns = merged_values(rules.columns, previous.columns if previous else None, submission.columns)
    if previous is None:
        assert score is not None  # a first submission always scores
        return score, columns
    after = (previous.score if score is None else score, columns)
    return None if after == (previous.score, previous.columns) else after


def apply_submission(previous: SeasonScore | None, submission: ScoreSubmission,
                     written_at_us: int | None = None) -> SeasonScore | None:
    """Return the player's season state after ``submission``, or None if it changes nothing.

    ``written_at_us``: the submission's write timestamp (default: when it was accepted).
    """
    after = merged(previous, submission)
    if after is None or (previous is not None and after == (previous.score, previous.columns)):
        return None
    updated_at_us = submission.accepted_at_us if written_at_us is None else written_at_us
    achieved_at_us = submission.achieved_at_us
    if previous is not None:
        # Keep the write timestamp strictly increasing per player even if two
        # workers' clocks disagree, so Cassandra's last-write-wins keeps the newest.
        updated_at_us = max(updated_at_us, previous.updated_at_us + 1)
        achieved_at_us = max(achieved_at_us, previous.achieved_at_us)
    return SeasonScore(score=after[0], reached_at_us=submission.achieved_at_us,
                       achieved_at_us=achieved_at_us, updated_at_us=updated_at_us, columns=after[1])


def competition_ranks(scores: Iterable[Hashable], offset: int = 0, first_rank: int = 1) -> Iterator[int]:
    """Yield the rank of each score of a best-first page that starts at ``offset``.

    ``first_rank`` is the rank of the page's first score (the count of strictly
    better scores + 1; it is below ``offset + 1`` when that score ties with players
    on the previous page). Ties keep the rank of the first of them; the next
    different score's rank is its 1-based position overall.
    """
    previous: Hashable | None = None
    rank = first_rank
    for position, score in enumerate(scores):
        if previous is not None and score != previous:
            rank = offset + position + 1
        previous = score
        yield rank
