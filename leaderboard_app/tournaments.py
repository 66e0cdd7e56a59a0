"""Tournaments: boards that take scores only while a run is on, free of I/O.

A tournament runs once (``start``/``end``, RFC 3339) or on a schedule (``schedule``, a
5-field UTC cron expression, each run lasting ``duration`` seconds from a cron time).
Each run is a fresh board, whose season id is its run id, the ISO 8601 interval
``<start>/<end>`` (``2026-11-28T18:00:00Z/2026-11-28T19:00:00Z``): a record carries its
run's close in its season, as a daily game's record carries its day.

A tournament's scores travel on ``score_updates`` as a game's do, on the board id
``models.board_id``: the tournament id behind a control character, which no game id may
hold (``models.validate_id``), so no game and no tournament ever share a board.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import orjson
from croniter import CroniterBadDateError, croniter

from leaderboard_app.errors import InvalidInput
from leaderboard_app.models import OPERATORS, ORDERS, GameRules, printable
from leaderboard_app.seasons import RUN, US_PER_SECOND, format_instant, parse_achieved_at, run_id
#: Gaps between scheduled runs checked for overlap with ``duration``.
RUNS_CHECKED = 64
#: Longest run (seconds): a year.
MAX_DURATION = 366 * 86400
MAX_TITLE_LENGTH = 128
_FIELDS = ("title", "order", "operator", "start", "end", "schedule", "duration", "joinRequired", "maxSize",
           "maxAttempts")


@dataclass(frozen=True, slots=True)
class Run:
    """One run of a tournament: the half-open range [start, end) in microseconds."""

    start_us: int
    end_us: int

    @property
    def id(self) -> str:
        return run_id(self.start_us, self.end_us)

    def as_json(self) -> dict[str, str]:
        return {"runId": self.id, "start": format_instant(self.start_us), "end": format_instant(self.end_us)}


@dataclass(frozen=True, slots=True)
class Tournament:
    """A tournament's definition (PUT /tournaments/{tournamentId})."""

    order: str = "desc"
    operator: str = "best"
    title: str | None = None
    #: One run: its bounds (microseconds); or a schedule and each run's duration (seconds).
    start_us: int | None = None
    end_us: int | None = None
    schedule: str | None = None
    duration: int | None = None
    join_required: bool = False
    max_size: int | None = None
    max_attempts: int | None = None

    def run_at(self, at_us: int) -> Run | None:
        """The run on at ``at_us``, or None between runs."""
        run = self.last_run(at_us)
        return run if run is not None and at_us < run.end_us else None

    def last_run(self, at_us: int) -> Run | None:
        """The latest run that started at or before ``at_us`` (on or over), or None if none has."""
        if self.schedule is None:
            assert self.start_us is not None and self.end_us is not None
            return Run(self.start_us, self.end_us) if self.start_us <= at_us else None
        assert self.duration is not None
        # The latest cron time at or before at_us: get_prev is strict, so start a second later.
        start = _cron_us(croniter(self.schedule, _datetime(at_us // US_PER_SECOND * US_PER_SECOND
                                                           + US_PER_SECOND)).get_prev(datetime))
        return Run(start, start + self.duration * US_PER_SECOND)

    def next_run(self, at_us: int) -> Run | None:
        """The first run that starts after ``at_us``, or None if no run is left."""
        if self.schedule is None:
            assert self.start_us is not None and self.end_us is not None
            return Run(self.start_us, self.end_us) if at_us < self.start_us else None
        assert self.duration is not None
        start = _cron_us(croniter(self.schedule, _datetime(at_us)).get_next(datetime))
        return Run(start, start + self.duration * US_PER_SECOND)

    def run_named(self, text: str) -> Run:
        """The run a client's ``run`` names (its id, or its start alone); raise InvalidInput if none."""
        start_text, slash, end_text = text.partition("/")
        start_us = parse_instant("run", start_text)
        try:
            run = self.last_run(start_us)
        except (ValueError, OverflowError):  # past what datetime holds (the end of 9999)
            run = None
        if run is None or run.start_us != start_us or (slash and parse_instant("run", end_text) != run.end_us):
            raise InvalidInput("run", f"names no run of this tournament ({text!r}); runs are listed by GET "
                                      "/tournaments as runId, <start>/<end> in RFC 3339")
        return run

    def rules(self) -> GameRules:
        """The board's ranking rules: a game's, whose seasons are this tournament's runs."""
        return GameRules(self.order, self.operator, RUN)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"title": self.title, "order": self.order, "operator": self.operator}
        if self.schedule is None:
            assert self.start_us is not None and self.end_us is not None
            body.update(start=format_instant(self.start_us), end=format_instant(self.end_us))
        else:
            body.update(schedule=self.schedule, duration=self.duration)
        body.update(joinRequired=self.join_required, maxSize=self.max_size, maxAttempts=self.max_attempts)
        return body

    def same_but_title(self, other: Tournament) -> bool:
        """Whether ``other`` differs from this one in its title at most (what may change once it has scores)."""
        return replace(self, title=None) == replace(other, title=None)

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.as_json())

    @classmethod
    def from_bytes(cls, raw: bytes) -> Tournament:
        return parse_tournament(orjson.loads(raw))


def parse_tournament(data: dict[str, Any]) -> Tournament:
    """Validate a PUT /tournaments body; the errors name the field."""
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise InvalidInput(unknown[0], f"is not a tournament field ({', '.join(_FIELDS)})")
    title = data.get("title")
    order, operator = data.get("order", "desc"), data.get("operator", "best")
    if order not in ORDERS:
        raise InvalidInput("order", f"must be one of {', '.join(ORDERS)}")
    if operator not in OPERATORS:
        raise InvalidInput("operator", f"must be one of {', '.join(OPERATORS)}")
    one_off = "start" in data or "end" in data
    repeating = "schedule" in data or "duration" in data
    if one_off == repeating:
        raise InvalidInput("start", "and end (one run), or schedule and duration (repeating runs), are required,"
                                    " not both")
    tournament = Tournament(
        order=order, operator=operator,
        title=None if title is None else printable("title", title, MAX_TITLE_LENGTH),
        join_required=_flag("joinRequired", data.get("joinRequired", False)),
        max_size=_limit("maxSize", data.get("maxSize")),
        max_attempts=_limit("maxAttempts", data.get("maxAttempts")),
    )
    if one_off:
        for name in ("start", "end"):
            if name not in data:
                raise InvalidInput(name, "is required with " + ("end" if name == "start" else "start"))
        start_us, end_us = parse_instant("start", data["start"]), parse_instant("end", data["end"])
        if end_us <= start_us:
            raise InvalidInput("end", "must be after start")
        return replace(tournament, start_us=start_us, end_us=end_us)
    for name in ("schedule", "duration"):
        if name not in data:
            raise InvalidInput(name, "is required with " + ("duration" if name == "schedule" else "schedule"))
    schedule, duration = data["schedule"], data["duration"]
    if not isinstance(schedule, str) or len(schedule.split()) != 5 or not croniter.is_valid(schedule):
        raise InvalidInput("schedule", "must be a cron expression of 5 fields (minute hour day month weekday, UTC)")
    if isinstance(duration, bool) or not isinstance(duration, int) or not 1 <= duration <= MAX_DURATION:
        raise InvalidInput("duration", f"must be a whole number of seconds from 1 to {MAX_DURATION}")
    _check_no_overlap(schedule, duration)
    return replace(tournament, schedule=" ".join(schedule.split()), duration=duration)


def parse_instant(field: str, text: Any) -> int:
    """An RFC 3339 UTC timestamp in whole seconds, in microseconds; raise InvalidInput naming ``field``."""
    try:
        at_us = parse_achieved_at(text)
    except InvalidInput as exc:
        raise InvalidInput(field, exc.reason) from None
    if at_us % US_PER_SECOND:
        raise InvalidInput(field, "must be a whole second (run ids are named to the second)")
    return at_us


def _check_no_overlap(schedule: str, duration: int) -> None:
    """Raise InvalidInput if a run would last past the next one's start (checked over the next runs)."""
    try:
        times = croniter(schedule, datetime(2000, 1, 1, tzinfo=timezone.utc))
        starts = [times.get_next(datetime) for _ in range(RUNS_CHECKED + 1)]
    except (CroniterBadDateError, ValueError, KeyError):
        raise InvalidInput("schedule", "names no time that exists (such as February 31)") from None
    shortest = min(int((later - earlier).total_seconds()) for earlier, later in zip(starts, starts[1:]))
    if shortest < duration:
        raise InvalidInput("duration", f"must not exceed the time between two runs of the schedule"
                                       f" ({shortest} s at the shortest)")


def _flag(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(field, "must be true or false")
    return value


def _limit(field: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**31 - 1:
        raise InvalidInput(field, f"must be null or an integer from 1 to {2**31 - 1}")
    return value


def _datetime(at_us: int) -> datetime:
    return datetime.fromtimestamp(at_us / US_PER_SECOND, tz=timezone.utc)


def _cron_us(moment: datetime) -> int:
    return int(moment.timestamp()) * US_PER_SECOND
