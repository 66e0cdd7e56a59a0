"""Nothing accepted is lost or counted twice: retries, malformed records, crashes,
and Cassandra or Kafka going away, on the real stack."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from cassandra.cluster import Session

from leaderboard_app.models import GameRules, PlayerDeletion, ScoreSubmission, player_key
from leaderboard_app.settings import DEAD_LETTER_TOPIC, SCORE_UPDATES_TOPIC
from leaderboard_app.tables import progress_key
from tests.acked_load import OPERATORS, acked_count, check_totals, run_clients
from tests.conftest import eventually
from tests.integration.conftest import (
    SETTINGS,
    WorkerGroup,
    bearer,
    client_for,
    partition_of,
    rank_of,
    same_partition_marker,
    set_rules,
    submit,
    wait_for_score,
    wait_for_scores,
)

#: The changelog of player_scores (Faust names it <app id>-<table>-changelog).
CHANGELOG_TOPIC = f"{SETTINGS.app_id}-player_scores-changelog"

INFRA = Path(__file__).resolve().parents[2] / "infra"


def infra(service: str, action: str) -> None:
    """Stop or start a service this checkout started (`make test` did)."""
    subprocess.run(["bash", str(INFRA / f"{service}.sh"), action], check=True, timeout=240)
    if action == "stop":
        status = subprocess.run(["bash", str(INFRA / f"{service}.sh"), "status"], capture_output=True, timeout=60)
        assert status.returncode != 0, f"{service} still answers: it was not started by this checkout's infra/"


def test_a_retried_event_id_is_applied_once_and_answered_like_the_first(api: httpx.Client, game: str) -> None:
    assert set_rules(api, game, operator="incr").status_code == 200
    body = {"userId": "r", "score": 5, "gameId": game, "eventId": "attempt-1"}
    first = api.post("/score", params={"wait": "true"}, json=body)
    assert first.json() == {"status": "applied", "rank": 1, "score": 5, "season": "all"}
    submit(api, game, "rival", 100)
    wait_for_score(api, game, "rival", 100)
    again = api.post("/score", params={"wait": "true"}, json=body)
    assert again.json() == first.json()  # the first one's answer, though "r" is now second
    assert api.post("/score", json=body).status_code == 202
    other = api.post("/score", params={"wait": "true"}, json={**body, "eventId": "attempt-2"})
    assert other.json() == {"status": "applied", "rank": 2, "score": 10, "season": "all"}
    marker = same_partition_marker(game, "r")
    submit(api, game, marker, 1)
    wait_for_score(api, game, marker, 1)
    assert rank_of(api, game, "r").json()["score"] == 10
    assert api.post("/score", json={**body, "eventId": "x" * 65}).status_code == 400


def _wait_storm(url: str, headers: dict[str, str], game: str, count: int) -> list[tuple[int, dict]]:
    """POST ``count`` scores with wait=true at once; return each answer's status and body (run in a process of its own)."""

    async def storm() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
        async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as client:
            return await asyncio.gather(*(
                client.post("/score", params={"wait": "true"}, json={"gameId": game, "userId": f"w{n}", "score": n})
                for n in range(count)))

    return [(answer.status_code, answer.json()) for answer in asyncio.run(storm())]


def test_a_thousand_waiting_requests_are_all_answered_while_reads_stay_quick(
        workers: WorkerGroup, api: httpx.Client, game: str) -> None:
    # A waiting request once held a pooled Redis connection in BLPOP: 200 of them
    # starved every other Redis call, the agent's writes that would answer them too.
    submit(api, game, "anchor", 1)
    wait_for_score(api, game, "anchor", 1)
    count = 1000
    probes: list[tuple[int, float]] = []
    # The storm from a process of its own, so the probes' times are not the test client's.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool, \
            client_for(workers.urls[0], "read") as reader:
        storm = pool.submit(_wait_storm, workers.urls[0], bearer("write"), game, count)
        while not storm.done():
            started = time.monotonic()
            probe = reader.get("/rank/anchor", params={"gameId": game})
            probes.append((probe.status_code, time.monotonic() - started))
            time.sleep(0.02)  # pacing the probes, not waiting for a result
        answers = storm.result()
    assert [status for status, _ in answers] == [200] * count, [a for a in answers if a[0] != 200][:3]
    assert [body["score"] for _, body in answers] == list(range(count))
    assert all(body["status"] == "applied" for _, body in answers)
    assert probes and all(status == 200 for status, _ in probes)
    slowest = max(seconds for _, seconds in probes)
    assert slowest < 2.0, f"a /rank took {slowest:.2f} s while {count} requests waited ({len(probes)} probes)"


async def produce_and_find_dead_letters(records: list[tuple[bytes, bytes]]) -> list[dict[str, bytes]]:
    """Produce ``records`` to score_updates; return the headers each got on the dead-letter topic, in order."""
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9092")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(SCORE_UPDATES_TOPIC, value, key=key)
    finally:
        await producer.stop()
    wanted = {value: index for index, (_, value) in enumerate(records)}
    found: dict[int, dict[str, bytes]] = {}
    consumer = AIOKafkaConsumer(DEAD_LETTER_TOPIC, bootstrap_servers="127.0.0.1:9092",
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(found) < len(records):
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                for record in batch:
                    if record.value in wanted:
                        found[wanted[record.value]] = dict(record.headers)
    finally:
        await consumer.stop()
    missing = sorted(set(range(len(records))) - set(found))
    assert not missing, f"records {missing} never reached the dead-letter topic"
    return [found[index] for index in range(len(records))]


def test_malformed_records_go_to_the_dead_letter_topic_and_the_agent_goes_on(api: httpx.Client, game: str) -> None:
    garbage = f"not json {uuid.uuid4()}".encode()
    key = player_key(game, "victim")
    headers = asyncio.run(produce_and_find_dead_letters(
        [(key, garbage), (key, f'{{"type": "score", "gameId": 1, "n": "{uuid.uuid4()}"}}'.encode())]))
    assert b"not valid JSON" in headers[0]["error"]
    assert headers[1]["error"].startswith(b"acceptedAtUs ")
    submit(api, game, "victim", 3)
    wait_for_score(api, game, "victim", 3)


def test_records_that_decode_but_could_not_be_applied_go_to_the_dead_letter_topic(
        workers: WorkerGroup, api: httpx.Client, game: str) -> None:
    # Each of these once crashed every worker that took the partition, again and again.
    assert set_rules(api, game, reset="daily").status_code == 200
    now_us = time.time_ns() // 1000
    season = api.get(f"/games/{game}").json()["season"]
    edge_made = orjson.loads(ScoreSubmission(
        game_id=game, user_id="victim", score=7, accepted_at_us=now_us, achieved_at_us=now_us, season=season,
        rules=GameRules(reset="daily")).to_bytes())
    hostile = [
        {"season": "all"},  # all-time in a daily game: the season has no end to close at
        {"achievedAtUs": 300_000_000_000_000_000},  # the year 11476: no history row can hold it
        {"acceptedAtUs": 2**63},
    ]
    key = player_key(game, "victim")
    records = [(key, orjson.dumps({**edge_made, **changes})) for changes in hostile]
    headers = asyncio.run(produce_and_find_dead_letters(records))
    assert [h["error"].split(b" ")[0] for h in headers] == [b"season", b"achievedAtUs", b"acceptedAtUs"]
    # The workers went on: both answer, and the player's next score is applied.
    assert all(worker.ready()["caughtUp"] for worker in workers.workers)
    submit(api, game, "victim", 3)
    assert wait_for_score(api, game, "victim", 3)["score"] == 3

    def history_holds_only_the_good_score() -> None:
        history = api.get("/history/victim", params={"gameId": game}).json()
        assert [entry["score"] for entry in history] == [3]  # none of the hostile records was stored

    eventually(history_holds_only_the_good_score)


def test_records_committed_without_being_applied_are_read_again(workers: WorkerGroup, game: str) -> None:
    """A consumer offset committed past records that were never applied (what a
    rebalance can make Faust do) must not lose them: the table's own progress wins."""
    with client_for(workers.urls[0]) as client:
        assert set_rules(client, game, operator="incr").status_code == 200
        submit(client, game, "p", 1)
        wait_for_score(client, game, "p", 1)
    workers.stop()
    rules = GameRules(operator="incr")

    def record(score: int) -> bytes:
        now_us = time.time_ns() // 1000
        return ScoreSubmission(game_id=game, user_id="p", score=score, accepted_at_us=now_us,
                               achieved_at_us=now_us, rules=rules).to_bytes()

    async def produce(score: int) -> tuple[int, int]:
        producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9092", acks="all")
        await producer.start()
        try:
            sent = await producer.send_and_wait(SCORE_UPDATES_TOPIC, record(score), key=player_key(game, "p"))
            return sent.partition, sent.offset
        finally:
            await producer.stop()

    try:
        partition, skipped = asyncio.run(produce(5))
        # Commit past it for the workers' group, as if it had been applied; refused until the
        # stopped workers have left the group.
        eventually(lambda: _ends_committed_for_the_group({partition: skipped + 1}), timeout=60, interval=1)
        asyncio.run(produce(7))
    finally:  # a failure here must not leave the session's workers stopped for the tests after it
        workers.start()
    with client_for(workers.urls[1]) as client:
        wait_for_score(client, game, "p", 1 + 5 + 7, timeout=60)


def test_records_replayed_after_an_erasure_do_not_bring_the_player_back(workers: WorkerGroup, game: str) -> None:
    # DELETE /users without gameId looks in every game: the player must be in no other test's.
    gone = f"gone-{uuid.uuid4().hex[:8]}"
    partition = partition_of(game, gone)

    async def end_offset() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9092", group_id=None)
        await consumer.start()
        try:
            tp = TopicPartition(SCORE_UPDATES_TOPIC, partition)
            return (await consumer.end_offsets([tp]))[tp]
        finally:
            await consumer.stop()

    before = asyncio.run(end_offset())
    with client_for(workers.urls[0]) as client:
        submit(client, game, gone, 4)
        wait_for_score(client, game, gone, 4)
        assert client.delete(f"/users/{gone}", params={"gameId": game}).status_code == 200
    # As after a crash before the commit: the group reads the submission and the erasure again.
    workers.stop()
    try:
        # Refused while the stopped workers are still members of the group.
        eventually(lambda: _ends_committed_for_the_group({partition: before}), timeout=60, interval=1)
    finally:
        workers.start(keep_data=True)
    with client_for(workers.urls[1]) as client:
        marker = same_partition_marker(game, gone)
        submit(client, game, marker, 1)
        wait_for_score(client, game, marker, 1, timeout=60)  # behind the replayed records
        assert rank_of(client, game, gone).status_code == 404
        assert client.delete(f"/users/{gone}").status_code == 404  # no game lists the player again
        assert client.get(f"/history/{gone}", params={"gameId": game}).json() == []


def test_a_score_after_an_erasure_shows_though_the_erasing_worker_s_clock_ran_ahead(
        api: httpx.Client, game: str) -> None:
    # Workers stamp records with their own clocks. An erasure stamped a second ahead
    # of the score that follows it (in the partition's order) once hid that score in
    # Cassandra behind its tombstone, and rebuild-redis then dropped the player.
    now_us = time.time_ns() // 1000
    key = player_key(game, "back")

    def score(value: int, accepted_at_us: int) -> bytes:
        return ScoreSubmission(game_id=game, user_id="back", score=value, accepted_at_us=accepted_at_us,
                               achieved_at_us=accepted_at_us).to_bytes()

    erasure = PlayerDeletion(game_id=game, user_id="back", accepted_at_us=now_us + 2_000_000).to_bytes()

    async def produce_in_order() -> None:
        producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9092", acks="all")
        await producer.start()
        try:
            for value in (score(4, now_us), erasure, score(9, now_us + 1_000_000)):
                await producer.send_and_wait(SCORE_UPDATES_TOPIC, value, key=key)
        finally:
            await producer.stop()

    asyncio.run(produce_in_order())
    wait_for_score(api, game, "back", 9)

    def history_holds_the_later_score() -> None:
        history = api.get("/history/back", params={"gameId": game}).json()
        assert [entry["score"] for entry in history] == [9]

    eventually(history_holds_the_later_score, timeout=30, interval=0.5)


# -- crashes --------------------------------------------------------------------------

def kill_and_restart(workers: WorkerGroup, seconds: float) -> None:
    """SIGKILL each worker once at a random moment, restarting it at once."""
    rng = random.Random()
    for index in (1, 0):
        time.sleep(rng.uniform(0.15, 0.4) * seconds)
        worker = workers.workers[index]
        worker.stop(sig=signal.SIGKILL)
        worker.start()


def stored_in(cassandra: Session) -> Callable[[str, str], list[int]]:
    query = (f"SELECT score FROM {SETTINGS.cassandra_keyspace}.season_scores"
             " WHERE game_id = %s AND season = 'all' AND user_id = %s")
    return lambda game, user: [row.score for row in cassandra.execute(query, (game, user))]


def writer(url: str) -> httpx.Client:
    return client_for(url, "write")


@pytest.mark.chaos
@pytest.mark.parametrize("duplicate", [False, True], ids=["once", "every-submission-sent-twice"])
def test_sigkilled_workers_neither_lose_nor_double_count(
    workers: WorkerGroup, game: str, cassandra: Session, duplicate: bool
) -> None:
    games = {operator: f"{game}-{operator}" for operator in OPERATORS}
    with client_for(workers.urls[0]) as api:
        for operator, name in games.items():
            assert api.put(f"/games/{name}", json={"operator": operator}).status_code in (200, 202)
        for operator, name in games.items():
            eventually(lambda: _operator_is(api, name, operator), timeout=60, interval=0.5)
    users = [f"u{n}" for n in range(16)]
    try:
        sequence = run_clients(workers.urls, writer, games, users, seconds=20.0, duplicate=duplicate,
                               disrupt=lambda seconds: kill_and_restart(workers, seconds))
        workers.wait_balanced()
        assert acked_count(sequence) > 100, "the clients hardly got anything through"
        check_totals(workers.urls, writer, games, sequence, stored_in(cassandra))
    finally:
        for worker in workers.workers:
            if worker.process is None or worker.process.poll() is not None:
                worker.start()
        workers.wait_balanced()


def _operator_is(api: httpx.Client, game: str, operator: str) -> None:
    assert api.get(f"/games/{game}").json()["operator"] == operator


# -- services going away -------------------------------------------------------------


def test_cassandra_down_keeps_redis_current_and_every_missed_write_lands(
    api: httpx.Client, game: str, cassandra: Session
) -> None:
    query = (f"SELECT score FROM {SETTINGS.cassandra_keyspace}.season_scores"
             " WHERE game_id = %s AND season = 'all' AND user_id = %s")
    infra("cassandra", "stop")
    try:
        for n in range(20):
            submit(api, game, f"c{n}", n)
        for n in range(20):
            wait_for_score(api, game, f"c{n}", n)

        def reported_down() -> None:
            body = api.get("/ready").json()
            assert body["cassandra"] != "ok" and body["redis"] == "ok"
            assert body["pendingCassandraWrites"] > 0

        eventually(reported_down, timeout=30)
        assert api.get("/ready").status_code == 200
    finally:
        infra("cassandra", "start")

    def landed() -> None:
        for n in range(20):
            try:
                rows = list(cassandra.execute(query, (game, f"c{n}")))
            except Exception as exc:  # the test's own session reconnects too
                raise AssertionError(f"cassandra not answering yet: {exc}") from exc
            assert [row.score for row in rows] == [n]

    eventually(landed, timeout=120, interval=1)
    eventually(lambda: _ready_field(api, "cassandra", "ok"), timeout=60)


def test_cassandra_writes_a_killed_worker_never_made_are_made_by_the_next_owner(
    workers: WorkerGroup, game: str, cassandra: Session
) -> None:
    """Cassandra is written behind, from memory: the workers are killed while Cassandra is
    down, once the changelog holds every record's effect, and with the group's offsets at
    the end (so no record is delivered again); the workers that take the partitions next
    still make every write, history included."""
    scores = {f"k{n}": 100 + n for n in range(20)}
    infra("cassandra", "stop")
    try:
        with client_for(workers.urls[0]) as client:
            for user, score in scores.items():
                submit(client, game, user, score)
            wait_for_scores(client, game, scores)
        ends = eventually(_changelog_holds_every_record, timeout=60, interval=0.5)
        for worker in workers.workers:
            worker.stop(signal.SIGKILL)
        # Commit the ends for the group, as the workers would have: Faust can leave a
        # partition's commits behind (leaderboard_app/commits.py), and a record delivered
        # again would have its writes made by the replay rather than by re-filing. Kafka
        # takes the commit once the killed members' sessions have expired.
        eventually(lambda: _ends_committed_for_the_group(ends), timeout=120, interval=2)
    finally:
        infra("cassandra", "start")
    workers.start()
    season_query = (f"SELECT score FROM {SETTINGS.cassandra_keyspace}.season_scores"
                    " WHERE game_id = %s AND season = 'all' AND user_id = %s")

    def landed() -> None:
        for user, score in scores.items():
            try:
                stored = [row.score for row in cassandra.execute(season_query, (game, user))]
            except Exception as exc:  # the test's own session reconnects too
                raise AssertionError(f"cassandra not answering yet: {exc}") from exc
            assert stored == [score], user

    eventually(landed, timeout=120, interval=1)
    with client_for(workers.urls[1]) as client:
        for user, score in scores.items():
            response = client.get(f"/history/{user}", params={"gameId": game})
            assert response.status_code == 200, response.text
            assert [entry["score"] for entry in response.json()] == [score], user


def _changelog_holds_every_record() -> dict[int, int]:
    """Each score_updates partition's end, once the table's changelog holds progress up to it."""

    async def read() -> tuple[dict[int, int], dict[int, int]]:
        partitions = [TopicPartition(SCORE_UPDATES_TOPIC, p) for p in range(SETTINGS.topic_partitions)]
        changelog = [TopicPartition(CHANGELOG_TOPIC, p) for p in range(SETTINGS.topic_partitions)]
        consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9092", enable_auto_commit=False)
        await consumer.start()
        try:
            ends = await consumer.end_offsets(partitions)
            changelog_ends = await consumer.end_offsets(changelog)
            consumer.assign(changelog)
            for tp in changelog:  # the progress entry is written with every batch: near the end
                consumer.seek(tp, max(0, changelog_ends[tp] - 2000))
            progress: dict[int, int] = {}
            while [tp for tp in changelog if await consumer.position(tp) < changelog_ends[tp]]:
                for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                    for record in records:
                        if record.key == progress_key(tp.partition) and record.value:
                            progress[tp.partition] = int(record.value)
            return {tp.partition: end for tp, end in ends.items()}, progress
        finally:
            await consumer.stop()

    ends, progress = asyncio.run(read())
    behind = {p: (progress.get(p), end) for p, end in ends.items() if progress.get(p, 0) < end}
    assert not behind, f"partition -> (progress in the changelog, end): {behind}"
    return ends


async def _commit_for_the_group(offsets: dict[int, int]) -> None:
    """Commit score_updates offsets (partition -> offset) for the workers' group, from outside it."""
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9092", group_id=SETTINGS.app_id,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        commits = {TopicPartition(SCORE_UPDATES_TOPIC, p): offset for p, offset in offsets.items()}
        consumer.assign(list(commits))
        await consumer.commit(commits)
    finally:
        await consumer.stop()


def _ends_committed_for_the_group(ends: dict[int, int]) -> None:
    try:
        asyncio.run(_commit_for_the_group(ends))
    except Exception as exc:  # the group still has the killed members
        raise AssertionError(f"commit refused: {exc!r}") from exc


def _ready_field(api: httpx.Client, name: str, value: str) -> None:
    assert api.get("/ready").json()[name] == value


def test_kafka_down_answers_503_quickly_keeps_reads_and_recovers(api: httpx.Client, game: str) -> None:
    submit(api, game, "before", 1)
    wait_for_score(api, game, "before", 1)
    infra("kafka", "stop")
    try:
        started = time.monotonic()
        refused = api.post("/score", json={"userId": "during", "score": 2, "gameId": game})
        assert refused.status_code == 503 and "kafka" in refused.json()["error"]
        assert time.monotonic() - started <= 12.0
        assert api.get("/topk", params={"gameId": game}).json()[0]["userId"] == "before"
        assert api.get("/ready").status_code == 503
    finally:
        infra("kafka", "start")

    def accepted() -> None:
        response = api.post("/score", json={"userId": "after", "score": 3, "gameId": game})
        assert response.status_code == 202, response.text

    eventually(accepted, timeout=120, interval=1)
    wait_for_score(api, game, "after", 3, timeout=120)


def test_redis_losing_its_data_is_rebuilt_from_the_tables_while_ingestion_goes_on(
    api: httpx.Client, game: str, redis_client: object
) -> None:
    assert set_rules(api, game, order="asc").status_code == 200
    scores = {f"r{n}": 100 - n for n in range(30)}
    for user, score in scores.items():
        submit(api, game, user, score, displayName=user.upper())
    for user, score in scores.items():
        wait_for_score(api, game, user, score)
    before = api.get("/topk", params={"gameId": game, "k": 100}).json()

    redis_client.flushall()  # type: ignore[attr-defined]
    submit(api, game, "during", 1000)

    eventually(lambda: _ready_field(api, "redis", "ok"), timeout=60, interval=0.5)
    wait_for_score(api, game, "during", 1000)
    after = api.get("/topk", params={"gameId": game, "k": 100}).json()
    assert after[:-1] == before and after[-1]["userId"] == "during"  # asc: the rules came back too
    assert api.get(f"/games/{game}").json()["order"] == "asc"

    # The lag is what the index has not applied, also in partitions no event reached since.
    def index_lag_is_gone() -> None:
        assert api.get("/topk", params={"gameId": game}).headers["X-Leaderboard-Lag"] == "0"

    eventually(index_lag_is_gone, timeout=30, interval=0.5)


def test_the_rebuild_command_restores_one_game_from_cassandra(
    api: httpx.Client, game: str, redis_client: object, cassandra: Session
) -> None:
    scores = {f"c{n}": n for n in range(10)}
    for user, score in scores.items():
        submit(api, game, user, score)
    for user, score in scores.items():
        wait_for_score(api, game, user, score)
    query = (f"SELECT COUNT(*) FROM {SETTINGS.cassandra_keyspace}.season_scores"
             " WHERE game_id = %s ALLOW FILTERING")
    eventually(lambda: _count_is(cassandra, query, game, 10), timeout=30)
    from leaderboard_app.sinks.redis import season_keys

    redis_client.delete(*season_keys(game, "all"))  # type: ignore[attr-defined]
    assert rank_of(api, game, "c3").status_code == 404
    done = subprocess.run([".venv/bin/faust", "-A", "leaderboard_app", "rebuild-redis", "--game", game],
                          capture_output=True, text=True, timeout=120, cwd=INFRA.parent)
    assert done.returncode == 0, done.stderr
    assert "rebuilt 10 season scores" in done.stdout
    listed = api.get("/topk", params={"gameId": game}).json()
    assert [e["userId"] for e in listed] == [f"c{n}" for n in range(9, -1, -1)]


def _count_is(cassandra: Session, query: str, game: str, count: int) -> None:
    assert cassandra.execute(query, (game,)).one().count == count
