from leaderboard_app.sinks.redis import decode_member, encode_member, game_keys


def test_games_never_share_keys_and_ids_cannot_inject_hash_tags():
    ids = ["tetris", "tetris:x", "{tetris}", "te*", "a b", "🎮", "tetris}:scores"]
    keys = [game_keys(game) for game in ids]
    assert len({k for pair in keys for k in pair}) == 2 * len(ids)
    for scores, members in keys:
        tag = scores[scores.index("{") + 1 : scores.index("}")]
        assert tag and "{" not in tag and "}" not in tag and ":" not in tag
        assert members.startswith(scores[: scores.index("}") + 1])


def test_member_round_trips_the_user_id():
    for user in ["p1", "a:b", "{x}", "🎮 space", "é" * 128]:
        assert decode_member(encode_member(user, 123)) == user


def test_among_equal_scores_the_earlier_member_sorts_last_so_zrevrange_lists_it_first():
    early, late = encode_member("zzz", 100), encode_member("aaa", 200)
    assert early > late
