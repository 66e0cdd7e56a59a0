import orjson
import pytest

from leaderboard_app.errors import InvalidInput
from leaderboard_app.models import (
    MAX_ABS_SCORE,
    ScoreSubmission,
    decode_submission,
    parse_json_object,
    parse_submission,
    player_key,
)


def submission(**fields):
    data = {"userId": "player1", "score": 2500, "gameId": "tetris"}
    data.update(fields)
    return parse_submission(data, accepted_at_us=1)


def test_valid_submission_round_trips_through_the_topic_encoding():
    parsed = submission(userId="a:b {x} 🎮", gameId="g")
    assert decode_submission(parsed.to_bytes()) == parsed


@pytest.mark.parametrize("score", [0, -5, MAX_ABS_SCORE, -MAX_ABS_SCORE])
def test_integer_scores_in_range_are_kept_exactly(score):
    assert submission(score=score).score == score


@pytest.mark.parametrize("score", ["10", True, False, 1.5, 10.0, None, MAX_ABS_SCORE + 1, -MAX_ABS_SCORE - 1, [1], {}])
def test_non_integer_or_out_of_range_scores_are_refused(score):
    with pytest.raises(InvalidInput, match="^score "):
        submission(score=score)


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
    ],
)
def test_bad_ids_are_refused_naming_the_field(field, value):
    with pytest.raises(InvalidInput, match=f"^{field} "):
        submission(**{field: value})


def test_ids_of_128_characters_are_accepted():
    assert submission(userId="é" * 128).user_id == "é" * 128


@pytest.mark.parametrize("missing", ["userId", "gameId", "score"])
def test_missing_fields_are_named(missing):
    data = {"userId": "p", "score": 1, "gameId": "g"}
    del data[missing]
    with pytest.raises(InvalidInput, match=f"^{missing} is required"):
        parse_submission(data, accepted_at_us=1)


@pytest.mark.parametrize("body", [b"", b"{", b"[1]", b'"x"', b"null", b"NaN"])
def test_bodies_that_are_not_a_json_object_are_refused(body):
    with pytest.raises(InvalidInput, match="^body "):
        parse_json_object(body)


def test_player_keys_never_collide_across_separators():
    assert player_key("a:b", "c") != player_key("a", "b:c")
    assert player_key("a", "bc") != player_key("ab", "c")


def test_records_from_the_topic_need_a_server_timestamp():
    raw = orjson.dumps({"userId": "p", "score": 1, "gameId": "g"})
    with pytest.raises(InvalidInput, match="^acceptedAtUs "):
        decode_submission(raw)
    assert isinstance(decode_submission(ScoreSubmission("g", "p", 1, 7).to_bytes()), ScoreSubmission)
