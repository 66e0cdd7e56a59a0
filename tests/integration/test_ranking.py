"""Ranking rules through the whole pipeline: HTTP -> Kafka -> agent/table -> Redis and Cassandra."""

from __future__ import annotations

import time

import httpx
from cassandra.cluster import Session

from tests.conftest import eventually
from tests.integration.conftest import (
    SETTINGS,
    rank_of,
    standing,
    same_partition_marker,
    submit,
    wait_for_score,
    wait_for_scores,
)


def top(client: httpx.Client, game: str, k: int = 10) -> list[dict]:
    response = client.get("/topk", params={"gameId": game, "k": k})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_players_score_is_their_best(api: httpx.Client, game: str) -> None:
    submit(api, game, "ann", 100)
    submit(api, game, "ann", 40)
    submit(api, game, "ann", 70)
    submit(api, game, "ann", 100)
    submit(api, game, "ann", 120)
    submit(api, game, "ann", 110)
    submit(api, game, "ann", 121)
    wait_for_score(api, game, "ann", 121)
    submit(api, game, "ann", 5)
    marker = same_partition_marker(game, "ann")
    submit(api, game, marker, 1)
    wait_for_score(api, game, marker, 1)
    assert standing(rank_of(api, game, "ann")) == ("ann", 1, 121)


def test_equal_scores_share_a_rank_and_the_first_to_reach_it_leads(api: httpx.Client, game: str) -> None:
    # Submitted one after another, each answered before the next is sent.
    submit(api, game, "zed", 500)      # first to 500
    submit(api, game, "amy", 500)      # second to 500
    submit(api, game, "kim", 900)
    submit(api, game, "lee", 100)
    submit(api, game, "bea", 300)
    submit(api, game, "bea", 500)      # reaches 500 last, by improving
    submit(api, game, "ola", 100)
    wait_for_scores(api, game, {"ola": 100, "bea": 500, "zed": 500, "amy": 500, "kim": 900, "lee": 100})
    expected = [
        ("kim", 900, 1),
        ("zed", 500, 2),
        ("amy", 500, 2),
        ("bea", 500, 2),
        ("lee", 100, 5),
        ("ola", 100, 5),
    ]
    assert [(e["userId"], e["score"], e["rank"]) for e in top(api, game)] == expected
    for user, score, rank in expected:
        assert standing(rank_of(api, game, user)) == (user, rank, score)


def test_games_never_see_each_others_players(api: httpx.Client, game: str) -> None:
    other = game + "-other"
    submit(api, game, "shared", 10)
    submit(api, other, "shared", 99)
    submit(api, other, "only-there", 5)
    wait_for_scores(api, game, {"shared": 10})
    wait_for_scores(api, other, {"shared": 99, "only-there": 5})
    assert [e["userId"] for e in top(api, game)] == ["shared"]
    assert rank_of(api, game, "only-there").status_code == 404


def test_ids_with_separators_braces_spaces_and_emoji_stay_distinct(api: httpx.Client, game: str) -> None:
    users = {"a:b": 1, "a": 2, "b": 3, "{x}": 4, "x": 5, "with space": 6, "🎮": 7, "a/b": 8, "*": 9, "a%2Fb": 10}
    for user, score in users.items():
        submit(api, game, user, score)
    wait_for_scores(api, game, users)
    listed = {e["userId"]: e["score"] for e in top(api, game, k=100)}
    assert listed == users
    # A game id with the same characters is its own game.
    special = "{" + game + "}:a b 🎮"
    submit(api, special, "a:b", 42)
    assert wait_for_score(api, special, "a:b", 42)["rank"] == 1
    assert [e["userId"] for e in top(api, special)] == ["a:b"]


def test_an_accepted_score_is_ranked_within_one_second_at_rest(api: httpx.Client, game: str) -> None:
    for n in range(5):
        user = f"fresh-{n}"
        submit(api, game, user, 1000 + n)
        accepted = time.monotonic()
        wait_for_score(api, game, user, 1000 + n, timeout=1.0)
        assert time.monotonic() - accepted <= 1.0


def test_every_applied_score_reaches_cassandra(api: httpx.Client, game: str, cassandra: Session) -> None:
    submit(api, game, "durable", 10)
    submit(api, game, "durable", 30)
    submit(api, game, "durable", 20)
    submit(api, game, "other", 7)
    wait_for_score(api, game, "durable", 30)
    query = (f"SELECT score FROM {SETTINGS.cassandra_keyspace}.season_scores"
             " WHERE game_id = %s AND season = 'all' AND user_id = %s")

    def stored(user: str, score: int) -> None:
        rows = list(cassandra.execute(query, (game, user)))
        assert [row.score for row in rows] == [score]

    eventually(lambda: stored("durable", 30), timeout=20)
    eventually(lambda: stored("other", 7), timeout=20)
