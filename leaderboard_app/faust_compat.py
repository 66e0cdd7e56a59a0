"""Every place the service touches Faust's (and aiokafka's) internals, pinned by tests/unit/test_faust_compat.py.

faust-streaming 0.15 gives no public way to do eight things the service needs:

* **The current event of a task** (:func:`in_context_of`). A table finds a key's
  partition (in its store and changelog) from the current event, a context
  variable the stream sets in the task that iterates it. The agent applies its
  batches in a task of its own, so it sets that variable per record.
* **The consumer's fetch wait** (:func:`low_latency_transport`). Faust builds its
  aiokafka consumer with ``fetch_max_wait_ms=1500``, and aiokafka keeps one fetch
  in flight per broker: records of a partition whose previous records were just
  handed on wait until that fetch, for the other partitions, returns, which on a
  quiet topic is the full 1.5 s. That was the tail of freshness at low load and
  right after start.
* **Acking events after the agent's own work** (the stream's ``noack`` clone and
  ``Stream.ack``, public API, used by agents.py).
* **Committing past records Faust dropped** (:func:`release_dropped`). Faust
  commits a partition up to its first record not acked in its books, and records
  the agent applied can be missing from them. Around a rebalance its stream
  iterator drops records fetched under the previous generation, or while the
  flow was suspended, without acking them, expecting to fetch them again from
  the committed offset; when the worker keeps the partition its consumer has
  already read past them and never does (runs of up to 1,950 records applied in
  a worker's first seconds were seen missing as well). The partition's committed
  offset then stops for as long as the worker owns it. The agent itself applies
  every record (any record below a later one's offset is read from Kafka), so
  their effect is in the table; only Faust's bookkeeping lags, and
  :func:`release_dropped` fills it in from the partition's durable progress
  (``_committed_offset``, ``_acked``, ``_acked_index``).
* **Partitions that stay with their worker across restarts**
  (:class:`RememberingAssignor`). Faust's assignor is sticky only within a
  process's life: it tells the group leader the assignment it holds in memory,
  which a restarted worker does not have. With standby replicas off, two workers
  restarted together then often swap partitions and each restores the other's
  from the changelog (126 s on a 1,000,000-player board) instead of reopening its
  own store. The subclass tells the leader the assignment whose tables this worker
  last finished restoring, kept in its data directory (``_metadata``,
  ``_assignment``).
* **The web server's accept queue and idle timeout** (:func:`web_driver`). Faust
  opens aiohttp's site with aiohttp's default backlog of 128 connections (a burst
  of a thousand clients connecting at once had connections reset before they were
  accepted), and its runner with aiohttp's keep-alive timeout of an hour, which is
  also all the time a connection gets to send its request headers: a thousand
  silent or trickling connections held a worker's file descriptors.
* **The same Kafka security for our own clients** (:func:`aiokafka_auth_options`).
  Faust turns ``broker_credentials`` into aiokafka's ``security_protocol``, SASL and
  TLS arguments in its transport module; the clients the service opens beside
  Faust's take the very same mapping, so none can connect differently.
* **Joining the group only once every broker lists the topics**
  (:func:`conductor_subscribing_after`, :func:`topics_missing_by_broker`). Faust's
  conductor subscribes its consumer as soon as it has created its topics, and the
  consumer then takes the topics' metadata from one broker, which learns of a new
  topic from the controller a moment later. As group leader it assigns from that
  metadata, not refreshed (aiokafka refreshes it only for topics it did not track
  yet): a topic its broker did not list yet is left out ("Ignoring missing topic"),
  and when that topic is a global table's changelog Faust's assignor raises KeyError,
  which aiokafka parks, unlogged, until the consumer is next polled, which Faust never
  does before its first assignment: on a fresh cluster a worker hung for good. The
  app makes the conductor wait between creating the topics and subscribing.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Awaitable, Callable, Collection, Iterable
from pathlib import Path
from typing import Any

import aiokafka
from aiokafka.cluster import ClusterMetadata
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.protocol.metadata import MetadataRequest
from faust.assignor import PartitionAssignor
from faust.assignor.client_assignment import ClientAssignment, ClientMetadata
from faust.streams import _current_event
from aiohttp.web import AppRunner, BaseSite, TCPSite
from faust.transport.conductor import Conductor
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.web.drivers import aiohttp as faust_aiohttp
from faust.types import TP, AppT, EventT
from faust.types.auth import CredentialsT

logger = logging.getLogger(__name__)

#: In the app's data directory: the assignment whose tables the worker last finished restoring.
RESTORED_ASSIGNMENT_FILE = "restored-assignment.json"


def aiokafka_auth_options(credentials: CredentialsT | None) -> dict[str, Any]:
    """aiokafka's security arguments for Faust ``broker_credentials`` (None: plaintext)."""
    return dict(faust_aiokafka.credentials_to_aiokafka_auth(credentials))


def in_context_of(event: EventT | None) -> None:
    """Make ``event`` the current event of this task for Faust's tables (None: no event)."""
    _current_event.set(None if event is None else weakref.ref(event))


def low_latency_transport(fetch_max_wait_ms: int) -> type[faust_aiokafka.Transport]:
    """Faust's aiokafka transport, with consumers that wait at most ``fetch_max_wait_ms`` per fetch.

    The broker answers a fetch as soon as any of its partitions has a record,
    so the wait only matters when none has: it bounds how long a record of a
    partition left out of the fetch in flight waits for the next one.
    """

    class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
            consumer = super()._create_worker_consumer(transport)
            # Read by AIOKafkaConsumer.start() when it builds its fetcher.
            consumer._fetch_max_wait_ms = fetch_max_wait_ms
            return consumer

    class Consumer(faust_aiokafka.Consumer):
        def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    class Transport(faust_aiokafka.Transport):
        pass

    Transport.Consumer = Consumer
    return Transport


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


class RememberingAssignor(PartitionAssignor):
    """Faust's assignor, telling the group leader the partitions whose tables this worker holds.

    What it reports as its current assignment (which Faust's leader keeps where
    it can) is the last one whose tables it finished restoring, remembered in the
    data directory: after a restart that is the store it reopens; after a
    rebalance that gave it partitions it has not restored yet, it is still the
    ones it would not have to restore. Until it first remembers one, it reports
    Faust's own (in memory) assignment.
    """

    def __init__(self, app: AppT, replicas: int = 0) -> None:
        super().__init__(app, replicas)
        self._restored_path = Path(app.conf.appdir) / RESTORED_ASSIGNMENT_FILE
        self._restored = self._read_restored()

    @property
    def _metadata(self) -> ClientMetadata:
        metadata = super()._metadata
        if self._restored is None:
            return metadata
        return ClientMetadata(
            assignment=self._restored, url=metadata.url, changelog_distribution=metadata.changelog_distribution,
            external_topic_distribution=metadata.external_topic_distribution, topic_groups=metadata.topic_groups)

    @property
    def restored(self) -> ClientAssignment | None:
        return self._restored

    def remember_restored(self) -> None:
        """The tables of the current assignment are restored: report it from now on, also after a restart."""
        self._restored = ClientAssignment(
            actives={topic: sorted(partitions) for topic, partitions in self._assignment.actives.items()},
            standbys={topic: sorted(partitions) for topic, partitions in self._assignment.standbys.items()})
        self._restored_path.parent.mkdir(parents=True, exist_ok=True)
        partial = self._restored_path.with_suffix(".partial")
        partial.write_bytes(self._restored.dumps())
        os.replace(partial, self._restored_path)  # a crash leaves the old file or the new, never half of one

    def _read_restored(self) -> ClientAssignment | None:
        try:
            return ClientAssignment.loads(self._restored_path.read_bytes())
        except FileNotFoundError:
            return None
        except Exception as exc:  # a damaged file costs stickiness, never the start
            logger.warning("ignoring %s: %s", self._restored_path, exc)
            return None


def web_driver(backlog: int, idle_timeout: float) -> type[faust_aiohttp.Web]:
    """Faust's aiohttp web driver, listening with a queue of ``backlog`` connections not yet accepted
    (the kernel caps it at ``net.core.somaxconn``) and closing a connection that sends no complete
    request headers within ``idle_timeout`` seconds of connecting or of its previous answer.

    aiohttp arms its keep-alive timer when a connection opens and after each answer, and closes
    the connection if by then no request has been parsed, headers still trickling in included;
    a request being answered (an event stream, too) is never cut by it.
    """

    class Web(faust_aiohttp.Web):
        def __init__(self, app: AppT, **kwargs: Any) -> None:
            super().__init__(app, **kwargs)
            self._runner = AppRunner(self.web_app, access_log=None, keepalive_timeout=idle_timeout)

        def _new_transport_tcp(self) -> BaseSite:
            conf = self.app.conf
            return TCPSite(self._runner, conf.web_bind, conf.web_port, ssl_context=conf.web_ssl_context,
                           backlog=backlog)

    return Web


def conductor_subscribing_after(wait: Callable[[set[str]], Awaitable[None]]) -> type[Conductor]:
    """Faust's conductor, awaiting ``wait(topics)`` after it has created the topics its consumer
    subscribes to (``topics``: their names) and before it subscribes, which joins the group."""

    class SubscribingAfter(Conductor):
        async def _update_indices(self) -> Iterable[str]:
            # Faust's _subscriber: consumer.subscribe(await self._update_indices()), which
            # declares (creates) every internal topic and returns the names to subscribe to.
            topics = await super()._update_indices()
            await wait(set(topics))
            return topics

    return SubscribingAfter


async def topics_missing_by_broker(client: aiokafka.AIOKafkaClient, topics: Collection[str]) -> dict[int, set[str]]:
    """Ask every broker ``client`` knows, itself, which of ``topics`` it does not list yet with a
    leader for each partition. ``{}``: every broker lists them all.

    Each broker answers from its own copy of the cluster metadata, which follows the
    controller's with a lag: a topic just created can be listed by one and not another. A
    broker that cannot be reached is left out (no client can take its metadata from it
    either); KafkaConnectionError if none can be.
    """
    missing: dict[int, set[str]] = {}
    answered = 0
    request = MetadataRequest(list(topics), allow_auto_topic_creation=False)  # look, never create
    for broker in client.cluster.brokers():
        try:
            response = await client.send(broker.nodeId, request)
        except KafkaError as exc:
            logger.debug("broker %s cannot be asked for its metadata: %r", broker.nodeId, exc)
            continue
        answered += 1
        listed = ClusterMetadata()
        listed.update_metadata(response)
        absent = {topic for topic in topics
                  if not listed.partitions_for_topic(topic)
                  or listed.available_partitions_for_topic(topic) != listed.partitions_for_topic(topic)}
        if absent:
            missing[broker.nodeId] = absent
    if not answered:
        raise KafkaConnectionError(f"none of the brokers {sorted(b.nodeId for b in client.cluster.brokers())} answered")
    return missing
