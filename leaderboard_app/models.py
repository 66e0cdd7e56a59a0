"""What travels on the topics and lives in the tables.

``score_updates`` carries three kinds of record, all keyed by ``player_key``:
a ``ScoreSubmission`` (built at the HTTP edge by :func:`parse_submission`), a
``PlayerDeletion`` and a ``PlayerModeration`` (a ban or its lifting). The agent decodes them with :func:`decode_update`, which
applies the same rules as the edge. ``PlayerState`` is the value of the
changelog-backed ``player_scores`` table; ``GameRules`` the value of the global
``game_rules`` table. All are encoded with orjson, so what is on a topic is plain
JSON that any client can read.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from leaderboard_app.columns import SortColumn, as_named, parse_column_values, parse_columns
from leaderboard_app.errors import InvalidInput
from leaderboard_app.seasons import RESETS, RUN, check_instant, run_bounds_us, season_of
from leaderboard_app.tiers import Tier, parse_tiers

#: Largest absolute score: every integer up to it is exact in a double (Redis scores).
MAX_ABS_SCORE = 2**53 - 1
MAX_ID_LENGTH = 128
MAX_DISPLAY_NAME_LENGTH = 64
MAX_METADATA_BYTES = 1024
MAX_EVENT_ID_LENGTH = 64
#: Longest reason an admin may give for a ban.
MAX_BAN_REASON_LENGTH = 256
#: How long a client's eventId is remembered to drop retries (microseconds).
EVENT_ID_WINDOW_US = 24 * 3600 * 1_000_000
#: Most eventIds remembered per player (the oldest are forgotten first).
MAX_EVENT_IDS = 1000
#: Most bytes the remembered eventIds (with their answers) take in a player's state, which
#: is rewritten to the changelog on every submission: 1,000 ids with wait=true answers
#: took about 166 KB per write. Past it the oldest are forgotten (retries come soon).
MAX_EVENT_ID_BYTES = 16 * 1024

ORDERS = ("desc", "asc")
OPERATORS = ("best", "set", "incr", "decr")

#: Seasons a player's table entry remembers: the current one and the one before,
#: which still takes late submissions during its grace period.
SEASONS_KEPT = 2


@dataclass(frozen=True, slots=True)
class GameRules:
    """How a game ranks and merges scores and when it resets (its ranking rules), and how
    its boards are presented: ``tiers`` (best first) and the ``tags`` keys it slices by."""

    order: str = "desc"
    operator: str = "best"
    reset: str = "never"
    tiers: tuple[Tier, ...] = ()
    tags: tuple[str, ...] = ()
    #: The columns players are ranked by after the score (leaderboard_app.columns).
    columns: tuple[SortColumn, ...] = ()

    def ranking(self) -> GameRules:
        """These rules without tiers and tags: what a record carries, and what cannot change once scores exist."""
        return GameRules(self.order, self.operator, self.reset, columns=self.columns)

    def ranking_json(self) -> dict[str, Any]:
        ranking: dict[str, Any] = {"order": self.order, "operator": self.operator, "reset": self.reset}
        if self.columns:  # only then: the records of games without columns keep their bytes
            ranking["columns"] = [column.as_json() for column in self.columns]
        return ranking

    def as_json(self) -> dict[str, Any]:
        return {**self.ranking_json(), "tiers": [tier.as_json() for tier in self.tiers], "tags": list(self.tags),
                "columns": [column.as_json() for column in self.columns]}

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.as_json())

    @classmethod
    def from_bytes(cls, raw: bytes) -> GameRules:
        return parse_rules(orjson.loads(raw))


DEFAULT_RULES = GameRules()


@dataclass(frozen=True, slots=True)
class ScoreSubmission:
    """One accepted score submission, as produced to ``score_updates``.

    The edge stamps it with the game's rules and the season it lands in, so the
    agent applies it the same way however late it is replayed.
    """

    game_id: str
    user_id: str
    score: int
    #: When the service accepted it (microseconds since the epoch).
    accepted_at_us: int
    #: When the player achieved it (event time); ties go to whoever got there first.
    achieved_at_us: int
    season: str = "all"
    rules: GameRules = DEFAULT_RULES
    display_name: str | None = None
    metadata: dict[str, Any] | None = None
    #: Where the agent reports the outcome (POST /score?wait=true), if anywhere.
    reply_to: str | None = None
    #: The client's id for this submission: a repeat within 24 h is applied once.
    event_id: str | None = None
    #: Tag values (key -> value, keys the game declares): the slices the player is ranked in from now on.
    tags: dict[str, str] | None = None
    #: The value of each of the game's sort columns (``rules.columns``), in their order.
    columns: tuple[int, ...] = ()

    def to_bytes(self) -> bytes:
        body: dict[str, Any] = {
            "type": "score",
            "gameId": self.game_id,
            "userId": self.user_id,
            "score": self.score,
            "acceptedAtUs": self.accepted_at_us,
            "achievedAtUs": self.achieved_at_us,
            "season": self.season,
            "rules": self.rules.ranking_json(),
        }
        for name, value in (("displayName", self.display_name), ("metadata", self.metadata),
                            ("replyTo", self.reply_to), ("eventId", self.event_id), ("tags", self.tags)):
            if value is not None:
                body[name] = value
        if self.columns:
            body["columns"] = as_named(self.rules.columns, self.columns)
        return orjson.dumps(body)


@dataclass(frozen=True, slots=True)
class PlayerDeletion:
    """An admin's request to erase a player from one game, in every season."""

    game_id: str
    user_id: str
    accepted_at_us: int
    reply_to: str | None = None

    def to_bytes(self) -> bytes:
        return orjson.dumps({"type": "delete", "gameId": self.game_id, "userId": self.user_id,
                             "acceptedAtUs": self.accepted_at_us, "replyTo": self.reply_to})


@dataclass(frozen=True, slots=True)
class PlayerModeration:
    """An admin's ban of a player from one game (``banned``), or its lifting.

    A banned player is ranked nowhere in the game; their submissions are still
    applied to their state and history, and count again once the ban is lifted.
    """

    game_id: str
    user_id: str
    accepted_at_us: int
    banned: bool
    reason: str | None = None
    reply_to: str | None = None

    def to_bytes(self) -> bytes:
        body: dict[str, Any] = {"type": "ban" if self.banned else "unban", "gameId": self.game_id,
                                "userId": self.user_id, "acceptedAtUs": self.accepted_at_us}
        if self.reason is not None:
            body["reason"] = self.reason
        if self.reply_to is not None:
            body["replyTo"] = self.reply_to
        return orjson.dumps(body)


#: Every kind of record ``score_updates`` carries.
ScoreUpdate = ScoreSubmission | PlayerDeletion | PlayerModeration


@dataclass(frozen=True, slots=True)
class SeasonScore:
    """A player's standing in one season."""

    score: int
    #: When the player reached ``score`` (event time, microseconds).
    reached_at_us: int
    #: Event time of the newest submission applied ("set" ignores older ones).
    achieved_at_us: int
    #: When this state last changed (microseconds); Cassandra's write timestamp.
    updated_at_us: int
    #: The tag values whose slices rank the player in this season (the player's latest).
    tags: dict[str, str] = field(default_factory=dict)
    #: The values of the game's sort columns, ranked after ``score`` (leaderboard_app.columns).
    columns: tuple[int, ...] = ()

    def as_list(self) -> list[Any]:
        # Trailing fields only when set: states without them keep their bytes (and older
        # workers can read them).
        values: list[Any] = [self.score, self.reached_at_us, self.achieved_at_us, self.updated_at_us]
        if self.columns:
            return values + [self.tags, list(self.columns)]
        return values + [self.tags] if self.tags else values

    @classmethod
    def from_list(cls, values: list[Any]) -> SeasonScore:
        score, reached_at_us, achieved_at_us, updated_at_us, *rest = values
        return cls(score, reached_at_us, achieved_at_us, updated_at_us, rest[0] if rest else {},
                   tuple(rest[1]) if len(rest) > 1 else ())


@dataclass(frozen=True, slots=True)
class PlayerState:
    """A player's state in one game (the ``player_scores`` table value)."""

    seasons: dict[str, SeasonScore] = field(default_factory=dict)
    display_name: str | None = None
    metadata: dict[str, Any] | None = None
    #: Offset in ``score_updates`` of the last record applied to this player: a
    #: record at or below it is a replay (all of a player's records share one
    #: partition, in order), whose effect this state already holds.
    offset: int = -1
    #: Recent client eventIds -> [acceptedAtUs, the wait=true answer or None].
    events: dict[str, list[Any]] = field(default_factory=dict)
    #: Cassandra write timestamp of the last record applied to this player (microseconds).
    #: Each record writes after it (planning.write_stamp), so the partition's record order,
    #: not the clocks of the workers that accepted them, decides which write wins.
    stamp_us: int = 0
    #: The player's latest value of each tag key (the last submission carrying it).
    tags: dict[str, str] = field(default_factory=dict)
    #: Banned from the game by an admin: ranked nowhere, though submissions still apply.
    banned: bool = False

    def remember_event(self, event_id: str, accepted_at_us: int, answer: dict[str, Any] | None) -> PlayerState:
        """Return this state remembering ``event_id``, forgetting ids older than 24 h (and the oldest beyond 1000)."""
        horizon = accepted_at_us - EVENT_ID_WINDOW_US
        kept = {eid: entry for eid, entry in self.events.items() if entry[0] >= horizon}
        kept[event_id] = [accepted_at_us, answer]
        if len(kept) > MAX_EVENT_IDS or len(orjson.dumps(kept)) > MAX_EVENT_ID_BYTES:
            newest_first = sorted(kept.items(), key=lambda item: item[1][0], reverse=True)[:MAX_EVENT_IDS]
            kept, size = {}, 2  # the braces
            for eid, entry in newest_first:
                size += len(orjson.dumps({eid: entry})) - 1  # the entry and its comma
                if kept and size > MAX_EVENT_ID_BYTES:
                    break
                kept[eid] = entry
        return replace(self, events=kept)

    def seen_event(self, event_id: str | None, accepted_at_us: int) -> list[Any] | None:
        """Return the remembered entry of ``event_id`` if it was seen within 24 h."""
        if event_id is None:
            return None
        entry = self.events.get(event_id)
        return entry if entry is not None and entry[0] >= accepted_at_us - EVENT_ID_WINDOW_US else None

    def profile(self) -> dict[str, Any] | None:
        """The player's ``{"displayName", "metadata"}``, or None if neither is known."""
        if self.display_name is None and self.metadata is None:
            return None
        return {"displayName": self.display_name, "metadata": self.metadata}

    def with_season(self, season: str, score: SeasonScore) -> PlayerState:
        """Return this state with ``season`` set, forgetting all but the newest seasons."""
        seasons = {**self.seasons, season: score}
        if len(seasons) > SEASONS_KEPT:
            newest = sorted(seasons, key=lambda s: seasons[s].achieved_at_us, reverse=True)[:SEASONS_KEPT]
            seasons = {s: seasons[s] for s in newest}
        return replace(self, seasons=seasons)

    def to_bytes(self) -> bytes:
        return orjson.dumps({
            "seasons": {s: v.as_list() for s, v in self.seasons.items()},
            "displayName": self.display_name,
            "metadata": self.metadata,
            "offset": self.offset,
            "events": self.events,
            "stampUs": self.stamp_us,
            **({"tags": self.tags} if self.tags else {}),
            # Only when true: the states of players never banned keep their bytes.
            **({"banned": True} if self.banned else {}),
        })

    @classmethod
    def from_bytes(cls, raw: bytes) -> PlayerState:
        data = orjson.loads(raw)
        return cls(
            seasons={s: SeasonScore.from_list(values) for s, values in data["seasons"].items()},
            display_name=data.get("displayName"),
            metadata=data.get("metadata"),
            offset=data.get("offset", -1),
            events=data.get("events", {}),
            stamp_us=data.get("stampUs", 0),
            tags=data.get("tags", {}),
            banned=data.get("banned", False),
        )


#: What starts the board id of a tournament (U+001E, a control character, which no game id may hold).
BOARD_MARK = "\x1etournament:"


def board_id(tournament_id: str) -> str:
    """The game id a tournament's scores carry on the topic and in Redis and Cassandra."""
    return BOARD_MARK + tournament_id


def tournament_of(game_id: str) -> str | None:
    """The tournament whose board ``game_id`` is, or None for a game."""
    return game_id[len(BOARD_MARK):] if game_id.startswith(BOARD_MARK) else None


def player_key(game_id: str, user_id: str) -> bytes:
    """Return the Kafka/table key of one player in one game.

    A JSON array is unambiguous for any pair of strings: ``("a:b", "c")`` and
    ``("a", "b:c")`` never share a key, whatever characters the ids hold.
    """
    return orjson.dumps([game_id, user_id])


def printable(field: str, value: Any, max_length: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string")
    if not 1 <= len(value) <= max_length:
        raise InvalidInput(field, f"must be 1 to {max_length} characters long")
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc":
            raise InvalidInput(field, "must not contain control characters")
        if category == "Cs":
            raise InvalidInput(field, "must not contain unpaired surrogates")
    return value


#: Ids no URL path can carry: clients remove "." and ".." segments (RFC 3986), so
#: ``DELETE /users/..`` would reach ``DELETE /``.
_DOT_SEGMENTS = frozenset({".", ".."})


def validate_id(field: str, value: Any) -> str:
    """Return ``value`` if it is a usable game or user id, else raise InvalidInput."""
    text = printable(field, value, MAX_ID_LENGTH)
    if text in _DOT_SEGMENTS:
        raise InvalidInput(field, "must not be . or .. (no URL path can name it)")
    return text


def validate_score(value: Any) -> int:
    """Return ``value`` if it is an exact integer score, else raise InvalidInput."""
    # bool is a subclass of int, and JSON's true/false are no scores.
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_ABS_SCORE:
        raise InvalidInput("score", f"must be a JSON integer between -{MAX_ABS_SCORE} and {MAX_ABS_SCORE}")
    return value


def validate_metadata(value: Any) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object of at most 1 KiB, else raise InvalidInput."""
    if not isinstance(value, dict):
        raise InvalidInput("metadata", "must be a JSON object")
    if len(orjson.dumps(value)) > MAX_METADATA_BYTES:
        raise InvalidInput("metadata", f"must be at most {MAX_METADATA_BYTES} bytes of JSON")
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


def _one_of(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidInput(field, f"must be one of {', '.join(allowed)}")
    return value


#: Most tag keys a game may declare (each is a family of slices of its boards).
MAX_TAG_KEYS = 4
MAX_TAG_VALUE_LENGTH = 64
_TAG_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")
_RULE_FIELDS = ("order", "operator", "reset", "tiers", "tags", "columns")


def parse_tag_keys(value: Any) -> tuple[str, ...]:
    """Validate the tag keys a game declares (``["country", "platform"]``)."""
    if not isinstance(value, list) or len(value) > MAX_TAG_KEYS:
        raise InvalidInput("tags", f"must be a JSON array of at most {MAX_TAG_KEYS} tag keys")
    for index, key in enumerate(value):
        if not isinstance(key, str) or not _TAG_KEY.fullmatch(key):
            raise InvalidInput(f"tags[{index}]", "must be 1 to 32 lower-case letters, digits or '_',"
                                                 " starting with a letter")
        if value.index(key) != index:
            raise InvalidInput(f"tags[{index}]", f"repeats the tag key {key!r}")
    return tuple(value)


def parse_rules(data: dict[str, Any], resets: tuple[str, ...] = RESETS) -> GameRules:
    """Validate a PUT /games body (or a record's rules, whose ``resets`` may be a tournament's); absent
    fields take the defaults."""
    unknown = sorted(set(data) - set(_RULE_FIELDS))
    if unknown:
        raise InvalidInput(unknown[0], f"is not a rule ({', '.join(_RULE_FIELDS)})")
    operator = _one_of("operator", data.get("operator", DEFAULT_RULES.operator), OPERATORS)
    return GameRules(
        order=_one_of("order", data.get("order", DEFAULT_RULES.order), ORDERS),
        operator=operator,
        reset=_one_of("reset", data.get("reset", DEFAULT_RULES.reset), resets),
        tiers=parse_tiers(data.get("tiers", []), MAX_ABS_SCORE),
        tags=parse_tag_keys(data.get("tags", [])),
        columns=parse_columns(data.get("columns", []), operator),
    )


def parse_tags(value: Any, declared: tuple[str, ...] | None) -> dict[str, str]:
    """Validate a submission's ``tags``: values of the game's ``declared`` keys (None: any key, on the topic)."""
    if not isinstance(value, dict):
        raise InvalidInput("tags", "must be a JSON object of tag key -> value")
    if len(value) > MAX_TAG_KEYS:
        raise InvalidInput("tags", f"must hold at most {MAX_TAG_KEYS} keys")
    for key, tag in value.items():
        if declared is not None and key not in declared:
            allowed = ", ".join(declared) if declared else "none; set them with PUT /games/{gameId} tags"
            raise InvalidInput(f"tags.{key}", f"is not a tag key of this game (declared: {allowed})")
        if not _TAG_KEY.fullmatch(key):
            raise InvalidInput(f"tags.{key}", "is not a valid tag key")
        printable(f"tags.{key}", tag, MAX_TAG_VALUE_LENGTH)
    return dict(value)


@dataclass(frozen=True, slots=True)
class SubmissionFields:
    """The client-supplied part of a submission, validated."""

    game_id: str
    user_id: str
    score: int
    achieved_at: Any = None
    display_name: str | None = None
    metadata: dict[str, Any] | None = None
    event_id: str | None = None
    tags: dict[str, str] | None = None
    #: The raw ``columns`` object, checked against the game's declared columns by :func:`parse_column_values`.
    columns: Any = None


def parse_submission_fields(data: dict[str, Any]) -> SubmissionFields:
    """Validate one submission object from a client."""
    for name in ("gameId", "userId", "score"):
        if name not in data:
            raise InvalidInput(name, "is required")
    display_name = data.get("displayName")
    metadata = data.get("metadata")
    return SubmissionFields(
        game_id=validate_id("gameId", data["gameId"]),
        user_id=validate_id("userId", data["userId"]),
        score=validate_score(data["score"]),
        achieved_at=data.get("achievedAt"),
        display_name=None if display_name is None else printable("displayName", display_name,
                                                                    MAX_DISPLAY_NAME_LENGTH),
        metadata=None if metadata is None else validate_metadata(metadata),
        event_id=None if data.get("eventId") is None else printable("eventId", data["eventId"], MAX_EVENT_ID_LENGTH),
        tags=None if data.get("tags") is None else parse_tags(data["tags"], declared=None),
        columns=data.get("columns"),
    )


def validate_reason(value: Any) -> str:
    """Return ``value`` if it is a usable ban reason (1 to 256 printable characters), else raise InvalidInput."""
    return printable("reason", value, MAX_BAN_REASON_LENGTH)


def decode_update(raw: bytes) -> ScoreUpdate:
    """Decode a record from ``score_updates``; raise InvalidInput if the agent could not apply it.

    Records are input too (anyone who can produce to the topic writes them), so
    a record is held to everything the HTTP edge guarantees of what it produces:
    whatever decodes can be applied, and whatever cannot goes to the dead-letter
    topic instead of stopping the worker.
    """
    data = parse_json_object(raw)
    kind = data.get("type")
    accepted_at_us = check_instant("acceptedAtUs", data.get("acceptedAtUs"))
    reply_to = data.get("replyTo")
    if reply_to is not None and not isinstance(reply_to, str):
        raise InvalidInput("replyTo", "must be a string")
    # A tournament's board id: checked as the tournament id it holds (no game id can hold the mark).
    tournament = tournament_of(data["gameId"]) if isinstance(data.get("gameId"), str) else None
    if tournament is not None:
        data = {**data, "gameId": tournament}
    if kind == "delete":
        deletion = PlayerDeletion(
            game_id=validate_id("gameId", data.get("gameId")),
            user_id=validate_id("userId", data.get("userId")),
            accepted_at_us=accepted_at_us,
            reply_to=reply_to,
        )
        return deletion if tournament is None else replace(deletion, game_id=board_id(tournament))
    if kind in ("ban", "unban"):
        if tournament is not None:
            raise InvalidInput("gameId", "names a tournament's board: bans apply to games")
        reason = data.get("reason")
        if reason is not None and kind == "unban":
            raise InvalidInput("reason", "is given with a ban only")
        return PlayerModeration(
            game_id=validate_id("gameId", data.get("gameId")),
            user_id=validate_id("userId", data.get("userId")),
            accepted_at_us=accepted_at_us,
            banned=kind == "ban",
            reason=None if reason is None else validate_reason(reason),
            reply_to=reply_to,
        )
    if kind != "score":
        raise InvalidInput("type", "must be score, delete, ban or unban")
    fields = parse_submission_fields(data)
    raw_rules = data.get("rules")
    season = data.get("season")
    if not isinstance(raw_rules, dict) or not isinstance(season, str) or not season:
        raise InvalidInput("rules", "and season are required on the topic")
    rules = parse_rules(raw_rules, RESETS if tournament is None else (RUN,))
    achieved_at_us = check_instant("achievedAtUs", data.get("achievedAtUs"))
    if tournament is not None:
        start_us, end_us = run_bounds_us(season)
        if not start_us <= achieved_at_us < end_us:
            raise InvalidInput("achievedAtUs", f"must lie in the run {season}")
    elif season != season_of(rules.reset, achieved_at_us):
        raise InvalidInput("season", f"must be the {rules.reset} season of achievedAtUs,"
                                     f" {season_of(rules.reset, achieved_at_us)!r}")
    return ScoreSubmission(
        game_id=fields.game_id if tournament is None else board_id(tournament),
        user_id=fields.user_id,
        score=fields.score,
        accepted_at_us=accepted_at_us,
        achieved_at_us=achieved_at_us,
        season=season,
        rules=rules,
        display_name=fields.display_name,
        metadata=fields.metadata,
        reply_to=reply_to,
        event_id=fields.event_id,
        tags=fields.tags,
        columns=parse_column_values(fields.columns, rules.columns),
    )


@dataclass(frozen=True, slots=True)
class RankedPlayer:
    """A player's place in one game and season."""

    user_id: str
    score: int
    rank: int
    display_name: str | None = None
    metadata: dict[str, Any] | None = None
    #: The player's tier, in games that declare tiers.
    tier: str | None = None
    #: The player's sort columns (name -> value), in games that declare them.
    columns: dict[str, int] | None = None

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"userId": self.user_id, "score": self.score, "rank": self.rank}
        if self.display_name is not None:
            entry["displayName"] = self.display_name
        if self.metadata is not None:
            entry["metadata"] = self.metadata
        if self.columns is not None:
            entry["columns"] = self.columns
        if self.tier is not None:
            entry["tier"] = self.tier
        return entry


@dataclass(frozen=True, slots=True)
class PlayerStanding:
    """A player's rank with the figures /rank reports around it."""

    player: RankedPlayer
    total: int
    worse: int
    next: RankedPlayer | None

    @property
    def percentile(self) -> float:
        """The share of players with a strictly worse score, in percent."""
        return round(100.0 * self.worse / self.total, 2) if self.total else 0.0
