"""What travels on the topic and lives in the table.

``ScoreSubmission`` is the contract of the ``score_updates`` topic: the HTTP edge
builds it from a request with :func:`parse_submission`, and the agent decodes it
from the topic with :func:`decode_submission`, so both apply the same rules.
``PlayerScore`` is the value of the changelog-backed ``player_scores`` table.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import faust
import orjson

from leaderboard_app.errors import InvalidInput

#: Largest absolute score: every integer up to it is exact in a double (Redis scores).
MAX_ABS_SCORE = 2**53 - 1
MAX_ID_LENGTH = 128


@dataclass(frozen=True, slots=True)
class ScoreSubmission:
    """One accepted score submission, as produced to ``score_updates``."""

    game_id: str
    user_id: str
    score: int
    #: When the service accepted it, in microseconds since the epoch; breaks ties.
    accepted_at_us: int

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {"gameId": self.game_id, "userId": self.user_id, "score": self.score, "acceptedAtUs": self.accepted_at_us}
        )


class PlayerScore(faust.Record, serializer="json"):
    """A player's current standing in one game (the table value)."""

    score: int
    #: When the player first reached ``score`` (microseconds); earlier ranks first among equals.
    reached_at_us: int
    #: When this state last changed (microseconds); Cassandra's write timestamp.
    updated_at_us: int


def player_key(game_id: str, user_id: str) -> bytes:
    """Return the Kafka/table key of one player in one game.

    A JSON array is unambiguous for any pair of strings: ``("a:b", "c")`` and
    ``("a", "b:c")`` never share a key, whatever characters the ids hold.
    """
    return orjson.dumps([game_id, user_id])


def validate_id(field: str, value: Any) -> str:
    """Return ``value`` if it is a usable game or user id, else raise InvalidInput."""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string")
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        raise InvalidInput(field, f"must be 1 to {MAX_ID_LENGTH} characters long")
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc":
            raise InvalidInput(field, "must not contain control characters")
        if category == "Cs":
            raise InvalidInput(field, "must not contain unpaired surrogates")
    return value


def validate_score(value: Any) -> int:
    """Return ``value`` if it is an exact integer score, else raise InvalidInput."""
    # bool is a subclass of int, and JSON's true/false are no scores.
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_ABS_SCORE:
        raise InvalidInput("score", f"must be a JSON integer between -{MAX_ABS_SCORE} and {MAX_ABS_SCORE}")
    return value


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Decode a request body that must be one JSON object."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("body", f"is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("body", "must be a JSON object")
    return data


def parse_submission(data: dict[str, Any], accepted_at_us: int) -> ScoreSubmission:
    """Validate one submission object from a client."""
    for name in ("gameId", "userId", "score"):
        if name not in data:
            raise InvalidInput(name, "is required")
    return ScoreSubmission(
        game_id=validate_id("gameId", data["gameId"]),
        user_id=validate_id("userId", data["userId"]),
        score=validate_score(data["score"]),
        accepted_at_us=accepted_at_us,
    )


def decode_submission(raw: bytes) -> ScoreSubmission:
    """Decode a record from ``score_updates``; raise InvalidInput if it is malformed."""
    data = parse_json_object(raw)
    accepted_at_us = data.get("acceptedAtUs")
    if isinstance(accepted_at_us, bool) or not isinstance(accepted_at_us, int) or accepted_at_us < 0:
        raise InvalidInput("acceptedAtUs", "must be a non-negative integer")
    return parse_submission(data, accepted_at_us)
