from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaderboard_app.errors import InvalidInput
from leaderboard_app.seasons import (
    ALL_TIME,
    RESETS,
    Clock,
    accepted_season,
    parse_achieved_at,
    parse_season,
    season_bounds_us,
    season_of,
)

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)
SECOND_US = 1_000_000
DAY_US = 86_400 * SECOND_US
LAST_US = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc) - EPOCH) // MICROSECOND


def at(*fields: int) -> int:
    """Return the instant of a UTC datetime in microseconds, computed by datetime, not by the module."""
    return (datetime(*fields, tzinfo=timezone.utc) - EPOCH) // MICROSECOND


def test_the_helper_agrees_with_known_unix_times():
    assert at(2000, 1, 1) == 946_684_800 * SECOND_US
    assert at(2026, 11, 26, 10, 15, 30) == 1_795_688_130 * SECOND_US


def test_resets_and_all_time_constants():
    assert RESETS == ("never", "daily", "weekly", "monthly")
    assert ALL_TIME == "all"


# --- season_of -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reset", "instant", "season"),
    [
        ("never", at(2026, 11, 26, 10, 15, 30), "all"),
        ("never", 0, "all"),
        ("daily", at(2026, 11, 26, 10, 15, 30), "2026-11-26"),
        ("daily", 0, "1970-01-01"),
        ("daily", -1, "1969-12-31"),
        ("weekly", at(2026, 11, 26, 10, 15, 30), "2026-W48"),
        ("weekly", 0, "1970-W01"),
        ("monthly", at(2026, 11, 26, 10, 15, 30), "2026-11"),
        ("monthly", 0, "1970-01"),
    ],
)
def test_season_of_examples(reset, instant, season):
    assert season_of(reset, instant) == season


@pytest.mark.parametrize(
    ("reset", "last_us", "season", "next_season"),
    [
        ("daily", at(2026, 11, 26, 23, 59, 59, 999999), "2026-11-26", "2026-11-27"),
        ("daily", at(2026, 12, 31, 23, 59, 59, 999999), "2026-12-31", "2027-01-01"),
        ("daily", at(2028, 2, 28, 23, 59, 59, 999999), "2028-02-28", "2028-02-29"),
        # 2026-11-29 is a Sunday; the week ends at Monday 00:00 UTC.
        ("weekly", at(2026, 11, 29, 23, 59, 59, 999999), "2026-W48", "2026-W49"),
        ("weekly", at(2027, 1, 3, 23, 59, 59, 999999), "2026-W53", "2027-W01"),
        ("monthly", at(2026, 11, 30, 23, 59, 59, 999999), "2026-11", "2026-12"),
        ("monthly", at(2026, 12, 31, 23, 59, 59, 999999), "2026-12", "2027-01"),
        ("monthly", at(2028, 2, 29, 23, 59, 59, 999999), "2028-02", "2028-03"),
    ],
)
def test_the_last_microsecond_belongs_to_the_season_and_the_next_one_does_not(reset, last_us, season, next_season):
    assert season_of(reset, last_us) == season
    assert season_of(reset, last_us + 1) == next_season


@pytest.mark.parametrize(
    ("day", "week"),
    [
        ((2026, 12, 28), "2026-W53"),
        ((2026, 12, 31), "2026-W53"),
        ((2027, 1, 1), "2026-W53"),
        ((2027, 1, 3), "2026-W53"),
        ((2027, 1, 4), "2027-W01"),
        ((2024, 12, 29), "2024-W52"),
        ((2024, 12, 30), "2025-W01"),
        ((2025, 1, 1), "2025-W01"),
        ((2020, 12, 31), "2020-W53"),
        ((2021, 1, 3), "2020-W53"),
        ((2021, 1, 4), "2021-W01"),
        ((2021, 12, 31), "2021-W52"),
    ],
)
def test_weeks_use_the_iso_week_numbering_year(day, week):
    assert season_of("weekly", at(*day)) == week
    assert season_of("weekly", at(*day, 23, 59, 59, 999999)) == week


def test_unknown_reset_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown reset 'hourly'"):
        season_of("hourly", 0)
    with pytest.raises(ValueError, match="unknown reset"):
        season_bounds_us("Daily", "2026-11-26")
    with pytest.raises(ValueError, match="unknown reset"):
        parse_season("", "all")


def test_instants_datetime_cannot_name_overflow():
    with pytest.raises(OverflowError):
        season_of("daily", LAST_US + 1)


# --- season_bounds_us ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reset", "season", "bounds"),
    [
        ("daily", "2026-11-26", (at(2026, 11, 26), at(2026, 11, 27))),
        ("daily", "2026-12-31", (at(2026, 12, 31), at(2027, 1, 1))),
        ("daily", "1970-01-01", (0, DAY_US)),
        ("weekly", "2026-W48", (at(2026, 11, 23), at(2026, 11, 30))),
        ("weekly", "2026-W53", (at(2026, 12, 28), at(2027, 1, 4))),
        ("weekly", "2025-W01", (at(2024, 12, 30), at(2025, 1, 6))),
        ("weekly", "2020-W53", (at(2020, 12, 28), at(2021, 1, 4))),
        ("monthly", "2026-11", (at(2026, 11, 1), at(2026, 12, 1))),
        ("monthly", "2026-12", (at(2026, 12, 1), at(2027, 1, 1))),
        ("monthly", "2026-02", (at(2026, 2, 1), at(2026, 3, 1))),
        ("monthly", "2028-02", (at(2028, 2, 1), at(2028, 3, 1))),
        # The last season ends after date.max; the end is still exact.
        ("monthly", "9999-12", (at(9999, 12, 1), LAST_US + 1)),
        ("daily", "9999-12-31", (at(9999, 12, 31), LAST_US + 1)),
        ("weekly", "9999-W52", (at(9999, 12, 27), LAST_US + 1 + 2 * DAY_US)),
    ],
)
def test_season_bounds_examples(reset, season, bounds):
    assert season_bounds_us(reset, season) == bounds


def test_all_time_has_no_bounds():
    assert season_bounds_us("never", "all") is None


def test_bounds_of_an_invalid_season_are_refused():
    with pytest.raises(InvalidInput, match="^season must be an ISO week like 2026-W48 for a weekly game$"):
        season_bounds_us("weekly", "2021-W53")


@pytest.mark.parametrize(
    ("reset", "season"),
    [
        ("daily", "2026-11-26"),
        ("daily", "2024-02-29"),
        ("weekly", "2026-W01"),
        ("weekly", "2026-W53"),
        ("weekly", "2025-W01"),
        ("monthly", "2026-12"),
        ("monthly", "2027-01"),
    ],
)
def test_bounds_round_trip_through_season_of(reset, season):
    start, end = season_bounds_us(reset, season)
    assert season_of(reset, start) == season
    assert season_of(reset, end - 1) == season
    assert season_of(reset, start - 1) != season
    assert season_of(reset, end) != season
    # The next season starts exactly where this one ends.
    assert season_bounds_us(reset, season_of(reset, end))[0] == end


# --- parse_season --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reset", "text"),
    [
        ("never", "all"),
        ("daily", "2026-11-26"),
        ("daily", "2024-02-29"),
        ("daily", "1970-01-01"),
        ("daily", "9999-12-31"),
        ("weekly", "2026-W48"),
        ("weekly", "2026-W01"),
        ("weekly", "2026-W53"),
        ("weekly", "2020-W53"),
        ("monthly", "2026-11"),
        ("monthly", "2026-01"),
        ("monthly", "2026-12"),
    ],
)
def test_parse_season_accepts_canonical_ids(reset, text):
    assert parse_season(reset, text) == text


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-30",
        "2025-02-29",
        "2026-04-31",
        "2026-13-01",
        "2026-00-10",
        "2026-11-00",
        "0000-01-01",
        "2026-11-6",
        "2026-1-26",
        "26-11-26",
        "20261126",
        "2026/11/26",
        " 2026-11-26",
        "2026-11-26 ",
        "2026-11-26\n",
        "2026-11-26T00:00:00Z",
        "2026-W48",
        "2026-W48-4",
        "2026-11",
        "all",
        "",
        "２０２６-11-26",
        "٢٠٢٦-11-26",
    ],
)
def test_parse_season_refuses_anything_but_a_real_date_for_a_daily_game(text):
    with pytest.raises(InvalidInput, match="^season must be a date like 2026-11-26 for a daily game$"):
        parse_season("daily", text)


@pytest.mark.parametrize(
    "text",
    [
        "2026-W00",
        "2026-W54",
        "2021-W53",
        "2025-W53",
        "2026-W5",
        "2026-W048",
        "2026-w48",
        "2026W48",
        "2026-48",
        "2026-W48-1",
        " 2026-W48",
        "2026-W48 ",
        "2026-11-26",
        "2026-11",
        "all",
        "",
        "0000-W01",
    ],
)
def test_parse_season_refuses_anything_but_a_real_iso_week_for_a_weekly_game(text):
    with pytest.raises(InvalidInput, match="^season must be an ISO week like 2026-W48 for a weekly game$"):
        parse_season("weekly", text)


@pytest.mark.parametrize(
    "text",
    ["2026-13", "2026-00", "2026-1", "2026-011", "202611", "2026/11", " 2026-11", "2026-11\n", "2026-11-01", "all", ""],
)
def test_parse_season_refuses_anything_but_a_real_month_for_a_monthly_game(text):
    with pytest.raises(InvalidInput, match="^season must be a month like 2026-11 for a monthly game$"):
        parse_season("monthly", text)


@pytest.mark.parametrize("text", ["ALL", "All", " all", "all ", "", "2026-11-26", "2026-W48", "2026-11"])
def test_parse_season_refuses_anything_but_all_for_a_game_that_never_resets(text):
    with pytest.raises(InvalidInput, match='^season must be "all" for a game that never resets$') as caught:
        parse_season("never", text)
    assert caught.value.field == "season"


# --- parse_achieved_at ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-11-26T10:15:30Z", at(2026, 11, 26, 10, 15, 30)),
        ("2026-11-26T10:15:30z", at(2026, 11, 26, 10, 15, 30)),
        ("2026-11-26t10:15:30Z", at(2026, 11, 26, 10, 15, 30)),
        ("2026-11-26T10:15:30+00:00", at(2026, 11, 26, 10, 15, 30)),
        ("2026-11-26T10:15:30-00:00", at(2026, 11, 26, 10, 15, 30)),
        ("2026-11-26T10:15:30.1Z", at(2026, 11, 26, 10, 15, 30, 100000)),
        ("2026-11-26T10:15:30.123Z", at(2026, 11, 26, 10, 15, 30, 123000)),
        ("2026-11-26T10:15:30.123456Z", at(2026, 11, 26, 10, 15, 30, 123456)),
        ("2026-11-26T10:15:30.000001+00:00", at(2026, 11, 26, 10, 15, 30, 1)),
        # Digits past microseconds are truncated, never rounded up into the next second.
        ("2026-11-26T10:15:30.1234567Z", at(2026, 11, 26, 10, 15, 30, 123456)),
        ("2026-11-26T23:59:59.999999999Z", at(2026, 11, 26, 23, 59, 59, 999999)),
        ("1970-01-01T00:00:00Z", 0),
        ("2000-01-01T00:00:00Z", 946_684_800 * SECOND_US),
        ("2024-02-29T12:00:00Z", at(2024, 2, 29, 12)),
        ("9999-12-31T23:59:59.999999Z", LAST_US),
    ],
)
def test_parse_achieved_at_accepts_utc_timestamps(text, instant):
    assert parse_achieved_at(text) == instant


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z (a string)"),
        (1795688130, "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z (a string)"),
        (1795688130.5, "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z (a string)"),
        (True, "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z (a string)"),
        (b"2026-11-26T10:15:30Z", "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z (a string)"),
        ("", "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z"),
        ("2026-11-26", "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z"),
        ("2026-11-26T10:15Z", "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z"),
        ("2026-11-26 10:15:30Z", "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z"),
        ("2026-11-26T10:15:30.Z", "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z"),
        ("2026-11-26T10:15:30.1234567890Z", "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z"),
        ("2026-11-26T10:15:30,5Z", "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z"),
        ("2026-11-26T10:15:30+0000", "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z"),
        ("2026-11-26T10:15:30UTC", "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z"),
        (" 2026-11-26T10:15:30Z", "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z"),
        ("2026-11-26T10:15:30Z ", "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z"),
        ("2026-11-26T10:15:30Z\n", "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z"),
        ("20261126T101530Z", "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z"),
        ("+2026-11-26T10:15:30Z", "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z"),
        ("２０２６-11-26T10:15:30Z", "must be an RFC 3339 timestamp like 2026-11-26T10:15:30Z"),
        ("2026-11-26T10:15:30", "must end with its time zone: Z or +00:00"),
        ("2026-11-26T10:15:30.5", "must end with its time zone: Z or +00:00"),
        ("2026-11-26T10:15:30+01:00", "must be in UTC (Z or +00:00)"),
        ("2026-11-26T10:15:30-05:00", "must be in UTC (Z or +00:00)"),
        ("2026-11-26T10:15:30+00:30", "must be in UTC (Z or +00:00)"),
        ("2026-02-30T10:15:30Z", "is not a real date and time"),
        ("2026-13-01T10:15:30Z", "is not a real date and time"),
        ("2026-11-26T24:00:00Z", "is not a real date and time"),
        ("2026-11-26T10:60:00Z", "is not a real date and time"),
        ("2016-12-31T23:59:60Z", "is not a real date and time"),
        ("1969-12-31T23:59:59.999999Z", "must be in the years 1970 to 9999"),
        ("0000-01-01T00:00:00Z", "must be in the years 1970 to 9999"),
    ],
)
def test_parse_achieved_at_refuses_other_values(value, message):
    with pytest.raises(InvalidInput) as caught:
        parse_achieved_at(value)
    assert str(caught.value) == f"achievedAt {message}"
    assert caught.value.field == "achievedAt"


# --- accepted_season -----------------------------------------------------------------------------

GRACE_US = 300 * SECOND_US
DAY_END = at(2026, 11, 27)


def test_a_score_from_the_future_is_refused():
    with pytest.raises(InvalidInput) as caught:
        accepted_season("daily", DAY_END + 1, DAY_END, GRACE_US)
    assert str(caught.value) == "achievedAt lies in the future"


def test_future_is_refused_even_for_all_time():
    with pytest.raises(InvalidInput, match="^achievedAt lies in the future$"):
        accepted_season("never", 11, 10, GRACE_US)


def test_a_score_achieved_now_is_accepted():
    assert accepted_season("daily", DAY_END - 1, DAY_END - 1, 0) == "2026-11-26"


@pytest.mark.parametrize("now", [DAY_END - 1, DAY_END, DAY_END + 1, DAY_END + GRACE_US - 1, DAY_END + GRACE_US])
def test_a_score_of_a_closed_season_is_accepted_within_grace(now):
    assert accepted_season("daily", DAY_END - 1, now, GRACE_US) == "2026-11-26"


def test_a_score_of_a_closed_season_is_refused_past_grace():
    with pytest.raises(InvalidInput) as caught:
        accepted_season("daily", DAY_END - 1, DAY_END + GRACE_US + 1, GRACE_US)
    assert str(caught.value) == "achievedAt falls in season 2026-11-26, which closed more than 300 seconds ago"


def test_without_grace_a_season_takes_scores_until_its_end_exactly():
    assert accepted_season("weekly", at(2026, 11, 23), at(2026, 11, 30), 0) == "2026-W48"
    with pytest.raises(InvalidInput) as caught:
        accepted_season("weekly", at(2026, 11, 23), at(2026, 11, 30) + 1, 0)
    assert str(caught.value) == "achievedAt falls in season 2026-W48, which closed more than 0 seconds ago"


@pytest.mark.parametrize(
    ("grace", "shown"), [(1_500_000, "1.5"), (1, "0.000001"), (86_400_000_001, "86400.000001"), (60_000_000, "60")]
)
def test_the_closed_message_shows_the_grace_in_seconds_exactly(grace, shown):
    with pytest.raises(InvalidInput) as caught:
        accepted_season("monthly", at(2026, 11, 30), at(2026, 12, 1) + grace + 1, grace)
    assert str(caught.value) == f"achievedAt falls in season 2026-11, which closed more than {shown} seconds ago"


def test_a_score_lands_in_the_season_it_was_achieved_in_not_the_current_one():
    assert accepted_season("monthly", at(2026, 12, 31, 23, 59, 59), at(2027, 1, 1, 0, 1), GRACE_US) == "2026-12"
    assert accepted_season("weekly", at(2027, 1, 3, 23, 59), at(2027, 1, 4, 0, 1), GRACE_US) == "2026-W53"


def test_all_time_never_closes():
    assert accepted_season("never", 0, LAST_US, 0) == "all"


def test_negative_grace_is_a_programming_error():
    with pytest.raises(ValueError, match="grace_us"):
        accepted_season("daily", 0, 0, -1)


# --- Clock ---------------------------------------------------------------------------------------


def test_clock_reads_the_wall_clock_in_microseconds(monkeypatch):
    monkeypatch.setattr("leaderboard_app.seasons.time.time_ns", lambda: 1_795_688_130_123_456_789)
    assert Clock().now_us() == 1_795_688_130_123_456
    assert Clock(offset_us=-DAY_US).now_us() == 1_795_688_130_123_456 - DAY_US


def test_clock_is_frozen():
    clock = Clock(offset_us=5)
    with pytest.raises(AttributeError):
        clock.offset_us = 6


# --- properties ----------------------------------------------------------------------------------

instants = st.integers(min_value=0, max_value=LAST_US)
resets = st.sampled_from(RESETS)


@given(resets, instants)
def test_the_season_of_an_instant_contains_it_and_parses_to_itself(reset, instant):
    season = season_of(reset, instant)
    assert parse_season(reset, season) == season
    bounds = season_bounds_us(reset, season)
    if reset == "never":
        assert season == "all"
        assert bounds is None
        return
    start, end = bounds
    assert start <= instant < end
    assert season_of(reset, start) == season
    assert season_of(reset, start - 1) != season
    # 9999-W52 runs to 10000-01-02, past what datetime can name; its end is still exact.
    if end - 1 <= LAST_US:
        assert season_of(reset, end - 1) == season
    # Every season starts at 00:00 UTC and lasts whole days.
    assert start % DAY_US == 0
    assert end % DAY_US == 0


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)))
def test_parse_achieved_at_reads_what_isoformat_writes(moment):
    text = moment.isoformat(timespec="microseconds") + "Z"
    expected = (moment.replace(tzinfo=timezone.utc) - EPOCH) // MICROSECOND
    assert parse_achieved_at(text) == expected
    assert parse_achieved_at(moment.replace(tzinfo=timezone.utc).isoformat()) == expected


@given(resets, instants, st.integers(min_value=0, max_value=40 * DAY_US), st.integers(min_value=0, max_value=DAY_US))
def test_accepted_season_accepts_exactly_until_end_plus_grace(reset, achieved, delay, grace):
    now = achieved + delay
    season = season_of(reset, achieved)
    bounds = season_bounds_us(reset, season)
    if bounds is None or now <= bounds[1] + grace:
        assert accepted_season(reset, achieved, now, grace) == season
    else:
        with pytest.raises(InvalidInput, match=f"^achievedAt falls in season {season}, which closed"):
            accepted_season(reset, achieved, now, grace)
