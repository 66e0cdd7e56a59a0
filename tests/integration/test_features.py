"""The game-developer features end to end: rules, operators, seasons, reads, batch,
wait=true, profiles, history, deletion and keys, on the real stack."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from leaderboard_app.client import SyncLeaderboardClient
from tests.conftest import eventually
from tests.integration.conftest import (
    JSON,
    KEYS,
    WorkerGroup,
    bearer,
    client_for,
    partition_of,
    rank_of,
    same_partition_marker,
    set_rules,
    submit,
    wait_for_score,
    wait_for_scores,
)


def put_rules(client: httpx.Client, game: str, **rules: str) -> httpx.Response:
    return set_rules(client, game, **rules)


def top(client: httpx.Client, game: str, **params: object) -> list[dict]:
    response = client.get("/topk", params={"gameId": game, **params})
    assert response.status_code == 200, response.text
    return response.json()


def ranking(client: httpx.Client, game: str, **params: object) -> list[tuple[str, int, int]]:
    return [(e["userId"], e["score"], e["rank"]) for e in top(client, game, k=100, **params)]


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


# -- rules and operators ---------------------------------------------------------


def test_a_game_without_rules_has_the_defaults(api: httpx.Client, game: str) -> None:
    body = api.get(f"/games/{game}").json()
    assert body == {"gameId": game, "order": "desc", "operator": "best", "reset": "never", "tiers": [], "tags": [],
                    "columns": [], "season": "all", "players": 0}


def reference(order: str, operator: str, submissions: list[tuple[str, int]]) -> dict[str, int]:
    """What each player's score must be after ``submissions``, by the rules' definitions."""
    scores: dict[str, int] = {}
    for user, value in submissions:
        if user not in scores:
            scores[user] = -value if operator == "decr" else value
        elif operator == "incr":
            scores[user] += value
        elif operator == "decr":
            scores[user] -= value
        elif operator == "set":
            scores[user] = value
        else:
            scores[user] = min(scores[user], value) if order == "asc" else max(scores[user], value)
    return scores


@pytest.mark.parametrize("order", ["desc", "asc"])
@pytest.mark.parametrize("operator", ["best", "set", "incr", "decr"])
def test_each_operator_in_each_order(api: httpx.Client, game: str, order: str, operator: str) -> None:
    created = put_rules(api, game, order=order, operator=operator)
    assert created.status_code == 200, created.text
    assert created.json() | {} == {"gameId": game, "order": order, "operator": operator, "reset": "never",
                                   "tiers": [], "tags": [], "columns": [], "season": "all", "players": 0}
    submissions = [("ann", 50), ("bob", 70), ("ann", 30), ("cy", 60), ("bob", 20), ("ann", 45), ("cy", 60)]
    for user, value in submissions:
        submit(api, game, user, value)
    expected = reference(order, operator, submissions)
    wait_for_scores(api, game, expected)
    best_first = sorted(expected.items(), key=lambda item: item[1], reverse=order == "desc")
    assert [(user, score) for user, score, _ in ranking(api, game)] == best_first
    assert ranking(api, game)[0][2] == 1


def test_rules_cannot_change_once_the_game_has_scores(api: httpx.Client, game: str) -> None:
    assert put_rules(api, game, order="asc").status_code == 200
    assert put_rules(api, game, order="asc").status_code == 200  # the same rules again: fine
    assert put_rules(api, game, order="asc", operator="set").status_code == 200  # no scores yet: may change
    assert put_rules(api, game, order="asc").status_code == 200
    submit(api, game, "p", 10)
    wait_for_score(api, game, "p", 10)
    refused = put_rules(api, game, order="desc")
    assert refused.status_code == 409
    assert "already has scores" in refused.json()["error"]
    assert api.get(f"/games/{game}").json()["order"] == "asc"


def test_rules_set_through_one_worker_stamp_the_next_submission_through_the_other(
        workers: WorkerGroup, game: str) -> None:
    # Each worker keeps rules in memory (rules_cache.py); the second worker has
    # just read this game's defaults, so only the change's message can make it see
    # the new rules.
    with client_for(workers.urls[0]) as first, client_for(workers.urls[1]) as second:
        assert second.get(f"/games/{game}").json()["operator"] == "best"
        assert top(second, game) == []
        assert put_rules(first, game, operator="incr").status_code == 200
        submit(second, game, "p", 10)
        submit(second, game, "p", 5)
        wait_for_score(second, game, "p", 15)
        assert second.get(f"/games/{game}").json()["operator"] == "incr"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"order": "up"}, "order"), ({"operator": "max"}, "operator"), ({"reset": "hourly"}, "reset"),
     ({"colour": "red"}, "colour")],
)
def test_invalid_rules_get_400(api: httpx.Client, game: str, body: dict, field: str) -> None:
    response = put_rules(api, game, **body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"{field} ")


def test_games_are_listed_most_recently_active_first_and_paged(api: httpx.Client, game: str) -> None:
    games = [f"{game}-{n}" for n in range(3)]
    for name in games:
        submit(api, name, "p", 1)
        wait_for_score(api, name, "p", 1)
    listed = api.get("/games", params={"limit": 3}).json()
    assert [entry["gameId"] for entry in listed] == games[::-1]
    assert listed[0] == {"gameId": games[2], "order": "desc", "operator": "best", "reset": "never", "tiers": [],
                         "tags": [], "columns": [], "season": "all", "players": 1}
    second_page = api.get("/games", params={"limit": 1, "offset": 1}).json()
    assert [entry["gameId"] for entry in second_page] == [games[1]]
    for bad in ("0", "1001", "x"):
        assert api.get("/games", params={"limit": bad}).status_code == 400


# -- reads -----------------------------------------------------------------------


@pytest.fixture
def ladder(api: httpx.Client, game: str) -> dict[str, int]:
    """Ten players with scores 100, 90, 90, 80, ... in ``game``."""
    scores = {"p0": 100, "p1": 90, "p2": 90, "p3": 80, "p4": 70, "p5": 60, "p6": 50, "p7": 40, "p8": 30, "p9": 20}
    for user, score in scores.items():
        submit(api, game, user, score, displayName=f"Player {user}", metadata={"level": score // 10})
    wait_for_scores(api, game, scores)
    return scores


def test_topk_pages_with_offset_and_keeps_competition_ranks(api: httpx.Client, game: str, ladder: dict) -> None:
    whole = ranking(api, game)
    assert [rank for _, _, rank in whole] == [1, 2, 2, 4, 5, 6, 7, 8, 9, 10]
    page = top(api, game, k=3, offset=2)
    assert [(e["userId"], e["rank"]) for e in page] == [(u, r) for u, _, r in whole[2:5]]
    assert page[0]["displayName"] == f"Player {page[0]['userId']}"
    assert page[0]["metadata"] == {"level": page[0]["score"] // 10}
    assert top(api, game, offset=100000) == []
    assert api.get("/topk", params={"gameId": game, "offset": "100001"}).status_code == 400


def test_around_shows_n_players_above_and_below(api: httpx.Client, game: str, ladder: dict) -> None:
    response = api.get("/around/p5", params={"gameId": game, "n": 2})
    assert response.status_code == 200
    assert response.headers["X-Leaderboard-Season"] == "all"
    assert [(e["userId"], e["rank"]) for e in response.json()] == [
        ("p3", 4), ("p4", 5), ("p5", 6), ("p6", 7), ("p7", 8)]
    leader = api.get("/around/p0", params={"gameId": game}).json()
    assert [e["userId"] for e in leader][:1] == ["p0"] and len(leader) == 6
    assert api.get("/around/nobody", params={"gameId": game}).status_code == 404
    for bad in ("0", "101", ""):
        assert api.get("/around/p5", params={"gameId": game, "n": bad}).status_code == 400


def test_ranks_is_a_friends_leaderboard(api: httpx.Client, game: str, ladder: dict) -> None:
    response = api.get("/ranks", params={"gameId": game, "userIds": "p9,stranger,p2,p0,p1"})
    assert response.status_code == 200
    assert [(e["userId"], e["rank"], e["score"]) for e in response.json()] == [
        ("p0", 1, 100), ("p1", 2, 90), ("p2", 2, 90), ("p9", 10, 20)]
    assert response.json()[0]["displayName"] == "Player p0"
    too_many = ",".join(f"u{n}" for n in range(101))
    assert api.get("/ranks", params={"gameId": game, "userIds": too_many}).status_code == 400
    assert api.get("/ranks", params={"gameId": game}).status_code == 400


def test_ranks_reaches_ids_with_commas_through_repeated_user_id_parameters(workers: WorkerGroup,
                                                                          game: str) -> None:
    with client_for(workers.urls[0]) as api:
        for user, score in (("a,b", 30), ("c", 20), ("a", 10)):
            submit(api, game, user, score)
        wait_for_scores(api, game, {"a,b": 30, "c": 20, "a": 10})
        response = api.get("/ranks", params=[("gameId", game), ("userId", "a,b"), ("userId", "nobody"),
                                             ("userIds", "c,a,c")])
        assert response.status_code == 200, response.text
        assert [(e["userId"], e["rank"]) for e in response.json()] == [("a,b", 1), ("c", 2), ("a", 3)]
        # A comma-separated list still splits at its commas: "a,b" there is the players a and b.
        assert [e["userId"] for e in api.get("/ranks", params={"gameId": game, "userIds": "a,b"}).json()] == ["a"]
        too_many = [("userId", f"u{n}") for n in range(100)] + [("userIds", "u100")]
        assert api.get("/ranks", params=[("gameId", game), *too_many]).status_code == 400
    with SyncLeaderboardClient(workers.urls[0], KEYS["read"]) as client:
        assert client.ranks(game, ["c", "a,b"]).user_ids == ["a,b", "c"]


def test_rank_reports_total_percentile_and_the_next_player_up(api: httpx.Client, game: str, ladder: dict) -> None:
    body = rank_of(api, game, "p3").json()
    assert body == {"userId": "p3", "score": 80, "rank": 4, "displayName": "Player p3", "metadata": {"level": 8},
                    "season": "all", "total": 10, "percentile": 60.0,
                    "next": {"userId": "p2", "score": 90, "rank": 2, "gap": 10}}
    tied = rank_of(api, game, "p2").json()
    assert tied["next"] == {"userId": "p0", "score": 100, "rank": 1, "gap": 10}
    assert rank_of(api, game, "p0").json()["next"] is None
    assert rank_of(api, game, "p9").json()["percentile"] == 0.0


def test_every_read_says_how_far_the_index_lags(api: httpx.Client, game: str, ladder: dict) -> None:
    def caught_up() -> None:
        response = api.get("/topk", params={"gameId": game})
        assert response.headers["X-Leaderboard-Lag"] == "0"

    eventually(caught_up, timeout=15)
    for path in ("/topk?", "/around/p1?", "/ranks?userIds=p1&", "/rank/p1?", "/history/p1?"):
        response = api.get(f"{path}gameId={game}")
        assert response.status_code == 200, path
        assert response.headers["X-Leaderboard-Lag"].isdigit(), path


def test_the_latest_display_name_and_metadata_are_returned(api: httpx.Client, game: str) -> None:
    submit(api, game, "ann", 10, displayName="Ann", metadata={"skin": "red"})
    submit(api, game, "ann", 5, displayName="Annie")  # lower: the score stays, the name changes
    marker = same_partition_marker(game, "ann")
    submit(api, game, marker, 1)
    wait_for_score(api, game, marker, 1)
    entry = top(api, game)[0]
    assert entry == {"userId": "ann", "score": 10, "rank": 1, "displayName": "Annie", "metadata": {"skin": "red"}}


# -- writes ----------------------------------------------------------------------


def test_batches_are_queued_whole(api: httpx.Client, game: str) -> None:
    batch = [{"userId": f"b{n}", "score": n, "gameId": game} for n in range(50)]
    response = api.post("/scores", json={"scores": batch})
    assert (response.status_code, response.json()) == (202, {"status": "queued", "count": 50})
    wait_for_scores(api, game, {f"b{n}": n for n in range(50)})


def test_one_bad_item_refuses_the_whole_batch(api: httpx.Client, game: str) -> None:
    batch = [{"userId": f"x{n}", "score": n, "gameId": game} for n in range(5)]
    batch[3]["score"] = "lots"
    response = api.post("/scores", json={"scores": batch})
    assert response.status_code == 400
    assert response.json()["error"].startswith("scores[3].score ")
    # Nothing was queued: once a later score on x0's partition shows, x0 has not.
    marker = same_partition_marker(game, "x0")
    submit(api, game, marker, 1)
    wait_for_score(api, game, marker, 1)
    assert rank_of(api, game, "x0").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"scores": []}, 400, "scores "),
        ({"scores": [{"userId": "u", "score": 1, "gameId": "g"}] * 1001}, 400, "scores "),
        ({"items": []}, 400, "scores "),
        ({"scores": [{"userId": "u", "score": 1, "gameId": "g"}, 5]}, 400, "scores[1] "),
        ({"scores": [{"userId": "u", "score": 1}]}, 400, "scores[0].gameId "),
    ],
)
def test_invalid_batches_get_400(api: httpx.Client, body: dict, status: int, error: str) -> None:
    response = api.post("/scores", json=body)
    assert response.status_code == status
    assert response.json()["error"].startswith(error)


def test_batches_over_1_mib_get_413(api: httpx.Client) -> None:
    response = api.post("/scores", content=b'{"scores": ["' + b"x" * (1024 * 1024) + b'"]}', headers=JSON)
    assert response.status_code == 413


def test_wait_true_answers_once_ranked_even_from_a_worker_that_does_not_own_the_player(
    workers: WorkerGroup, game: str
) -> None:
    owned = workers.wait_balanced()
    user = next(f"w{n}" for n in range(1000) if partition_of(game, f"w{n}") not in owned[0])
    with client_for(workers.urls[0]) as not_owner:
        submit(not_owner, game, "leader", 500)
        # The leader may sit on another partition, applied independently: ranked first, or
        # the answer's rank depends on which record happens to be applied first.
        wait_for_score(not_owner, game, "leader", 500)
        response = not_owner.post("/score", params={"wait": "true"},
                                  json={"userId": user, "score": 300, "gameId": game})
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "applied", "rank": 2, "score": 300, "season": "all"}
        assert not_owner.post("/score", params={"wait": "maybe"},
                              json={"userId": user, "score": 1, "gameId": game}).status_code == 400


# -- seasons -----------------------------------------------------------------------


def test_submissions_land_in_the_season_they_were_achieved_in(api: httpx.Client, game: str) -> None:
    assert put_rules(api, game, reset="daily").status_code == 200
    now = dt.datetime.now(dt.timezone.utc)
    today = now.date().isoformat()
    submit(api, game, "now", 10)
    body = wait_for_score(api, game, "now", 10)
    assert body["season"] == today
    future = api.post("/score", json={"userId": "f", "score": 1, "gameId": game,
                                      "achievedAt": rfc3339(now + dt.timedelta(minutes=5))})
    assert future.status_code == 400 and "future" in future.json()["error"]
    too_late = api.post("/score", json={"userId": "l", "score": 1, "gameId": game,
                                        "achievedAt": rfc3339(now - dt.timedelta(days=2))})
    assert too_late.status_code == 400 and too_late.json()["error"].startswith("achievedAt ")
    malformed = api.post("/score", json={"userId": "m", "score": 1, "gameId": game, "achievedAt": "yesterday"})
    assert malformed.status_code == 400 and malformed.json()["error"].startswith("achievedAt ")
    earlier_today = now - dt.timedelta(seconds=1)
    submit(api, game, "early", 10, achievedAt=rfc3339(earlier_today))
    wait_for_score(api, game, "early", 10)
    # Same score, achieved earlier: listed first.
    assert [e["userId"] for e in top(api, game)] == ["early", "now"]
    listed = api.get("/topk", params={"gameId": game, "season": today})
    assert listed.headers["X-Leaderboard-Season"] == today
    for bad in ("all", "2026-13-01", today + " ", "2026-W48"):
        assert api.get("/topk", params={"gameId": game, "season": bad}).status_code == 400


# -- history and deletion ---------------------------------------------------------


def test_history_lists_submissions_newest_first(api: httpx.Client, game: str) -> None:
    base = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    for n, score in enumerate([5, 50, 20]):
        submit(api, game, "h", score, achievedAt=rfc3339(base + dt.timedelta(seconds=n)))
    wait_for_score(api, game, "h", 50)

    def listed() -> list[dict]:
        response = api.get("/history/h", params={"gameId": game})
        assert response.status_code == 200
        body = response.json()
        assert [entry["score"] for entry in body] == [20, 50, 5]
        return body

    body = eventually(listed, timeout=20)
    assert body[0]["achievedAt"] == rfc3339(base + dt.timedelta(seconds=2))[:23] + "Z"
    assert [e["score"] for e in api.get("/history/h", params={"gameId": game, "limit": 2}).json()] == [20, 50]
    assert api.get("/history/nobody", params={"gameId": game}).json() == []
    assert api.get("/history/h", params={"gameId": game, "limit": "0"}).status_code == 400


def test_deleting_a_player_erases_them_everywhere(api: httpx.Client, game: str) -> None:
    other = game + "-b"
    for name in (game, other):
        submit(api, name, "gone", 77, displayName="Gone")
        submit(api, name, "stays", 10)
        wait_for_scores(api, name, {"gone": 77, "stays": 10})
    eventually(lambda: _history_has(api, game, "gone"), timeout=20)

    one = api.delete("/users/gone", params={"gameId": game})
    assert one.status_code == 200, one.text
    assert one.json() == {"status": "deleted", "userId": "gone", "games": [game], "tournaments": []}
    assert rank_of(api, game, "gone").status_code == 404
    assert [e["userId"] for e in top(api, game)] == ["stays"]
    assert api.get("/history/gone", params={"gameId": game}).json() == []
    assert api.get("/ranks", params={"gameId": game, "userIds": "gone,stays"}).json()[0]["rank"] == 1
    assert rank_of(api, other, "gone").status_code == 200

    everywhere = api.delete("/users/gone")
    assert everywhere.status_code == 200 and other in everywhere.json()["games"]
    assert rank_of(api, other, "gone").status_code == 404
    assert api.delete("/users/gone").status_code == 404
    # A new score after the deletion starts from scratch.
    submit(api, game, "gone", 3)
    assert wait_for_score(api, game, "gone", 3)["rank"] == 2


def _history_has(api: httpx.Client, game: str, user: str) -> None:
    assert api.get(f"/history/{user}", params={"gameId": game}).json()


# -- keys --------------------------------------------------------------------------


def test_keys_guard_every_scope(workers: WorkerGroup, game: str) -> None:
    url = workers.urls[0]
    score = {"userId": "k", "score": 1, "gameId": game}
    with httpx.Client(base_url=url, timeout=20) as anonymous:
        missing = anonymous.post("/score", json=score)
        assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
        assert anonymous.get("/topk", params={"gameId": game}).status_code == 401
        assert anonymous.get("/health").status_code == 200
        assert anonymous.get("/ready").status_code == 200
        unknown = anonymous.post("/score", json=score, headers={"Authorization": "Bearer nope"})
        assert unknown.status_code == 401 and "nope" not in unknown.text
        rotated = anonymous.get("/topk", params={"gameId": game}, headers={"Authorization": "Bearer old-reader-key"})
        assert rotated.status_code == 200
    with client_for(url, "read") as reader:
        assert reader.get("/topk", params={"gameId": game}).status_code == 200
        assert reader.post("/score", json=score).status_code == 403
        assert reader.post("/scores", json={"scores": [score]}).status_code == 403
    with client_for(url, "write") as writer:
        assert writer.post("/score", json=score).status_code == 202
        assert writer.get("/topk", params={"gameId": game}).status_code == 200
        assert writer.put(f"/games/{game}", json={"order": "asc"}).status_code == 403
        assert writer.delete("/users/k", params={"gameId": game}).status_code == 403
    with httpx.Client(base_url=url, timeout=20) as anonymous:
        assert anonymous.put(f"/games/{game}", json={}).status_code == 401
        assert anonymous.delete("/users/k").status_code == 401
    assert KEYS["admin"] not in str(bearer("read"))
