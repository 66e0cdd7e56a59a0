"""Moderation end to end: bans take a player off every board, archived ones included; lifting them restores."""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx
import pytest
import redis

from leaderboard_app.sinks.redis import season_keys
from tests.conftest import eventually
from tests.integration.conftest import (
    JSON,
    WorkerGroup,
    client_for,
    rank_of,
    set_rules,
    standing,
    wait_for_score,
    wait_for_scores,
)


def ban_path(game: str, user: str) -> str:
    return f"/games/{quote(game, safe='')}/bans/{quote(user, safe='')}"


def read(client: httpx.Client, path: str, **params: object) -> list | dict:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def board(client: httpx.Client, game: str, **params: object) -> list[tuple[str, int, int]]:
    return [(e["userId"], e["score"], e["rank"]) for e in read(client, "/topk", gameId=game, k=100, **params)]


def submit_all(client: httpx.Client, game: str, scores: dict[str, tuple[int, str]]) -> None:
    body = {"scores": [{"gameId": game, "userId": user, "score": score, "tags": {"country": country}}
                       for user, (score, country) in scores.items()]}
    assert client.post("/scores", json=body).status_code == 202


def history_of(client: httpx.Client, game: str, user: str) -> list[dict]:
    return read(client, f"/history/{quote(user, safe='')}", gameId=game)


def test_a_banned_player_leaves_every_board_and_comes_back_with_what_they_scored_meanwhile(
        api: httpx.Client, game: str) -> None:
    assert set_rules(api, game, operator="incr", tags=["country"]).status_code == 200
    submit_all(api, game, {"ann": (100, "FR"), "bob": (80, "FR"), "cy": (60, "DE"), "dee": (40, "FR")})
    wait_for_scores(api, game, {"ann": 100, "bob": 80, "cy": 60, "dee": 40})
    assert standing(rank_of(api, game, "bob")) == ("bob", 2, 80)

    banned = api.post(ban_path(game, "ann"), json={"reason": "aim bot"})
    assert banned.status_code == 200, banned.text
    assert banned.json() == {"status": "banned", "gameId": game, "userId": "ann"}
    # Answered once applied: every board already goes without her, the players below moved up.
    assert board(api, game) == [("bob", 80, 1), ("cy", 60, 2), ("dee", 40, 3)]
    assert board(api, game, slice="country:FR") == [("bob", 80, 1), ("dee", 40, 2)]
    for path in ("/rank/ann", "/around/ann"):
        assert api.get(path, params={"gameId": game}).status_code == 404
    assert rank_of(api, game, "ann", slice="country:FR").status_code == 404
    assert [(e["userId"], e["rank"]) for e in read(api, "/ranks", gameId=game, userIds="ann,dee")] == [("dee", 3)]
    assert [e["userId"] for e in read(api, "/around/cy", gameId=game, n=5)] == ["bob", "cy", "dee"]
    assert read(api, f"/games/{game}/bans") == {"gameId": game, "userIds": ["ann"]}
    assert read(api, f"/games/{game}")["players"] == 3

    # Her submissions are still taken and kept, not ranked.
    kept = api.post("/score", params={"wait": "true"},
                    json={"gameId": game, "userId": "ann", "score": 50, "tags": {"country": "DE"}})
    assert kept.status_code == 200, kept.text
    assert kept.json() == {"status": "applied", "banned": True, "season": "all", "score": 150}
    assert rank_of(api, game, "ann").status_code == 404
    assert board(api, game, slice="country:DE") == [("cy", 60, 1)]

    restored = api.delete(ban_path(game, "ann"))
    assert restored.status_code == 200, restored.text
    assert restored.json() == {"status": "restored", "gameId": game, "userId": "ann"}
    # Back with the sum of everything she submitted, in the slice of her latest country.
    assert board(api, game) == [("ann", 150, 1), ("bob", 80, 2), ("cy", 60, 3), ("dee", 40, 4)]
    assert board(api, game, slice="country:DE") == [("ann", 150, 1), ("cy", 60, 2)]
    assert board(api, game, slice="country:FR") == [("bob", 80, 1), ("dee", 40, 2)]
    assert read(api, f"/games/{game}/bans") == {"gameId": game, "userIds": []}

    def history_lists_the_ban_and_the_restore() -> None:
        entries = history_of(api, game, "ann")
        assert [{k: v for k, v in e.items() if k != "achievedAt"} for e in entries] == [
            {"event": "restore"}, {"score": 50, "season": "all"}, {"event": "ban", "reason": "aim bot"},
            {"score": 100, "season": "all"}]
        assert entries[0]["achievedAt"] >= entries[1]["achievedAt"] >= entries[2]["achievedAt"]

    eventually(history_lists_the_ban_and_the_restore, timeout=30, interval=0.2)


def test_a_player_banned_before_their_first_score_is_never_ranked_until_restored(
        api: httpx.Client, game: str) -> None:
    banned = api.post(ban_path(game, "newbie"))  # no body: no reason
    assert banned.status_code == 200 and banned.json()["status"] == "banned", banned.text
    applied = api.post("/score", params={"wait": "true"}, json={"gameId": game, "userId": "newbie", "score": 7})
    assert applied.json() == {"status": "applied", "banned": True, "season": "all", "score": 7}
    assert api.post("/score", json={"gameId": game, "userId": "other", "score": 3}).status_code == 202
    wait_for_score(api, game, "other", 3)
    assert board(api, game) == [("other", 3, 1)]
    assert api.delete(ban_path(game, "newbie")).status_code == 200
    assert board(api, game) == [("newbie", 7, 1), ("other", 3, 2)]

    def history_has_a_ban_without_reason() -> None:
        assert [e.get("event") for e in history_of(api, game, "newbie")] == ["restore", None, "ban"]
        assert "reason" not in history_of(api, game, "newbie")[2]

    eventually(history_has_a_ban_without_reason, timeout=30, interval=0.2)


def test_only_admin_keys_ban_and_bad_bans_are_refused_naming_the_field(workers: WorkerGroup, game: str) -> None:
    path = ban_path(game, "u")
    for scope in ("read", "write"):
        with client_for(workers.urls[0], scope) as client:
            for method in ("POST", "DELETE"):
                assert client.request(method, path).status_code == 403
            assert client.get(f"/games/{game}/bans").status_code == 403
    with client_for(workers.urls[0]) as admin:
        for body, field in (({"reason": "x" * 257}, "reason"), ({"reason": 3}, "reason"),
                            ({"reason": "line\nbreak"}, "reason"), ({"why": "x"}, "why"), ([], "body")):
            refused = admin.post(path, json=body)
            assert refused.status_code == 400 and refused.json()["error"].startswith(f"{field} "), refused.text
        not_json = admin.post(path, content=b"{", headers=JSON)
        assert not_json.status_code == 400 and not_json.json()["error"].startswith("body "), not_json.text
        assert admin.post(path, content=b"cheat", headers={"Content-Type": "text/plain"}).status_code == 415
        too_long = admin.post(ban_path("g" * 129, "u"))
        assert too_long.status_code == 400 and too_long.json()["error"].startswith("gameId "), too_long.text
        assert admin.get(f"/games/{'g' * 129}/bans").status_code == 400
        assert admin.get(f"/games/{game}/bans").json() == {"gameId": game, "userIds": []}  # nothing was banned


@pytest.mark.timeout(600)  # two restarts of the workers, and a season to close and archive
def test_a_ban_recomputes_archived_standings_and_its_lifting_restores_them(
        workers: WorkerGroup, game: str, redis_client: redis.Redis) -> None:
    with client_for(workers.urls[0]) as api:
        assert set_rules(api, game, reset="daily").status_code == 200
    # As test_workers.py's daily game: clocks 40 s before a UTC midnight, a short grace
    # period, and closed seasons evicted from Redis as soon as archived.
    midnight = (int(time.time()) // 86400 + 2) * 86400
    workers.stop()
    workers.start(keep_data=True, LEADERBOARD_CLOCK_OFFSET=str(midnight - 40 - time.time()),
                  LEADERBOARD_SEASON_GRACE="15", LEADERBOARD_SEASON_RETENTION="0")
    day_before = time.strftime("%Y-%m-%d", time.gmtime(midnight - 1))
    try:
        with client_for(workers.urls[0]) as api, client_for(workers.urls[1]) as other:
            scores = {"ann": 30, "bob": 20, "cy": 10}
            for user, score in scores.items():
                assert api.post("/score", json={"gameId": game, "userId": user, "score": score}).status_code == 202
            wait_for_scores(api, game, scores)
            assert read(api, f"/games/{game}")["season"] == day_before

            def archived() -> None:
                assert not redis_client.exists(season_keys(game, day_before)[0])
                assert board(other, game, season=day_before) == [("ann", 30, 1), ("bob", 20, 2), ("cy", 10, 3)]

            eventually(archived, timeout=90, interval=0.5)

            assert api.post(ban_path(game, "ann"), json={"reason": "boosted"}).status_code == 200

            def recomputed_without_ann() -> None:
                assert board(other, game, season=day_before) == [("bob", 20, 1), ("cy", 10, 2)]
                assert rank_of(other, game, "ann", season=day_before).status_code == 404
                cy = rank_of(other, game, "cy", season=day_before).json()
                assert (cy["rank"], cy["total"], cy["next"]["userId"]) == (2, 2, "bob")

            eventually(recomputed_without_ann, timeout=30, interval=0.5)

            assert api.delete(ban_path(game, "ann")).status_code == 200

            def recomputed_with_ann() -> None:
                assert board(other, game, season=day_before) == [("ann", 30, 1), ("bob", 20, 2), ("cy", 10, 3)]
                assert standing(rank_of(other, game, "ann", season=day_before)) == ("ann", 1, 30)

            eventually(recomputed_with_ann, timeout=30, interval=0.5)
            # The archived season stays in Cassandra: lifting the ban did not bring it back to Redis.
            assert not redis_client.exists(season_keys(game, day_before)[0])
    finally:
        workers.stop()
        workers.start(keep_data=True)  # their own data: ready in seconds, however long the changelog
