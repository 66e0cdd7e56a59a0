"""Synthetic load (leaderboard_app/loadgen.py): the players, their scores, the records, and producing them."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock

import pytest

from leaderboard_app.loadgen import (
    SCORE_CEILING,
    Population,
    produce_records,
    produce_scores,
    rules_of,
    score_records,
)
from leaderboard_app.models import DEFAULT_RULES, GameRules, ScoreSubmission, decode_update, player_key
from leaderboard_app.seasons import Clock, season_of
from leaderboard_app.settings import Settings
from leaderboard_app.web.ingest import _record as api_record

ROOT = Path(__file__).resolve().parents[2]
NOW_US = 1_795_000_000_000_000


def lua_player_format() -> str:
    """The format string of ``lib.player`` in bench/lua/lib.lua, which the wrk scripts name players with."""
    source = (ROOT / "bench" / "lua" / "lib.lua").read_text()
    found = re.search(r'function lib\.player\(prefix, index\)\s+return string\.format\("([^"]+)", prefix, index\)',
                      source)
    assert found, "lib.player is no longer string.format(FORMAT, prefix, index)"
    return found.group(1)


def submission(value: bytes) -> ScoreSubmission:
    """Decode a record as the agent does; it must be a submission."""
    update = decode_update(value)
    assert isinstance(update, ScoreSubmission)
    return update


def test_scores_are_the_same_for_a_seed_and_differ_between_seeds() -> None:
    population = Population("g", 1000)
    assert population.scores(seed=5) == Population("other", 1000).scores(seed=5)
    assert population.scores(seed=5) != population.scores(seed=6)
    assert population.scores() == population.scores(seed=5)


def test_scores_spread_below_the_ceiling() -> None:
    scores = Population("g", 10_000).scores()
    assert all(0 <= score < SCORE_CEILING for score in scores)
    assert len(set(scores)) > 9_900


@pytest.mark.parametrize("index", [0, 42, 1_234_567, 9_999_999])
def test_player_ids_are_named_as_the_lua_scripts_name_them(index: int) -> None:
    # Lua's %s and %07d mean what Python's % operator makes of them.
    assert Population("g", 10, prefix="bench-").player(index) == lua_player_format() % ("bench-", index)
    assert Population("g", 10).player(index) == lua_player_format() % ("p", index)


def test_records_decode_as_the_agent_decodes_them() -> None:
    population = Population("space invaders", 50)
    rules = GameRules(order="asc", operator="incr", reset="daily")
    records = list(score_records(population, NOW_US, rules, seed=9))
    assert len(records) == 50
    for index, ((key, value), score) in enumerate(zip(records, population.scores(seed=9))):
        update = submission(value)
        assert (update.game_id, update.user_id, update.score) == ("space invaders", population.player(index), score)
        assert (update.season, update.rules) == ("2026-11-18", rules)  # the day of NOW_US
        assert key == player_key(update.game_id, update.user_id)


def test_records_are_encoded_as_post_score_encodes_them() -> None:
    population = Population("g", 3)
    for (key, value), score in zip(score_records(population, NOW_US), population.scores()):
        decoded = submission(value)
        assert (key, value) == api_record(decoded)
        assert decoded.score == score


def test_records_are_achieved_in_order_and_in_the_past() -> None:
    records = list(score_records(Population("g", 100), NOW_US))
    achieved = [submission(value).achieved_at_us for _, value in records]
    assert achieved == sorted(achieved) and len(set(achieved)) == 100
    assert achieved[-1] < NOW_US


class FakeTopic:
    """A topic whose sends are acknowledged on the next turn of the loop, counting them."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []

    async def send(self, *, key: bytes, value: bytes) -> asyncio.Future[None]:
        self.sent.append((key, value))
        acknowledged = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(acknowledged.set_result, None)
        return acknowledged


async def test_produce_records_waits_for_each_window_before_sending_more() -> None:
    topic = FakeTopic()
    records = [(b"k%d" % n, b"v%d" % n) for n in range(25)]
    windows: list[tuple[int, int]] = []
    count = await produce_records(topic, records, lambda n: windows.append((n, len(topic.sent))), window=10)
    assert count == 25
    assert topic.sent == records
    # (acknowledged, sent so far): nothing more is sent until a window is acknowledged.
    assert windows == [(10, 10), (10, 20), (5, 25)]


async def test_produce_records_fails_when_kafka_refuses_a_record() -> None:
    class RefusingTopic(FakeTopic):
        async def send(self, *, key: bytes, value: bytes) -> asyncio.Future[None]:
            refused = asyncio.get_running_loop().create_future()
            refused.set_exception(RuntimeError("not enough replicas"))
            return refused

    with pytest.raises(RuntimeError, match="replicas"):
        await produce_records(RefusingTopic(), [(b"k", b"v")])


def fake_app(stored_rules: bytes | None) -> Any:
    """What produce_scores and rules_of use of a LeaderboardApp, without Kafka or Redis."""
    return SimpleNamespace(
        settings=Settings.from_env({}),
        clock=Clock(),
        score_updates_topic=SimpleNamespace(send=FakeTopic().send, maybe_declare=AsyncMock()),
        maybe_start_producer=AsyncMock(),
        producer=SimpleNamespace(stop=AsyncMock()),
        redis_leaderboard=SimpleNamespace(start=AsyncMock(), stop=AsyncMock(),
                                          rules=AsyncMock(return_value=stored_rules)),
    )


async def test_rules_come_from_redis_with_defaults_for_an_unconfigured_game() -> None:
    weekly = GameRules(order="asc", reset="weekly")
    app = fake_app(weekly.to_bytes())
    assert await rules_of(app, "g") == weekly
    app.redis_leaderboard.rules.assert_awaited_once_with("g")
    app.redis_leaderboard.stop.assert_awaited_once()
    assert await rules_of(fake_app(None), "g") == DEFAULT_RULES


async def test_produce_scores_stamps_the_games_rules_and_current_season() -> None:
    app = fake_app(None)
    topic = FakeTopic()
    app.score_updates_topic.send = topic.send
    daily = GameRules(reset="daily")
    acknowledged: list[int] = []
    before = season_of("daily", app.clock.now_us())
    produced = await produce_scores(app, Population("g", 30), daily, 5, acknowledged.append)
    after = season_of("daily", app.clock.now_us())
    assert produced.count == 30 and sum(acknowledged) == 30
    app.score_updates_topic.maybe_declare.assert_awaited_once()
    app.producer.stop.assert_awaited_once()
    submissions = [submission(value) for _, value in topic.sent]
    assert {s.rules for s in submissions} == {daily}
    assert len({s.season for s in submissions}) == 1
    assert submissions[0].season in (before, after)


def test_load_scores_refuses_a_game_id_the_api_refuses() -> None:
    done = subprocess.run([str(Path(sys.executable).with_name("faust")), "-A", "leaderboard_app", "load-scores",
                           "--game", "", "--players", "3"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Invalid value for '--game'" in done.stderr
