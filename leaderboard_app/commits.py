"""Committed offsets: let Faust commit past applied records it holds as unacked.

Faust commits a partition up to its first record not acked in its books, and
records the agent applied can be missing from them. Around a rebalance its
stream iterator drops records fetched under the previous generation, or while
the flow was suspended, without acking them, expecting to fetch them again
from the committed offset; when the worker keeps the partition its consumer
has already read past them and never does. Runs of up to 1,950 records applied
in a worker's first seconds were seen missing as well (cause inside Faust not
traced). Either way the partition's committed offset stopped for as long as
the worker owned it (the fresh-clone CI of b137e7b failed on it: committed
657, end 6275). One more stall, in the fresh-clone CI of 826b5cc, was not of
either kind (nothing was released; not yet traced).

The agent itself applies every record (any record below a later one's offset
is read from Kafka), so their effect is in the table; only Faust's bookkeeping
lags. :func:`release_dropped` fills it in from the partition's durable
progress. It reads and writes Faust's consumer bookkeeping
(``_committed_offset``, ``_acked``, ``_acked_index``), kept together here;
tests/unit/test_commits.py holds it to the pinned Faust.
"""

from __future__ import annotations

from typing import Any

from faust.types import TP


def release_dropped(consumer: Any, tp: TP, durable_next: int) -> range | None:
    """Mark the records of ``tp`` that hold its committed offset back as acknowledged.

    ``durable_next`` is the partition's next offset to apply as the changelog
    holds it: every record below it is applied and its state durable, so
    committing up to it is what acking them would have done. Acts only when
    Faust cannot commit by itself: nothing acked is left while the committed
    offset is below ``durable_next``, or the earliest acked record lies more than
    one past it. Returns the offsets it marked, or None.

    Runs on the event loop thread, as Faust's own acks do.
    """
    committed = consumer._committed_offset.get(tp)
    if committed is None:  # Faust commits its first run of acked records whatever lies before it
        return None
    acked = consumer._acked.get(tp)
    if acked:
        stop = min(acked)
        # Faust commits by itself while its earliest acked record is at most one past the committed offset.
        if stop <= committed + 1 or stop > durable_next:
            return None
    else:
        stop = durable_next
        if stop <= committed:
            return None
    released = range(committed, stop)
    consumer._acked[tp].extend(released)
    consumer._acked_index[tp].update(released)
    return released
