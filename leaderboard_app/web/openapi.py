"""The OpenAPI 3.1 description of the HTTP API, built as data, and GET /openapi.json serving it.

The document is assembled from the same constants the views enforce (id lengths,
page sizes, body limits), so a changed limit changes the description with it. The
``/docs`` page (``web/docs.py``) is rendered from this document too. Tests check the
running service against it with schemathesis (``tests/integration/test_openapi.py``).
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from faust.web import Blueprint, Request, Response

from leaderboard_app import __version__
from leaderboard_app.columns import INT64_MAX, INT64_MIN, MAX_COLUMNS
from leaderboard_app.rank_changes import NAMED
from leaderboard_app.models import (
    MAX_ABS_SCORE,
    MAX_BAN_REASON_LENGTH,
    MAX_DISPLAY_NAME_LENGTH,
    MAX_EVENT_ID_LENGTH,
    MAX_ID_LENGTH,
    MAX_METADATA_BYTES,
    MAX_TAG_KEYS,
    MAX_TAG_VALUE_LENGTH,
    OPERATORS,
    ORDERS,
)
from leaderboard_app.season_results import SEASON_CLOSED, STANDING, TOP_SIZE
from leaderboard_app.seasons import RESETS
from leaderboard_app.settings import SEASON_RESULTS_TOPIC
from leaderboard_app.tiers import MAX_TIER_NAME_LENGTH, MAX_TIERS
from leaderboard_app.web.base import LAG_HEADER, SEASON_HEADER, LeaderboardView
from leaderboard_app.web.games import MAX_GAMES_PAGE
from leaderboard_app.web.ingest import MAX_BATCH, MAX_BATCH_BODY, MAX_SCORE_BODY, WAIT_TIMEOUT
from leaderboard_app.web.live import MAX_STREAM_K, STREAM_PATH
from leaderboard_app.web.moderation import MAX_BAN_BODY
from leaderboard_app.web.streams import MAX_QUEUED
from leaderboard_app.web.streams import STREAM_PATH as PLAYER_STREAM_PATH
from leaderboard_app.web.queries import MAX_AROUND, MAX_FRIENDS, MAX_HISTORY, MAX_K, MAX_OFFSET
from leaderboard_app.web.tournaments import MAX_TOURNAMENTS_PAGE
from leaderboard_app.tournaments import MAX_DURATION, MAX_TITLE_LENGTH

OPENAPI_PATH = "/openapi.json"
#: The security scheme's name in ``components.securitySchemes``.
BEARER = "bearerKey"
#: Per operation, the key scope it needs: read, write, admin (absent: open).
SCOPE_EXTENSION = "x-scope"
#: On a schema that is not an HTTP body but the value of records of this Kafka topic.
KAFKA_TOPIC_EXTENSION = "x-kafka-topic"
#: aiohttp refuses a longer request line (400, plain text) before any view runs.
MAX_REQUEST_LINE = 8190
#: The longest userIds value and the most userId parameters described: together they always
#: fit the request line, even with every character percent-encoded (up to 12 bytes each) next
#: to a 128-character gameId and the longest slice. The server takes any more that fit (up to 100 ids in all).
MAX_USER_IDS_TEXT = 150
MAX_USER_ID_PARAMETERS = 2

# Ids are 1 to 128 characters without control characters (Unicode category Cc).
_ID_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
_TAG_KEY_PATTERN = "^[a-z][a-z0-9_]{0,31}$"
_COLUMN_NAME_PATTERN = "^[a-z][a-z0-9_]{0,31}$"
_TIER_NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9 _.-]{0,31}$"
_PERCENT_PATTERN = "^[0-9]{1,3}(\\.[0-9]{1,4})?%$"
_SLICE_PATTERN = "^[a-z][a-z0-9_]{0,31}:.+$"
_INSTANT = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"
_RUN_PATTERN = f"^{_INSTANT}/{_INSTANT}$"
_SEASON_PATTERN = (f"^(all|[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}|[0-9]{{4}}-W[0-9]{{2}}|[0-9]{{4}}-[0-9]{{2}}"
                   f"|{_INSTANT}/{_INSTANT})$")
_ACHIEVED_AT_PATTERN = (
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?([Zz]|[+-]00:00)$"
)

_RANK_TEXT = ("1-based competition rank: equal scores share a rank (1, 2, 2, 4); in games with sort columns, "
              "equal (score, columns) tuples")

blueprint = Blueprint("openapi")


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _schema(name: str) -> dict[str, str]:
    return _ref("schemas", name)


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _answer(description: str, schema: dict[str, Any], *headers: str) -> dict[str, Any]:
    """A response object with a JSON body and the named (required) headers."""
    answer: dict[str, Any] = {"description": description, "content": _json_content(schema)}
    if headers:
        answer["headers"] = {name: _ref("headers", name) for name in headers}
    return answer


def _object(properties: dict[str, Any], required: tuple[str, ...], description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": list(required)}
    if description:
        schema["description"] = description
    return schema


def _typed(kind: str, description: str, **constraints: Any) -> dict[str, Any]:
    """A schema of JSON type ``kind`` with the ``constraints`` that are set (None: left out)."""
    return {"type": kind, "description": description,
            **{name: value for name, value in constraints.items() if value is not None}}


def _string(description: str, min_length: int = 1, max_length: int | None = None,
            pattern: str | None = None) -> dict[str, Any]:
    return _typed("string", description, minLength=min_length, maxLength=max_length, pattern=pattern)


def _integer(description: str, minimum: int, maximum: int | None = None, default: int | None = None) -> dict[str, Any]:
    return _typed("integer", description, minimum=minimum, maximum=maximum, default=default)


def _schemas() -> dict[str, Any]:
    """The request and response bodies."""
    ranked = {
        "userId": _schema("Id"),
        "score": _schema("Score"),
        "rank": _integer(_RANK_TEXT, 1),
        "displayName": _schema("DisplayName"),
        "metadata": _schema("Metadata"),
        "columns": _schema("ColumnValues"),
        "tier": _string("The player's tier, in games that declare tiers (decided on the global board, also in a "
                        "slice); left out for players below every tier", max_length=MAX_TIER_NAME_LENGTH),
    }
    tier_name = _string("A tier's name", max_length=MAX_TIER_NAME_LENGTH, pattern=_TIER_NAME_PATTERN)
    rules = {
        "order": {"type": "string", "enum": list(ORDERS), "description": "desc: higher scores are better; asc: lower"},
        "operator": {"type": "string", "enum": list(OPERATORS),
                     "description": "how a submission merges into the player's score in its season"},
        "reset": {"type": "string", "enum": list(RESETS), "description": "how often the leaderboard starts over"},
        "tiers": {"type": "array", "items": _schema("Tier"), "maxItems": MAX_TIERS,
                  "description": "Named tiers, best first: a player is in the first whose cut-off they meet "
                                 "(ties share a tier). May change at any time."},
        "tags": {"type": "array", "items": _string("A tag key", max_length=32, pattern=_TAG_KEY_PATTERN),
                 "maxItems": MAX_TAG_KEYS, "uniqueItems": True,
                 "description": "The tag keys submissions may carry; every board exists per value of each "
                                "(/topk?slice=country:FR). May change at any time."},
        "columns": {"type": "array", "items": _schema("SortColumn"), "maxItems": MAX_COLUMNS,
                    "description": f"Up to {MAX_COLUMNS} sort columns, names unique: players are ranked by the "
                                   "tuple (score, columns...), each in its own order, then earliest first; only "
                                   "equal tuples share a rank. Submissions must then carry a value for every one. "
                                   "Cannot change once the game has scores ([] when none)."},
    }
    return {
        "Error": _object({"error": {"type": "string", "description": "what went wrong; for bad input it starts "
                                                                     "with the field at fault"}},
                         ("error",), "Every error answer."),
        "Id": _string(f"A game or user id: 1 to {MAX_ID_LENGTH} characters, no control characters",
                      max_length=MAX_ID_LENGTH, pattern=_ID_PATTERN),
        "Score": {"type": "integer", "minimum": -MAX_ABS_SCORE, "maximum": MAX_ABS_SCORE,
                  "description": "A JSON integer of absolute value at most 2^53-1 (10.0, \"10\" and true are refused)"},
        "Season": _string("A season id: all (reset never), 2026-11-26 (daily), 2026-W48 (weekly), 2026-11 (monthly); "
                          "a tournament's run id (2026-11-28T18:00:00Z/2026-11-28T19:00:00Z)",
                          max_length=41, pattern=_SEASON_PATTERN),
        "DisplayName": _string(f"The player's name in this game: 1 to {MAX_DISPLAY_NAME_LENGTH} characters",
                               max_length=MAX_DISPLAY_NAME_LENGTH, pattern=_ID_PATTERN),
        "Metadata": {"type": "object", "description": f"Any JSON object of at most {MAX_METADATA_BYTES} bytes"},
        "Tier": {"oneOf": [{**variant, "additionalProperties": False} for variant in (
            _object({"name": tier_name, "top": _integer("the players ranked this or better", 1, 10**9)},
                    ("name", "top"), "A rank cut-off"),
            _object({"name": tier_name, "top": _string("a percentage above 0 % and up to 100 %: ranks up to "
                                                        "ceil(players x share)", pattern=_PERCENT_PATTERN)},
                    ("name", "top"), "A percentile cut-off"),
            _object({"name": tier_name, "score": _schema("Score")}, ("name", "score"),
                    "A score cut-off: this score or better (lower in asc games)"),
            _object({"name": tier_name}, ("name",), "Everyone else: only as the last tier"),
        )]},
        "Tags": {"type": "object", "maxProperties": MAX_TAG_KEYS,
                 "propertyNames": {"pattern": _TAG_KEY_PATTERN},
                 "additionalProperties": _string("the tag's value", max_length=MAX_TAG_VALUE_LENGTH,
                                                 pattern=_ID_PATTERN),
                 "description": "Tag values, of keys the game declares: the player is ranked in the slice of "
                                "each from now on (their latest value counts; a submission without a key keeps "
                                "the last value)."},
        "SortColumn": {**_object({
            "name": _string("The column's name, the key of its value in submissions and answers",
                            max_length=32, pattern=_COLUMN_NAME_PATTERN),
            "order": {"type": "string", "enum": list(ORDERS), "default": "desc",
                      "description": "desc: higher values rank first; asc: lower (a finishing time)"},
            "operator": {"type": "string", "enum": list(OPERATORS),
                         "description": "how a submission's value merges into the player's; default: the game's "
                                        "operator. In a game whose operator is best it must be best: the whole "
                                        "(score, columns) tuple of the better submission is kept"},
        }, ("name",), "A column players are ranked by after the score, as a game's rules declare it."),
            "additionalProperties": False},
        "ColumnValues": {"type": "object", "maxProperties": MAX_COLUMNS,
                         "propertyNames": {"pattern": _COLUMN_NAME_PATTERN},
                         "additionalProperties": {"type": "integer", "format": "int64", "minimum": INT64_MIN,
                                                  "maximum": INT64_MAX,
                                                  "description": "a signed 64-bit integer, exact (never held "
                                                                 "in a double)"},
                         "description": "Sort column values, name -> integer: one for each column the game "
                                        "declares (left out in games without sort columns)."},
        "ScoreSubmission": _object({
            "gameId": _schema("Id"),
            "userId": _schema("Id"),
            "score": _schema("Score"),
            "displayName": _schema("DisplayName"),
            "metadata": _schema("Metadata"),
            "achievedAt": _string("When the score was achieved: RFC 3339 in UTC (Z or +00:00, 0 to 9 fractional "
                                  "digits), not in the future, in a season still open or in its grace period. "
                                  "Default: when the worker receives it", pattern=_ACHIEVED_AT_PATTERN),
            "eventId": _string(f"1 to {MAX_EVENT_ID_LENGTH} characters: a resubmission for the same player and "
                               "game with the same eventId within 24 h is applied once",
                               max_length=MAX_EVENT_ID_LENGTH, pattern=_ID_PATTERN),
            "tags": _schema("Tags"),
            "columns": _schema("ColumnValues"),
        }, ("gameId", "userId", "score"), "One score; unknown fields are ignored. A game with sort columns needs "
                                          "columns, with a value for each of them (400 naming one left out); a "
                                          "game without them refuses columns."),
        "ScoreBatch": _object({
            "scores": {"type": "array", "items": _schema("ScoreSubmission"), "minItems": 1, "maxItems": MAX_BATCH},
        }, ("scores",), "Submissions queued all or none: one invalid item refuses the batch."),
        "Queued": _object({"status": {"const": "queued"}}, ("status",),
                          "Kafka acknowledged the submission; it is applied shortly."),
        "Applied": _object({
            "status": {"const": "applied"},
            "season": _schema("Season"),
            "rank": ranked["rank"],
            "score": _schema("Score"),
            "banned": {"const": True, "description": "the player is banned from the game: the score is kept "
                                                     "(history, and counted once the ban is lifted) but ranked "
                                                     "nowhere, so there is no rank"},
        }, ("status", "season"), "The submission is applied: the player's resulting rank and score."),
        "BatchQueued": _object({"status": {"const": "queued"}, "count": _integer("submissions queued", 1, MAX_BATCH)},
                               ("status", "count")),
        "Deletion": _object({
            "status": {"type": "string", "enum": ["deleted", "queued"],
                       "description": "deleted once done; queued if that took over 5 s"},
            "userId": _schema("Id"),
            "games": {"type": "array", "items": _schema("Id"), "description": "the games the player was erased from"},
            "tournaments": {"type": "array", "items": _schema("Id"),
                            "description": "the tournaments the player was erased from (without gameId only)"},
        }, ("status", "userId", "games", "tournaments")),
        "Ban": {**_object({"reason": _string(f"Why, kept in the player's history: 1 to {MAX_BAN_REASON_LENGTH} "
                                             "characters, no control characters",
                                             max_length=MAX_BAN_REASON_LENGTH, pattern=_ID_PATTERN)},
                          (), "The optional body of a ban."),
                "additionalProperties": False},
        "Moderation": _object({
            "status": {"type": "string", "enum": ["banned", "restored", "queued"],
                       "description": "banned or restored once applied to every current board; queued if that "
                                      "took over 5 s. Archived seasons' standings are recomputed just after"},
            "gameId": _schema("Id"),
            "userId": _schema("Id"),
        }, ("status", "gameId", "userId")),
        "Bans": _object({
            "gameId": _schema("Id"),
            "userIds": {"type": "array", "items": _schema("Id"), "description": "sorted"},
        }, ("gameId", "userIds"), "The players banned from a game."),
        "GameRules": {**_object(rules, (), "Rules left out take their default (the first value listed)."),
                      "additionalProperties": False},
        "Game": _object({
            "gameId": _schema("Id"),
            **rules,
            "season": _schema("Season"),
            "players": _integer("players with a score in the current season", 0),
        }, ("gameId", "order", "operator", "reset", "tiers", "tags", "columns", "season", "players"),
            "A game: its rules and current season."),
        "RulesQueued": _object({"status": {"const": "queued"}, "gameId": _schema("Id"), **rules},
                               ("status", "gameId", "order", "operator", "reset", "tiers", "tags", "columns"),
                               "The rules are accepted but not yet in effect on this worker."),
        "RankedPlayer": _object(ranked, ("userId", "score", "rank"),
                                "A player's place; displayName and metadata when the player has them, columns "
                                "in games that declare sort columns."),
        "NextPlayer": _object({
            "userId": _schema("Id"),
            "score": _schema("Score"),
            "rank": ranked["rank"],
            "gap": _integer("the difference between the two scores, exact (0 when they rank higher on sort columns "
                            "alone); up to 2^54-2, so past 2^53 when the scores lie at both ends of the range "
                            "(compute it from the scores where numbers are doubles)", 0),
        }, ("userId", "score", "rank", "gap"), "The last player listed who ranks better (by score, then sort "
                                               "columns)."),
        "RankEvent": _object({
            "gameId": _schema("Id"),
            "season": _schema("Season"),
            "userId": _schema("Id"),
            "rank": {"type": ["integer", "null"], "minimum": 1, "description": "1-based competition rank; null: no "
                                                                                "score in the season"},
            "previousRank": {"type": ["integer", "null"], "minimum": 1,
                             "description": "the rank before this change; null in the first event and when the "
                                            "player had no score"},
            "score": {"oneOf": [_schema("Score"), {"type": "null"}]},
            "previousScore": {"oneOf": [_schema("Score"), {"type": "null"}]},
            "overtakenBy": {"type": "array", "items": _schema("Id"), "maxItems": NAMED,
                            "description": f"up to {NAMED} of the players who were not better (a tie is not) "
                                           "and now are"},
            "overtakenByCount": _integer("how many overtook the player", 0),
            "passed": {"type": "array", "items": _schema("Id"), "maxItems": NAMED,
                       "description": f"up to {NAMED} of the players who were better and now are worse (a tie "
                                      "is neither), nearest first"},
            "passedCount": _integer("how many the player passed", 0),
            "entered": {"enum": ["top10", "top100", None],
                        "description": "the narrowest top the player is now in and was not"},
            "left": {"enum": ["top10", "top100", None],
                     "description": "the widest top the player was in and is not any more"},
        }, ("gameId", "season", "userId", "rank", "previousRank", "score", "previousScore", "overtakenBy",
            "overtakenByCount", "passed", "passedCount", "entered", "left"),
            "The data of an `event: rank` of GET /stream/player/{userId}"),
        "Standing": _object({
            **ranked,
            "season": _schema("Season"),
            "total": _integer("players in the season", 1),
            "percentile": {"type": "number", "minimum": 0, "maximum": 100,
                           "description": "share of players ranked strictly worse (score, then sort columns), in "
                                          "percent, 2 decimals"},
            "next": {"oneOf": [_schema("NextPlayer"), {"type": "null"}], "description": "null for the leaders"},
            "tier": {"type": ["string", "null"], "description": "in games with tiers: the player's tier (null "
                                                                "below every tier)"},
            "nextTier": {"oneOf": [_object({"name": tier_name,
                                            "gap": _integer("the points the player lacks to enter it", 0)},
                                           ("name", "gap")), {"type": "null"}],
                         "description": "in games with tiers: the tier above the player's; null in the best"},
            "slice": _string("with slice: the slice the rank, total, percentile and next are within"),
            "globalRank": {"type": ["integer", "null"], "minimum": 1, "description": "with slice: the global rank"},
            "globalTotal": {"type": ["integer", "null"], "minimum": 1,
                            "description": "with slice: players on the global board"},
        }, ("userId", "score", "rank", "season", "total", "percentile", "next")),
        "HistoryEntry": {"oneOf": [
            {**_object({
                "score": _schema("Score"),
                "achievedAt": {"type": "string", "format": "date-time", "description": "to the millisecond, in UTC"},
                "season": _schema("Season"),
            }, ("score", "achievedAt", "season"), "One submission as sent."), "additionalProperties": False},
            {**_object({
                "event": {"type": "string", "enum": ["ban", "restore"],
                          "description": "ban: banned from the game; restore: the ban lifted"},
                "achievedAt": {"type": "string", "format": "date-time",
                               "description": "when the service accepted it, to the millisecond, in UTC"},
                "reason": _string("the reason given with the ban", max_length=MAX_BAN_REASON_LENGTH),
            }, ("event", "achievedAt"), "A ban or its lifting."), "additionalProperties": False},
        ]},
        **_tournament_schemas(ranked),
        "Health": _object({"status": {"const": "ok"}}, ("status",)),
        "Readiness": _object({
            "status": {"type": "string", "enum": ["ready", "unavailable"]},
            "kafka": {"type": "string", "description": "ok, or the error"},
            "redis": {"type": "string", "description": "ok, the error, or that the index is being rebuilt"},
            "cassandra": {"type": "string", "description": "ok, or the error (does not make the worker unready)"},
            "partitions": {"type": "array", "items": {"type": "integer", "minimum": 0},
                           "description": "the score_updates partitions this worker consumes"},
            "pendingCassandraWrites": _integer("writes this worker has not yet made to Cassandra", 0),
            "restoringTables": {"type": "boolean", "description": "true while the worker rebalances or restores its "
                                "tables from their changelogs (it applies no new score meanwhile)"},
            "lag": {"type": ["integer", "null"], "minimum": 0,
                    "description": "as X-Leaderboard-Lag; null when unknown"},
        }, ("status", "kafka", "redis", "cassandra", "partitions", "pendingCassandraWrites", "restoringTables",
            "lag")),
    }


def _tournament_schemas(ranked: dict[str, Any]) -> dict[str, Any]:
    instant = _string("RFC 3339 in UTC, whole seconds", pattern=f"^{_INSTANT}$")
    limit = {"type": ["integer", "null"], "minimum": 1, "maximum": 2**31 - 1}
    definition = {
        "title": {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_TITLE_LENGTH,
                  "description": "May change at any time"},
        "order": {"type": "string", "enum": list(ORDERS), "description": "as a game's"},
        "operator": {"type": "string", "enum": list(OPERATORS), "description": "as a game's"},
        "start": {**instant, "description": "One run: when it starts (RFC 3339 UTC, whole seconds)"},
        "end": {**instant, "description": "One run: when it ends (exclusive)"},
        "schedule": _string("Repeating runs: a 5-field cron expression in UTC (minute hour day month weekday); "
                            "each run starts at a cron time", max_length=200),
        "duration": _integer("Repeating runs: each run's length in seconds, at most the time between two runs",
                             1, MAX_DURATION),
        "joinRequired": {"type": "boolean", "default": False,
                         "description": "players must POST .../join each run before they submit"},
        "maxSize": {**limit, "description": "most players per run: joined, or (without joinRequired) who submitted; "
                                            "null: no limit"},
        "maxAttempts": {**limit, "description": "most submissions per player per run; null: no limit"},
    }
    run = _object({"runId": _string("the run's id: its board's season", pattern=_RUN_PATTERN),
                   "start": instant, "end": instant}, ("runId", "start", "end"), "One run of a tournament.")
    described = {
        "tournamentId": _schema("Id"),
        **definition,
        "running": {"type": "boolean", "description": "whether a run is on"},
        "run": {"oneOf": [_schema("TournamentRun"), {"type": "null"}], "description": "the run on now"},
        "nextStart": {"type": ["string", "null"], "description": "when the next run starts; null: none left"},
        "nextEnd": {"type": ["string", "null"], "description": "when the next run ends; null: none left"},
    }
    required = ("tournamentId", "title", "order", "operator", "joinRequired", "maxSize", "maxAttempts", "running",
                "run", "nextStart", "nextEnd")
    return {
        "TournamentDefinition": {**_object(definition, (), "start and end (one run), or schedule and duration "
                                                           "(repeating runs); the rest optional."),
                                 "additionalProperties": False},
        "TournamentRun": run,
        "Tournament": _object(described, required, "A tournament, its run on now and its next run."),
        "TournamentDetail": _object({**described, "players": _integer("players with a score in the run on now", 0)},
                                    (*required, "players")),
        "TournamentQueued": _object({"status": {"const": "queued"}, "tournamentId": _schema("Id"), **definition},
                                    ("status", "tournamentId"), "Accepted, not yet in effect on this worker."),
        "TournamentScore": _object({name: value for name, value in {
            "userId": _schema("Id"), "score": _schema("Score"), "displayName": _schema("DisplayName"),
            "metadata": _schema("Metadata"),
            "achievedAt": _string("When the score was achieved, within the run on now; default: now",
                                  pattern=_ACHIEVED_AT_PATTERN),
            "eventId": _string(f"1 to {MAX_EVENT_ID_LENGTH} characters: a resubmission with the same eventId "
                               "within 24 h is applied once (it still counts as an attempt)",
                               max_length=MAX_EVENT_ID_LENGTH, pattern=_ID_PATTERN),
        }.items()}, ("userId", "score"), "One score of a tournament: a /score body without gameId, tags or "
                                         "columns (tournaments rank by score alone)."),
        "TournamentQueuedScore": _object({"status": {"const": "queued"},
                                          "run": _string("the run it counts in", pattern=_RUN_PATTERN)},
                                         ("status", "run")),
        "Join": _object({"userId": _schema("Id")}, ("userId",)),
        "Joined": _object({"tournamentId": _schema("Id"), "userId": _schema("Id"), "joined": {"const": True},
                           "run": _schema("TournamentRun")}, ("tournamentId", "userId", "joined", "run")),
    }


def _season_result_schemas() -> dict[str, Any]:
    """The values of the season_results Kafka topic (docs/season-results.md): no endpoint returns them,
    but their schemas sit with the others so that one document describes every JSON the service emits."""
    kafka = {KAFKA_TOPIC_EXTENSION: SEASON_RESULTS_TOPIC}
    ranked = {
        "userId": _schema("Id"),
        "score": _schema("Score"),
        "rank": _integer(_RANK_TEXT, 1),
        "displayName": _schema("DisplayName"),
        "columns": _schema("ColumnValues"),
    }
    season = {
        "gameId": _schema("Id"),
        "tournamentId": _string("In place of gameId in the records of a tournament's run, whose season is the run id",
                                max_length=MAX_ID_LENGTH, pattern=_ID_PATTERN),
        "season": _schema("Season"),
        "closedAtUs": _integer("When the season stopped taking scores (its end plus the grace period), in "
                               "microseconds since the epoch: the same in every repeat of the season's records", 0),
    }
    return {
        "SeasonStanding": {**_object({
            "type": {"const": STANDING},
            **season,
            **ranked,
            "position": _integer("0-based place in the final order; tied players (equal score, and sort columns "
                                 "in games with them) are listed by who reached it first", 0),
            "total": _integer("players ranked in the season", 1),
        }, ("type", "season", "userId", "score", "rank", "position", "total", "closedAtUs"),
            f"Kafka topic {SEASON_RESULTS_TOPIC} (not an HTTP body): one player's final standing in a closed "
            "season. Key: the JSON array [gameId, season] ([tournamentId, run id] for a tournament's run)."),
            "oneOf": [{"required": ["gameId"]}, {"required": ["tournamentId"]}], **kafka},
        "SeasonClosed": {**_object({
            "type": {"const": SEASON_CLOSED},
            **season,
            "total": _integer("players ranked in the season", 0),
            "top": {"type": "array", "maxItems": TOP_SIZE, "description": f"the best {TOP_SIZE:,} players, best first",
                    "items": _object(ranked, ("userId", "score", "rank"))},
        }, ("type", "season", "total", "closedAtUs", "top"),
            f"Kafka topic {SEASON_RESULTS_TOPIC} (not an HTTP body): the last record of a closed season, after "
            "every SeasonStanding of it. Key: the JSON array [gameId, season] ([tournamentId, run id] for a "
            "tournament's run)."), "oneOf": [{"required": ["gameId"]}, {"required": ["tournamentId"]}], **kafka},
    }


def _headers() -> dict[str, Any]:
    return {
        LAG_HEADER: {
            "description": "score_updates events not yet applied to the Redis index, across all partitions, "
                           "measured every 0.5 s; unknown while it cannot be measured",
            "required": True,
            "schema": {"type": "string", "pattern": "^([0-9]+|unknown)$"},
        },
        SEASON_HEADER: {
            "description": "the season the list belongs to (all for /history)",
            "required": True,
            "schema": _schema("Season"),
        },
        "WWW-Authenticate": {"required": True, "schema": {"const": "Bearer"}},
        "Retry-After": {"description": "seconds", "required": True, "schema": {"const": "1"}},
    }


#: The error answers operations share: status -> (component name, description, headers).
_ERRORS: dict[int, tuple[str, str, tuple[str, ...]]] = {
    400: ("BadRequest", "Invalid body or parameter (missing, invalid, out of range or given twice); the message "
                        "starts with the field at fault.", ()),
    401: ("Unauthorized", "A key is needed and the Authorization: Bearer header is missing, malformed or holds an "
                          "unknown key.", ("WWW-Authenticate",)),
    403: ("Forbidden", "The key's scope is too low for this endpoint.", ()),
    404: ("UserNotFound", "The player has no score there: {\"error\": \"user not found\"} (\"user not found in "
                          "this slice\" with slice; an archived season keeps no slices).", ()),
    408: ("RequestTimeout", "The request body was not fully received in time (LEADERBOARD_BODY_TIMEOUT).", ()),
    409: ("Conflict", "The game (tournament) already has had activity and its rules would change; or a "
                      "tournament's entry rules refuse the request, named in the message: not running (with its "
                      "next start), not joined (joinRequired), full (maxSize), out of attempts (maxAttempts).",
          ()),
    413: ("PayloadTooLarge", "The request body exceeds the endpoint's limit.", ()),
    415: ("UnsupportedMediaType", "The body is not declared with Content-Type: application/json.", ()),
    429: ("RateLimited", "More than LEADERBOARD_RATE_LIMIT requests in one second from this key (or address).",
           ("Retry-After",)),
    503: ("Unavailable", "Kafka did not acknowledge a write in time, or Redis (Cassandra for history and archived "
                         "seasons) did not answer.", ()),
}


def _responses() -> dict[str, Any]:
    return {name: _answer(description, _schema("Error"), *headers)
            for name, description, headers in _ERRORS.values()}


def _parameter(name: str, where: str, description: str, schema: dict[str, Any],
               required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path", "description": description,
            "schema": schema}


def _parameters() -> dict[str, Any]:
    def paging(name: str, what: str, high: int, default: int) -> dict[str, Any]:
        return _parameter(name, "query", what, _integer(what, 0 if name == "offset" else 1, high, default))

    return {
        "gameIdQuery": _parameter("gameId", "query", "The game", _schema("Id"), required=True),
        "gameIdOptional": _parameter("gameId", "query", "Erase from this game only (200 whether or not the "
                                                        "player was there)", _schema("Id")),
        "gameIdPath": _parameter("gameId", "path", "The game (URL-encoded)", _schema("Id")),
        "userIdPath": _parameter("userId", "path", "The player (URL-encoded: /rank/a%2Fb is the user a/b)",
                                 _schema("Id")),
        "season": _parameter("season", "query", "A season id of the game's kind; default: the current season",
                             _schema("Season")),
        "slice": _parameter("slice", "query", "<tag key>:<value>: the board of the players whose latest value of "
                                              "that tag (a key the game declares) is value; ranks within it",
                            _string("a slice", max_length=32 + 1 + MAX_TAG_VALUE_LENGTH, pattern=_SLICE_PATTERN)),
        "tier": _parameter("tier", "query", "One of the game's tiers: only its players (with their global "
                                            "ranks); offset counts from the tier's first player. Not with slice",
                           _string("a tier's name", max_length=MAX_TIER_NAME_LENGTH, pattern=_TIER_NAME_PATTERN)),
        "k": paging("k", "how many players", MAX_K, 10),
        "topOffset": paging("offset", "position of the first player (0 = the leader)", MAX_OFFSET, 0),
        "n": paging("n", "players listed above and below", MAX_AROUND, 5),
        "userIds": _parameter(
            "userIds", "query",
            f"Comma-separated user ids, for ids without a comma; with the userId parameters, 1 to {MAX_FRIENDS} "
            f"ids in all (repeats ignored). The whole request line must fit in {MAX_REQUEST_LINE} bytes (a longer "
            f"one gets a plain-text 400 before any view runs): {MAX_USER_IDS_TEXT} characters and "
            f"{MAX_USER_ID_PARAMETERS} userId parameters always do",
            _string("comma-separated user ids", max_length=MAX_USER_IDS_TEXT)),
        "userIdRepeated": {
            **_parameter("userId", "query", "One user id per parameter, taken verbatim (so it may hold a comma): "
                                            "userId=a&userId=b%2Cc asks for a and for b,c",
                         {"type": "array", "items": _schema("Id"), "maxItems": MAX_USER_ID_PARAMETERS}),
            "style": "form", "explode": True},
        "historyLimit": paging("limit", "most entries", MAX_HISTORY, 50),
        "gamesLimit": paging("limit", "most games", MAX_GAMES_PAGE, 100),
        "gamesOffset": paging("offset", "games skipped", 10**9, 0),
        "streamK": paging("k", "how many players", MAX_STREAM_K, 10),
        "key": _parameter("key", "query", "The API key, for clients that cannot send headers (EventSource); an "
                                          "Authorization header wins", {"type": "string"}),
        "tournamentIdPath": _parameter("tournamentId", "path", "The tournament (URL-encoded)", _schema("Id")),
        "run": _parameter("run", "query", "A run: its runId, or its start alone; default: the run on now, else "
                                          "the last one", _string("a run", max_length=41)),
        "tournamentsLimit": paging("limit", "most tournaments", MAX_TOURNAMENTS_PAGE, 100),
        "tournamentsOffset": paging("offset", "tournaments skipped", 10**9, 0),
        "wait": _parameter("wait", "query", f"true: answer once the score is applied and ranked (200), or 202 after "
                                            f"{WAIT_TIMEOUT:g} s", {"type": "boolean", "default": False}),
    }


def _operation(operation_id: str, tag: str, summary: str, description: str, scope: str | None,
               answers: dict[int, dict[str, Any]], errors: tuple[int, ...] = (),
               parameters: tuple[str, ...] = (), body: tuple[str, int] | None = None) -> dict[str, Any]:
    """One operation: its own answers, the shared error answers it can give, and who may call it."""
    responses: dict[str, Any] = {str(status): answer for status, answer in answers.items()}
    keyed: tuple[int, ...] = ()
    if scope is not None:
        # Every known key may read, so only writes and admin endpoints can answer 403.
        keyed = (401, 429, 503) if scope == "read" else (401, 403, 429, 503)
    for status in sorted({*errors, *keyed}):
        responses[str(status)] = _ref("responses", _ERRORS[status][0])
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "tags": [tag],
        "summary": summary,
        "description": description,
        "parameters": [_ref("parameters", name) for name in parameters],
        "responses": dict(sorted(responses.items())),
    }
    if body is not None:
        schema_name, limit = body
        operation["requestBody"] = {
            "required": True,
            "description": f"at most {limit} bytes",
            "content": _json_content(_schema(schema_name)),
        }
    if scope is None:
        operation["security"] = []
    else:
        # A key is needed only once keys are configured (see the API keys section), so
        # the empty requirement stands for a worker that has none.
        operation["security"] = [{BEARER: []}, {}]
        operation[SCOPE_EXTENSION] = scope
    return operation


def _paths() -> dict[str, Any]:
    read_errors = (400,)
    list_of = {"type": "array", "items": _schema("RankedPlayer")}
    return {
        "/score": {"post": _operation(
            "submitScore", "scores", "Submit one score",
            "202 once Kafka has acknowledged the record; with wait=true, 200 once it is applied and ranked.",
            "write",
            {200: _answer("Applied (wait=true)", _schema("Applied")), 202: _answer("Queued", _schema("Queued"))},
            (400, 408, 413, 415), ("wait",), ("ScoreSubmission", MAX_SCORE_BODY))},
        "/scores": {"post": _operation(
            "submitScores", "scores", "Submit a batch of scores",
            f"1 to {MAX_BATCH} submissions, queued all or none.", "write",
            {202: _answer("Queued", _schema("BatchQueued"))},
            (400, 408, 413, 415), (), ("ScoreBatch", MAX_BATCH_BODY))},
        "/users/{userId}": {"delete": _operation(
            "deleteUser", "players", "Erase a player",
            "Erases the player's scores in every season, profile and history, from one game (gameId) or every "
            "game they have a score in. Without gameId, 404 when the player has no score anywhere.", "admin",
            {200: _answer("Deleted", _schema("Deletion")),
             202: _answer(f"Not done within {WAIT_TIMEOUT:g} s; it will be", _schema("Deletion"))},
            (400, 404), ("userIdPath", "gameIdOptional"))},
        "/games/{gameId}/bans/{userId}": {
            "post": {**_operation(
                "banPlayer", "players", "Ban a player from a game",
                "Takes the player out of every board of the game: each season and slice, and the archived "
                "standings of closed seasons, recomputed so the players below move up. Their submissions are "
                "still accepted and kept (history, score) but ranked nowhere until the ban is lifted. A player "
                "without a score may be banned. The ban, with its reason, is in the player's history.", "admin",
                {200: _answer("Banned", _schema("Moderation")),
                 202: _answer(f"Not done within {WAIT_TIMEOUT:g} s; it will be", _schema("Moderation"))},
                (400, 408, 413, 415), ("gameIdPath", "userIdPath"), ("Ban", MAX_BAN_BODY)),
                "requestBody": {"required": False, "description": f"optional; at most {MAX_BAN_BODY} bytes",
                                "content": _json_content(_schema("Ban"))}},
            "delete": _operation(
                "unbanPlayer", "players", "Lift a player's ban",
                "Ranks the player again as their state says, with what they submitted while banned, and puts "
                "them back in the archived standings. Lifting the ban of a player who is not banned changes "
                "nothing but the history, where it is listed too.", "admin",
                {200: _answer("Restored", _schema("Moderation")),
                 202: _answer(f"Not done within {WAIT_TIMEOUT:g} s; it will be", _schema("Moderation"))},
                (400,), ("gameIdPath", "userIdPath")),
        },
        "/games/{gameId}/bans": {"get": _operation(
            "listBans", "players", "List a game's banned players",
            "Every player banned from the game, by userId.", "admin",
            {200: _answer("The banned players", _schema("Bans"), LAG_HEADER)},
            (400,), ("gameIdPath",))},
        "/games": {"get": _operation(
            "listGames", "games", "List games",
            "Games that have had activity, most recently active first.", "read",
            {200: _answer("Games", {"type": "array", "items": _schema("Game")}, LAG_HEADER)},
            read_errors, ("gamesLimit", "gamesOffset"))},
        "/games/{gameId}": {
            "get": _operation(
                "getRules", "games", "Describe a game",
                "Its rules (the defaults for a game never configured), current season and players.", "read",
                {200: _answer("The game", _schema("Game"), LAG_HEADER)}, read_errors, ("gameIdPath",)),
            "put": _operation(
                "setRules", "games", "Set a game's rules",
                "A rule left out takes its default. 409 once the game has had activity and the rules would change.",
                "admin",
                {200: _answer("The rules are in effect", _schema("Game")),
                 202: _answer(f"Accepted, not in effect on this worker within {WAIT_TIMEOUT:g} s",
                              _schema("RulesQueued"))},
                (400, 408, 409, 413, 415), ("gameIdPath",), ("GameRules", MAX_SCORE_BODY)),
        },
        **_tournament_paths(list_of),
        "/topk": {"get": _operation(
            "top", "rankings", "The leaderboard",
            "k players from position offset, best first; [] past the end or for an unknown game or season. With "
            "slice, of one slice; with tier, of one tier.", "read",
            {200: _answer("Players", list_of, LAG_HEADER, SEASON_HEADER)},
            (400, 404), ("gameIdQuery", "season", "slice", "tier", "k", "topOffset"))},
        "/around/{userId}": {"get": _operation(
            "around", "rankings", "A player and their neighbours",
            "The player with up to n players above and below.", "read",
            {200: _answer("Players", list_of, LAG_HEADER, SEASON_HEADER)},
            (400, 404), ("userIdPath", "gameIdQuery", "season", "slice", "n"))},
        "/ranks": {"get": _operation(
            "ranks", "rankings", "A friends' leaderboard",
            "The ranks of the listed players (within the slice, with slice), best first; players without a score "
            "there are left out.", "read",
            {200: _answer("Players", list_of, LAG_HEADER, SEASON_HEADER)},
            (400, 404), ("gameIdQuery", "season", "slice", "userIds", "userIdRepeated"))},
        "/rank/{userId}": {"get": _operation(
            "rank", "rankings", "A player's rank",
            "Rank, score, season, total players, percentile and the next player up; with slice, within the slice, "
            "plus the global rank; in games with tiers, the tier and the points to the next one.", "read",
            {200: _answer("The player's standing", _schema("Standing"), LAG_HEADER)},
            (400, 404), ("userIdPath", "gameIdQuery", "season", "slice"))},
        "/history/{userId}": {"get": _operation(
            "history", "rankings", "A player's submissions",
            "Every season, newest achievedAt first; [] for an unknown player. Read from Cassandra, which is "
            "written behind Redis.", "read",
            {200: _answer("Submissions", {"type": "array", "items": _schema("HistoryEntry")},
                          LAG_HEADER, SEASON_HEADER)},
            read_errors, ("userIdPath", "gameIdQuery", "historyLimit"))},
        "/health": {"get": _operation(
            "health", "health", "Liveness", "The process runs. Never needs a key, never rate limited.", None,
            {200: _answer("Up", _schema("Health"))})},
        "/ready": {"get": _operation(
            "ready", "health", "Readiness",
            "200 when Kafka and Redis answer (and the Redis index is whole), else 503. Never needs a key.", None,
            {200: _answer("Ready", _schema("Readiness")), 503: _answer("Not ready", _schema("Readiness"))})},
        STREAM_PATH: {"get": {
            **_operation(
                "streamTop", "live", "The leaderboard, live",
                "Server-Sent Events: an `event: topk` whose data is what GET /topk would answer (of the slice, with "
                "slice), at connect and "
                "again on every change; `event: unavailable` (data {\"error\": ...}) while the top cannot be "
                "read. 503 when the worker holds the most streams it keeps open; 429 when this client (key, "
                "else address) holds its share of them.", "read",
                {200: {"description": "An endless text/event-stream",
                       "content": {"text/event-stream": {"schema": {"type": "string"}}}}},
                read_errors, ("gameIdQuery", "season", "slice", "streamK", "key")),
        }},
        PLAYER_STREAM_PATH: {"get": {
            **_operation(
                "streamPlayer", "live", "A player's rank, live",
                "Server-Sent Events: `retry:`, then an `event: rank` (data: a RankEvent) with the player's "
                "standing at connect (previousRank null; rank null while they have no score in the season), then "
                "one each time the agent's writes change the player's rank, naming who overtook them or whom "
                "they passed, and which top (10, 100) they entered or left. A comment line after 15 s without "
                "events. `event: overflow` (data {\"error\": ...}) then the end of the stream when the client "
                f"falls {MAX_QUEUED} events behind. The stream follows the season resolved at connect. 503 when "
                "the worker holds the most streams it keeps open; 429 when this client holds its share.", "read",
                {200: {"description": "An endless text/event-stream of `event: rank` messages",
                       "content": {"text/event-stream": {
                           "schema": {"type": "string"},
                           # OpenAPI 3.1 has no schema for each event (3.2 adds itemSchema).
                           "x-event-data": _schema("RankEvent"),
                       }}}},
                read_errors, ("userIdPath", "gameIdQuery", "season", "key")),
        }},
        "/": {"get": _operation(
            "livePage", "live", "The live leaderboard page",
            "An HTML page that shows a game's top from the stream; it asks for a key itself.", None,
            {200: {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}})},
        "/metrics": {"get": _operation(
            "metrics", "health", "Metrics",
            "This worker's series in Prometheus' text format. Never needs a key.", None,
            {200: {"description": "Prometheus text exposition",
                   "content": {"text/plain": {"schema": {"type": "string"}}}}})},
        OPENAPI_PATH: {"get": _operation(
            "openapi", "meta", "This document", "The OpenAPI 3.1 description of the API.", None,
            {200: _answer("The document", {"type": "object"})})},
        "/docs": {"get": {
            **_operation("docs", "meta", "The API reference", "This document rendered as an HTML page.", None, {}),
            "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}},
        }},
    }


def _tournament_paths(list_of: dict[str, Any]) -> dict[str, Any]:
    tournament = "/tournaments/{tournamentId}"
    return {
        "/tournaments": {"get": _operation(
            "listTournaments", "tournaments", "List running and upcoming tournaments",
            "Running ones first, then by next start; ended ones are left out.", "read",
            {200: _answer("Tournaments", {"type": "array", "items": _schema("Tournament")}, LAG_HEADER)},
            (400,), ("tournamentsLimit", "tournamentsOffset"))},
        tournament: {
            "get": _operation(
                "getTournament", "tournaments", "Describe a tournament",
                "Its definition, the run on now (with its players) and the next run. 404 if never defined.",
                "read", {200: _answer("The tournament", _schema("TournamentDetail"), LAG_HEADER)}, (400, 404),
                ("tournamentIdPath",)),
            "put": _operation(
                "setTournament", "tournaments", "Define a tournament",
                "One run (start, end) or repeating runs (schedule, duration), ranked with order and operator as a "
                "game is. 409 once it has scores and more than its title would change.", "admin",
                {200: _answer("The definition is in effect", _schema("TournamentDetail")),
                 202: _answer(f"Accepted, not in effect on this worker within {WAIT_TIMEOUT:g} s",
                              _schema("TournamentQueued"))},
                (400, 408, 409, 413, 415), ("tournamentIdPath",), ("TournamentDefinition", MAX_SCORE_BODY)),
        },
        f"{tournament}/join": {"post": _operation(
            "joinTournament", "tournaments", "Join the run on now",
            "200, also for a player who already joined this run; 409 when the tournament is not running or the "
            "run has maxSize players.", "write", {200: _answer("Joined", _schema("Joined"))},
            (400, 404, 408, 409, 413, 415), ("tournamentIdPath",), ("Join", MAX_SCORE_BODY))},
        f"{tournament}/scores": {"post": _operation(
            "submitTournamentScore", "tournaments", "Submit a score to the run on now",
            "202 once the attempt is counted and Kafka has acknowledged the record (a Kafka failure, 503, gives "
            "the attempt back); with wait=true, 200 once it is ranked. 409 naming why when the tournament is not "
            "running, the player has not joined (joinRequired), the run is full (maxSize) or the player has no "
            "attempt left (maxAttempts).", "write",
            {200: _answer("Applied (wait=true)", _schema("Applied")),
             202: _answer("Queued", _schema("TournamentQueuedScore"))},
            (400, 404, 408, 409, 413, 415), ("tournamentIdPath", "wait"), ("TournamentScore", MAX_SCORE_BODY))},
        f"{tournament}/topk": {"get": _operation(
            "tournamentTop", "tournaments", "A run's leaderboard",
            "As /topk, on the board of one run (default: the run on now, else the last). 404 for a tournament "
            "never defined or that has not started.", "read",
            {200: _answer("Players", list_of, LAG_HEADER, SEASON_HEADER)},
            (400, 404), ("tournamentIdPath", "run", "k", "topOffset"))},
        f"{tournament}/rank/{{userId}}": {"get": _operation(
            "tournamentRank", "tournaments", "A player's rank in a run",
            "As /rank, on the board of one run; 404 also for a player without a score in it.", "read",
            {200: _answer("The player's standing", _schema("Standing"), LAG_HEADER)},
            (400, 404), ("tournamentIdPath", "userIdPath", "run"))},
    }


def build_openapi_document() -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of the whole HTTP API (a new dict on each call)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "leaderboard",
            "version": __version__,
            "description": "Real-time game leaderboards. Every body is JSON and every answer is JSON, errors "
                           "included: {\"error\": \"...\"}. An unknown path answers 404, an unknown method 405.",
        },
        "tags": [
            {"name": "scores", "description": "Scores in (HTTP -> Kafka score_updates)"},
            {"name": "rankings", "description": "Rankings out (Redis; history from Cassandra)"},
            {"name": "games", "description": "Games and their rules"},
            {"name": "tournaments", "description": "Tournaments: boards that take scores while a run is on"},
            {"name": "players", "description": "Deleting, banning and restoring a player"},
            {"name": "live", "description": "The live leaderboard: a page and its event stream"},
            {"name": "health", "description": "Probes and metrics"},
            {"name": "meta", "description": "This description"},
        ],
        "paths": _paths(),
        "components": {
            "schemas": {**_schemas(), **_season_result_schemas()},
            "parameters": _parameters(),
            "headers": _headers(),
            "responses": _responses(),
            "securitySchemes": {BEARER: {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key as Authorization: Bearer <key>. Scopes: read < write < admin (x-scope "
                               "on each operation). Reads need a key only when read keys are configured, writes "
                               "only when write keys are, admin endpoints as soon as any key is.",
            }},
        },
    }


@functools.cache
def openapi_json() -> bytes:
    """Return the document serialized once: it depends only on the code."""
    return orjson.dumps(build_openapi_document())


@blueprint.route(OPENAPI_PATH, name="openapi")
class OpenApiView(LeaderboardView):
    scope = None  # the description is public, like /health

    async def get(self, request: Request) -> Response:
        """Return the OpenAPI 3.1 document."""
        return self.bytes(openapi_json(), content_type="application/json")
