"""GET /stream/player/{userId}: rank changes reported by the agent's own writes, against the real
Redis (the write script) and through real workers (HTTP -> Kafka -> agent -> Redis -> pub/sub -> SSE)."""

from __future__ import annotations

import queue
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import redis

from leaderboard_app.columns import SortColumn
from leaderboard_app.models import SeasonScore
from leaderboard_app.rank_changes import rank_event
from leaderboard_app.sinks.redis import PlayerWrite, RedisLeaderboard, watched_key
from tests.conftest import eventually
from tests.integration.conftest import (
    KEYS,
    SETTINGS,
    WorkerGroup,
    bearer,
    client_for,
    partition_of,
    wait_for_scores,
)
from tests.integration.test_live import EventStream
from tests.integration.test_metrics import RECOVERY_TIMEOUT, wait_until_every_partition_applies

# Run on their own, these tests pay for the workers' recovery (see test_metrics).
pytestmark = pytest.mark.timeout(RECOVERY_TIMEOUT + 300)

WORKER = "1" * 32
OTHER_WORKER = "2" * 32
#: Seconds within which an event must arrive once its write is applied.
EVENT_TIMEOUT = 10.0


# -- the write script, against the real Redis -------------------------------------------------


@pytest.fixture
async def index(services: None) -> AsyncIterator[RedisLeaderboard]:
    leaderboard = RedisLeaderboard(SETTINGS.redis, "rank-changes-test")
    await leaderboard.start()
    yield leaderboard
    await leaderboard.stop()


def write(game: str, user: str, score: int, at_us: int, order: str = "desc") -> PlayerWrite:
    return PlayerWrite(game_id=game, user_id=user, activity_us=at_us, season="all", order=order,
                       state=SeasonScore(score=score, reached_at_us=at_us, achieved_at_us=at_us, updated_at_us=at_us))


async def test_the_write_script_reports_nothing_while_nobody_is_watched(index: RedisLeaderboard, game: str,
                                                                        redis_client: redis.Redis) -> None:
    assert await index.apply([write(game, "a", 10, 1), write(game, "b", 20, 2)]) == []
    # An entry past its expiry is ignored (its worker died without removing it).
    redis_client.zadd(watched_key(game, "all"), {f"{WORKER}:a": 1})
    assert await index.apply([write(game, "c", 30, 3)]) == []


async def test_the_write_script_reports_a_watched_players_rank_change(index: RedisLeaderboard, game: str) -> None:
    # w at 10 below twelve players who will not write (20..31), x at 40 and t at 50.
    await index.apply([write(game, "w", 10, 1), write(game, "x", 40, 2), write(game, "t", 50, 3),
                       *(write(game, f"o{n}", 20 + n, 4 + n) for n in range(12))])
    await index.watch([(game, "all", "w")], WORKER, ttl=60)
    await index.watch([(game, "all", "w")], OTHER_WORKER, ttl=60)
    assert await index.apply([write(game, "o0", 20, 4)]) == []  # rewritten unchanged: no rank changed

    # One batch: w reaches t's 50 (a tie: t is not passed), x drops below it (x was above: passed),
    # y arrives at 60 (overtook w).
    reports = await index.apply([write(game, "w", 50, 100), write(game, "x", 45, 101), write(game, "y", 60, 102)])
    assert len(reports) == 1
    (change,) = reports[0].changes
    assert set(change.workers) == {WORKER, OTHER_WORKER}
    assert (change.score_before, change.score, change.rank_before, change.rank) == (10, 50, 15, 2)
    # The twelve non-writers are counted, the ten nearest to w's new score named.
    assert change.others_passed == 12
    assert change.others_passed_named == tuple(f"o{n}" for n in range(11, 1, -1))

    event = rank_event(reports[0], change)
    assert (event["overtakenBy"], event["overtakenByCount"]) == (["y"], 1)
    # x, a writer, is passed too: counted, but past the ten named.
    assert (event["passed"], event["passedCount"]) == ([f"o{n}" for n in range(11, 1, -1)], 13)
    assert (event["entered"], event["left"]) == ("top10", None)

    await index.unwatch(game, "all", "w", WORKER)
    await index.unwatch(game, "all", "w", OTHER_WORKER)
    assert await index.apply([write(game, "z", 99, 103)]) == []


async def test_the_write_script_ranks_asc_games_lower_first(index: RedisLeaderboard, game: str) -> None:
    await index.apply([write(game, "w", 30, 1, "asc"), write(game, "a", 20, 2, "asc"), write(game, "b", 25, 3, "asc")])
    await index.watch([(game, "all", "w")], WORKER, ttl=60)
    (report,) = await index.apply([write(game, "w", 10, 4, "asc")])
    (change,) = report.changes
    assert (change.rank_before, change.rank, change.others_passed, change.others_passed_named) == (3, 1, 2, ("a", "b"))


async def test_the_write_script_tells_equal_scores_apart_by_their_sort_columns(index: RedisLeaderboard,
                                                                               game: str) -> None:
    time_asc = (SortColumn("time", "asc"),)

    def timed(user: str, score: int, time: int, at_us: int) -> PlayerWrite:
        return PlayerWrite(game_id=game, user_id=user, activity_us=at_us, season="all", order="desc",
                           columns=time_asc, state=SeasonScore(score=score, reached_at_us=at_us, achieved_at_us=at_us,
                                                               updated_at_us=at_us, columns=(time,)))

    # All at 50 but for t (60): o1..o3 faster than w (time 200), s exactly as fast (a tie), t above everyone.
    await index.apply([timed("w", 50, 200, 1), timed("o1", 50, 100, 2), timed("o2", 50, 110, 3),
                       timed("o3", 50, 120, 4), timed("s", 50, 200, 5), timed("t", 60, 999, 6)])
    await index.watch([(game, "all", "w")], WORKER, ttl=60)
    # w gets faster at the same score, past o2 and o3 but not o1; x arrives at w's old time (below w now),
    # y at the same score and faster than all (overtakes w).
    (report,) = await index.apply([timed("w", 50, 105, 10), timed("x", 50, 200, 11), timed("y", 50, 50, 12)])
    (change,) = report.changes
    assert (change.score_before, change.score, change.rank_before, change.rank) == (50, 50, 5, 4)
    assert (change.others_passed, change.others_passed_named) == (2, ("o2", "o3"))
    event = rank_event(report, change)
    assert (event["overtakenBy"], event["passed"], event["passedCount"]) == (["y"], ["o2", "o3"], 2)
    standing = await index.rank_for(game, "all", "desc", "s", columns=time_asc)
    assert standing is not None and (standing.player.rank, standing.worse) == (7, 0)  # s ties with x at 200


# -- through the workers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def applying(workers: WorkerGroup) -> None:
    wait_until_every_partition_applies(workers)


def applied(client: httpx.Client, game: str, user: str, score: int) -> None:
    """Submit a score and return once the agent has applied it (each one its own batch)."""
    response = client.post("/score", params={"wait": "true"}, json={"gameId": game, "userId": user, "score": score})
    assert response.status_code == 200, response.text


@contextmanager
def player_stream(url: str, game: str, user: str) -> Iterator[tuple[EventStream, dict[str, Any]]]:
    """An open /stream/player of ``user``, read in a thread, and its first event (the standing at connect)."""
    with httpx.Client(base_url=url, timeout=httpx.Timeout(10, read=60)) as client, \
            client.stream("GET", f"/stream/player/{quote(user, safe='')}",
                          params={"gameId": game, "key": KEYS["read"]}) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"] == "text/event-stream"
        events = EventStream(response)
        name, first = events.next(timeout=EVENT_TIMEOUT)
        assert name == "rank" and first["previousRank"] is None
        yield events, first


def next_rank(events: EventStream) -> dict[str, Any]:
    name, data = events.next(timeout=EVENT_TIMEOUT)
    assert name == "rank", (name, data)
    return data


def assert_quiet(events: EventStream, seconds: float = 1.0) -> None:
    with pytest.raises(queue.Empty):
        events.next(timeout=seconds)


def test_a_stream_names_who_overtook_whom_the_player_passed_and_the_top_10(
        applying: None, workers: WorkerGroup, game: str) -> None:
    with client_for(workers.urls[1], "write") as writer:
        response = writer.post("/scores", json={"scores": [{"gameId": game, "userId": f"p{n}", "score": 100 + n}
                                                           for n in range(10)]})
        assert response.status_code == 202, response.text
        wait_for_scores(writer, game, {f"p{n}": 100 + n for n in range(10)})
        applied(writer, game, "a", 50)

        with player_stream(workers.urls[0], game, "a") as (events, first):
            assert (first["rank"], first["score"], first["gameId"], first["userId"]) == (11, 50, game, "a")

            applied(writer, game, "d", 60)
            event = next_rank(events)
            assert (event["rank"], event["previousRank"], event["overtakenBy"], event["overtakenByCount"]) == \
                (12, 11, ["d"], 1)
            assert (event["score"], event["entered"], event["left"]) == (50, None, None)

            # a ties p5 (105): p5 is neither passed nor ahead; p0..p4 and d are passed.
            applied(writer, game, "a", 105)
            event = next_rank(events)
            assert (event["rank"], event["previousRank"], event["score"], event["previousScore"]) == (5, 12, 105, 50)
            assert (event["passed"], event["passedCount"]) == (["p4", "p3", "p2", "p1", "p0", "d"], 6)
            assert (event["entered"], event["overtakenBy"]) == ("top10", [])

            applied(writer, game, "b", 200)
            event = next_rank(events)
            assert (event["rank"], event["overtakenBy"]) == (6, ["b"])

            # A score below a's changes nothing of a's rank: no event.
            applied(writer, game, "low", 1)
            assert_quiet(events)

            # Five players overtake a, in however many batches: a leaves the top 10.
            response = writer.post("/scores", json={"scores": [{"gameId": game, "userId": f"q{n}", "score": 300 + n}
                                                               for n in range(5)]})
            assert response.status_code == 202, response.text
            seen = []
            while not seen or seen[-1]["rank"] < 11:
                seen.append(next_rank(events))
            assert sorted(user for event in seen for user in event["overtakenBy"]) == [f"q{n}" for n in range(5)]
            assert sum(event["overtakenByCount"] for event in seen) == 5
            assert [event["left"] for event in seen if event["left"]] == ["top10"]


def owner_of(workers: WorkerGroup, game: str, user: str) -> int:
    """The index of the worker that applies ``user``'s records."""
    partition = partition_of(game, user)
    return next(i for i, worker in enumerate(workers.workers) if partition in worker.ready()["partitions"])


def test_every_stream_of_a_player_gets_the_events_whichever_worker_applies_the_writes(
        applying: None, workers: WorkerGroup, game: str, redis_client: redis.Redis) -> None:
    writer_user = next(f"w{n}" for n in range(1000) if owner_of(workers, game, f"w{n}") == 0)
    with client_for(workers.urls[0], "write") as writer:
        applied(writer, game, "a", 50)
        with ExitStack() as stack:
            # Two streams on the worker that does not apply writer_user's records, one on the other.
            opened = [stack.enter_context(player_stream(workers.urls[i], game, "a")) for i in (1, 1, 0)]
            season = opened[0][1]["season"]
            assert redis_client.zcard(watched_key(game, season)) == 2  # one entry per worker
            applied(writer, game, writer_user, 70)
            for events, _ in opened:
                event = next_rank(events)
                assert (event["rank"], event["previousRank"], event["overtakenBy"]) == (2, 1, [writer_user])


def test_closing_a_players_last_stream_unwatches_them(applying: None, workers: WorkerGroup, game: str,
                                                       redis_client: redis.Redis) -> None:
    # Read here, not by EventStream's thread: a socket closed while another thread waits in
    # recv() stays open until data comes (the next keepalive, 15 s later).
    url = "/stream/player/a"
    with httpx.Client(base_url=workers.urls[1], timeout=10, headers=bearer("read")) as client, ExitStack() as stack:
        for _ in range(2):
            response = stack.enter_context(client.stream("GET", url, params={"gameId": game}))
            lines = response.iter_lines()
            while not next(lines).startswith("data: "):
                pass
        key = watched_key(game, "all")
        assert redis_client.zcard(key) == 1  # one entry for the worker's two streams
    # Closed: nobody watches a any more, so the agent computes nothing for them.
    eventually(lambda: _absent(redis_client, key), timeout=10)


def _absent(client: redis.Redis, key: str) -> None:
    assert client.zcard(key) == 0


def test_the_stream_checks_its_key_and_parameters(applying: None, workers: WorkerGroup, game: str) -> None:
    with httpx.Client(base_url=workers.urls[0], timeout=10) as client:
        refused = client.get("/stream/player/a", params={"gameId": game})
        assert refused.status_code == 401
        for path, params, error in (
                ("/stream/player/a", {}, "gameId is required"),
                ("/stream/player/" + "x" * 200, {"gameId": game}, "userId "),
                ("/stream/player/a", {"gameId": game, "season": "2026-W48"}, "season ")):
            response = client.get(path, params=params, headers=bearer("read"))
            assert response.status_code == 400, response.text
            assert response.json()["error"].startswith(error)
        head = client.head("/stream/player/a", params={"gameId": game}, headers=bearer("read"))
        assert head.status_code == 200 and head.headers["content-type"] == "text/event-stream"


def test_a_player_without_a_score_gets_a_null_standing_then_their_first_rank(
        applying: None, workers: WorkerGroup, game: str) -> None:
    with client_for(workers.urls[1], "write") as writer, \
            player_stream(workers.urls[0], game, "new") as (events, first):
        assert (first["rank"], first["score"]) == (None, None)
        applied(writer, game, "new", 5)
        event = next_rank(events)
        assert (event["rank"], event["previousRank"], event["score"], event["entered"]) == (1, None, 5, "top10")
