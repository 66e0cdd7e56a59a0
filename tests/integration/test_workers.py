"""Scale-out and restarts: two workers split the partitions; state survives restarts."""

from __future__ import annotations

import httpx

from tests.integration.conftest import (
    WorkerGroup,
    partition_of,
    rank_of,
    standing,
    same_partition_marker,
    submit,
    wait_for_score,
    wait_for_scores,
)


def test_two_workers_split_the_partitions_and_both_answer(workers: WorkerGroup, game: str) -> None:
    owned = workers.wait_balanced()
    assert set(owned[0]).isdisjoint(owned[1])

    scores = {f"u{n}": n for n in range(40)}
    # The players must cover every partition, so both workers apply some of them.
    assert {partition_of(game, user) for user in scores} == set(range(workers.partitions))
    with httpx.Client(base_url=workers.urls[0], timeout=20) as first, httpx.Client(
        base_url=workers.urls[1], timeout=20
    ) as second:
        for user, score in scores.items():
            submit(first if score % 2 else second, game, user, score)
        wait_for_scores(first, game, scores)
        for client in (first, second):
            for user, score in scores.items():
                assert standing(rank_of(client, game, user)) == (user, 40 - score, score)
            top = client.get("/topk", params={"gameId": game, "k": 3}).json()
            assert [e["userId"] for e in top] == ["u39", "u38", "u37"]


def test_restarting_every_worker_keeps_all_data(workers: WorkerGroup, game: str) -> None:
    first = httpx.Client(base_url=workers.urls[0], timeout=20)
    users = {f"keep-{n}": 100 + n for n in range(12)}
    for user, score in users.items():
        submit(first, game, user, score)
    wait_for_scores(first, game, users)
    first.close()

    # Restart with empty data directories: the table has to come back from its changelog.
    workers.stop()
    workers.start()

    with httpx.Client(base_url=workers.urls[1], timeout=20) as client:
        wait_for_scores(client, game, users)
        # A lower score after the restart must not replace the best: only a table
        # that kept the best knows to ignore it.
        target = "keep-0"
        marker = same_partition_marker(game, target)
        submit(client, game, target, 1)
        submit(client, game, marker, 1)
        wait_for_score(client, game, marker, 1)
        assert rank_of(client, game, target).json()["score"] == users[target]
        # And a better score still wins.
        submit(client, game, target, 1000)
        assert wait_for_score(client, game, target, 1000)["rank"] == 1
