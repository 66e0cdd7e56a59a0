"""Secondary sort columns end to end, on the real stack: ranking by (score, columns) in every read,
exact 64-bit values, merging by operator, bad input, and tiers cut on whole tuples."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import eventually
from tests.integration.conftest import set_rules

TIME_ASC = {"name": "time", "order": "asc", "operator": "best"}
#: score desc, then time asc (faster first). b and c tie on score, c faster; d and e tie on both.
RACE = {"a": (100, 900), "b": (90, 700), "c": (90, 500), "d": (80, 600), "e": (80, 600), "f": (70, 100)}
#: (userId, rank) best first; d and e share rank 4, listed by who got there first (d).
EXPECTED = [("a", 1), ("c", 2), ("b", 3), ("d", 4), ("e", 4), ("f", 6)]


def put_game(client: httpx.Client, game: str, **rules: object) -> None:
    response = set_rules(client, game, **rules)
    assert response.status_code == 200, response.text


def submit_each(client: httpx.Client, game: str, entries: dict[str, tuple[int, ...]], names: tuple[str, ...]) -> None:
    """One request per player, in order (so ties keep the order of arrival)."""
    for user, (score, *values) in entries.items():
        response = client.post("/score", json={"gameId": game, "userId": user, "score": score,
                                               "columns": dict(zip(names, values))})
        assert response.status_code == 202, response.text


def read(client: httpx.Client, path: str, **params: object) -> list | dict:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_board(client: httpx.Client, game: str, expected: list[tuple[str, int]]) -> list[dict]:
    def ranked() -> list[dict]:
        board = read(client, "/topk", gameId=game, k=100)
        assert [(entry["userId"], entry["rank"]) for entry in board] == expected, board
        return board

    return eventually(ranked, timeout=30)


@pytest.fixture
def race(api: httpx.Client, game: str) -> str:
    put_game(api, game, columns=[TIME_ASC])
    submit_each(api, game, RACE, ("time",))
    wait_for_board(api, game, EXPECTED)
    return game


def test_equal_scores_are_ranked_by_the_columns_in_every_read(api: httpx.Client, race: str) -> None:
    board = read(api, "/topk", gameId=race, k=100)
    assert {entry["userId"]: entry["columns"] for entry in board} == {
        user: {"time": time} for user, (_, time) in RACE.items()}
    # A page that starts inside a tie group still ranks from the whole board.
    assert [(e["userId"], e["rank"]) for e in read(api, "/topk", gameId=race, k=2, offset=2)] == [("b", 3), ("d", 4)]
    assert [(e["userId"], e["rank"]) for e in read(api, "/topk", gameId=race, k=1, offset=4)] == [("e", 4)]
    assert [(e["userId"], e["rank"]) for e in read(api, "/around/b", gameId=race, n=1)] == [
        ("c", 2), ("b", 3), ("d", 4)]
    assert [(e["userId"], e["rank"]) for e in read(api, "/ranks", gameId=race, userIds="e,b,c")] == [
        ("c", 2), ("b", 3), ("e", 4)]


def test_rank_counts_whole_tuples_above_and_below(api: httpx.Client, race: str) -> None:
    b = read(api, "/rank/b", gameId=race)
    assert (b["rank"], b["total"], b["columns"]) == (3, 6, {"time": 700})
    # Worse than b: d, e and f (3 of 6); the next player up is c, at the same score.
    assert b["percentile"] == 50.0
    assert (b["next"]["userId"], b["next"]["rank"], b["next"]["gap"]) == ("c", 2, 0)
    e = read(api, "/rank/e", gameId=race)
    # The next player up from a tie group is the last one above it: b.
    assert (e["rank"], e["percentile"], e["next"]["userId"], e["next"]["rank"]) == (4, round(100 / 6, 2), "b", 3)


def test_best_keeps_a_submissions_columns_with_its_score(api: httpx.Client, race: str) -> None:
    # Same score, slower: nothing changes. Same score, faster: b passes c.
    submit_each(api, race, {"b": (90, 800)}, ("time",))
    submit_each(api, race, {"c": (90, 500), "b": (90, 400)}, ("time",))
    wait_for_board(api, race, [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 4), ("f", 6)])
    assert read(api, "/rank/b", gameId=race)["columns"] == {"time": 400}
    # A higher score wins whatever its time, and takes that time with it.
    submit_each(api, race, {"f": (95, 9_000)}, ("time",))
    board = wait_for_board(api, race, [("a", 1), ("f", 2), ("b", 3), ("c", 4), ("d", 5), ("e", 5)])
    assert board[1]["columns"] == {"time": 9_000}


def test_values_beyond_two_to_the_53_are_exact(api: httpx.Client, game: str) -> None:
    put_game(api, game, order="asc", columns=[{"name": "big", "order": "desc", "operator": "best"}])
    top, low = 2**63 - 1, -(2**63)
    values = {"p": (1, 2**62 + 1), "q": (1, 2**62), "r": (1, top), "s": (1, low), "t": (0, low)}
    submit_each(api, game, values, ("big",))
    board = wait_for_board(api, game, [("t", 1), ("r", 2), ("p", 3), ("q", 4), ("s", 5)])
    assert [entry["columns"]["big"] for entry in board] == [low, top, 2**62 + 1, 2**62, low]


def test_other_operators_merge_each_column_by_its_own(api: httpx.Client, game: str) -> None:
    put_game(api, game, operator="incr", columns=[{"name": "wins", "order": "desc", "operator": "incr"},
                                                  {"name": "lap", "order": "asc", "operator": "best"}])
    submit_each(api, game, {"u": (10, 1, 70)}, ("wins", "lap"))
    submit_each(api, game, {"u": (5, 2, 90)}, ("wins", "lap"))
    submit_each(api, game, {"v": (15, 3, 60)}, ("wins", "lap"))

    def merged() -> None:
        board = read(api, "/topk", gameId=game, k=10)
        assert [(e["userId"], e["score"], e["columns"], e["rank"]) for e in board] == [
            ("v", 15, {"wins": 3, "lap": 60}, 1), ("u", 15, {"wins": 3, "lap": 70}, 2)]

    eventually(merged, timeout=30)


def test_rank_tiers_cut_between_equal_scores_with_different_columns(api: httpx.Client, race: str) -> None:
    put_game(api, race, columns=[TIME_ASC], tiers=[{"name": "podium", "top": 2}, {"name": "field"}])
    board = read(api, "/topk", gameId=race, k=100)
    assert [entry["tier"] for entry in board] == ["podium", "podium", "field", "field", "field", "field"]
    assert [entry["userId"] for entry in read(api, "/topk", gameId=race, tier="podium")] == ["a", "c"]
    assert read(api, "/rank/b", gameId=race)["nextTier"] == {"name": "podium", "gap": 0}


@pytest.mark.parametrize(("columns", "field"), [
    (None, "columns.time"),
    ({}, "columns.time"),
    ({"time": 1, "lap": 2}, "columns.lap"),
    ({"time": "fast"}, "columns.time"),
    ({"time": 2**63}, "columns.time"),
])
def test_submissions_without_usable_columns_get_400(api: httpx.Client, game: str, columns: object,
                                                    field: str) -> None:
    put_game(api, game, columns=[TIME_ASC])
    body: dict = {"gameId": game, "userId": "u", "score": 1}
    if columns is not None:
        body["columns"] = columns
    for path, payload in (("/score", body), ("/scores", {"scores": [body]})):
        response = api.post(path, json=payload)
        assert response.status_code == 400, response.text
        assert field in response.json()["error"]


def test_columns_are_refused_by_games_without_them_and_fixed_once_scores_exist(api: httpx.Client,
                                                                              game: str) -> None:
    response = api.post("/score", json={"gameId": game, "userId": "u", "score": 1, "columns": {"time": 3}})
    assert response.status_code == 400 and "columns.time" in response.json()["error"]
    bad = api.put(f"/games/{game}", json={"columns": [{"name": "time", "operator": "incr"}]})
    assert bad.status_code == 400 and "columns[0].operator" in bad.json()["error"]
    put_game(api, game, columns=[TIME_ASC])
    assert read(api, f"/games/{game}")["columns"] == [TIME_ASC]
    submit_each(api, game, {"u": (1, 5)}, ("time",))
    wait_for_board(api, game, [("u", 1)])
    changed = api.put(f"/games/{game}", json={"columns": [{"name": "time", "order": "desc", "operator": "best"}]})
    assert changed.status_code == 409, changed.text
