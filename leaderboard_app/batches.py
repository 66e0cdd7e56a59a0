"""How the agent's records become batches: taken as they come, applied while the next ones
arrive, acked once their changelog is durable.

Faust's ``take_events`` stops reading the stream while the agent works on a batch and then
waits a fixed window for the next one, so at a steady 100 records/s a worker's batches held
two or three records, and each batch paid its round trips (the Redis pipeline, the
changelog acknowledgement) in turn: about 30 ms a batch, and players' scores queued behind
them for seconds. Here three stages overlap instead:

1. **intake**: the agent's loop puts each event in an :class:`Intake`, which waits only when
   ``max_pending`` events are already waiting (back-pressure on Faust's stream);
2. **apply**: one task takes everything waiting (up to ``batch_size``) as soon as the previous
   batch's Redis writes are made. A record that finds the agent idle is taken at once, alone:
   no window to wait out when the load is light. Records that arrived while the previous batch
   was applied mean the load is not light: the batch then waits up to ``linger`` for
   ``min_batch`` records, since a batch has a fixed cost (a Redis round trip, the table's
   progress entry, the changelog hand-off) that batches of three or four records paid per
   record (a drain at 885 events/s instead of 1,700);
3. **ack**: another task waits, batch by batch in order, for each batch's changelog writes to
   be acknowledged by Kafka and only then acks its events, so an offset is committed only
   after the state it produced is durable (docs/exactly-once.md). At most ``max_unacked``
   batches wait there; the next batch is applied meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Taken(Generic[T]):
    """A batch as the intake hands it over: the items and when each was put in (monotonic seconds)."""

    items: list[T]
    put_at: list[float]


class Intake(Generic[T]):
    """A buffer between the stream and the apply task: put one at a time, taken all at once."""

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max_pending
        self._items: deque[tuple[T, float]] = deque()
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, item: T) -> None:
        """Add ``item``; waits while ``max_pending`` items are already waiting."""
        while len(self._items) >= self.max_pending:
            self._room.clear()
            await self._room.wait()
        self._items.append((item, time.monotonic()))
        self._arrived.set()

    async def take(self, limit: int, min_batch: int = 1, linger: float = 0.0) -> Taken[T]:
        """Take up to ``limit`` items, the oldest first; waits until there is at least one.

        If items were already waiting when called, waits up to ``linger`` seconds more for
        ``min_batch`` of them (see the module docstring).
        """
        if not self._items:
            while not self._items:
                self._arrived.clear()
                await self._arrived.wait()
        elif len(self._items) < min_batch and linger > 0:
            deadline = time.monotonic() + linger
            while len(self._items) < min_batch and (left := deadline - time.monotonic()) > 0:
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), left)
                except asyncio.TimeoutError:
                    break
        taken: Taken[T] = Taken([], [])
        for _ in range(min(limit, len(self._items))):
            item, put_at = self._items.popleft()
            taken.items.append(item)
            taken.put_at.append(put_at)
        self._room.set()
        return taken


@dataclass
class Applied(Generic[T]):
    """A batch whose effect is made: acked once ``durable`` is done."""

    items: Sequence[T]
    #: Done once Kafka has acknowledged the batch's changelog writes.
    durable: Awaitable[object]
    #: Called once ``durable`` is done, before the items are acked.
    on_durable: Callable[[], None] = field(default=lambda: None)


#: A batch that finds records waiting waits up to LINGER seconds for MIN_BATCH of them.
MIN_BATCH = 100
LINGER = 0.005


async def run_batches(intake: Intake[T], batch_size: int, apply: Callable[[Taken[T]], Awaitable[Applied[T]]],
                      ack: Callable[[T], Awaitable[object]], max_unacked: int = 4, min_batch: int = MIN_BATCH,
                      linger: float = LINGER) -> None:
    """Apply the intake's items in batches and ack each batch once durable, until cancelled or failed.

    The first exception of ``apply``, of a batch's ``durable`` or of ``ack`` ends both
    stages and is raised, with no later batch acked.
    """
    unacked: asyncio.Queue[Applied[T]] = asyncio.Queue(max_unacked)

    async def apply_forever() -> None:
        while True:
            taken = await intake.take(batch_size, min(min_batch, batch_size), linger)
            await unacked.put(await apply(taken))

    async def ack_forever() -> None:
        while True:
            applied = await unacked.get()
            await applied.durable
            applied.on_durable()
            for item in applied.items:
                await ack(item)

    stages = [asyncio.ensure_future(apply_forever()), asyncio.ensure_future(ack_forever())]
    try:
        done, _ = await asyncio.wait(stages, return_when=asyncio.FIRST_EXCEPTION)
        for stage in done:
            stage.result()
    finally:
        for stage in stages:
            stage.cancel()
        await asyncio.gather(*stages, return_exceptions=True)


class WrittenBehind:
    """When each applied record was taken in, per partition, until a sink written behind says it has it.

    The agent notes each batch (:meth:`note`); the sink reports, per partition, the offset
    below which it has every record's writes (:meth:`reached`), which returns the intake
    times of the records now written. At most ``limit`` batches are kept per partition
    (while a sink is away, the oldest are forgotten: they only feed a histogram).
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._pending: dict[int, deque[tuple[int, list[float]]]] = {}

    def note(self, partition: int, next_offset: int, put_at: list[float]) -> None:
        """Note records of ``partition`` below ``next_offset``, taken in at ``put_at``."""
        pending = self._pending.setdefault(partition, deque())
        if len(pending) >= self._limit:
            pending.popleft()
        pending.append((next_offset, put_at))

    def reached(self, partition: int, written_through: int) -> list[float]:
        """The intake times of the noted records of ``partition`` below ``written_through``."""
        pending = self._pending.get(partition)
        times: list[float] = []
        while pending and pending[0][0] <= written_through:
            times.extend(pending.popleft()[1])
        return times

    def forget(self, partition: int) -> None:
        self._pending.pop(partition, None)
