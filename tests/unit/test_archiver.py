"""archiver: a closed season's rows, from pages of players best first, and the order of its steps."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaderboard_app.archiver import FinalStandings, archive_due_seasons, ranked_best_first
from leaderboard_app.models import GameRules, RankedPlayer, SeasonScore
from leaderboard_app.scoring import competition_ranks
from leaderboard_app.seasons import Clock
from leaderboard_app.settings import Settings


def season(scores: list[int]) -> list[RankedPlayer]:
    """Players best first (descending scores), ranked as the index ranks them."""
    ordered = sorted(scores, reverse=True)
    return [RankedPlayer(user_id=f"p{index}", score=score, rank=rank)
            for index, (score, rank) in enumerate(zip(ordered, competition_ranks(ordered)))]


def rows_in_pages(players: list[RankedPlayer], page: int) -> list[tuple[int, object]]:
    standings = FinalStandings(len(players))
    rows = []
    for start in range(0, len(players), page):
        rows += standings.add(players[start:start + page])
    return rows + list(standings.finish())


@given(st.lists(st.integers(min_value=-3, max_value=3), max_size=60), st.integers(min_value=1, max_value=7))
def test_each_row_has_the_players_worse_and_the_last_of_the_tie_group_above(scores: list[int], page: int) -> None:
    players = season(scores)
    rows = rows_in_pages(players, page)
    assert [position for position, _ in rows] == list(range(len(players)))
    for position, standing in rows:
        player = players[position]
        assert standing.player == player and standing.total == len(players)
        assert standing.worse == sum(other.score < player.score for other in players)
        better = [other for other in players if other.score > player.score]
        assert standing.next == (better[-1] if better else None)


def test_a_hundred_thousand_tied_players_are_handled_once_each() -> None:
    players = season([0] * 100_000)
    rows = rows_in_pages(players, 2_000)
    assert len(rows) == 100_000
    assert {(standing.player.rank, standing.worse, standing.next) for _, standing in rows} == {(1, 0, None)}


class Recorder:
    """Stand-ins for Redis, Cassandra and the season_results topic that log, in one list, what the archiver does."""

    def __init__(self, players: list[RankedPlayer], refuse: bool = False) -> None:
        self.players = players
        self.refuse = refuse
        self.log: list[str] = []

    # Redis
    async def due_seasons(self, now_us: int) -> list[tuple[str, str, int]]:
        return [("g", "2026-11-26", 1_764_201_600_000_000)]

    async def total_members(self, game_id: str, season: str) -> int:
        return len(self.players)

    async def top(self, game_id: str, season: str, order: str, count: int, offset: int,
                  columns: tuple = ()) -> list[RankedPlayer]:
        return self.players[offset:offset + count]

    async def evict_season(self, game_id: str, season: str, retention: float) -> None:
        self.log.append("evict")

    # Cassandra
    async def store_standings(self, game_id: str, season: str, chunk: list, at_us: int) -> None:
        self.log.append(f"cassandra {len(chunk)}")

    async def store_season_total(self, game_id: str, season: str, total: int, at_us: int) -> None:
        self.log.append("cassandra total")

    # Kafka: each record is acknowledged (or refused) on a later turn of the loop, as a broker answers.
    async def maybe_declare(self) -> None:
        self.log.append("declare")

    async def send(self, *, key: bytes, value: bytes, force: bool) -> asyncio.Future[None]:
        kind = orjson.loads(value)["type"]
        self.log.append(f"send {kind}")
        answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        loop = asyncio.get_running_loop()
        if self.refuse:
            loop.call_soon(answer.set_exception, RuntimeError("NotEnoughReplicas"))
        else:
            loop.call_soon(lambda: (answer.set_result(None), self.log.append(f"ack {kind}")))
        return answer


def leader_app(recorder: Recorder) -> SimpleNamespace:
    async def rules_for(game_id: str) -> GameRules:
        return GameRules(reset="daily")

    return SimpleNamespace(redis_leaderboard=recorder, archive=recorder, season_results_topic=recorder,
                           clock=Clock(), rules_for=rules_for,
                           settings=Settings(season_retention=0, kafka_ack_timeout=5))


async def test_a_season_is_evicted_only_after_kafka_acknowledged_every_record_of_it() -> None:
    recorder = Recorder(season([5, 4, 4, 1]))
    assert await archive_due_seasons(leader_app(recorder)) == 1
    log = recorder.log
    assert log[0] == "declare" and log[-1] == "evict"
    assert log.count("send standing") == log.count("ack standing") == 4
    # The summary goes out once every standing is acknowledged, and the eviction once it is.
    assert log.index("send season_closed") > max(i for i, entry in enumerate(log) if entry == "ack standing")
    assert log.index("ack season_closed") == len(log) - 2


async def test_a_season_kafka_refused_stays_in_redis_for_the_next_round() -> None:
    recorder = Recorder(season([5, 4]), refuse=True)
    with pytest.raises(RuntimeError, match="NotEnoughReplicas"):
        await archive_due_seasons(leader_app(recorder))
    assert "evict" not in recorder.log and "send season_closed" not in recorder.log


def test_recomputed_standings_rank_like_the_live_board() -> None:
    def score(points: int, reached_us: int) -> SeasonScore:
        return SeasonScore(points, reached_us, reached_us, reached_us)

    players = [("late", score(50, 3_000)), ("low", score(10, 1_000)), ("early", score(50, 2_000)),
               ("top", score(90, 5_000))]
    desc = ranked_best_first(players, "desc")
    # Ties: whoever reached the score first is listed first, and they share a rank.
    assert [(p.user_id, p.score, p.rank) for p in desc] == [("top", 90, 1), ("early", 50, 2), ("late", 50, 2),
                                                           ("low", 10, 4)]
    asc = ranked_best_first(players, "asc")
    assert [(p.user_id, p.rank) for p in asc] == [("low", 1), ("early", 2), ("late", 2), ("top", 4)]
