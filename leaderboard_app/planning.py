"""What one ``score_updates`` record does to a player's state: pure decisions, no I/O.

The agent (agents.py) reads the state and the partition's progress from the table, asks
:func:`classify` what the record is, and for a new submission asks :func:`applied_state` for
the state after it; then it writes the table and the sinks. The rules that make the effect
exactly-once live here (docs/exactly-once.md, points 2, 3 and 6):

* a record beyond the partition's progress means the records in between were skipped: they
  are read and applied first (:func:`skipped_before`);
* a record below the progress, or at or below the offset the player's state last applied, is
  a replay: its effect is in the state already, only its (idempotent) sink writes repeat;
* a submission whose ``eventId`` the state remembers (24 h) is a client's retry;
* a ban or its lifting (:func:`moderated_state`) is a replay on the same terms as a
  submission; a banned player's submissions are applied to the state as any other
  (the agent only leaves them out of the index).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from leaderboard_app.models import (
    PlayerDeletion,
    PlayerModeration,
    PlayerState,
    ScoreSubmission,
    ScoreUpdate,
    SeasonScore,
)
from leaderboard_app.scoring import apply_submission


class Kind(Enum):
    """What a record is, given the partition's progress and the player's state (the agent's metric outcomes)."""

    DELETION = "deleted"
    #: Its effect is in the state already: repeat its sink writes only.
    REPLAY = "replayed"
    #: The client sent this eventId before: answer as the first time, change nothing.
    REPEAT = "repeated"
    #: A new submission: apply it.
    APPLY = "applied"
    #: A new ban, or the lifting of one.
    BAN = "banned"
    UNBAN = "restored"


def skipped_before(offset: int, next_to_apply: int | None) -> bool:
    """Whether records between the partition's progress (None: none yet) and ``offset`` were never applied."""
    return next_to_apply is not None and offset > next_to_apply


def classify(offset: int, next_to_apply: int | None, state: PlayerState,
             update: ScoreUpdate) -> Kind:
    """What the record at ``offset`` is, once no record before it was skipped.

    ``next_to_apply`` is the partition's progress (None: none applied yet).
    """
    if isinstance(update, PlayerDeletion):
        return Kind.DELETION
    if (next_to_apply is not None and offset < next_to_apply) or offset <= state.offset:
        return Kind.REPLAY
    if isinstance(update, PlayerModeration):
        return Kind.BAN if update.banned else Kind.UNBAN
    if state.seen_event(update.event_id, update.accepted_at_us) is not None:
        return Kind.REPEAT
    return Kind.APPLY


def profile_change(state: PlayerState, submission: ScoreSubmission) -> dict[str, Any] | None:
    """Return the player's new profile if the submission changes it, else None."""
    display_name = submission.display_name if submission.display_name is not None else state.display_name
    metadata = submission.metadata if submission.metadata is not None else state.metadata
    if (display_name, metadata) == (state.display_name, state.metadata):
        return None
    return {"displayName": display_name, "metadata": metadata}


@dataclass(frozen=True)
class Applied:
    """A new submission's effect: the player's next state and what changed for the sinks."""

    state: PlayerState
    #: The season's new score (None: the submission did not change it).
    season_score: SeasonScore | None
    #: The new profile (None: unchanged).
    profile: dict[str, Any] | None


def write_stamp(last_stamp_us: int, accepted_at_us: int) -> int:
    """The Cassandra write timestamp of the player's next record: after every earlier one
    (``last_stamp_us``, the player's last; 0: none).

    Records of a player are applied in their partition's order, but were accepted
    by workers whose clocks may disagree: a score accepted a few milliseconds
    "before" a deletion on another machine must still land after its tombstone.
    """
    return max(accepted_at_us, last_stamp_us + 1)


def applied_state(state: PlayerState, submission: ScoreSubmission, offset: int) -> Applied:
    """The player's state after the submission at ``offset``, which remembers its eventId."""
    stamp = write_stamp(state.stamp_us, submission.accepted_at_us)
    tags = {**state.tags, **submission.tags} if submission.tags else state.tags
    season_score = slices_followed(state.seasons.get(submission.season),
                                   apply_submission(state.seasons.get(submission.season), submission, stamp),
                                   tags, stamp)
    if season_score is not None:
        stamp = max(stamp, season_score.updated_at_us)
    profile = profile_change(state, submission)
    updated = replace(state, offset=offset, stamp_us=stamp, tags=tags)
    if season_score is not None:
        updated = updated.with_season(submission.season, season_score)
    if profile is not None:
        updated = replace(updated, display_name=profile["displayName"], metadata=profile["metadata"])
    if submission.event_id:
        updated = updated.remember_event(submission.event_id, submission.accepted_at_us, None)
    return Applied(updated, season_score, profile)


def slices_followed(previous: SeasonScore | None, scored: SeasonScore | None, tags: dict[str, str],
                    stamp_us: int) -> SeasonScore | None:
    """The season's state ranked in the slices of the player's latest ``tags`` (None: nothing changes).

    A submission that does not change the score may still move the player, say to
    another country: the season's state is then written again under the new tags.
    """
    if scored is not None:
        return replace(scored, tags=tags) if scored.tags != tags else scored
    if previous is None or previous.tags == tags:
        return None
    return replace(previous, tags=tags, updated_at_us=max(stamp_us, previous.updated_at_us + 1))


def repeated_state(state: PlayerState, offset: int) -> PlayerState:
    """The state after a client's retry at ``offset``: unchanged but for the offset it has seen."""
    return replace(state, offset=offset)


def deleted_state(state: PlayerState, offset: int, accepted_at_us: int) -> PlayerState:
    """The state after an erasure: empty, but still knowing its offset and eventIds (so replays stay
    replays), the erasure's write timestamp (``stamp_us``: the tombstones'), which later writes follow,
    and whether the player is banned (erasing a player's data does not lift their ban)."""
    return PlayerState(offset=max(offset, state.offset), events=state.events,
                       stamp_us=write_stamp(state.stamp_us, accepted_at_us), banned=state.banned)


def moderated_state(state: PlayerState, moderation: PlayerModeration, offset: int) -> PlayerState:
    """The player's state after the ban (or lifting) at ``offset``: scores, profile and eventIds kept.

    ``stamp_us`` moves on to the record's write timestamp, that of its history row (every ban
    and every lifting has one, so a record alone says what it wrote: replays and refiling
    need no earlier state).
    """
    return replace(state, banned=moderation.banned, offset=max(offset, state.offset),
                   stamp_us=write_stamp(state.stamp_us, moderation.accepted_at_us))
