"""The Faust application: one worker process of the leaderboard service.

Data flow, one module each:
    web/ingest.py  POST /score(s), DELETE /users -> topics.py score_updates
    web/games.py   PUT /games -> topics.py game_rule_updates
    agents.py      score_updates -> tables.py player_scores -> sinks/redis.py, sinks/cassandra.py
                   game_rule_updates -> tables.py game_rules (global) -> sinks/cassandra.py
    archiver.py    closed seasons: Redis -> Cassandra standings and season_results_topic
                   (season_results.py), then evicted from Redis
    rebuild.py     Redis lost its data: table -> Redis again
    loadgen.py     faust -A leaderboard_app load-scores: synthetic submissions -> score_updates
    web/queries.py GET /topk, /around, /ranks, /rank, /history -> sinks/redis.py (history: Cassandra)
    web/streams.py GET /stream/player: rank changes the agent's writes report (rank_changes.py)

``faust -A leaderboard_app worker`` finds the ``app`` built at the bottom.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any, cast

import faust
from faust.types import TransportT
from faust.types.transports import ConductorT
from faust.types.web import Web
from mode import ServiceT

from leaderboard_app.agents import register_agents
from leaderboard_app.archiver import register_archiver
from leaderboard_app.failover import register_failover_repair
from leaderboard_app.rebuild import register_rebuild, register_rebuild_command
from leaderboard_app.rules_cache import GameRulesCache
from leaderboard_app.subscriptions import WaitingReplies, new_worker_id, subscriptions_for
from leaderboard_app.auth import open_warning
from leaderboard_app.faust_compat import RememberingAssignor, conductor_subscribing_after, low_latency_transport, \
    web_driver
from leaderboard_app.health import Freshness, KafkaHealth, LagMonitor
from leaderboard_app.loadgen import register_load_command
from leaderboard_app.logs import logging_config
from leaderboard_app.metrics import LeaderboardMetrics
from leaderboard_app.models import GameRules, board_id, tournament_of
from leaderboard_app.seasons import Clock
from leaderboard_app.settings import SCORE_UPDATES_TOPIC, Settings
from leaderboard_app.sinks.cassandra import CassandraArchive
from leaderboard_app.sinks.redis import RedisLeaderboard
from leaderboard_app.tables import game_rules_table, player_scores_table
from leaderboard_app.topics import dead_letter_topic, game_rule_updates_topic, score_updates_topic, \
    season_results_topic, wait_until_every_broker_lists
from leaderboard_app.tournaments import Tournament
from leaderboard_app.web import register_views
from leaderboard_app.web.base import json_errors
from leaderboard_app.web.live import TopFeeds
from leaderboard_app.web.streams import PlayerStreams

logger = logging.getLogger(__name__)

#: Connections queued for the web server before it accepts them (aiohttp's default: 128).
WEB_BACKLOG = 1024


class LeaderboardApp(faust.App):
    """A faust.App that also owns the clients of the services it writes to."""

    def __init__(self, settings: Settings, **overrides: Any) -> None:
        # A registry per app: two apps in one process (tests) never share a series.
        metrics = LeaderboardMetrics()
        options: dict[str, Any] = dict(
            broker=settings.broker_url,
            broker_credentials=settings.kafka.faust_credentials(),
            store=settings.store_url,
            datadir=settings.data_dir,
            topic_partitions=settings.topic_partitions,
            topic_replication_factor=settings.topic_replication_factor,
            web_host=settings.web_host,
            web_bind=settings.web_bind,
            web_port=settings.web_port,
            # Request metrics first, so they see the statuses json_errors gives.
            web_application_options={"middlewares": [metrics.middleware(), json_errors]},
            # The table browser would hand anyone every player's record, and the
            # router's pages list the workers' URLs and table keys, without a key.
            web_tables_enabled=False,
            web_router_enabled=False,
            producer_acks=-1,
            # A standby copy costs each worker Faust's whole per-record consumer path
            # once more for every changelog record of the other workers, and on two
            # cores it starved the agent's own records (docs/scaling.md, "Standby
            # replicas"). TABLE_STANDBY_REPLICAS=1 brings it back for faster failover.
            table_standby_replicas=0,
            # Without standbys, a restarted worker is ready in seconds only if it
            # gets back the partitions whose tables it has on disk.
            PartitionAssignor=RememberingAssignor,
            autodiscover=False,
        )
        log_config = logging_config(settings.log_format)
        if log_config is not None:  # LOG_FORMAT=json; mode applies it when the worker starts
            options["logging_config"] = log_config
        options.update(overrides)
        super().__init__(settings.app_id, **options)
        self.settings = settings
        self.metrics = metrics
        self.monitor = metrics.faust_monitor()
        self.clock = Clock(offset_us=int(settings.clock_offset * 1_000_000))
        self.malformed_records = 0
        #: Held by the agent per record and by the index rebuild per chunk of players.
        self.index_lock = asyncio.Lock()
        #: True while this worker rewrites lost partitions into Redis.
        self.rebuilding = False
        self.redis_leaderboard = RedisLeaderboard(settings.redis, settings.app_id, metrics=metrics,
                                                  beacon=self.beacon)
        self.rules_cache: GameRulesCache[GameRules] = GameRulesCache(self._load_rules)
        #: Tournaments' definitions, by board id (kept true by the same channel as the rules).
        self.tournament_cache: GameRulesCache[Tournament | None] = GameRulesCache(self._load_tournament)
        #: Requests of this worker waiting for the agent (wait=true, DELETE).
        self.waiting_replies = WaitingReplies(new_worker_id())
        #: The GET /stream/player streams open here; the agent's rank changes reach them by the subscription.
        self.player_streams = PlayerStreams(self.redis_leaderboard, self.waiting_replies.worker_id)
        self.subscriptions = subscriptions_for(settings.redis, self._rules_changed, self.waiting_replies,
                                               on_live=self._rules_live,
                                               rank_changes=self.player_streams.deliver, beacon=self.beacon)
        self.archive = CassandraArchive(settings, metrics=metrics, beacon=self.beacon)
        self.kafka_health = KafkaHealth(settings.kafka, beacon=self.beacon)
        self.lag_monitor = LagMonitor(self.kafka_health, self.redis_leaderboard, SCORE_UPDATES_TOPIC,
                                      settings.topic_partitions, beacon=self.beacon)
        #: Whether this worker has caught up with its partitions since it took them (GET /ready).
        self.freshness = Freshness()
        self.metrics.watch(self)
        #: The Redis pollers behind GET /stream/topk, shared by its subscribers.
        self.top_feeds = TopFeeds(self.metrics)
        self.score_updates_topic = score_updates_topic(self, settings)
        self.game_rule_updates_topic = game_rule_updates_topic(self, settings)
        self.dead_letter_topic = dead_letter_topic(self, settings)
        self.season_results_topic = season_results_topic(self, settings)
        self.player_scores = player_scores_table(self, settings)
        self.game_rules = game_rules_table(self, settings)
        register_agents(self)
        register_archiver(self)
        register_rebuild(self)
        register_failover_repair(self)
        register_rebuild_command(self)
        register_load_command(self)
        register_views(self)
        self.on_rebalance_complete.connect(self._remember_restored_assignment)
        # Open event streams would hold the web server's shutdown for a minute.
        self.web.web_app.on_shutdown.append(self.top_feeds.close)
        self.web.web_app.on_shutdown.append(self.player_streams.shutdown)

    async def _remember_restored_assignment(self, sender: Any, **kwargs: Any) -> None:
        # Faust sends this once the tables of the new assignment are restored.
        cast(RememberingAssignor, self.assignor).remember_restored()

    def _new_web(self) -> Web:
        return web_driver(WEB_BACKLOG, self.settings.idle_timeout)(self)

    def _new_transport(self) -> TransportT:
        # Faust's consumer waits up to 1.5 s per fetch; see faust_compat.low_latency_transport.
        transport = low_latency_transport(self.settings.fetch_wait_ms)
        return transport(self.conf.broker_consumer, self)

    def _new_conductor(self) -> ConductorT:
        # Faust subscribes (joins the group) as soon as it has created its topics; on a fresh
        # cluster a broker may not list them yet (faust_compat.conductor_subscribing_after).
        return conductor_subscribing_after(self._topics_listed)(app=self, beacon=None)

    async def _topics_listed(self, topics: set[str]) -> None:
        await wait_until_every_broker_lists(self.settings.kafka, topics)

    def on_init_dependencies(self) -> Iterable[ServiceT]:
        # The sinks start before the consumer, so the agent never sees an event
        # before it has somewhere to write it.
        return [self.redis_leaderboard, self.subscriptions, self.archive, self.kafka_health, self.lag_monitor,
                *super().on_init_dependencies()]

    async def on_start(self) -> None:
        await super().on_start()
        warning = open_warning(self.settings.api_keys)
        if warning:
            logger.warning("!" * 20 + " %s " + "!" * 20, warning)

    async def rules_for(self, game_id: str) -> GameRules:
        """Return the game's rules (defaults for a game never configured), from memory when it can."""
        return await self.rules_cache.get(game_id)

    async def tournament(self, tournament_id: str) -> Tournament | None:
        """Return the tournament's definition (None: never defined), from memory when it can."""
        return await self.tournament_cache.get(board_id(tournament_id))

    def _rules_changed(self, message: bytes) -> None:
        self.rules_cache.changed(message)
        self.tournament_cache.changed(message)

    def _rules_live(self, live: bool) -> None:
        self.rules_cache.set_live(live)
        self.tournament_cache.set_live(live)

    async def _load_tournament(self, board: str) -> Tournament | None:
        raw = await self.redis_leaderboard.rules(board) or self.game_rules.get(board.encode("utf-8"))
        return Tournament.from_bytes(raw) if raw else None

    async def _load_rules(self, game_id: str) -> GameRules:
        """Read the game's rules from Redis, where the rules agent puts them for every worker at once.

        This worker's replica of the global table answers when Redis has none
        (faust-streaming 0.15's global-table replicas can lag after a restart, so
        they are not trusted first).
        """
        raw = await self.redis_leaderboard.rules(game_id) or self.game_rules.get(game_id.encode("utf-8"))
        if raw and tournament_of(game_id) is not None:  # a tournament's board: its definition
            return Tournament.from_bytes(raw).rules()
        return GameRules.from_bytes(raw) if raw else GameRules()

    def assigned_partitions(self) -> list[int]:
        """Return the ``score_updates`` partitions this worker consumes now."""
        try:
            assignment = self.consumer.assignment()
        except Exception:  # the consumer does not exist before the worker starts
            return []
        return sorted(tp.partition for tp in assignment if tp.topic == SCORE_UPDATES_TOPIC)


def create_app(settings: Settings | None = None, **overrides: Any) -> LeaderboardApp:
    """Build the app from ``settings`` (default: the environment)."""
    return LeaderboardApp(settings or Settings.from_env(), **overrides)


app = create_app()
