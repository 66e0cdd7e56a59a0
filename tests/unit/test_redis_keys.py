from leaderboard_app.sinks.redis import (
    decode_member,
    encode_member,
    profiles_key,
    season_keys,
    slice_bookkeeping_keys,
    slice_key,
)


def test_games_never_share_keys_and_ids_cannot_inject_hash_tags():
    ids = ["tetris", "tetris:x", "{tetris}", "te*", "a b", "🎮", "tetris}:scores"]
    keys = [season_keys(game, "2026-11") for game in ids]
    assert len({k for pair in keys for k in pair}) == 2 * len(ids)
    for scores, members in keys:
        tag = scores[scores.index("{") + 1 : scores.index("}")]
        assert tag and "{" not in tag and "}" not in tag and ":" not in tag
        assert members.startswith(scores[: scores.index("}") + 1])


def test_member_round_trips_the_user_id():
    for user in ["p1", "a:b", "{x}", "🎮 space", "é" * 128]:
        assert decode_member(encode_member(user, 123)) == user


def test_among_equal_scores_zrevrange_lists_the_earlier_first_and_zrange_too():
    assert encode_member("zzz", 100, "desc") > encode_member("aaa", 200, "desc")
    assert encode_member("zzz", 100, "asc") < encode_member("aaa", 200, "asc")


def test_all_keys_of_a_game_share_its_hash_tag():
    scores, members = season_keys("g:1", "all")
    tag = scores[: scores.index("}") + 1]
    assert members.startswith(tag) and profiles_key("g:1").startswith(tag)


def test_every_slice_has_a_key_of_its_own_in_the_games_hash_tag():
    values = [("country", "FR"), ("country", "FR:x"), ("country", "F"), ("platform", "FR"), ("country", "\n"),
              ("country", "{g}")]
    keys = [slice_key("g", "all", key, value) for key, value in values]
    assert len(set(keys)) == len(values)
    tag = season_keys("g", "all")[0][: season_keys("g", "all")[0].index("}") + 1]
    for key in [*keys, *slice_bookkeeping_keys("g", "all")]:
        assert key.startswith(tag) and key.count("{") == 1 and "\n" not in key
