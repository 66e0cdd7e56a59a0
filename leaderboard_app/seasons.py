"""Leaderboard seasons: which UTC period a score counts in, free of I/O.

A game's ``reset`` says how often its leaderboard starts over, always on UTC
boundaries, and each period has a season id:

    never    "all"          one season that never closes
    daily    "2026-11-26"   a UTC date
    weekly   "2026-W48"     an ISO 8601 week (Monday 00:00 UTC); its year is the
                            ISO week-numbering year, so 2027-01-01 is in 2026-W53
    monthly  "2026-11"      a UTC calendar month

Instants are integer microseconds since the Unix epoch. A season is the half-open
range [start, end): its last microsecond is ``end - 1``, and ``end`` is the first
microsecond of the next season.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from leaderboard_app.errors import InvalidInput

RESETS = ("never", "daily", "weekly", "monthly")
ALL_TIME = "all"
#: The reset of a tournament's board (module tournaments), never of a game: its seasons are
#: runs, each named by its ISO 8601 interval ``<start>/<end>`` in whole UTC seconds
#: (``2026-11-28T18:00:00Z/2026-11-28T19:00:00Z``), so its close is known from its id alone.
RUN = "run"

US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND
EPOCH = date(1970, 1, 1)
#: Years an ``achievedAt`` may name: nothing is achieved before the epoch, and four digits end at 9999.
MIN_YEAR, MAX_YEAR = 1970, 9999

# [0-9], not \d: \d also matches non-ASCII digits such as "٢". Used with fullmatch only.
_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_WEEK = re.compile(r"([0-9]{4})-W([0-9]{2})")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
# RFC 3339 lets "T" and "Z" be lower case. The zone is optional here only so that a
# missing one gets its own message; more than 9 fractional digits is no real clock.
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})?"
)
_UTC_OFFSETS = ("Z", "z", "+00:00", "-00:00")

_SEASON_FORMATS = {
    "never": f'must be "{ALL_TIME}" for a game that never resets',
    "daily": "must be a date like 2026-11-26 for a daily game",
    "weekly": "must be an ISO week like 2026-W48 for a weekly game",
    "monthly": "must be a month like 2026-11 for a monthly game",
}
_TIMESTAMP_FORMAT = "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z"


@dataclass(frozen=True, slots=True)
class Clock:
    """The wall clock in microseconds since the epoch, shifted by ``offset_us``."""

    #: Nonzero only in tests, which run a worker whose clock is ahead or behind.
    offset_us: int = 0

    def now_us(self) -> int:
        """Return the current instant plus the offset."""
        return time.time_ns() // 1000 + self.offset_us


def season_of(reset: str, at_us: int) -> str:
    """Return the id of the ``reset`` season that contains the instant ``at_us``."""
    _check_reset(reset)
    if reset == "never":
        return ALL_TIME
    day = _day_of(at_us)
    if reset == "daily":
        return day.isoformat()
    if reset == "weekly":
        iso = day.isocalendar()
        return f"{iso.year:04d}-W{iso.week:02d}"
    return f"{day.year:04d}-{day.month:02d}"


def season_bounds_us(reset: str, season: str) -> tuple[int, int] | None:
    """Return [start, end) of a ``reset`` season in microseconds, or None for the all-time season."""
    if reset == RUN:
        return run_bounds_us(season)
    span = _season_span(reset, season)
    if span is None:
        return None
    first_day, days = span
    start_us = _start_us(first_day)
    # Integer arithmetic, not first_day + timedelta: the end of 9999-12 is past date.max.
    return start_us, start_us + days * US_PER_DAY


def closes_at_us(reset: str, season: str, grace_us: int) -> int | None:
    """When the season stops taking late submissions (end + grace); None for "all"."""
    bounds = season_bounds_us(reset, season)
    return None if bounds is None else bounds[1] + grace_us


def parse_season(reset: str, text: str) -> str:
    """Return the canonical season id a client's ``season`` value names; raise InvalidInput if it names none."""
    span = _season_span(reset, text)
    if span is None:
        return ALL_TIME
    return season_of(reset, _start_us(span[0]))


def parse_achieved_at(text: object) -> int:
    """Return the instant of an RFC 3339 UTC timestamp in microseconds; raise InvalidInput if it is not one.

    Fractional seconds may have 1 to 9 digits; digits past the sixth are dropped.
    Truncating never moves an instant across a season boundary, which is a whole
    microsecond, and it accepts clients that print nanoseconds (Go, Java, .NET).
    """
    if not isinstance(text, str):
        raise InvalidInput("achievedAt", f"{_TIMESTAMP_FORMAT} (a string)")
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise InvalidInput("achievedAt", _TIMESTAMP_FORMAT)
    *fields, fraction, offset = match.groups()
    if offset is None:
        raise InvalidInput("achievedAt", "must end with its time zone: Z or +00:00")
    if offset not in _UTC_OFFSETS:
        raise InvalidInput("achievedAt", "must be in UTC (Z or +00:00)")
    year, month, day, hour, minute, second = map(int, fields)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidInput("achievedAt", f"must be in the years {MIN_YEAR} to {MAX_YEAR}")
    try:
        # Only to validate: datetime refuses 2026-02-30, hour 24 and leap second :60.
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise InvalidInput("achievedAt", "is not a real date and time") from None
    micros = int((fraction or "").ljust(6, "0")[:6])
    seconds = ((hour * 60) + minute) * 60 + second
    return _start_us(date(year, month, day)) + seconds * US_PER_SECOND + micros


def accepted_season(reset: str, achieved_us: int, now_us: int, grace_us: int) -> str:
    """Return the season a score achieved at ``achieved_us`` counts in, if ``now_us`` may still accept it."""
    if grace_us < 0:
        raise ValueError(f"grace_us must not be negative, got {grace_us}")
    if achieved_us > now_us:
        raise InvalidInput("achievedAt", "lies in the future")
    season = season_of(reset, achieved_us)
    bounds = season_bounds_us(reset, season)
    # A season closes at its end but takes late scores while now <= end + grace.
    if bounds is not None and bounds[1] + grace_us < now_us:
        raise InvalidInput(
            "achievedAt", f"falls in season {season}, which closed more than {_seconds(grace_us)} seconds ago"
        )
    return season


def run_id(start_us: int, end_us: int) -> str:
    """The season id of a tournament run: its interval in whole seconds."""
    return f"{format_instant(start_us)}/{format_instant(end_us)}"


def run_bounds_us(text: str) -> tuple[int, int]:
    """Return [start, end) of a run id; raise InvalidInput if ``text`` is none."""
    start_text, slash, end_text = text.partition("/") if isinstance(text, str) else ("", "", "")
    try:
        start_us, end_us = parse_achieved_at(start_text), parse_achieved_at(end_text)
    except InvalidInput:
        start_us = end_us = -1
    if not slash or start_us < 0 or end_us <= start_us or run_id(start_us, end_us) != text:
        raise InvalidInput("season", "must be a run like 2026-11-28T18:00:00Z/2026-11-28T19:00:00Z"
                                     " for a tournament")
    return start_us, end_us


def format_instant(at_us: int) -> str:
    """``2026-11-28T18:00:00Z``: an instant, to the second, as run ids name it."""
    day, micros = divmod(at_us, US_PER_DAY)
    seconds = micros // US_PER_SECOND
    clock = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{(EPOCH + timedelta(days=day)).isoformat()}T{clock}Z"


def _check_reset(reset: str) -> None:
    """Raise ValueError for a reset kind that is not one of RESETS."""
    # A game's reset comes from its configuration, not from a request: a bad one is a bug.
    if reset not in RESETS:
        raise ValueError(f"unknown reset {reset!r}; expected one of {', '.join(RESETS)}")


def _season_span(reset: str, text: str) -> tuple[date, int] | None:
    """Return the first day and length in days of a season id, None for all-time; raise InvalidInput if invalid."""
    _check_reset(reset)
    if reset == "never":
        if text != ALL_TIME:
            raise InvalidInput("season", _SEASON_FORMATS[reset])
        return None
    pattern = {"daily": _DAY, "weekly": _WEEK, "monthly": _MONTH}[reset]
    match = pattern.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput("season", _SEASON_FORMATS[reset])
    numbers = [int(group) for group in match.groups()]
    try:
        if reset == "daily":
            return date(*numbers), 1
        if reset == "weekly":
            # fromisocalendar refuses week 00, week 54, and week 53 of a year without one.
            return date.fromisocalendar(numbers[0], numbers[1], 1), 7
        return date(numbers[0], numbers[1], 1), _days_in_month(numbers[0], numbers[1])
    except ValueError:
        raise InvalidInput("season", _SEASON_FORMATS[reset]) from None


def _days_in_month(year: int, month: int) -> int:
    """Return how many days a calendar month has."""
    # December is special-cased because date(10000, 1, 1) does not exist.
    if month == 12:
        return 31
    return (date(year, month + 1, 1) - date(year, month, 1)).days


def _day_of(at_us: int) -> date:
    """Return the UTC date of an instant."""
    # Floor division keeps instants before the epoch on the right day. Instants
    # outside years 1 to 9999 raise OverflowError: datetime cannot name their day.
    return EPOCH + timedelta(days=at_us // US_PER_DAY)


def _start_us(day: date) -> int:
    """Return the instant a UTC date starts."""
    return (day - EPOCH).days * US_PER_DAY


#: The first instant past the years the service takes (the start of 10000-01-01, in microseconds).
END_US = _start_us(date(MAX_YEAR, 12, 31)) + US_PER_DAY


def check_instant(name: str, at_us: object) -> int:
    """Return ``at_us`` if it is an instant in the years the service takes; raise InvalidInput if not."""
    if isinstance(at_us, bool) or not isinstance(at_us, int) or not 0 <= at_us < END_US:
        raise InvalidInput(name, f"must be whole microseconds since 1970 before the year {MAX_YEAR + 1}")
    return at_us


def _seconds(duration_us: int) -> str:
    """Format a duration in seconds without a float's rounding: 300, or 1.5."""
    whole, micros = divmod(duration_us, US_PER_SECOND)
    if micros == 0:
        return str(whole)
    return f"{whole}.{micros:06d}".rstrip("0")
