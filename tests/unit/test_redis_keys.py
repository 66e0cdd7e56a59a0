from leaderboard_app.sinks.redis import decode_member, encode_member, profiles_key, season_keys


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
