"""Tournament definitions and their runs (leaderboard_app.tournaments), and run ids (seasons)."""

from __future__ import annotations

import jsonschema
import orjson
import pytest

from leaderboard_app.errors import InvalidInput
from leaderboard_app.models import (
    PlayerStanding,
    RankedPlayer,
    ScoreSubmission,
    board_id,
    decode_update,
    tournament_of,
    validate_id,
)
from leaderboard_app.season_results import SeasonResults, season_key
from leaderboard_app.seasons import RUN, closes_at_us, parse_achieved_at, run_bounds_us, run_id
from leaderboard_app.tournaments import Run, Tournament, parse_tournament
from leaderboard_app.web.openapi import build_openapi_document


def us(text: str) -> int:
    return parse_achieved_at(text)


ONE_RUN = {"start": "2026-11-28T18:00:00Z", "end": "2026-11-28T20:00:00Z"}


def test_a_one_off_tournament_runs_from_start_to_end() -> None:
    tournament = parse_tournament(ONE_RUN)
    run = Run(us("2026-11-28T18:00:00Z"), us("2026-11-28T20:00:00Z"))
    assert tournament.run_at(us("2026-11-28T17:59:59.999999Z")) is None
    assert tournament.run_at(us("2026-11-28T18:00:00Z")) == run
    assert tournament.run_at(us("2026-11-28T19:59:59.999999Z")) == run
    assert tournament.run_at(us("2026-11-28T20:00:00Z")) is None  # [start, end)
    assert tournament.next_run(us("2026-11-28T17:00:00Z")) == run
    assert tournament.next_run(us("2026-11-28T18:00:00Z")) is None
    assert tournament.last_run(us("2026-11-29T00:00:00Z")) == run
    assert tournament.last_run(us("2026-11-28T17:00:00Z")) is None


def test_a_scheduled_tournament_runs_from_each_cron_time_for_its_duration() -> None:
    tournament = parse_tournament({"schedule": "0 18 * * *", "duration": 3600})
    today = Run(us("2026-11-28T18:00:00Z"), us("2026-11-28T19:00:00Z"))
    tomorrow = Run(us("2026-11-29T18:00:00Z"), us("2026-11-29T19:00:00Z"))
    assert tournament.run_at(us("2026-11-28T17:59:59Z")) is None
    assert tournament.run_at(us("2026-11-28T18:00:00Z")) == today
    assert tournament.run_at(us("2026-11-28T18:59:59.5Z")) == today
    assert tournament.run_at(us("2026-11-28T19:00:00Z")) is None
    assert tournament.next_run(us("2026-11-28T18:30:00Z")) == tomorrow
    assert tournament.next_run(us("2026-11-28T17:00:00Z")) == today
    assert tournament.last_run(us("2026-11-29T10:00:00Z")) == today


def test_every_minute_runs_start_on_the_minute() -> None:
    tournament = parse_tournament({"schedule": "* * * * *", "duration": 40})
    assert tournament.run_at(us("2026-11-28T18:05:39Z")) == Run(us("2026-11-28T18:05:00Z"), us("2026-11-28T18:05:40Z"))
    assert tournament.run_at(us("2026-11-28T18:05:40Z")) is None
    assert tournament.next_run(us("2026-11-28T18:05:40Z")).id == "2026-11-28T18:06:00Z/2026-11-28T18:06:40Z"


def test_run_ids_are_intervals_that_give_back_their_bounds() -> None:
    start, end = us("2026-11-28T18:00:00Z"), us("2026-11-28T19:00:00Z")
    assert run_id(start, end) == "2026-11-28T18:00:00Z/2026-11-28T19:00:00Z"
    assert run_bounds_us(run_id(start, end)) == (start, end)
    assert closes_at_us(RUN, run_id(start, end), grace_us=5) == end + 5
    for bad in ("2026-11-28T18:00:00Z", "2026-11-28T19:00:00Z/2026-11-28T18:00:00Z", "all",
                "2026-11-28T18:00:00.5Z/2026-11-28T19:00:00Z", "2026-11-28t18:00:00Z/2026-11-28T19:00:00Z"):
        with pytest.raises(InvalidInput, match="^season "):
            run_bounds_us(bad)


def test_a_run_is_named_by_its_id_or_its_start() -> None:
    tournament = parse_tournament({"schedule": "0 * * * *", "duration": 600})
    assert tournament.run_named("2026-11-28T18:00:00Z").id == "2026-11-28T18:00:00Z/2026-11-28T18:10:00Z"
    assert tournament.run_named("2026-11-28T18:00:00Z/2026-11-28T18:10:00Z").start_us == us("2026-11-28T18:00:00Z")
    for bad in ("2026-11-28T18:05:00Z", "2026-11-28T18:00:00Z/2026-11-28T18:11:00Z", "yesterday"):
        with pytest.raises(InvalidInput, match="^run "):
            tournament.run_named(bad)


@pytest.mark.parametrize(("body", "field"), [
    ({}, "start"),
    ({"start": "2026-11-28T18:00:00Z"}, "end"),
    ({"schedule": "* * * * *"}, "duration"),
    ({**ONE_RUN, "schedule": "* * * * *", "duration": 10}, "start"),
    ({"start": "2026-11-28T18:00:00Z", "end": "2026-11-28T18:00:00Z"}, "end"),
    ({"start": "2026-11-28T18:00:00.5Z", "end": "2026-11-28T19:00:00Z"}, "start"),
    ({"start": "2026-11-28T18:00:00", "end": "2026-11-28T19:00:00Z"}, "start"),
    ({"schedule": "* * * *", "duration": 10}, "schedule"),
    ({"schedule": "* * * * * *", "duration": 10}, "schedule"),
    ({"schedule": "61 * * * *", "duration": 10}, "schedule"),
    ({"schedule": "0 0 31 2 *", "duration": 10}, "schedule"),
    ({"schedule": "* * * * *", "duration": 61}, "duration"),
    ({"schedule": "* * * * *", "duration": 0}, "duration"),
    ({"schedule": "* * * * *", "duration": True}, "duration"),
    ({**ONE_RUN, "order": "up"}, "order"),
    ({**ONE_RUN, "operator": "max"}, "operator"),
    ({**ONE_RUN, "joinRequired": "yes"}, "joinRequired"),
    ({**ONE_RUN, "maxSize": 0}, "maxSize"),
    ({**ONE_RUN, "maxAttempts": 1.5}, "maxAttempts"),
    ({**ONE_RUN, "title": ""}, "title"),
    ({**ONE_RUN, "reset": "daily"}, "reset"),
])
def test_validation_errors_name_the_field(body: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_tournament(body)
    assert raised.value.field == field


def test_a_definition_survives_its_json_and_only_the_title_may_change_with_scores() -> None:
    tournament = parse_tournament({**ONE_RUN, "title": "Cup", "order": "asc", "operator": "incr",
                                   "joinRequired": True, "maxSize": 10, "maxAttempts": 3})
    assert Tournament.from_bytes(tournament.to_bytes()) == tournament
    assert tournament.as_json()["start"] == ONE_RUN["start"]
    assert tournament.same_but_title(parse_tournament({**ONE_RUN, "order": "asc", "operator": "incr",
                                                       "joinRequired": True, "maxSize": 10, "maxAttempts": 3}))
    assert not tournament.same_but_title(parse_tournament({**ONE_RUN, "title": "Cup"}))
    scheduled = parse_tournament({"schedule": " 0  18 * * 5", "duration": 60})
    assert scheduled.schedule == "0 18 * * 5"
    assert Tournament.from_bytes(scheduled.to_bytes()) == scheduled


def test_board_ids_are_no_game_ids() -> None:
    board = board_id("cup")
    assert tournament_of(board) == "cup" and tournament_of("cup") is None
    with pytest.raises(InvalidInput):
        validate_id("gameId", board)  # no game can be named like a tournament's board


def submission(season: str, achieved: str, game_id: str = board_id("cup")) -> ScoreSubmission:
    tournament = parse_tournament(ONE_RUN)
    return ScoreSubmission(game_id=game_id, user_id="ann", score=5, accepted_at_us=us(achieved),
                           achieved_at_us=us(achieved), season=season, rules=tournament.rules())


def test_a_tournament_record_decodes_onto_its_board_within_its_run() -> None:
    season = "2026-11-28T18:00:00Z/2026-11-28T20:00:00Z"
    record = submission(season, "2026-11-28T19:00:00Z")
    assert decode_update(record.to_bytes()) == record
    with pytest.raises(InvalidInput, match="^achievedAtUs "):
        decode_update(submission(season, "2026-11-28T20:00:00Z").to_bytes())
    with pytest.raises(InvalidInput, match="^season "):
        decode_update(submission("all", "2026-11-28T19:00:00Z").to_bytes())
    # A game's record cannot use a tournament's reset.
    with pytest.raises(InvalidInput, match="^reset "):
        decode_update(submission(season, "2026-11-28T19:00:00Z", game_id="cup").to_bytes())


def test_a_runs_results_name_the_tournament_not_its_board_and_match_the_documented_schemas() -> None:
    run = "2026-11-28T18:00:00Z/2026-11-28T20:00:00Z"
    results = SeasonResults(board_id("cup"), run, total=1, closed_at_us=us("2026-11-28T20:10:00Z"))
    standing = PlayerStanding(player=RankedPlayer("ann", 7, 1), total=1, worse=0, next=None)
    records = [*map(orjson.loads, results.standings([(0, standing)])), orjson.loads(results.summary())]
    assert results.key == season_key("cup", run)
    assert all(record["tournamentId"] == "cup" and "gameId" not in record for record in records)
    components = build_openapi_document()["components"]
    for name, record in zip(("SeasonStanding", "SeasonClosed"), records):
        validator = jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                                     "components": components})
        validator.validate(record)
        assert not validator.is_valid({**record, "tournamentId": board_id("cup")})
