"""Rank changes of watched players: what the write script reports, turned into the events of
``GET /stream/player/{userId}`` (leaderboard_app.web.streams). Free of I/O.

The agent's ``rank_members`` script (leaderboard_app.sinks.redis) reports, per game and
season of a batch, nothing unless a watched player's rank changed; then it reports every
writer of the batch (userId, score before the batch, score after) and each watched player
whose rank changed (the workers streaming them, scores and ranks before and after, and the
players who did not write in the batch but were passed: counted, and the first
:data:`NAMED` named). Who overtook whom among the writers is decided here, so the tie rule
(competition ranking: a tied player is neither overtaken nor passed) is written once, in
:func:`leaderboard_app.scoring.is_better`, applied to standings: (score, column prefix of the
member), which in a game with sort columns orders them as the board does (the prefix is
written so that its byte order is the columns' order in the board's direction).

An event (SSE ``event: rank``; its ``data``)::

    {"gameId", "season", "userId",
     "rank", "previousRank",        # null: no score (then, before)
     "score", "previousScore",
     "overtakenBy": [userId...], "overtakenByCount": n,   # were not better, now are
     "passed": [userId...], "passedCount": n,             # were better, now are worse
     "entered": "top10" | "top100" | null,  # the narrowest top the player is now in and was not
     "left": "top10" | "top100" | null}     # the widest top the player was in and is not any more

At most :data:`NAMED` players are named in each list; the count says how many there are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from leaderboard_app.models import PlayerStanding
from leaderboard_app.scoring import is_better

#: Players named in ``overtakenBy`` and ``passed`` (the script names as many non-writers).
NAMED = 10
#: The tops whose entry and exit events report, narrowest first.
TOPS = ((10, "top10"), (100, "top100"))


#: Where a player stands: their score and their member's column prefix (b"" without sort columns).
Standing = tuple[int, bytes]


@dataclass(frozen=True)
class Writer:
    """A player the batch wrote: their standing before it (None: none) and after it."""

    user_id: str
    before: Standing | None
    after: Standing | None


@dataclass(frozen=True)
class WatchedChange:
    """A watched player whose rank the batch changed, as the script reports them."""

    user_id: str
    #: The workers with a stream of this player open.
    workers: tuple[str, ...]
    score_before: int | None
    score: int | None
    rank_before: int | None
    rank: int | None
    #: Players who did not write in the batch and were passed: how many, and the first named.
    others_passed: int = 0
    others_passed_named: tuple[str, ...] = ()
    #: The column prefixes of the member before and after (b"" without sort columns).
    columns_before: bytes = b""
    columns: bytes = b""

    @property
    def standing_before(self) -> Standing | None:
        return None if self.score_before is None else (self.score_before, self.columns_before)

    @property
    def standing(self) -> Standing | None:
        return None if self.score is None else (self.score, self.columns)


@dataclass(frozen=True)
class SeasonReport:
    """What one game and season's write script reported (empty lists: no watched rank changed)."""

    game_id: str
    season: str
    order: str
    writers: tuple[Writer, ...] = ()
    changes: tuple[WatchedChange, ...] = ()


def _score(raw: Any) -> int | None:
    # Every stored score is an integer below 2**53, so the double is exact.
    return None if raw is None else int(float(raw))


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8") if isinstance(raw, bytes) else raw


def _bytes(raw: bytes | str | None) -> bytes:
    if raw is None:
        return b""
    return raw if isinstance(raw, bytes) else raw.encode("ascii")


def _standing(score: Any, prefix: Any) -> Standing | None:
    value = _score(score)
    return None if value is None else (value, _bytes(prefix))


def parse_report(game_id: str, season: str, order: str, raw: Sequence[Any] | None) -> SeasonReport:
    """Read the script's answer: ``{}``, or ``{writers, changes}`` (see the script in sinks/redis.py)."""
    if not raw:
        return SeasonReport(game_id, season, order)
    flat_writers, flat_changes = raw
    writers = tuple(Writer(_text(flat_writers[i]), _standing(*flat_writers[i + 1:i + 3]),
                           _standing(*flat_writers[i + 3:i + 5]))
                    for i in range(0, len(flat_writers), 5))
    changes = tuple(
        WatchedChange(user_id=_text(user), workers=tuple(_text(w) for w in workers),
                      score_before=_score(before), score=_score(after),
                      rank_before=rank_before or None, rank=rank or None,
                      others_passed=int(count), others_passed_named=tuple(_text(n) for n in named),
                      columns_before=_bytes(prefix_before), columns=_bytes(prefix))
        for user, workers, before, after, rank_before, rank, count, named, prefix_before, prefix in flat_changes)
    return SeasonReport(game_id, season, order, writers, changes)


def _not_better(order: str, standing: Standing | None, than: Standing) -> bool:
    return standing is None or not is_better(order, standing, than)


def overtaken_by(order: str, change: WatchedChange, writers: Iterable[Writer]) -> list[str]:
    """The writers who were not better than the watched player and now are (a tie is neither)."""
    before, now = change.standing_before, change.standing
    if before is None or now is None:
        return []  # a player who just got a score was not overtaken
    return [w.user_id for w in writers
            if w.user_id != change.user_id and w.after is not None
            and _not_better(order, w.before, before) and is_better(order, w.after, now)]


def passed_writers(order: str, change: WatchedChange, writers: Iterable[Writer]) -> list[str]:
    """The writers who were better than the watched player and now are worse (a tie is neither)."""
    before, now = change.standing_before, change.standing
    if before is None or now is None:
        return []
    return [w.user_id for w in writers
            if w.user_id != change.user_id and w.before is not None and w.after is not None
            and is_better(order, w.before, before) and is_better(order, now, w.after)]


def _tops(rank: int | None) -> set[str]:
    return {name for size, name in TOPS if rank is not None and rank <= size}


def entered_top(rank_before: int | None, rank: int | None) -> str | None:
    """The narrowest top the player is now in and was not in before, or None."""
    new = _tops(rank) - _tops(rank_before)
    return next((name for _, name in TOPS if name in new), None)


def left_top(rank_before: int | None, rank: int | None) -> str | None:
    """The widest top the player was in before and is not in now, or None."""
    gone = _tops(rank_before) - _tops(rank)
    return next((name for _, name in reversed(TOPS) if name in gone), None)


def rank_event(report: SeasonReport, change: WatchedChange) -> dict[str, Any]:
    """The ``data`` of the event telling a watched player's streams of their new rank."""
    overtakers = overtaken_by(report.order, change, report.writers)
    writers_passed = passed_writers(report.order, change, report.writers)
    passed = [*change.others_passed_named, *writers_passed]
    passed_count = change.others_passed + len(writers_passed)
    return {
        "gameId": report.game_id, "season": report.season, "userId": change.user_id,
        "rank": change.rank, "previousRank": change.rank_before,
        "score": change.score, "previousScore": change.score_before,
        "overtakenBy": overtakers[:NAMED], "overtakenByCount": len(overtakers),
        "passed": passed[:NAMED], "passedCount": passed_count,
        "entered": entered_top(change.rank_before, change.rank),
        "left": left_top(change.rank_before, change.rank),
    }


def events_by_worker(reports: Iterable[SeasonReport]) -> dict[str, list[dict[str, Any]]]:
    """The events of ``reports``, grouped by the worker that streams them (one message per worker)."""
    by_worker: dict[str, list[dict[str, Any]]] = {}
    for report in reports:
        for change in report.changes:
            event = rank_event(report, change)
            for worker in change.workers:
                by_worker.setdefault(worker, []).append(event)
    return by_worker


def standing_event(game_id: str, season: str, user_id: str, standing: PlayerStanding | None) -> dict[str, Any]:
    """The first event of a stream: the player's standing at connect (nulls: no score yet)."""
    player = standing.player if standing is not None else None
    return {
        "gameId": game_id, "season": season, "userId": user_id,
        "rank": player.rank if player else None, "previousRank": None,
        "score": player.score if player else None, "previousScore": None,
        "overtakenBy": [], "overtakenByCount": 0, "passed": [], "passedCount": 0,
        "entered": None, "left": None,
    }
