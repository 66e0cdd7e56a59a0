"""What one score_updates record does to a player's state (leaderboard_app/planning.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from leaderboard_app.models import GameRules, PlayerDeletion, PlayerModeration, PlayerState, ScoreSubmission
from leaderboard_app.planning import (
    Kind,
    applied_state,
    classify,
    deleted_state,
    moderated_state,
    repeated_state,
    skipped_before,
    write_stamp,
)

HOUR_US = 3_600_000_000


def submission(score: int, at_us: int = 10 * HOUR_US, event_id: str | None = None, operator: str = "best",
               display_name: str | None = None) -> ScoreSubmission:
    return ScoreSubmission(game_id="g", user_id="u", score=score, accepted_at_us=at_us, achieved_at_us=at_us,
                           rules=GameRules(operator=operator), display_name=display_name, event_id=event_id)


def test_records_beyond_the_progress_were_skipped_and_none_before_a_first_progress() -> None:
    assert skipped_before(12, 10)
    assert not skipped_before(10, 10)
    assert not skipped_before(3, 10)
    assert not skipped_before(12, None)


def test_a_record_below_the_progress_or_the_players_offset_is_a_replay() -> None:
    state = PlayerState(offset=7)
    assert classify(5, 9, state, submission(1)) is Kind.REPLAY  # below the partition's progress
    assert classify(7, None, state, submission(1)) is Kind.REPLAY  # the player's own record again
    assert classify(9, 9, state, submission(1)) is Kind.APPLY
    assert classify(9, None, PlayerState(), submission(1)) is Kind.APPLY


def test_deletions_are_deletions_even_when_replayed() -> None:
    deletion = PlayerDeletion(game_id="g", user_id="u", accepted_at_us=1)
    assert classify(3, 9, PlayerState(offset=7), deletion) is Kind.DELETION


def test_an_event_id_seen_within_a_day_is_a_repeat_and_one_seen_before_that_is_new() -> None:
    first = applied_state(PlayerState(), submission(5, event_id="e1"), offset=4).state
    assert classify(5, 5, first, submission(9, at_us=11 * HOUR_US, event_id="e1")) is Kind.REPEAT
    assert classify(5, 5, first, submission(9, at_us=40 * HOUR_US, event_id="e1")) is Kind.APPLY
    assert classify(5, 5, first, submission(9, event_id="e2")) is Kind.APPLY
    repeated = repeated_state(first, 5)
    assert (repeated.offset, repeated.seasons, repeated.events) == (5, first.seasons, first.events)


def test_applying_keeps_the_best_and_reports_only_what_changed() -> None:
    state = applied_state(PlayerState(), submission(50, display_name="Ann"), offset=1)
    assert state.season_score is not None and state.season_score.score == 50
    assert state.profile == {"displayName": "Ann", "metadata": None}
    lower = applied_state(state.state, submission(20, display_name="Ann"), offset=2)
    assert lower.season_score is None and lower.profile is None  # not better, same name
    assert lower.state.offset == 2 and lower.state.seasons["all"].score == 50


@given(st.lists(st.integers(min_value=-1000, max_value=1000), min_size=1, max_size=30))
def test_incr_applied_once_per_record_sums_and_replays_change_nothing(scores: list[int]) -> None:
    state = PlayerState()
    for offset, score in enumerate(scores):
        record = submission(score, operator="incr")
        assert classify(offset, offset, state, record) is Kind.APPLY
        state = applied_state(state, record, offset).state
        # The same record delivered again (a redelivery after a crash) is a replay.
        assert classify(offset, offset + 1, state, record) is Kind.REPLAY
    assert state.seasons["all"].score == sum(scores)


def test_an_erased_player_keeps_its_offset_event_ids_and_write_stamp_only() -> None:
    state = applied_state(PlayerState(), submission(5, event_id="e1", display_name="Ann"), offset=4).state
    erased = deleted_state(state, 9, accepted_at_us=11 * HOUR_US)
    assert (erased.offset, erased.seasons, erased.display_name, erased.events) == (9, {}, None, state.events)
    assert erased.stamp_us == 11 * HOUR_US
    assert deleted_state(state, 2, 11 * HOUR_US).offset == 4  # a replayed erasure never moves the offset back


def test_writes_follow_the_record_order_whatever_the_accepting_clocks_said() -> None:
    # The erasure was accepted on a worker whose clock ran a second ahead of the
    # one that then accepted the next score: the score must still be written after
    # the tombstone, or Cassandra would hide it.
    scored = applied_state(PlayerState(), submission(5, at_us=10 * HOUR_US), offset=1).state
    erased = deleted_state(scored, 2, accepted_at_us=10 * HOUR_US + 1_000_000)
    assert erased.stamp_us > scored.stamp_us
    again = applied_state(erased, submission(3, at_us=10 * HOUR_US + 500_000), offset=3)
    assert again.state.stamp_us > erased.stamp_us
    assert again.season_score is not None and again.season_score.updated_at_us > erased.stamp_us
    assert write_stamp(PlayerState().stamp_us, 7) == 7  # with nothing before it, a record writes when accepted


def tagged(score: int, tags: dict[str, str] | None, at_us: int = 10 * HOUR_US) -> ScoreSubmission:
    return ScoreSubmission(game_id="g", user_id="u", score=score, accepted_at_us=at_us, achieved_at_us=at_us,
                           tags=tags)


def test_the_season_follows_the_players_latest_tags_even_when_the_score_stays() -> None:
    first = applied_state(PlayerState(), tagged(50, {"country": "FR", "platform": "pc"}), offset=1)
    assert first.season_score is not None and first.season_score.tags == {"country": "FR", "platform": "pc"}
    # A worse score ("best" keeps 50) that moves the player to another country.
    moved = applied_state(first.state, tagged(20, {"country": "DE"}, at_us=11 * HOUR_US), offset=2)
    assert moved.season_score is not None
    assert (moved.season_score.score, moved.season_score.tags) == (50, {"country": "DE", "platform": "pc"})
    assert moved.season_score.updated_at_us > first.season_score.updated_at_us  # Cassandra takes the move
    assert moved.state.tags == {"country": "DE", "platform": "pc"}
    # No tags: the player stays where the latest ones put them, and nothing is written.
    same = applied_state(moved.state, tagged(10, None, at_us=12 * HOUR_US), offset=3)
    assert same.season_score is None and same.state.seasons["all"].tags == {"country": "DE", "platform": "pc"}


def test_tags_survive_the_table_encoding() -> None:
    state = applied_state(PlayerState(), tagged(7, {"country": "FR"}), offset=1).state
    assert PlayerState.from_bytes(state.to_bytes()) == state
    untagged = applied_state(PlayerState(), tagged(7, None), offset=1).state
    assert b"tags" not in untagged.to_bytes()  # untagged games pay nothing in the changelog


def ban(at_us: int = 11 * HOUR_US, banned: bool = True) -> PlayerModeration:
    return PlayerModeration(game_id="g", user_id="u", accepted_at_us=at_us, banned=banned,
                            reason="aimbot" if banned else None)


def test_bans_and_liftings_are_new_unless_replayed() -> None:
    state = PlayerState(offset=7)
    assert classify(9, 9, state, ban()) is Kind.BAN
    assert classify(9, 9, state, ban(banned=False)) is Kind.UNBAN
    assert classify(9, None, PlayerState(), ban()) is Kind.BAN  # a player without a state may be banned
    assert classify(5, 9, state, ban()) is Kind.REPLAY  # below the partition's progress
    assert classify(7, None, state, ban(banned=False)) is Kind.REPLAY  # the player's own record again


def test_a_ban_keeps_the_scores_and_moves_offset_and_stamp_on() -> None:
    scored = applied_state(PlayerState(), submission(50, event_id="e1"), offset=1).state
    banned = moderated_state(scored, ban(at_us=11 * HOUR_US), offset=4)
    assert banned.banned and (banned.seasons, banned.events) == (scored.seasons, scored.events)
    assert banned.offset == 4
    assert banned.stamp_us == write_stamp(scored.stamp_us, 11 * HOUR_US) > scored.stamp_us
    restored = moderated_state(banned, ban(at_us=12 * HOUR_US, banned=False), offset=6)
    assert not restored.banned and restored.seasons == scored.seasons and restored.offset == 6
    # A record accepted on a worker whose clock is behind still stamps after the last write.
    late = moderated_state(restored, ban(at_us=1), offset=7)
    assert late.stamp_us == restored.stamp_us + 1
    # Banning an unknown player makes a state that knows the ban.
    assert moderated_state(PlayerState(), ban(), offset=2) == PlayerState(offset=2, stamp_us=11 * HOUR_US,
                                                                          banned=True)


def test_a_banned_players_submissions_still_apply_and_the_ban_stays() -> None:
    banned = moderated_state(applied_state(PlayerState(), submission(50, operator="incr"), 1).state, ban(), 2)
    applied = applied_state(banned, submission(30, at_us=12 * HOUR_US, operator="incr"), offset=3)
    assert applied.state.banned
    assert applied.season_score is not None and applied.season_score.score == 80  # kept, to count once restored
    assert moderated_state(applied.state, ban(banned=False), 4).seasons["all"].score == 80


def test_an_erasure_does_not_lift_a_ban() -> None:
    banned = moderated_state(applied_state(PlayerState(), submission(50), 1).state, ban(), 2)
    erased = deleted_state(banned, 3, accepted_at_us=12 * HOUR_US)
    assert erased.banned and not erased.seasons
