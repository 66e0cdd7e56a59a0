"""Nodes of every store, and workers, SIGKILLed under load: no acknowledged score lost, none counted twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest
import redis
from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import WhiteListRoundRobinPolicy
from cassandra.query import SimpleStatement

from leaderboard_app.failover import game_slot
from leaderboard_app.settings import Settings
from tests.acked_load import OPERATORS, acked_count, check_totals, run_clients
from tests.cluster.conftest import WORKER_URLS, cluster, worker_client
from tests.conftest import eventually

USERS = [f"u{n}" for n in range(16)]
#: Seconds after a broker dies by which its partitions have new leaders (Kafka fences a
#: silent broker after broker.session.timeout.ms, 9 s by default, then elects at once; the
#: rest is margin for a controller that died with it and for this shared machine).
ELECTIONS_WITHIN = 20.0


def games_with_every_operator(game: str) -> dict[str, str]:
    """One game per operator, its rules applied on both workers."""
    games = {operator: f"{game}-{operator}" for operator in OPERATORS}
    with worker_client(WORKER_URLS[0]) as api:
        for operator, name in games.items():
            assert api.put(f"/games/{name}", json={"operator": operator}).status_code in (200, 202)
    for url in WORKER_URLS:
        with worker_client(url) as api:
            for operator, name in games.items():
                def applied() -> None:
                    assert api.get(f"/games/{name}").json()["operator"] == operator

                eventually(applied, timeout=60, interval=0.5)
    return games


def stored_scores(cassandra: Session, settings: Settings,
                  consistency: int = ConsistencyLevel.LOCAL_QUORUM) -> Callable[[str, str], list[int]]:
    statement = SimpleStatement(
        f"SELECT score FROM {settings.cassandra_keyspace}.season_scores"
        " WHERE game_id = %s AND season = 'all' AND user_id = %s", consistency_level=consistency)
    return lambda game, user: [row.score for row in cassandra.execute(statement, (game, user))]


def both_workers_ready() -> None:
    for url in WORKER_URLS:
        assert httpx.get(f"{url}/ready", timeout=5).status_code == 200, url


def test_a_killed_kafka_broker_loses_no_acknowledged_score(settings: Settings, cassandra: Session,
                                                            game: str) -> None:
    games = games_with_every_operator(game)
    down: list[float] = []

    def kill_a_broker(seconds: float) -> None:
        time.sleep(seconds * 0.2)
        cluster("kill", "kafka-2")
        down.append(time.monotonic())
        try:
            time.sleep(seconds * 0.5)
        finally:
            down.append(time.monotonic())
            cluster("start-node", "kafka-2")

    answers: Counter[str] = Counter()
    timeline: list[tuple[float, str]] = []
    sequence = run_clients(WORKER_URLS, worker_client, games, USERS, seconds=60.0, disrupt=kill_a_broker,
                           answers=answers, timeline=timeline)
    assert acked_count(sequence) > 100, answers
    # Leader elections may refuse a write with a clear 503; nothing else.
    assert set(answers) <= {"202", "503"}, answers
    # Once the partitions the broker led have new leaders, the two brokers left take every write.
    killed, restarted = down
    settled = [answer for at, answer in timeline if killed + ELECTIONS_WITHIN <= at <= restarted]
    assert settled and set(settled) == {"202"}, Counter(settled)
    check_totals(WORKER_URLS, worker_client, games, sequence, stored_scores(cassandra, settings))


def test_a_cassandra_node_down_for_a_minute_loses_no_write(settings: Settings, cassandra: Session,
                                                           game: str) -> None:
    games = games_with_every_operator(game)
    history_while_down: list[float] = []

    def kill_a_node(seconds: float) -> None:
        time.sleep(5)
        cluster("kill", "cassandra-3")
        down_at = time.monotonic()
        try:
            # A score submitted now is written at LOCAL_QUORUM by the two nodes left, and read back.
            with worker_client(WORKER_URLS[1]) as api:
                player = "while-down"
                assert api.post("/score", json={"gameId": games["best"], "userId": player, "score": 7}).status_code \
                    == 202

                def in_history() -> None:
                    answer = api.get(f"/history/{player}", params={"gameId": games["best"]})
                    assert answer.status_code == 200 and answer.json(), answer.text

                eventually(in_history, timeout=30, interval=0.5)
                history_while_down.append(time.monotonic() - down_at)
            time.sleep(max(0.0, 60 - (time.monotonic() - down_at)))
        finally:
            cluster("start-node", "cassandra-3")

    sequence = run_clients(WORKER_URLS, worker_client, games, USERS, seconds=75.0, disrupt=kill_a_node)
    assert history_while_down, "no write reached /history while the node was down"
    assert acked_count(sequence) > 100
    check_totals(WORKER_URLS, worker_client, games, sequence, stored_scores(cassandra, settings))

    # Every row is on every replica: read a sample at ALL, and from the restarted node alone.
    sample = sorted(sequence)[::4]
    at_all = stored_scores(cassandra, settings, ConsistencyLevel.ALL)
    expected = {player: stored_scores(cassandra, settings)(*player) for player in sample}
    assert {player: at_all(*player) for player in sample} == expected
    only_the_node = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy(["127.0.0.3"]))
    node = Cluster(["127.0.0.3"], port=settings.cassandra_port, protocol_version=5,
                   execution_profiles={EXEC_PROFILE_DEFAULT: only_the_node})
    try:
        on_node = stored_scores(node.connect(), settings, ConsistencyLevel.ONE)

        def replicated() -> None:  # hints written while it was down are handed over once it is back
            assert {player: on_node(*player) for player in sample} == expected

        eventually(replicated, timeout=120, interval=2)
    finally:
        node.shutdown()


@pytest.mark.parametrize("node", ["worker-2"])
def test_a_killed_worker_s_partitions_move_with_nothing_lost_or_doubled(settings: Settings, cassandra: Session,
                                                                      game: str, node: str) -> None:
    games = games_with_every_operator(game)

    def kill_a_worker(seconds: float) -> None:
        time.sleep(seconds * 0.3)
        cluster("kill", node)
        try:
            time.sleep(seconds * 0.3)
        finally:
            cluster("start-node", node)

    sequence = run_clients(WORKER_URLS, worker_client, games, USERS, seconds=30.0, disrupt=kill_a_worker)
    eventually(both_workers_ready, timeout=180, interval=1)
    assert acked_count(sequence) > 100
    check_totals(WORKER_URLS, worker_client, games, sequence, stored_scores(cassandra, settings))


def redis_node_of(port: int) -> str:
    """The infra/cluster.sh name of the Redis node on ``port`` (7001 is redis-1)."""
    return f"redis-{port - 7000}"


def _linked(replica: redis.Redis) -> bool:
    return replica.info("replication").get("master_link_status") == "up"


def test_a_killed_redis_master_s_lost_writes_are_repaired_and_never_read(settings: Settings, cassandra: Session,
                                                                        game: str) -> None:
    static = f"{game}-static"
    games = games_with_every_operator(game)  # set up before the failover: a PUT reads the index
    with redis.RedisCluster.from_url(settings.redis.seed_urls[0]) as index:
        slot = game_slot(static)
        nodes = next(nodes for (first, last), nodes in index.cluster_slots().items() if first <= slot <= last)
    master = redis_node_of(nodes["primary"][1])
    players = [f"p{n}" for n in range(20)]
    before = {player: n for n, player in enumerate(players)}
    after = {player: 100 - n for n, player in enumerate(players)}  # the order reversed
    with worker_client(WORKER_URLS[0]) as api:
        assert api.put(f"/games/{static}", json={"operator": "set"}).status_code in (200, 202)
        for player, score in before.items():
            assert api.post("/score", json={"gameId": static, "userId": player, "score": score}).status_code == 202
        eventually(lambda: _scores_are(static, before), timeout=60, interval=0.5)

        # The replica stops hearing from its master (its link cut, and every reconnection
        # refused for a wrong password): what the master takes now, only it has.
        cut_off = redis.Redis(*nodes["replicas"][0][:2])
        eventually(lambda: _linked(cut_off), timeout=30, interval=0.2)
        cut_off.config_set("masterauth", "not-the-password")
        cut_off.client_kill_filter(_type="master")
        eventually(lambda: not _linked(cut_off), timeout=10, interval=0.1)
        try:
            for player, score in after.items():
                assert api.post("/score", json={"gameId": static, "userId": player, "score": score}).status_code \
                    == 202
            eventually(lambda: _scores_are(static, after), timeout=60, interval=0.5)
            # The master dies with them; the replica is promoted without them.
            cluster("kill", master)
        finally:
            cut_off.config_set("masterauth", "")
            cut_off.close()
    wrong: list[tuple[str, str, object]] = []
    stop = threading.Event()
    reader = threading.Thread(target=_read_until, args=(static, after, wrong, stop))
    reader.start()
    try:
        sequence = run_clients(WORKER_URLS, worker_client, games, USERS, seconds=30.0)
        eventually(lambda: _scores_are(static, after), timeout=120, interval=0.5)
    finally:
        stop.set()
        reader.join()
        cluster("start-node", master)
    assert not wrong, f"answers other than the scores applied, or a 503: {wrong[:5]}"
    check_totals(WORKER_URLS, worker_client, games, sequence, stored_scores(cassandra, settings))


def _scores_are(game: str, scores: dict[str, int]) -> None:
    for url in WORKER_URLS:
        with worker_client(url) as api:
            answer = api.get("/ranks", params=[("gameId", game), *(("userId", user) for user in scores)])
            assert answer.status_code == 200, answer.text
            assert {entry["userId"]: entry["score"] for entry in answer.json()} == scores


def _read_until(game: str, expected: dict[str, int], wrong: list[tuple[str, str, int]],
                stop: threading.Event) -> None:
    """Read the players' scores on both workers until ``stop``: each answer is a 503 or what ``expected`` says."""
    clients = [worker_client(url) for url in WORKER_URLS]
    try:
        while not stop.is_set():
            for client in clients:
                for user, score in expected.items():
                    try:
                        answer = client.get(f"/rank/{user}", params={"gameId": game})
                    except httpx.HTTPError:
                        continue
                    if answer.status_code == 200 and answer.json()["score"] != score:
                        wrong.append((str(client.base_url), user, answer.json()["score"]))
                    elif answer.status_code not in (200, 503):
                        wrong.append((str(client.base_url), user, answer.status_code))
    finally:
        for client in clients:
            client.close()
