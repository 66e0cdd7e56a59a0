"""leaderboard_app.faust_compat against the pinned Faust's (and aiokafka's) real internals."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import aiokafka
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata
from aiokafka.errors import KafkaConnectionError
from aiokafka.protocol.metadata import MetadataRequest_v5, MetadataResponse_v5
import faust
import pytest
from faust.assignor.client_assignment import ClientAssignment, ClientMetadata
from faust.streams import current_event
from faust.transport.conductor import Conductor
from aiohttp.web import TCPSite
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.web.drivers import aiohttp as faust_aiohttp
from faust.types import TP
from faust.types.tuples import Message
from hypothesis import given
from hypothesis import strategies as st

from leaderboard_app.faust_compat import (
    RESTORED_ASSIGNMENT_FILE,
    RememberingAssignor,
    aiokafka_auth_options,
    conductor_subscribing_after,
    in_context_of,
    low_latency_transport,
    release_dropped,
    topics_missing_by_broker,
    web_driver,
)

TOPIC = "score_updates"
PARTITION = TP(TOPIC, 0)


@pytest.fixture(scope="module")
def faust_app() -> Iterator[faust.App]:
    app = faust.App("test-commits", broker="kafka://127.0.0.1:1")  # never started, never connects
    loop = asyncio.new_event_loop()
    app.loop = loop
    try:
        app.topics.add(app.topic(TOPIC))
        loop.run_until_complete(app.topics._update_indices())  # the conductor acks only the topics it indexed
        yield app
    finally:
        app.consumer._thread.thread_loop.close()  # made with the consumer, which is never started
        loop.close()


@pytest.fixture
def consumer(faust_app: faust.App) -> Iterator[object]:
    yield faust_app.consumer
    _forget(faust_app.consumer)


def _forget(consumer: object) -> None:
    """Clear PARTITION from the consumer's books, for the next test."""
    books = (consumer._committed_offset, consumer._acked,  # type: ignore[attr-defined]
             consumer._acked_index, consumer._gap)  # type: ignore[attr-defined]
    for book in books:
        book.pop(PARTITION, None)


def _ack(consumer: object, *offsets: int) -> None:
    """Ack records of PARTITION the way a stream's last reference does."""
    for offset in offsets:
        message = Message(TOPIC, PARTITION.partition, offset, 0.0, 0, None, b"key", b"value", None)
        message.refcount = 0
        consumer.ack(message)  # type: ignore[attr-defined]


def test_faust_alone_never_commits_past_dropped_records(consumer: object) -> None:
    consumer._committed_offset[PARTITION] = 657  # type: ignore[attr-defined]
    _ack(consumer, *range(662, 670))
    assert consumer._new_offset(PARTITION) is None  # type: ignore[attr-defined]


def test_dropped_records_below_acked_ones_are_released(consumer: object) -> None:
    consumer._committed_offset[PARTITION] = 657  # type: ignore[attr-defined]
    _ack(consumer, *range(662, 670))
    assert release_dropped(consumer, PARTITION, 670) == range(657, 662)
    assert consumer._new_offset(PARTITION) == 670  # type: ignore[attr-defined]


def test_dropped_records_with_nothing_acked_after_them_are_released_to_the_durable_progress(
    consumer: object,
) -> None:
    consumer._committed_offset[PARTITION] = 40  # type: ignore[attr-defined]
    assert release_dropped(consumer, PARTITION, 47) == range(40, 47)
    assert consumer._new_offset(PARTITION) == 47  # type: ignore[attr-defined]


@pytest.mark.parametrize("acked", [(100, 101, 102), (101, 102)])
def test_nothing_is_released_while_faust_can_commit_by_itself(consumer: object, acked: tuple[int, ...]) -> None:
    consumer._committed_offset[PARTITION] = 100  # type: ignore[attr-defined]
    _ack(consumer, *acked)
    assert release_dropped(consumer, PARTITION, 500) is None
    assert consumer._new_offset(PARTITION) == 103  # type: ignore[attr-defined]


def test_nothing_is_released_beyond_what_the_changelog_holds(consumer: object) -> None:
    consumer._committed_offset[PARTITION] = 10  # type: ignore[attr-defined]
    assert release_dropped(consumer, PARTITION, 10) is None
    _ack(consumer, 20, 21)
    assert release_dropped(consumer, PARTITION, 15) is None  # acked records the changelog is not known to hold
    assert consumer._new_offset(PARTITION) is None  # type: ignore[attr-defined]


def test_nothing_is_released_before_the_first_commit(consumer: object) -> None:
    assert release_dropped(consumer, PARTITION, 1000) is None
    assert consumer._acked.get(PARTITION) in (None, [])  # type: ignore[attr-defined]


@given(committed=st.integers(0, 50), acked=st.sets(st.integers(0, 40)), extra=st.integers(0, 10))
def test_commits_with_releases_reach_the_durable_progress_and_never_pass_it(
    faust_app: faust.App, committed: int, acked: set[int], extra: int
) -> None:
    """The worker's rounds: Faust commits what it can, then release_dropped, until neither moves."""
    consumer = faust_app.consumer
    try:
        consumer._committed_offset[PARTITION] = committed
        acked = {committed + offset for offset in acked}
        durable_next = max(acked, default=committed) + 1 + extra
        _ack(consumer, *sorted(acked))
        commits = []
        while True:
            while (offset := consumer._new_offset(PARTITION)) is not None:
                if offset > consumer._committed_offset[PARTITION]:  # as Faust's _should_commit
                    commits.append(offset)
                    consumer._committed_offset[PARTITION] = offset
            if release_dropped(consumer, PARTITION, durable_next) is None:
                break
        assert all(offset <= durable_next for offset in commits)
        assert consumer._committed_offset[PARTITION] == durable_next
    finally:
        _forget(consumer)


async def test_the_low_latency_transport_gives_the_worker_consumer_its_fetch_wait() -> None:
    class App(faust.App):
        def _new_transport(self) -> object:
            return low_latency_transport(7)(self.conf.broker_consumer, self)

    app = App("test-fetch-wait", broker="kafka://127.0.0.1:1")  # never started, never connects
    app.loop = asyncio.get_running_loop()
    thread = app.consumer._thread
    try:
        assert isinstance(thread, faust_aiokafka.AIOKafkaConsumerThread)
        worker_consumer = thread._create_worker_consumer(app.transport)
        assert worker_consumer._fetch_max_wait_ms == 7
        # What the override relies on: Faust passes 1,500 ms, and aiokafka's start() builds
        # its fetcher from the attribute, not from the constructor's argument.
        assert "fetch_max_wait_ms=1500" in inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread)
        assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in inspect.getsource(aiokafka.AIOKafkaConsumer.start)
        await worker_consumer.stop()  # never started: releases what its constructor made
    finally:
        thread.thread_loop.close()


def test_in_context_of_sets_the_event_faust_tables_read() -> None:
    class Event:  # weakly referenced, as Faust's events are
        pass

    event = Event()
    in_context_of(event)  # type: ignore[arg-type]
    try:
        assert current_event() is event
    finally:
        in_context_of(None)
    assert current_event() is None


# -- RememberingAssignor: the assignment reported to the group leader ----------------------


def _assignor_app(datadir: Path) -> faust.App:
    return faust.App("test-assignor", broker="kafka://127.0.0.1:1", datadir=str(datadir),
                     PartitionAssignor=RememberingAssignor)


def _reported(app: faust.App) -> ClientAssignment:
    """The assignment the app's join request tells the leader (what Faust's leader reads back)."""
    metadata = app.assignor.metadata({TOPIC})
    return ClientMetadata.loads(metadata.user_data).assignment


def test_a_restarted_assignor_reports_the_assignment_it_last_restored(tmp_path: Path) -> None:
    first = _assignor_app(tmp_path)
    assert isinstance(first.assignor, RememberingAssignor)
    assert _reported(first).actives == {}  # nothing restored yet: Faust's own (empty) assignment
    first.assignor._assignment = ClientAssignment(actives={TOPIC: [2, 0]}, standbys={})  # what on_assignment sets
    first.assignor.remember_restored()
    first.assignor._assignment = ClientAssignment(actives={TOPIC: [1, 3]}, standbys={})  # given, not yet restored
    assert _reported(first).actives == {TOPIC: [0, 2]}

    restarted = _assignor_app(tmp_path)  # a new process on the same data directory
    assert restarted.assignor._assignment.actives == {}  # Faust's in-memory one starts empty
    assert _reported(restarted).actives == {TOPIC: [0, 2]}


def test_a_damaged_remembered_assignment_is_ignored(tmp_path: Path) -> None:
    app = _assignor_app(tmp_path)
    path = Path(app.conf.appdir) / RESTORED_ASSIGNMENT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"{not json")
    assert _assignor_app(tmp_path).assignor.restored is None


def test_the_web_driver_listens_with_the_backlog_asked_for(tmp_path: Path) -> None:
    app = faust.App("test-web", broker="kafka://127.0.0.1:1", datadir=str(tmp_path), web_port=6999)
    web = web_driver(1024, 15.0)(app)
    assert isinstance(web, faust_aiohttp.Web)

    async def site_opened_by_start_server() -> TCPSite:
        await web._runner.setup()
        try:
            return web._create_site()  # what Faust's start_server opens
        finally:
            await web._runner.cleanup()

    site = asyncio.run(site_opened_by_start_server())
    assert isinstance(site, TCPSite)
    assert site._backlog == 1024  # aiohttp passes it to loop.create_server
    assert (site._host, site._port) == (app.conf.web_bind, 6999)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Whether the server closes the connection within ``seconds`` (reads return EOF)."""
    try:
        while await asyncio.wait_for(reader.read(1024), seconds):
            pass
        return True
    except asyncio.TimeoutError:
        return False


def test_the_web_server_closes_connections_that_send_no_request_in_time(tmp_path: Path) -> None:
    port = _free_port()
    app = faust.App("test-idle", broker="kafka://127.0.0.1:1", datadir=str(tmp_path), web_port=port,
                    web_bind="127.0.0.1")
    web = web_driver(128, idle_timeout=1.0)(app)

    async def trickle(writer: asyncio.StreamWriter) -> None:
        for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n":  # headers that never end
            if writer.is_closing():
                return
            writer.write(bytes([byte]))
            await asyncio.sleep(0.1)

    async def connections() -> tuple[bool, bool, bytes]:
        await web.start_server()
        writers: list[asyncio.StreamWriter] = []
        try:
            silent_reader, silent = await asyncio.open_connection("127.0.0.1", port)
            trickling_reader, trickling = await asyncio.open_connection("127.0.0.1", port)
            writers += [silent, trickling]
            trickling_task = asyncio.ensure_future(trickle(trickling))
            silent_closed = await _closed_within(silent_reader, 3.0)
            trickling_closed = await _closed_within(trickling_reader, 3.0)
            trickling_task.cancel()
            # A client that asks in time is answered (404: this app has no views).
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writers.append(writer)
            writer.write(b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 5)
            return silent_closed, trickling_closed, answer
        finally:
            for each in writers:
                each.close()
                with contextlib.suppress(OSError):
                    await each.wait_closed()
            await web.stop_server()

    silent_closed, trickling_closed, answer = asyncio.run(connections())
    assert silent_closed, "a connection that sent nothing stayed open"
    assert trickling_closed, "a connection trickling its headers stayed open"
    assert answer.startswith(b"HTTP/1.1 404")


# -- aiokafka_auth_options ---------------------------------------------------------


def test_faust_maps_sasl_credentials_to_aiokafka_security_arguments():
    context = ssl.create_default_context()
    credentials = faust.SASLCredentials(username="u", password="p", mechanism="SCRAM-SHA-256", ssl_context=context)
    assert aiokafka_auth_options(credentials) == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256", "sasl_plain_username": "u",
        "sasl_plain_password": "p", "ssl_context": context}


def test_faust_maps_tls_credentials_and_none():
    context = ssl.create_default_context()
    assert aiokafka_auth_options(faust.SSLCredentials(context)) == {"security_protocol": "SSL",
                                                                   "ssl_context": context}
    assert aiokafka_auth_options(None) == {"security_protocol": "PLAINTEXT"}


def test_every_mapped_argument_is_one_aiokafka_clients_take():
    credentials = faust.SASLCredentials(username="u", password="p", ssl_context=ssl.create_default_context())
    for client in (aiokafka.AIOKafkaConsumer, aiokafka.AIOKafkaProducer, aiokafka.AIOKafkaClient, AIOKafkaAdminClient):
        assert set(aiokafka_auth_options(credentials)) <= set(inspect.signature(client).parameters), client


# -- joining the group only once every broker lists the topics ------------------------------


def _metadata(brokers: list[int], topics: dict[str, list[int]]) -> MetadataResponse_v5:
    """A broker's metadata answer: each topic with its partitions' leaders (-1: none)."""
    return MetadataResponse_v5(
        0, [(node, "127.0.0.1", 9000 + node, None) for node in brokers], "cluster", brokers[0],
        [(0, topic, False, [(0, partition, leader, [1], [1], []) for partition, leader in enumerate(leaders)])
         for topic, leaders in topics.items()])


def test_faust_leader_cannot_assign_while_its_metadata_lacks_a_global_tables_changelog(tmp_path: Path) -> None:
    """Why the worker waits for every broker: the assignor raises (and aiokafka parks the error unlogged)."""
    app = faust.App("test-missing", broker="kafka://127.0.0.1:1", datadir=str(tmp_path))
    app.GlobalTable("rules", partitions=1)
    topics = ["test-missing-rules-changelog", TOPIC]
    request = app.assignor.metadata(set(topics))
    members = {"m1": ConsumerProtocolMemberMetadata(request.version, request.subscription, request.user_data)}

    def assign(listed: list[str]) -> object:
        cluster = ClusterMetadata()
        cluster.update_metadata(_metadata([1], {topic: [1] for topic in listed}))
        return app.assignor.assign(cluster, members)

    assert sorted(assign(topics)["m1"].assignment) == [(topic, [0]) for topic in sorted(topics)]
    with pytest.raises(KeyError, match="test-missing-rules-changelog"):
        assign([TOPIC])
    # aiokafka turns whatever the assignor raises into a KafkaError, which its coordination
    # routine only hands to the next poll: no poll comes before Faust's first assignment.
    assert "raise Errors.KafkaError(repr(e)) from e" in inspect.getsource(
        aiokafka.consumer.group_coordinator.CoordinatorGroupRebalance._on_join_leader)
    # And the leader assigns from the metadata taken when the consumer subscribed: it is
    # refreshed only for topics the client does not track yet.
    assert "set(topics).difference(self._topics)" in inspect.getsource(aiokafka.AIOKafkaClient.set_topics)


async def test_the_conductor_waits_between_creating_its_topics_and_subscribing(tmp_path: Path) -> None:
    events: list[tuple[str, object]] = []

    async def wait(topics: set[str]) -> None:
        events.append(("wait", topics))

    class App(faust.App):
        def _new_conductor(self) -> object:
            return conductor_subscribing_after(wait)(app=self, beacon=None)

    app = App("test-conductor", broker="kafka://127.0.0.1:1", datadir=str(tmp_path))
    app.loop = asyncio.get_running_loop()
    topic = app.topic(TOPIC, internal=True)

    async def declare() -> None:
        events.append(("declare", TOPIC))

    topic.maybe_declare = declare  # type: ignore[method-assign]
    app.topics.add(topic)
    try:
        assert set(await app.topics._update_indices()) == {TOPIC}
        assert events == [("declare", TOPIC), ("wait", {TOPIC})]
        # What the override relies on: Faust subscribes to what _update_indices returns, having
        # declared the internal topics there, the first time and on every resubscription.
        source = inspect.getsource(Conductor)
        assert "await self.app.consumer.subscribe(await self._update_indices())" in source
        assert "subscribed_topics = await self._update_indices()" in source
        assert "await channel.maybe_declare()" in inspect.getsource(Conductor._update_indices)
    finally:
        app.consumer._thread.thread_loop.close()  # made with the consumer, which is never started


class _Brokers:
    """An aiokafka client whose brokers each answer metadata requests from their own copy."""

    def __init__(self, answers: dict[int, dict[str, list[int]] | None]) -> None:
        self.answers = answers
        self.cluster = ClusterMetadata()
        self.cluster.update_metadata(_metadata(list(answers), {}))
        self.requests: list[object] = []

    async def send(self, node_id: int, request: object) -> MetadataResponse_v5:
        self.requests.append(request.build(MetadataRequest_v5))  # type: ignore[attr-defined]
        topics = self.answers[node_id]
        if topics is None:
            raise KafkaConnectionError(f"broker {node_id} is down")
        return _metadata(list(self.answers), topics)


async def test_topics_missing_by_broker_asks_each_broker_itself() -> None:
    client = _Brokers({
        1: {"a": [1, 2], "b": [3]},
        2: {"a": [1, 2]},  # has not heard of b yet
        3: {"a": [1, -1], "b": [3]},  # a partition without a leader yet
        4: None,  # cannot be asked
    })
    missing = await topics_missing_by_broker(client, ["a", "b"])  # type: ignore[arg-type]
    assert missing == {2: {"b"}, 3: {"a"}}  # 4: no client takes its metadata from it either
    assert len(client.requests) == 4
    assert all(request.topics == ["a", "b"] and request.allow_auto_topic_creation is False
               for request in client.requests)  # look, never create
    client.answers = {1: {"a": [1], "b": [1]}, 2: {"a": [2], "b": [2]}, 3: {"a": [3], "b": [3]}, 4: None}
    assert await topics_missing_by_broker(client, ["a", "b"]) == {}  # type: ignore[arg-type]
    client.answers = dict.fromkeys(client.answers)
    with pytest.raises(KafkaConnectionError):
        await topics_missing_by_broker(client, ["a", "b"])  # type: ignore[arg-type]
