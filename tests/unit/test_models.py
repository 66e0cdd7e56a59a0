from dataclasses import replace

import orjson
import pytest

from leaderboard_app.errors import InvalidInput
from leaderboard_app.seasons import END_US
from leaderboard_app.tables import is_player_key, progress_key
from leaderboard_app.models import (
    MAX_ABS_SCORE,
    MAX_EVENT_ID_BYTES,
    MAX_EVENT_IDS,
    GameRules,
    PlayerDeletion,
    PlayerModeration,
    PlayerState,
    ScoreSubmission,
    SeasonScore,
    decode_update,
    parse_json_object,
    parse_rules,
    parse_submission_fields,
    player_key,
)


def fields(**overrides):
    data = {"userId": "player1", "score": 2500, "gameId": "tetris"}
    data.update(overrides)
    return parse_submission_fields(data)


#: 2026-11-24T06:00:00Z, in the ISO week 2026-W48.
AT_US = 1_795_500_000_000_000


def test_submissions_round_trip_through_the_topic_encoding():
    submission = ScoreSubmission(
        game_id="g", user_id="a:b {x} 🎮", score=-5, accepted_at_us=AT_US + 1, achieved_at_us=AT_US, season="2026-W48",
        rules=GameRules("asc", "incr", "weekly"), display_name="Ann", metadata={"lvl": 3}, reply_to="t",
    )
    assert decode_update(submission.to_bytes()) == submission
    deletion = PlayerDeletion(game_id="g", user_id="u", accepted_at_us=3, reply_to=None)
    assert decode_update(deletion.to_bytes()) == deletion


def _topic_record(**changes):
    submission = ScoreSubmission(game_id="g", user_id="u", score=1, accepted_at_us=AT_US, achieved_at_us=AT_US,
                                 season="2026-11-24", rules=GameRules(reset="daily"))
    return orjson.dumps({**orjson.loads(submission.to_bytes()), **changes})


@pytest.mark.parametrize(("changes", "field"), [
    ({"season": "all"}, "season"),  # the season of another reset: closing it has no end
    ({"season": "2026-11-23"}, "season"),  # a day the instant is not in
    ({"rules": {"order": "desc", "operator": "best", "reset": "never"}}, "season"),
    ({"achievedAtUs": 300_000_000_000_000_000}, "achievedAtUs"),  # the year 11476: no datetime has it
    ({"acceptedAtUs": 2**63}, "acceptedAtUs"),
    ({"achievedAtUs": -1}, "achievedAtUs"),
    ({"achievedAtUs": True}, "achievedAtUs"),
    ({"achievedAtUs": 1.5e15}, "achievedAtUs"),
])
def test_topic_records_the_agent_could_not_apply_do_not_decode(changes, field):
    assert decode_update(_topic_record()).season == "2026-11-24"  # the record as the edge makes it
    with pytest.raises(InvalidInput) as raised:
        decode_update(_topic_record(**changes))
    assert str(raised.value).startswith(f"{field} ")


def test_a_deletion_from_past_the_year_9999_does_not_decode():
    raw = PlayerDeletion(game_id="g", user_id="u", accepted_at_us=END_US, reply_to=None).to_bytes()
    with pytest.raises(InvalidInput, match="^acceptedAtUs "):
        decode_update(raw)
    assert decode_update(PlayerDeletion("g", "u", END_US - 1, None).to_bytes()).accepted_at_us == END_US - 1


@pytest.mark.parametrize("score", [0, -5, MAX_ABS_SCORE, -MAX_ABS_SCORE])
def test_integer_scores_in_range_are_kept_exactly(score):
    assert fields(score=score).score == score


@pytest.mark.parametrize("score", ["10", True, False, 1.5, 10.0, None, MAX_ABS_SCORE + 1, -MAX_ABS_SCORE - 1, [1], {}])
def test_non_integer_or_out_of_range_scores_are_refused(score):
    with pytest.raises(InvalidInput, match="^score "):
        fields(score=score)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("userId", ""),
        ("userId", "x" * 129),
        ("userId", "a\nb"),
        ("userId", "a\x00b"),
        ("gameId", "\ud800"),
        ("gameId", 5),
        ("gameId", None),
        ("displayName", "x" * 65),
        ("displayName", 7),
        ("metadata", [1]),
        ("metadata", {"blob": "x" * 1100}),
    ],
)
def test_bad_fields_are_refused_naming_the_field(field, value):
    with pytest.raises(InvalidInput, match=f"^{field} "):
        fields(**{field: value})


def test_ids_of_128_characters_and_names_of_64_are_accepted():
    parsed = fields(userId="é" * 128, displayName="n" * 64, metadata={"k": "v"})
    assert (parsed.user_id, parsed.display_name, parsed.metadata) == ("é" * 128, "n" * 64, {"k": "v"})


@pytest.mark.parametrize("missing", ["userId", "gameId", "score"])
def test_missing_fields_are_named(missing):
    data = {"userId": "p", "score": 1, "gameId": "g"}
    del data[missing]
    with pytest.raises(InvalidInput, match=f"^{missing} is required"):
        parse_submission_fields(data)


@pytest.mark.parametrize("body", [b"", b"{", b"[1]", b'"x"', b"null", b"NaN"])
def test_bodies_that_are_not_a_json_object_are_refused(body):
    with pytest.raises(InvalidInput, match="^body "):
        parse_json_object(body)


def test_player_keys_never_collide_across_separators():
    assert player_key("a:b", "c") != player_key("a", "b:c")
    assert player_key("a", "bc") != player_key("ab", "c")


def test_records_from_the_topic_need_the_server_fields():
    raw = orjson.dumps({"type": "score", "userId": "p", "score": 1, "gameId": "g"})
    with pytest.raises(InvalidInput, match="^acceptedAtUs "):
        decode_update(raw)
    with pytest.raises(InvalidInput, match="^type "):
        decode_update(orjson.dumps({"type": "other", "acceptedAtUs": 1}))


def test_rules_default_and_refuse_unknown_values():
    assert parse_rules({}) == GameRules("desc", "best", "never")
    assert parse_rules({"order": "asc", "operator": "set", "reset": "daily"}) == GameRules("asc", "set", "daily")
    for body, field in (({"order": "up"}, "order"), ({"operator": "max"}, "operator"),
                        ({"reset": "hourly"}, "reset"), ({"colour": "red"}, "colour")):
        with pytest.raises(InvalidInput, match=f"^{field} "):
            parse_rules(body)


def test_player_state_keeps_only_the_two_newest_seasons():
    state = PlayerState()
    for day, at in (("2026-11-24", 1), ("2026-11-25", 2), ("2026-11-26", 3)):
        state = state.with_season(day, SeasonScore(score=at, reached_at_us=at, achieved_at_us=at, updated_at_us=at))
    assert sorted(state.seasons) == ["2026-11-25", "2026-11-26"]
    assert PlayerState.from_bytes(state.to_bytes()) == state


def test_an_error_can_be_moved_under_a_batch_index():
    error = InvalidInput("score", "must be a JSON integer").within("scores[3].")
    assert str(error) == "scores[3].score must be a JSON integer"


def test_progress_entries_never_look_like_players():
    assert progress_key(3) != progress_key(13)
    assert not is_player_key(progress_key(0))
    # Player keys are JSON arrays, whatever the ids hold.
    assert is_player_key(player_key("#progress:1", "#progress:1"))


@pytest.mark.parametrize("dots", [".", ".."])
@pytest.mark.parametrize("field", ["userId", "gameId"])
def test_ids_no_url_path_can_name_are_refused(field, dots):
    with pytest.raises(InvalidInput, match=f"^{field} must not be . or .."):
        fields(**{field: dots})
    assert fields(**{field: "..."}) and fields(**{field: ".a"})  # only the two dot segments


def test_remembered_event_ids_stay_within_their_byte_budget_newest_kept():
    answer = {"status": "applied", "season": "2026-W48", "rank": 123456, "score": 9007199254740991}
    state = PlayerState()
    for n in range(MAX_EVENT_IDS):
        state = state.remember_event(f"{n:064d}", AT_US + n, answer)  # 64-character ids, each with its answer
    assert len(orjson.dumps(state.events)) <= MAX_EVENT_ID_BYTES
    newest = f"{MAX_EVENT_IDS - 1:064d}"
    assert state.seen_event(newest, AT_US + MAX_EVENT_IDS) == [AT_US + MAX_EVENT_IDS - 1, answer]
    kept = sorted(int(eid) for eid in state.events)
    assert kept == list(range(MAX_EVENT_IDS - len(kept), MAX_EVENT_IDS))  # the most recent ones, in a row
    assert len(kept) >= 50  # a burst of retries of the last minutes is still recognised
    short = PlayerState()
    for n in range(300):
        short = short.remember_event(f"e{n}", AT_US + n, None)
    assert len(short.events) == 300  # short ids without answers: far more fit


def test_bans_and_liftings_round_trip_through_the_topic():
    ban = PlayerModeration("g", "u", accepted_at_us=3, banned=True, reason="aimbot", reply_to="t")
    assert decode_update(ban.to_bytes()) == ban
    lifting = PlayerModeration("g", "u", accepted_at_us=4, banned=False)
    assert decode_update(lifting.to_bytes()) == lifting
    assert orjson.loads(lifting.to_bytes()) == {"type": "unban", "gameId": "g", "userId": "u", "acceptedAtUs": 4}


@pytest.mark.parametrize(("changes", "field"), [
    ({"reason": "x" * 257}, "reason"),
    ({"reason": "tab\there"}, "reason"),
    ({"reason": 7}, "reason"),
    ({"type": "unban", "reason": "why"}, "reason"),
    ({"userId": ""}, "userId"),
    ({"gameId": None}, "gameId"),
    ({"acceptedAtUs": "soon"}, "acceptedAtUs"),
])
def test_malformed_bans_are_refused_naming_the_field(changes, field):
    record = {"type": "ban", "gameId": "g", "userId": "u", "acceptedAtUs": 3, **changes}
    with pytest.raises(InvalidInput, match=f"^{field} "):
        decode_update(orjson.dumps(record))


def test_a_banned_state_round_trips_and_an_unbanned_one_keeps_its_bytes():
    state = PlayerState(seasons={"all": SeasonScore(5, 1, 1, 1)}, offset=3, stamp_us=9)
    assert b"banned" not in state.to_bytes()
    banned = replace(state, banned=True)
    assert PlayerState.from_bytes(banned.to_bytes()) == banned
    assert PlayerState.from_bytes(state.to_bytes()).banned is False
