"""Tournaments end to end: definitions, entry rules at the edge (run window, join, maxSize,
maxAttempts), ranking through the same pipeline as games, listing, and repeating runs."""

from __future__ import annotations

import datetime as dt
import time

import httpx
import pytest

from tests.conftest import eventually
from tests.integration.conftest import define_tournament


def at(seconds_from_now: float) -> str:
    """An RFC 3339 instant, in whole seconds, ``seconds_from_now`` away."""
    moment = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds_from_now)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def running_for(client: httpx.Client, tournament_id: str, seconds: int = 600, **definition: object) -> dict:
    """Define a tournament whose one run started a second ago and lasts ``seconds`` more."""
    response = define_tournament(client, tournament_id, start=at(-1), end=at(seconds), **definition)
    assert response.status_code == 200, response.text
    return response.json()


def post_score(client: httpx.Client, tournament_id: str, user_id: str, score: int, **extra: object) -> httpx.Response:
    return client.post(f"/tournaments/{tournament_id}/scores", json={"userId": user_id, "score": score, **extra})


def join(client: httpx.Client, tournament_id: str, user_id: str) -> httpx.Response:
    return client.post(f"/tournaments/{tournament_id}/join", json={"userId": user_id})


def board(client: httpx.Client, tournament_id: str, **params: object) -> list[tuple[str, int, int]]:
    response = client.get(f"/tournaments/{tournament_id}/topk", params={"k": 100, **params})
    assert response.status_code == 200, response.text
    return [(entry["userId"], entry["score"], entry["rank"]) for entry in response.json()]


def wait_for_board(client: httpx.Client, tournament_id: str, expected: list[tuple[str, int, int]],
                   **params: object) -> None:
    def shows() -> None:
        assert board(client, tournament_id, **params) == expected

    eventually(shows, timeout=30)


@pytest.mark.parametrize(("order", "operator", "expected"), [
    ("desc", "best", [("bob", 70, 1), ("ann", 50, 2)]),
    ("asc", "incr", [("bob", 90, 1), ("ann", 125, 2)]),
])
def test_a_running_tournament_ranks_scores_with_its_operator(api: httpx.Client, tournament: str, order: str,
                                                              operator: str, expected: list) -> None:
    running_for(api, tournament, order=order, operator=operator)
    for user, score in [("ann", 50), ("bob", 70), ("ann", 30), ("bob", 20), ("ann", 45)]:
        response = post_score(api, tournament, user, score)
        assert response.status_code == 202, response.text
    wait_for_board(api, tournament, expected)
    rank = api.get(f"/tournaments/{tournament}/rank/ann")
    assert rank.status_code == 200, rank.text
    assert rank.json()["rank"] == 2 and rank.json()["total"] == 2
    # A tournament's board is no game's: /topk of a game with the same id is empty.
    assert api.get("/topk", params={"gameId": tournament}).json() == []


def test_wait_true_answers_with_the_rank(api: httpx.Client, tournament: str) -> None:
    running_for(api, tournament)
    response = api.post(f"/tournaments/{tournament}/scores", params={"wait": "true"},
                        json={"userId": "ann", "score": 5})
    assert response.status_code == 200, response.text
    assert response.json()["rank"] == 1


def test_join_required_refuses_before_joining_and_accepts_after(api: httpx.Client, tournament: str) -> None:
    running_for(api, tournament, joinRequired=True)
    refused = post_score(api, tournament, "ann", 10)
    assert refused.status_code == 409, refused.text
    assert "requires joining" in refused.json()["error"] and "joinRequired" in refused.json()["error"]
    assert join(api, tournament, "ann").status_code == 200
    assert join(api, tournament, "ann").status_code == 200  # joining again is no error
    accepted = post_score(api, tournament, "ann", 10)
    assert accepted.status_code == 202, accepted.text
    wait_for_board(api, tournament, [("ann", 10, 1)])


def test_max_size_refuses_the_next_joiner(api: httpx.Client, tournament: str) -> None:
    running_for(api, tournament, joinRequired=True, maxSize=2)
    assert join(api, tournament, "ann").status_code == 200
    assert join(api, tournament, "bob").status_code == 200
    full = join(api, tournament, "cy")
    assert full.status_code == 409, full.text
    assert "is full" in full.json()["error"] and "maxSize" in full.json()["error"]
    assert join(api, tournament, "bob").status_code == 200  # a player who joined still may


def test_max_size_without_join_counts_players_who_submitted(api: httpx.Client, tournament: str) -> None:
    running_for(api, tournament, maxSize=1)
    assert post_score(api, tournament, "ann", 1).status_code == 202
    assert post_score(api, tournament, "ann", 2).status_code == 202
    full = post_score(api, tournament, "bob", 3)
    assert full.status_code == 409 and "maxSize" in full.json()["error"], full.text


def test_max_attempts_refuses_the_next_submission_of_a_run(api: httpx.Client, tournament: str) -> None:
    running_for(api, tournament, maxAttempts=2)
    assert post_score(api, tournament, "ann", 1).status_code == 202
    assert post_score(api, tournament, "ann", 2).status_code == 202
    over = post_score(api, tournament, "ann", 3)
    assert over.status_code == 409, over.text
    assert "all 2 attempts" in over.json()["error"] and "maxAttempts" in over.json()["error"]
    assert post_score(api, tournament, "bob", 1).status_code == 202  # attempts are per player
    wait_for_board(api, tournament, [("ann", 2, 1), ("bob", 1, 2)])


def test_a_tournament_not_started_or_ended_answers_409_naming_why(api: httpx.Client, tournament: str) -> None:
    start, end = at(3600), at(7200)
    assert define_tournament(api, tournament, start=start, end=end).status_code == 200
    early = post_score(api, tournament, "ann", 1)
    assert early.status_code == 409
    assert early.json()["error"] == f"tournament {tournament!r} is not running (next run starts {start})"
    assert join(api, tournament, "ann").status_code == 409
    ended = f"{tournament}-ended"
    start, end = at(-7200), at(-3600)
    assert define_tournament(api, ended, start=start, end=end).status_code == 200
    late = post_score(api, ended, "ann", 1)
    assert late.status_code == 409
    assert late.json()["error"] == f"tournament {ended!r} is not running (it ended at {end}; no run is left)"


def test_a_run_that_starts_takes_scores_and_one_that_ends_refuses_them(api: httpx.Client,
                                                                        tournament: str) -> None:
    assert define_tournament(api, tournament, start=at(5), end=at(9)).status_code == 200
    assert post_score(api, tournament, "ann", 1).status_code == 409
    eventually(lambda: _running(api, tournament, True), timeout=10, interval=0.1)
    assert post_score(api, tournament, "ann", 7).status_code == 202
    eventually(lambda: _running(api, tournament, False), timeout=10, interval=0.1)
    late = post_score(api, tournament, "ann", 8)
    assert late.status_code == 409 and "it ended at" in late.json()["error"], late.text
    wait_for_board(api, tournament, [("ann", 7, 1)])


def _status(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text


def test_get_tournaments_lists_running_and_upcoming_with_next_start_and_end(api: httpx.Client,
                                                                             tournament: str) -> None:
    running, upcoming, ended = f"{tournament}-running", f"{tournament}-upcoming", f"{tournament}-ended"
    running_end = at(600)
    assert define_tournament(api, running, start=at(-1), end=running_end).status_code == 200
    start, end = at(3600), at(7200)
    assert define_tournament(api, upcoming, start=start, end=end, title="Weekend cup").status_code == 200
    assert define_tournament(api, ended, start=at(-7200), end=at(-3600)).status_code == 200

    def listed() -> dict[str, dict]:
        entries: dict[str, dict] = {}
        while True:  # every page: earlier sessions left tournaments too
            response = api.get("/tournaments", params={"limit": 1000, "offset": len(entries)})
            assert response.status_code == 200, response.text
            entries.update((entry["tournamentId"], entry) for entry in response.json())
            if len(response.json()) < 1000:
                return entries

    entries = listed()
    assert ended not in entries
    assert entries[running]["running"] is True and entries[running]["run"]["end"] == running_end
    assert entries[running]["nextStart"] is None
    assert entries[upcoming]["running"] is False
    assert (entries[upcoming]["nextStart"], entries[upcoming]["nextEnd"]) == (start, end)
    assert entries[upcoming]["title"] == "Weekend cup" and entries[upcoming]["run"] is None
    # The tournaments are no games.
    games = api.get("/games", params={"limit": 1000}).json()
    assert not any(entry["gameId"] in (running, upcoming) for entry in games)


def test_a_repeating_tournament_starts_each_run_on_a_fresh_board(api: httpx.Client, tournament: str) -> None:
    # Every minute, 40 s long: wait for a run with time left, score in it, then score in the next one.
    eventually(lambda: _assert_second_below(30), timeout=60, interval=0.5)
    response = define_tournament(api, tournament, schedule="* * * * *", duration=40, maxAttempts=1)
    assert response.status_code == 200, response.text
    first = response.json()["run"]
    assert first is not None and response.json()["nextStart"] is not None
    assert post_score(api, tournament, "ann", 10).status_code == 202
    assert post_score(api, tournament, "ann", 11).status_code == 409  # maxAttempts, this run
    wait_for_board(api, tournament, [("ann", 10, 1)])
    eventually(lambda: _running(api, tournament, False), timeout=45, interval=0.2)
    assert post_score(api, tournament, "bob", 1).status_code == 409  # between runs
    eventually(lambda: _running(api, tournament, True), timeout=30, interval=0.2)
    assert post_score(api, tournament, "bob", 20).status_code == 202
    assert post_score(api, tournament, "ann", 12).status_code == 202  # a fresh run, fresh attempts
    wait_for_board(api, tournament, [("bob", 20, 1), ("ann", 12, 2)])
    wait_for_board(api, tournament, [("ann", 10, 1)], run=first["runId"])
    wait_for_board(api, tournament, [("ann", 10, 1)], run=first["start"])


def _running(client: httpx.Client, tournament_id: str, running: bool) -> None:
    body = client.get(f"/tournaments/{tournament_id}").json()
    assert body["running"] is running, body


def _assert_second_below(limit: int) -> None:
    assert time.gmtime().tm_sec < limit


def test_a_definition_with_scores_may_change_only_its_title(api: httpx.Client, tournament: str) -> None:
    body = running_for(api, tournament)
    definition = {name: body[name] for name in ("start", "end")}
    assert post_score(api, tournament, "ann", 1).status_code == 202
    wait_for_board(api, tournament, [("ann", 1, 1)])
    changed = define_tournament(api, tournament, **definition, operator="incr")
    assert changed.status_code == 409, changed.text
    retitled = define_tournament(api, tournament, **definition, title="Renamed")
    assert retitled.status_code == 200 and retitled.json()["title"] == "Renamed"


def test_unknown_tournaments_are_404_and_bad_definitions_400(api: httpx.Client, tournament: str) -> None:
    assert post_score(api, tournament, "ann", 1).status_code == 404
    assert api.get(f"/tournaments/{tournament}").status_code == 404
    bad = api.put(f"/tournaments/{tournament}", json={"schedule": "* * * *", "duration": 10})
    assert bad.status_code == 400 and bad.json()["error"].startswith("schedule "), bad.text


def test_erasing_a_player_everywhere_lists_their_tournaments_by_id(api: httpx.Client, tournament: str,
                                                                     game: str) -> None:
    running_for(api, tournament)
    user = f"erased-{tournament}"
    assert post_score(api, tournament, user, 5).status_code == 202
    assert api.post("/score", json={"gameId": game, "userId": user, "score": 6}).status_code == 202
    wait_for_board(api, tournament, [(user, 5, 1)])
    def ranked_in_the_game() -> None:
        assert api.get(f"/rank/{user}", params={"gameId": game}).status_code == 200

    eventually(ranked_in_the_game)
    erased = api.delete(f"/users/{user}")
    assert erased.status_code == 200, erased.text
    assert erased.json() == {"status": "deleted", "userId": user, "games": [game], "tournaments": [tournament]}
    assert board(api, tournament) == []
