"""leaderboard_app.client against real workers: every method, and the errors it raises."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import TypeVar

import pytest

from leaderboard_app.client import (
    BadRequest,
    Conflict,
    Forbidden,
    GameRules,
    LeaderboardClient,
    NotFound,
    RankedPlayer,
    SubmissionFields,
    SyncLeaderboardClient,
    Unauthorized,
)
from leaderboard_app.seasons import season_of
from tests.conftest import eventually
from tests.integration.conftest import KEYS, WorkerGroup

T = TypeVar("T")
#: How long a submission may take to show: a session's fresh workers first restore their
#: tables from the changelogs, which takes a while once the topics have grown.
APPLIED_WITHIN = 90.0


def found(call: Callable[[], T]) -> Callable[[], T]:
    """Turn NotFound into an AssertionError, so ``eventually`` keeps polling."""

    def check() -> T:
        try:
            return call()
        except NotFound as exc:
            raise AssertionError(exc.message) from exc

    return check


def gone(call: Callable[[], object]) -> None:
    """Assert that ``call`` raises NotFound."""
    try:
        call()
    except NotFound:
        return
    raise AssertionError("still there")


def test_every_method_of_the_sync_client(workers: WorkerGroup, game: str) -> None:
    now = datetime.now(timezone.utc)
    with SyncLeaderboardClient(workers.urls[0], KEYS["admin"]) as admin:
        rules = GameRules(reset="weekly")
        if admin.set_rules(game, rules).pending:
            def rules_visible() -> None:
                assert admin.get_rules(game).rules == rules

            eventually(rules_visible, timeout=APPLIED_WITHIN)
        described = admin.get_rules(game)
        season = season_of("weekly", int(now.timestamp() * 1_000_000))
        assert (described.rules, described.season, described.players) == (rules, season, 0)

        first = admin.submit_score(game, "ann", 2500, display_name="Ann", metadata={"skin": "red"},
                                   achieved_at=now - timedelta(seconds=5), event_id="ann-1", wait=True)
        assert first.status in {"applied", "queued"}
        batch = [SubmissionFields(game, "bob", 1900), SubmissionFields(game, "cy", 3100)]
        assert admin.submit_scores(batch).count == 2
        for user in ("ann", "bob", "cy"):
            eventually(found(lambda: admin.rank(game, user)), timeout=APPLIED_WITHIN)

        top = admin.top(game, k=2)
        assert top.players == [RankedPlayer("cy", 3100, 1), RankedPlayer("ann", 2500, 2, "Ann", {"skin": "red"})]
        assert top.season == described.season
        assert admin.top(game, k=2, offset=1).user_ids == ["ann", "bob"]
        assert admin.around(game, "bob", n=1).user_ids == ["ann", "bob"]
        assert admin.ranks(game, ["bob", "nobody", "cy"]).user_ids == ["cy", "bob"]
        standing = admin.rank(game, "bob")
        assert (standing.player.rank, standing.total, standing.percentile) == (3, 3, 0.0)
        assert (standing.next.user_id, standing.next.gap) == ("ann", 600)

        def history_written() -> list:
            entries = admin.history(game, "ann")
            assert entries, "not yet in Cassandra"
            return entries

        history = eventually(history_written, timeout=APPLIED_WITHIN)
        assert history[0].score == 2500 and history[0].achieved_at.tzinfo is not None
        assert game in {listed.game_id for listed in admin.games(limit=100)}

        deleted = admin.delete_user("bob", game_id=game)
        assert (deleted.user_id, deleted.games) == ("bob", (game,))
        eventually(lambda: gone(lambda: admin.rank(game, "bob")), timeout=APPLIED_WITHIN)

        with pytest.raises(BadRequest, match="k must be"):
            admin.top(game, k=0)
        with pytest.raises(Conflict):
            admin.set_rules(game, GameRules(order="asc", reset="weekly"))
        assert admin.health().status == "ok" and admin.ready().ready

    with SyncLeaderboardClient(workers.urls[0], KEYS["read"]) as reader:
        assert reader.top(game).user_ids == ["cy", "ann"]
        with pytest.raises(Forbidden, match="may not write"):
            reader.submit_score(game, "dan", 1)
    with SyncLeaderboardClient(workers.urls[0], "not-a-key") as stranger, pytest.raises(Unauthorized):
        stranger.top(game)


async def poll(check: Callable[[], Awaitable[T]], timeout: float = APPLIED_WITHIN) -> T:
    """``eventually`` for coroutines: retry on AssertionError and NotFound until the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await check()
        except (AssertionError, NotFound):
            if time.monotonic() >= deadline:
                raise
        await asyncio.sleep(0.05)


async def test_the_async_client_round_trip(workers: WorkerGroup, game: str) -> None:
    ann, bob = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("ann", "bob"))
    async with LeaderboardClient(workers.urls[1], KEYS["admin"]) as client:
        await client.submit_score(game, ann, 7, wait=True)
        await client.submit_score(game, bob, 9)
        standing = await poll(lambda: client.rank(game, ann))
        assert (standing.player.score, standing.season) == (7, "all")

        async def both_ranked() -> list[str]:
            ids = (await client.top(game)).user_ids
            assert len(ids) == 2, ids
            return ids

        assert await poll(both_ranked) == [bob, ann]
        assert (await client.delete_user(ann)).games == (game,)

        async def ann_gone() -> None:
            try:
                await client.rank(game, ann)
            except NotFound:
                return
            raise AssertionError(f"{ann} still ranked")

        await poll(ann_gone)
        assert (await client.ready()).ready
