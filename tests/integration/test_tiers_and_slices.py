"""Tiers (leagues) and slices (boards per tag value) end to end, on the real stack."""

from __future__ import annotations

import httpx
import pytest
from cassandra.cluster import Session

from leaderboard_app.client import SyncLeaderboardClient
from leaderboard_app.models import GameRules
from leaderboard_app.tiers import Tier
from tests.conftest import eventually
from tests.integration.conftest import KEYS, SETTINGS, WorkerGroup, rank_of, set_rules, wait_for_scores

TIERS = [{"name": "champion", "top": 1}, {"name": "gold", "top": "20%"}, {"name": "silver", "score": 50},
         {"name": "wood"}]
#: Eleven players; p1 and p1b tie at 90, so the 20 % (rank <= ceil(11 x 0.2) = 3) holds both.
LADDER = {"p0": 100, "p1": 90, "p1b": 90, "p2": 80, "p3": 70, "p4": 60, "p5": 50, "p6": 40, "p7": 30, "p8": 20,
          "p9": 10}
EXPECTED_TIERS = {"p0": "champion", "p1": "gold", "p1b": "gold", "p2": "silver", "p3": "silver", "p4": "silver",
                  "p5": "silver", "p6": "wood", "p7": "wood", "p8": "wood", "p9": "wood"}


def put_game(client: httpx.Client, game: str, **rules: object) -> httpx.Response:
    return set_rules(client, game, **rules)


def submit_all(client: httpx.Client, game: str, scores: dict[str, int], **extra: object) -> None:
    body = {"scores": [{"gameId": game, "userId": user, "score": score, **extra} for user, score in scores.items()]}
    response = client.post("/scores", json=body)
    assert response.status_code == 202, response.text


def read(client: httpx.Client, path: str, **params: object) -> list[dict] | dict:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def tiered(api: httpx.Client, game: str) -> str:
    assert put_game(api, game, tiers=TIERS).status_code == 200
    submit_all(api, game, LADDER)
    wait_for_scores(api, game, LADDER)
    return game


def test_every_ranked_answer_names_the_players_tier(api: httpx.Client, tiered: str) -> None:
    board = read(api, "/topk", gameId=tiered, k=100)
    assert {entry["userId"]: entry["tier"] for entry in board} == EXPECTED_TIERS
    around = read(api, "/around/p5", gameId=tiered, n=1)
    assert [(entry["userId"], entry["tier"]) for entry in around] == [("p4", "silver"), ("p5", "silver"),
                                                                      ("p6", "wood")]
    friends = read(api, "/ranks", gameId=tiered, userIds="p9,p1b,p0")
    assert [(entry["userId"], entry["tier"]) for entry in friends] == [("p0", "champion"), ("p1b", "gold"),
                                                                       ("p9", "wood")]


def test_topk_lists_one_tier_with_global_ranks(api: httpx.Client, tiered: str) -> None:
    def listed(tier: str, **params: object) -> list[tuple[str, int]]:
        return [(entry["userId"], entry["rank"]) for entry in read(api, "/topk", gameId=tiered, tier=tier, **params)]

    assert listed("champion") == [("p0", 1)]
    assert sorted(listed("gold")) == [("p1", 2), ("p1b", 2)]
    assert listed("silver") == [("p2", 4), ("p3", 5), ("p4", 6), ("p5", 7)]
    assert listed("wood", k=2, offset=1) == [("p7", 9), ("p8", 10)]
    assert listed("wood", offset=4) == []


@pytest.mark.parametrize(("user", "tier", "next_tier"), [
    ("p0", "champion", None),
    ("p1", "gold", {"name": "champion", "gap": 10}),
    ("p3", "silver", {"name": "gold", "gap": 20}),
    ("p8", "wood", {"name": "silver", "gap": 30}),
])
def test_rank_says_the_tier_and_how_far_the_next_one_is(api: httpx.Client, tiered: str, user: str, tier: str,
                                                        next_tier: dict | None) -> None:
    body = read(api, f"/rank/{user}", gameId=tiered)
    assert (body["tier"], body["nextTier"]) == (tier, next_tier)


def test_closing_the_gap_enters_the_next_tier(api: httpx.Client, tiered: str) -> None:
    gap = read(api, "/rank/p8", gameId=tiered)["nextTier"]["gap"]
    submit_all(api, tiered, {"p8": LADDER["p8"] + gap})
    wait_for_scores(api, tiered, {"p8": LADDER["p8"] + gap})
    assert read(api, "/rank/p8", gameId=tiered)["tier"] == "silver"


def test_score_tiers_of_ascending_games_reach_down(api: httpx.Client, game: str) -> None:
    assert put_game(api, game, order="asc", tiers=[{"name": "fast", "score": 30}]).status_code == 200
    submit_all(api, game, {"a": 25, "b": 30, "c": 31})
    wait_for_scores(api, game, {"a": 25, "b": 30, "c": 31})
    board = read(api, "/topk", gameId=game)
    assert [(entry["userId"], entry.get("tier")) for entry in board] == [("a", "fast"), ("b", "fast"), ("c", None)]
    assert read(api, "/rank/c", gameId=game)["nextTier"] == {"name": "fast", "gap": 1}


def test_tiers_and_tag_keys_may_change_once_scored_but_ranking_rules_may_not(api: httpx.Client, tiered: str) -> None:
    changed = put_game(api, tiered, tiers=[{"name": "all"}], tags=["country"])
    assert changed.status_code == 200, changed.text
    assert changed.json()["tiers"] == [{"name": "all"}] and changed.json()["tags"] == ["country"]
    refused = put_game(api, tiered, order="asc", tiers=[{"name": "all"}], tags=["country"])
    assert refused.status_code == 409, refused.text


@pytest.mark.parametrize(("rules", "field"), [
    ({"tiers": [{"name": "a"}, {"name": "b", "top": 3}]}, "tiers[0]"),
    ({"tiers": [{"name": "a", "top": 3}, {"name": "a", "top": 5}]}, "tiers[1].name"),
    ({"tiers": [{"name": "a", "top": "150%"}]}, "tiers[0].top"),
    ({"tiers": [{"name": "a", "top": 0}]}, "tiers[0].top"),
    ({"tiers": [{"name": "a", "top": 3, "score": 5}]}, "tiers[0]"),
    ({"tiers": [{"name": "a", "score": 2**53}]}, "tiers[0].score"),
    ({"tiers": [{"name": "a", "rank": 3}]}, "tiers[0].rank"),
    ({"tiers": "gold"}, "tiers"),
    ({"tags": ["country", "country"]}, "tags[1]"),
    ({"tags": ["a", "b", "c", "d", "e"]}, "tags"),
    ({"tags": ["Country"]}, "tags[0]"),
])
def test_invalid_tiers_and_tag_keys_get_400_naming_the_field(api: httpx.Client, game: str, rules: dict,
                                                             field: str) -> None:
    response = put_game(api, game, **rules)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(field + " "), response.text


def test_unknown_tiers_get_400_listing_the_games_tiers(api: httpx.Client, tiered: str) -> None:
    response = api.get("/topk", params={"gameId": tiered, "tier": "platinum"})
    assert response.status_code == 400
    assert "champion, gold, silver, wood" in response.json()["error"]


# -- slices ------------------------------------------------------------------------------


@pytest.fixture
def sliced(api: httpx.Client, game: str) -> str:
    assert put_game(api, game, tags=["country", "platform"]).status_code == 200
    return game


def test_every_board_exists_per_tag_value(api: httpx.Client, sliced: str) -> None:
    players = {"fr1": (50, "FR", "pc"), "fr2": (70, "FR", "ios"), "de1": (60, "DE", "pc"), "fr3": (70, "FR", "pc")}
    for user, (score, country, platform) in players.items():
        submit_all(api, sliced, {user: score}, tags={"country": country, "platform": platform})
    wait_for_scores(api, sliced, {user: score for user, (score, _, _) in players.items()})

    def board(slice_: str) -> list[tuple[str, int, int]]:
        return [(e["userId"], e["score"], e["rank"]) for e in read(api, "/topk", gameId=sliced, slice=slice_)]

    assert board("country:FR") == [("fr2", 70, 1), ("fr3", 70, 1), ("fr1", 50, 3)]
    assert board("country:DE") == [("de1", 60, 1)]
    assert board("platform:pc") == [("fr3", 70, 1), ("de1", 60, 2), ("fr1", 50, 3)]
    assert board("country:JP") == []
    standing = read(api, "/rank/fr1", gameId=sliced, slice="country:FR")
    assert (standing["rank"], standing["total"], standing["slice"]) == (3, 3, "country:FR")
    assert (standing["globalRank"], standing["globalTotal"]) == (4, 4)
    assert standing["next"] == {"userId": "fr3", "score": 70, "rank": 1, "gap": 20}
    assert [e["userId"] for e in read(api, "/around/fr1", gameId=sliced, slice="platform:pc", n=1)] == ["de1", "fr1"]
    assert [e["userId"] for e in read(api, "/ranks", gameId=sliced, slice="country:FR", userIds="de1,fr1")] == ["fr1"]


def test_a_player_follows_their_latest_tag_value(api: httpx.Client, sliced: str) -> None:
    submit_all(api, sliced, {"mover": 80, "stay": 10}, tags={"country": "FR"})
    wait_for_scores(api, sliced, {"mover": 80, "stay": 10})
    # A worse score ("best" keeps 80) still moves the player: the tag is the latest.
    submit_all(api, sliced, {"mover": 5}, tags={"country": "DE"})

    def moved() -> None:
        assert [e["userId"] for e in read(api, "/topk", gameId=sliced, slice="country:DE")] == ["mover"]

    eventually(moved)
    assert [e["userId"] for e in read(api, "/topk", gameId=sliced, slice="country:FR")] == ["stay"]
    assert rank_of(api, sliced, "mover", slice="country:FR").status_code == 404
    assert read(api, "/rank/mover", gameId=sliced, slice="country:DE")["score"] == 80
    # Submissions without tags keep the player where their latest tags put them.
    submit_all(api, sliced, {"mover": 90})
    wait_for_scores(api, sliced, {"mover": 90})
    assert read(api, "/rank/mover", gameId=sliced, slice="country:DE")["score"] == 90


def test_erased_players_leave_their_slices(api: httpx.Client, sliced: str) -> None:
    submit_all(api, sliced, {"gone-sliced": 40, "kept": 30}, tags={"country": "NO"})
    wait_for_scores(api, sliced, {"gone-sliced": 40, "kept": 30})
    assert api.delete("/users/gone-sliced", params={"gameId": sliced}).status_code == 200
    assert [e["userId"] for e in read(api, "/topk", gameId=sliced, slice="country:NO")] == ["kept"]


@pytest.mark.parametrize(("tags", "error"), [
    ({"language": "fr"}, "tags.language is not a tag key of this game (declared: country, platform)"),
    ({"country": ""}, "tags.country must be 1 to 64 characters long"),
    ({"country": 33}, "tags.country must be a string"),
    ("FR", "tags must be a JSON object of tag key -> value"),
])
def test_invalid_tags_get_400_naming_the_tag(api: httpx.Client, sliced: str, tags: object, error: str) -> None:
    response = api.post("/score", json={"gameId": sliced, "userId": "u", "score": 1, "tags": tags})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error


@pytest.mark.parametrize(("slice_", "error"), [
    ("language:fr", "slice names the tag key 'language', which this game does not declare (declared: country,"
                    " platform)"),
    ("country", "slice must be <tag key>:<value> with a value of 1 to 64 characters, such as country:FR"),
])
def test_invalid_slices_get_400(api: httpx.Client, sliced: str, slice_: str, error: str) -> None:
    response = api.get("/topk", params={"gameId": sliced, "slice": slice_})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error


def test_tiers_of_a_slice_are_the_global_ones(api: httpx.Client, game: str) -> None:
    assert put_game(api, game, tags=["country"], tiers=[{"name": "top", "top": 1}, {"name": "rest"}]).status_code == 200
    submit_all(api, game, {"a": 10}, tags={"country": "FR"})
    submit_all(api, game, {"b": 5}, tags={"country": "DE"})
    wait_for_scores(api, game, {"a": 10, "b": 5})
    entry = read(api, "/topk", gameId=game, slice="country:DE")[0]
    assert (entry["userId"], entry["rank"], entry["tier"]) == ("b", 1, "rest")
    assert api.get("/topk", params={"gameId": game, "slice": "country:DE", "tier": "top"}).status_code == 400


def test_slices_and_tiers_are_kept_in_cassandra(api: httpx.Client, sliced: str, cassandra: Session) -> None:
    submit_all(api, sliced, {"kept-tags": 12}, tags={"country": "SE"})
    wait_for_scores(api, sliced, {"kept-tags": 12})
    keyspace = SETTINGS.cassandra_keyspace

    def stored() -> None:
        row = cassandra.execute(f"SELECT tags FROM {keyspace}.season_scores WHERE game_id = %s AND season = 'all'"
                                " AND user_id = 'kept-tags'", (sliced,)).one()
        assert row is not None and dict(row.tags) == {"country": "SE"}, row
        game_row = cassandra.execute(f"SELECT presentation FROM {keyspace}.games WHERE game_id = %s",
                                     (sliced,)).one()
        assert game_row is not None and '"tags":["country","platform"]' in game_row.presentation, game_row

    eventually(stored, timeout=30)


def test_the_client_reads_tiers_and_slices(workers: WorkerGroup, game: str) -> None:
    with SyncLeaderboardClient(workers.urls[0], api_key=KEYS["admin"]) as client:
        described = client.set_rules(game, GameRules(tiers=(Tier("best", "rank", 1), Tier("rest", "rest")),
                                                     tags=("country",)))
        assert described.rules.tiers == (Tier("best", "rank", 1), Tier("rest", "rest"))
        assert described.rules.tags == ("country",)
        client.submit_score(game, "x", 9, tags={"country": "FR"})
        client.submit_score(game, "y", 4, tags={"country": "FR"})

        def ranked() -> None:
            assert client.top(game, slice="country:FR").user_ids == ["x", "y"]

        eventually(ranked)
        assert [player.tier for player in client.top(game).players] == ["best", "rest"]
        assert client.top(game, tier="rest").user_ids == ["y"]
        standing = client.rank(game, "y", slice="country:FR")
        assert (standing.player.rank, standing.slice, standing.global_rank) == (2, "country:FR", 2)
        assert standing.player.tier == "rest"
        assert standing.next_tier is not None and (standing.next_tier.name, standing.next_tier.gap) == ("best", 5)
