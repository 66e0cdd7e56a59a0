"""The agent's batching (leaderboard_app/batches.py): intake, apply and ack stages on plain items."""

from __future__ import annotations

import asyncio

import pytest

from leaderboard_app.batches import Applied, Intake, Taken, WrittenBehind, run_batches


async def test_a_batch_takes_what_has_arrived_up_to_the_limit_oldest_first() -> None:
    intake: Intake[int] = Intake(max_pending=10)
    for item in range(5):
        await intake.put(item)
    first = await intake.take(3)
    second = await intake.take(3)
    assert (first.items, second.items, len(intake)) == ([0, 1, 2], [3, 4], 0)
    assert first.put_at == sorted(first.put_at) and len(first.put_at) == 3


async def test_take_waits_for_the_first_item_and_put_waits_for_room() -> None:
    intake: Intake[str] = Intake(max_pending=1)
    taking = asyncio.ensure_future(intake.take(10))
    await asyncio.sleep(0)
    assert not taking.done()
    await intake.put("a")
    assert (await asyncio.wait_for(taking, 1)).items == ["a"]
    await intake.put("b")
    putting = asyncio.ensure_future(intake.put("c"))
    await asyncio.sleep(0)
    assert not putting.done()  # one item already waits
    assert (await intake.take(10)).items == ["b"]
    await asyncio.wait_for(putting, 1)
    assert len(intake) == 1


async def test_batches_are_acked_in_order_only_once_durable_while_the_next_is_applied() -> None:
    intake: Intake[int] = Intake(max_pending=100)
    durable = [asyncio.get_running_loop().create_future() for _ in range(2)]
    applied: list[list[int]] = []
    acked: list[int] = []
    noted: list[int] = []

    async def apply(taken: Taken[int]) -> Applied[int]:
        n = len(applied)
        applied.append(taken.items)
        return Applied(taken.items, durable[n], on_durable=lambda: noted.append(n))

    async def ack(item: int) -> None:
        acked.append(item)

    running = asyncio.ensure_future(run_batches(intake, 2, apply, ack))
    for item in range(4):
        await intake.put(item)
    while len(applied) < 2:
        await asyncio.sleep(0.001)
    # Both batches applied, neither durable: nothing acked.
    assert applied == [[0, 1], [2, 3]] and acked == []
    durable[1].set_result(None)  # the second is durable first: still waits for the first
    await asyncio.sleep(0.01)
    assert acked == []
    durable[0].set_result(None)
    while len(acked) < 4:
        await asyncio.sleep(0.001)
    assert (acked, noted) == ([0, 1, 2, 3], [0, 1])
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running


async def test_a_failed_changelog_write_ends_the_batches_with_nothing_after_it_acked() -> None:
    intake: Intake[int] = Intake(max_pending=100)
    acked: list[int] = []

    async def apply(taken: Taken[int]) -> Applied[int]:
        failed = asyncio.get_running_loop().create_future()
        failed.set_exception(RuntimeError("changelog write failed"))
        return Applied(taken.items, failed)

    async def ack(item: int) -> None:
        acked.append(item)

    await intake.put(1)
    with pytest.raises(RuntimeError, match="changelog"):
        await asyncio.wait_for(run_batches(intake, 10, apply, ack), 1)
    assert acked == []


def test_written_behind_returns_the_intake_times_of_records_now_written() -> None:
    behind = WrittenBehind(limit=2)
    behind.note(0, 5, [1.0, 2.0])
    behind.note(0, 8, [3.0])
    behind.note(1, 4, [4.0])
    assert behind.reached(0, 6) == [1.0, 2.0]
    assert behind.reached(0, 7) == []
    assert behind.reached(0, 8) == [3.0]
    behind.note(1, 6, [5.0])
    behind.note(1, 9, [6.0])  # over the limit: the oldest batch of the partition is forgotten
    assert behind.reached(1, 100) == [5.0, 6.0]
    behind.note(2, 1, [7.0])
    behind.forget(2)
    assert behind.reached(2, 100) == []


async def test_a_lone_record_is_taken_at_once_but_records_that_waited_linger_for_company() -> None:
    intake: Intake[int] = Intake(max_pending=100)
    taking = asyncio.ensure_future(intake.take(10, min_batch=5, linger=5.0))
    await asyncio.sleep(0)
    await intake.put(1)  # the agent was idle: this one goes alone, with no linger
    assert (await asyncio.wait_for(taking, 0.5)).items == [1]

    await intake.put(2)  # waiting before the take: the load is not light
    taking = asyncio.ensure_future(intake.take(10, min_batch=3, linger=5.0))
    await asyncio.sleep(0.01)
    assert not taking.done()
    await intake.put(3)
    await intake.put(4)
    assert (await asyncio.wait_for(taking, 0.5)).items == [2, 3, 4]

    await intake.put(5)
    short = await asyncio.wait_for(intake.take(10, min_batch=50, linger=0.01), 0.5)
    assert short.items == [5]  # the linger ran out
