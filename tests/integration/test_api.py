"""The HTTP contract: the README's curl examples, health, and every 4xx case."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from leaderboard_app.client import NotFound, RankedPlayer, SyncLeaderboardClient
from tests.integration.conftest import JSON, KEYS, WorkerGroup, submit, wait_for_score, wait_for_scores

MAX = 2**53 - 1


@pytest.fixture
def lb(workers: WorkerGroup) -> Iterator[SyncLeaderboardClient]:
    """The project's own client (leaderboard_app.client) of the first worker, with the admin key."""
    with SyncLeaderboardClient(workers.urls[0], KEYS["admin"]) as client:
        yield client


def test_readme_curl_examples(api: httpx.Client, lb: SyncLeaderboardClient, game: str) -> None:
    response = api.post("/score", json={"userId": "player1", "score": 2500, "gameId": game})
    assert (response.status_code, response.json()) == (202, {"status": "queued"})
    wait_for_score(api, game, "player1", 2500)

    top = lb.top(game, k=10)
    assert (top.players, top.season) == ([RankedPlayer("player1", 2500, 1)], "all")
    rank = lb.rank(game, "player1")
    assert (rank.player, rank.season, rank.total, rank.percentile, rank.next) == (
        RankedPlayer("player1", 2500, 1), "all", 1, 0.0, None)


def test_health_and_ready_name_every_dependency(lb: SyncLeaderboardClient) -> None:
    assert lb.health().status == "ok"
    ready = lb.ready()
    assert ready.ready
    assert (ready.kafka, ready.redis, ready.cassandra) == ("ok", "ok", "ok")
    assert ready.partitions


def test_topk_defaults_to_ten_and_unknown_game_is_empty(api: httpx.Client, lb: SyncLeaderboardClient,
                                                        game: str) -> None:
    scores = {f"p{n:02}": n for n in range(12)}
    for user, score in scores.items():
        assert lb.submit_score(game, user, score).status == "queued"
    wait_for_scores(api, game, scores)
    assert lb.top(game).user_ids == [f"p{n:02}" for n in range(11, 1, -1)]
    assert lb.top(game + "-none").players == []


def test_extreme_scores_are_exact_integers(api: httpx.Client, game: str) -> None:
    scores = {"max": MAX, "min": -MAX, "almost": MAX - 1}
    for user, score in scores.items():
        submit(api, game, user, score)
    wait_for_scores(api, game, scores)
    text = api.get("/topk", params={"gameId": game}).text
    assert f'"score":{MAX},' in text and f'"score":{MAX - 1},' in text and f'"score":-{MAX},' in text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (b'"text"', "body"),
        (b"", "body"),
        (b'{"userId": "p", "score": 1}', "gameId"),
        (b'{"gameId": "g", "score": 1}', "userId"),
        (b'{"gameId": "g", "userId": "p"}', "score"),
        (b'{"gameId": "g", "userId": "p", "score": "10"}', "score"),
        (b'{"gameId": "g", "userId": "p", "score": true}', "score"),
        (b'{"gameId": "g", "userId": "p", "score": 1.5}', "score"),
        (b'{"gameId": "g", "userId": "p", "score": 10.0}', "score"),
        (b'{"gameId": "g", "userId": "p", "score": null}', "score"),
        (b'{"gameId": "g", "userId": "p", "score": 9007199254740992}', "score"),
        (b'{"gameId": "g", "userId": "p", "score": -9007199254740992}', "score"),
        (b'{"gameId": "g", "userId": "p", "score": 123456789012345678901234567890}', "score"),
        (b'{"gameId": "g", "userId": "", "score": 1}', "userId"),
        (b'{"gameId": "g", "userId": 12, "score": 1}', "userId"),
        (b'{"gameId": "", "userId": "p", "score": 1}', "gameId"),
        (b'{"gameId": "g", "userId": "a\\u0000b", "score": 1}', "userId"),
        (b'{"gameId": "g\\n", "userId": "p", "score": 1}', "gameId"),
        (b'{"gameId": "g", "userId": "\\ud800", "score": 1}', "body"),
        (b'{"gameId": "g", "userId": "' + b"x" * 129 + b'", "score": 1}', "userId"),
    ],
)
def test_invalid_submissions_get_400_naming_the_field(api: httpx.Client, body: bytes, field: str) -> None:
    response = api.post("/score", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(f"{field} ")


def test_ids_of_128_characters_are_accepted(api: httpx.Client, game: str) -> None:
    user = "ü" * 128
    submit(api, game, user, 1)
    wait_for_score(api, game, user, 1)


def test_bodies_over_64_kib_get_413_with_or_without_content_length(api: httpx.Client) -> None:
    big = b'{"gameId": "g", "userId": "p", "score": 1, "pad": "' + b"x" * (64 * 1024) + b'"}'
    response = api.post("/score", content=big, headers=JSON)
    assert response.status_code == 413
    assert "error" in response.json()

    def chunks():
        for start in range(0, len(big), 4096):
            yield big[start:start + 4096]

    chunked = api.post("/score", content=chunks(), headers=JSON)
    assert chunked.status_code == 413
    assert "error" in chunked.json()


def test_a_body_of_exactly_64_kib_is_read(api: httpx.Client, game: str) -> None:
    head = b'{"gameId": "' + game.encode() + b'", "userId": "padded", "score": 5, "pad": "'
    body = head + b"x" * (64 * 1024 - len(head) - 2) + b'"}'
    assert len(body) == 64 * 1024
    assert api.post("/score", content=body, headers=JSON).status_code == 202


@pytest.mark.parametrize("k", ["", "0", "1001", "abc", "1.5", "-1", "+5", " 5", "99999999999999999999"])
def test_topk_rejects_k_outside_1_to_1000(api: httpx.Client, k: str) -> None:
    response = api.get("/topk", params={"gameId": "g", "k": k})
    assert response.status_code == 400
    assert response.json()["error"].startswith("k ")


def test_topk_accepts_k_at_its_bounds(api: httpx.Client) -> None:
    for k in ("1", "1000"):
        assert api.get("/topk", params={"gameId": "g", "k": k}).status_code == 200


def test_repeated_parameters_are_refused(api: httpx.Client) -> None:
    response = api.get("/topk?gameId=g&k=1&k=2")
    assert response.status_code == 400
    assert response.json()["error"].startswith("k ")


@pytest.mark.parametrize("path", ["/topk", "/topk?k=3", "/rank/player1", "/rank/player1?gameId="])
def test_reads_without_game_id_get_400(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 400
    assert response.json()["error"].startswith("gameId ")


def test_unknown_player_gets_404(lb: SyncLeaderboardClient, game: str) -> None:
    with pytest.raises(NotFound) as caught:
        lb.rank(game, "nobody")
    assert (caught.value.status, caught.value.message) == (404, "user not found")


@pytest.mark.parametrize("path", ["/router/", "/router/topics", "/router/player_scores/",
                                  "/router/player_scores/key/", "/table/player_scores/"])
def test_fausts_own_router_and_table_pages_are_not_served(workers: WorkerGroup, path: str) -> None:
    # They listed the workers' URLs and table keys to anyone, no key asked.
    for url in workers.urls:
        answer = httpx.get(url + path, timeout=10)
        assert answer.status_code == 404, (url, path, answer.text[:200])
        assert answer.json() == {"error": "Not Found"}


def test_unknown_paths_and_methods_answer_json(api: httpx.Client) -> None:
    missing = api.get("/no-such-endpoint")
    assert missing.status_code == 404 and "error" in missing.json()
    wrong_method = api.delete("/score")
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()
