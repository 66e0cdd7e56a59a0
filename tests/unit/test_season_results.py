"""season_results: the records of a closed season, built from the archiver's rows, and the order they are produced in."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import orjson
import pytest

from leaderboard_app.archiver import FinalStandings
from leaderboard_app.models import PlayerStanding, RankedPlayer
from leaderboard_app.scoring import competition_ranks
from leaderboard_app.season_results import TOP_SIZE, SeasonResults, SeasonResultsProducer, \
    produce_season_results, season_key, season_result_values

CLOSED_AT_US = 1_764_201_600_000_000


def rows_of(scores: list[int], names: dict[int, str] | None = None) -> list[tuple[int, PlayerStanding]]:
    """The archiver's rows of a season whose players scored ``scores`` (listed best first)."""
    names = names or {}
    players = [RankedPlayer(user_id=f"p{index}", score=score, rank=rank, display_name=names.get(index))
               for index, (score, rank) in enumerate(zip(scores, competition_ranks(scores)))]
    standings = FinalStandings(len(players))
    return [*standings.add(players), *standings.finish()]


def decoded(game: str, season: str, rows: list[tuple[int, PlayerStanding]]) -> list[dict[str, Any]]:
    return [orjson.loads(value) for value in season_result_values(game, season, len(rows), CLOSED_AT_US, rows)]


def test_each_player_gets_a_standing_with_shared_ranks_and_distinct_positions_then_the_summary_last() -> None:
    records = decoded("tetris", "2026-11-26", rows_of([30, 20, 20, 10], names={1: "Bo"}))
    assert records[:-1] == [
        {"type": "standing", "gameId": "tetris", "season": "2026-11-26", "userId": "p0", "score": 30, "rank": 1,
         "position": 0, "total": 4, "closedAtUs": CLOSED_AT_US},
        {"type": "standing", "gameId": "tetris", "season": "2026-11-26", "userId": "p1", "score": 20, "rank": 2,
         "displayName": "Bo", "position": 1, "total": 4, "closedAtUs": CLOSED_AT_US},
        {"type": "standing", "gameId": "tetris", "season": "2026-11-26", "userId": "p2", "score": 20, "rank": 2,
         "position": 2, "total": 4, "closedAtUs": CLOSED_AT_US},
        {"type": "standing", "gameId": "tetris", "season": "2026-11-26", "userId": "p3", "score": 10, "rank": 4,
         "position": 3, "total": 4, "closedAtUs": CLOSED_AT_US},
    ]
    assert records[-1] == {
        "type": "season_closed", "gameId": "tetris", "season": "2026-11-26", "total": 4, "closedAtUs": CLOSED_AT_US,
        "top": [{"userId": "p0", "score": 30, "rank": 1}, {"userId": "p1", "score": 20, "rank": 2, "displayName": "Bo"},
                {"userId": "p2", "score": 20, "rank": 2}, {"userId": "p3", "score": 10, "rank": 4}]}


def test_the_summary_lists_only_the_best_thousand_while_every_player_has_a_standing() -> None:
    scores = [0] * 500 + [-n for n in range(1, 1001)]  # 500 tied first, then 1,000 more
    records = decoded("g", "2026-W48", rows_of(scores))
    standings, summary = records[:-1], records[-1]
    assert [record["position"] for record in standings] == list(range(1500))
    assert {record["rank"] for record in standings[:500]} == {1}
    assert standings[500]["rank"] == 501
    assert summary["type"] == "season_closed" and summary["total"] == 1500
    assert len(summary["top"]) == TOP_SIZE
    assert summary["top"] == [{key: record[key] for key in ("userId", "score", "rank")}
                              for record in standings[:TOP_SIZE]]


def test_a_season_fed_in_pages_builds_the_same_records_as_at_once() -> None:
    rows = rows_of([5, 5, 4, 3, 3, 3, 1])
    results = SeasonResults("g", "2026-11", len(rows), CLOSED_AT_US, top_size=3)
    paged = results.standings(rows[:2]) + results.standings(rows[2:5]) + results.standings(rows[5:])
    assert [orjson.loads(value)["userId"] for value in paged] == [f"p{n}" for n in range(7)]
    assert [entry["userId"] for entry in orjson.loads(results.summary())["top"]] == ["p0", "p1", "p2"]


def test_an_empty_season_still_closes_with_an_empty_top() -> None:
    assert decoded("g", "2026-11", []) == [
        {"type": "season_closed", "gameId": "g", "season": "2026-11", "total": 0, "closedAtUs": CLOSED_AT_US,
         "top": []}]


def test_the_key_is_the_json_pair_so_no_id_can_collide_with_another() -> None:
    assert season_key("a:b", "c") == b'["a:b","c"]'
    assert season_key("a", "b:c") != season_key("a:b", "c")


class KafkaStandIn:
    """A topic whose acknowledgements the test releases: stands in for the broker's answers."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, dict[str, Any]]] = []
        self.unacknowledged: list[asyncio.Future[None]] = []

    async def send(self, *, key: bytes, value: bytes, force: bool) -> Awaitable[Any]:
        self.sent.append((key, orjson.loads(value)))
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.unacknowledged.append(ack)
        return ack

    def acknowledge(self, error: Exception | None = None) -> None:
        for ack in self.unacknowledged:
            ack.set_exception(error) if error else ack.set_result(None)
        self.unacknowledged = []


async def test_the_summary_is_produced_only_once_every_standing_is_acknowledged() -> None:
    topic = KafkaStandIn()
    rows = rows_of([3, 2, 1])
    producer = SeasonResultsProducer(topic, SeasonResults("g", "s", 3, CLOSED_AT_US), timeout=5)
    await producer.send(rows)
    finishing = asyncio.ensure_future(producer.finish())
    await asyncio.sleep(0)  # let finish() run up to its wait
    assert [record["type"] for _, record in topic.sent] == ["standing"] * 3
    topic.acknowledge()
    async with asyncio.timeout(5):
        while len(topic.sent) < 4:
            await asyncio.sleep(0)
    topic.acknowledge()
    await finishing
    assert [record["type"] for _, record in topic.sent] == ["standing"] * 3 + ["season_closed"]
    assert {key for key, _ in topic.sent} == {season_key("g", "s")}


async def test_a_refused_standing_raises_and_no_summary_follows() -> None:
    topic = KafkaStandIn()

    async def acknowledge_with_error() -> None:
        async with asyncio.timeout(5):
            while not topic.unacknowledged:
                await asyncio.sleep(0)
        topic.acknowledge(RuntimeError("NotEnoughReplicas"))

    refusing = asyncio.ensure_future(acknowledge_with_error())
    with pytest.raises(RuntimeError, match="NotEnoughReplicas"):
        await produce_season_results(topic, "g", "s", 2, CLOSED_AT_US, rows_of([2, 1]), timeout=5)
    await refusing
    assert [record["type"] for _, record in topic.sent] == ["standing", "standing"]


async def test_an_acknowledgement_that_never_comes_times_out() -> None:
    topic = KafkaStandIn()
    with pytest.raises(TimeoutError):
        await produce_season_results(topic, "g", "s", 1, CLOSED_AT_US, rows_of([1]), timeout=0.05)
    assert [record["type"] for _, record in topic.sent] == ["standing"]
