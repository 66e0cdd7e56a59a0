"""One typed settings object, read from the environment once.

Faust's own settings keep Faust's environment names (``BROKER_URL``, ``WEB_PORT``,
``TOPIC_PARTITIONS``, ...) because Faust lets those variables override the values
passed to ``faust.App``: a second name for the same value would be silently ignored.
Everything else is prefixed ``LEADERBOARD_``, ``REDIS_`` or ``CASSANDRA_``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from leaderboard_app.auth import WRITE_KEYS_VAR, ApiKeys
from leaderboard_app.kafka_connection import KafkaConnection, KafkaSecurity
from leaderboard_app.logs import LOG_FORMATS
from leaderboard_app.rate_limits import Network, parse_networks
from leaderboard_app.sinks.redis_connection import RedisTarget

T = TypeVar("T")

#: The Kafka topic that every accepted submission (and player deletion) is produced to.
SCORE_UPDATES_TOPIC = "score_updates"
ALLOW_OPEN_WRITES_VAR = "LEADERBOARD_ALLOW_OPEN_WRITES"
#: Where malformed records of score_updates go, with the reason in a header.
DEAD_LETTER_TOPIC = "score_updates.dlq"
#: The Kafka topic that game rule changes go through.
GAME_RULE_UPDATES_TOPIC = "game_rule_updates"
#: Where the final standings of each closed season are produced (docs/season-results.md).
SEASON_RESULTS_TOPIC = "season_results"


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used."""


def _at_least(parse: Callable[[str], float], minimum: float, inclusive: bool = True) -> Callable[[str], Any]:
    """Return a cast that parses a number and refuses values below ``minimum`` (or equal, if not inclusive)."""

    def cast(text: str) -> Any:
        value = parse(text)
        if not (value >= minimum if inclusive else value > minimum):
            raise ValueError(f"must be {'at least' if inclusive else 'greater than'} {minimum:g}")
        return value

    return cast


_positive_int = _at_least(int, 1)
_positive_float = _at_least(float, 0, inclusive=False)
_non_negative_int = _at_least(int, 0)
_non_negative_float = _at_least(float, 0)


def _csv(text: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    if not items:
        raise ValueError("must name at least one host")
    return items


def _read(environ: Mapping[str, str], name: str, default: str, cast: Callable[[str], T]) -> T:
    raw = environ.get(name, default)
    try:
        return cast(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is invalid: {exc}") from None


@dataclass(frozen=True)
class Settings:
    """Configuration of one worker (see the README's configuration table)."""

    app_id: str = "leaderboard"
    broker_url: str = "kafka://127.0.0.1:9092"
    #: KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_* (see ``kafka_connection``).
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity, repr=False)
    topic_partitions: int = 4
    #: Copies Kafka keeps of each topic the service creates (score_updates, the changelogs, ...),
    #: and how many of them must have a write before it is acknowledged (min.insync.replicas).
    topic_replication_factor: int = 1
    min_insync_replicas: int = 1
    store_url: str = "rocksdb://"
    data_dir: str = ""
    web_host: str = "127.0.0.1"
    web_bind: str = "127.0.0.1"
    web_port: int = 6066
    redis_url: str = field(default="redis://127.0.0.1:6379/0", repr=False)
    #: REDIS_CLUSTER: REDIS_URL names seed nodes of a Redis Cluster (comma-separated URLs).
    redis_cluster: bool = False
    cassandra_contact_points: tuple[str, ...] = ("127.0.0.1",)
    cassandra_port: int = 9042
    cassandra_keyspace: str = "leaderboard"
    cassandra_replication_factor: int = 1
    #: Consistency of Cassandra writes and reads (default LOCAL_QUORUM once replicated, else LOCAL_ONE).
    cassandra_write_consistency: str = "LOCAL_ONE"
    cassandra_read_consistency: str = "LOCAL_ONE"
    cassandra_username: str = ""
    cassandra_password: str = field(default="", repr=False)
    #: Seconds POST /score waits for Kafka's acknowledgement before answering 503 (and the
    #: archiver for a chunk of season_results records before retrying the season next round).
    kafka_ack_timeout: float = 10.0
    #: Seconds after a season closed during which late submissions are still accepted.
    season_grace: float = 600.0
    #: Seconds a closed season stays in Redis once archived to Cassandra.
    season_retention: float = 7 * 86400.0
    #: Requests per second per API key (per client address without a key); 0 = no limit.
    rate_limit: int = 1000
    #: Seconds a client may take to send a request body.
    body_timeout: float = 10.0
    #: Seconds a connection may stay open without a complete request's headers: after it
    #: connects (slow or silent clients) and between requests (idle keep-alive).
    idle_timeout: float = 15.0
    #: Most score_updates records the agent applies together (one Redis round trip,
    #: one wait for the changelog); a batch takes what has arrived, it never waits to fill.
    batch_size: int = 1000
    #: Longest a Kafka fetch waits for records (ms) when none of its partitions has any:
    #: also how long records of a partition left out of the fetch in flight may wait.
    fetch_wait_ms: int = 10
    #: Memory of each partition's RocksDB store of player_scores, in MiB: the write buffer
    #: (at most two in memory) and the block cache. Faust's defaults (64 MiB, three; 2 GiB)
    #: let a worker grow by gigabytes.
    store_write_buffer_mb: int = 8
    store_block_cache_mb: int = 32
    #: Seconds added to the wall clock (tests cross season boundaries with it).
    clock_offset: float = 0.0
    #: LOG_FORMAT: "text" (mode's human-readable lines) or "json" (one JSON object per line, see ``logs``).
    log_format: str = "text"
    #: LEADERBOARD_READ_KEYS, LEADERBOARD_WRITE_KEYS, LEADERBOARD_ADMIN_KEYS (see ``auth``).
    api_keys: ApiKeys = field(default_factory=ApiKeys, repr=False)
    #: Host header values (without port) answered while no API key is configured: a web
    #: page that rebinds its DNS name to this address sends its own name.
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
    #: Reverse proxies whose X-Forwarded-For names the client the rate limiter counts (see ``rate_limits``).
    trusted_proxies: tuple[Network, ...] = ()

    @property
    def topic_config(self) -> dict[str, str]:
        """Kafka settings of each topic the service creates."""
        return {"min.insync.replicas": str(self.min_insync_replicas)}

    @property
    def redis(self) -> RedisTarget:
        """The Redis that holds the index."""
        return RedisTarget(self.redis_url, self.redis_cluster)

    @property
    def kafka(self) -> KafkaConnection:
        """How every Kafka client of the worker reaches the brokers."""
        return KafkaConnection(self.broker_url, self.kafka_security)

    @property
    def season_grace_us(self) -> int:
        return int(self.season_grace * 1_000_000)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: ``os.environ``)."""
        env = os.environ if environ is None else environ
        web_port = _read(env, "WEB_PORT", "6066", _positive_int)
        web_host = _read(env, "WEB_HOST", cls.web_host, str)
        topic_replication_factor, min_insync_replicas = _kafka_replication(env)
        cassandra_replication_factor = _read(env, "CASSANDRA_REPLICATION_FACTOR", "1", _positive_int)
        # One replica is all a read or write can ask of an unreplicated keyspace; once
        # replicated, a majority, so a node down neither refuses writes nor loses them.
        consistency = "LOCAL_QUORUM" if cassandra_replication_factor > 1 else "LOCAL_ONE"
        return cls(
            app_id=_read(env, "LEADERBOARD_APP_ID", cls.app_id, str),
            broker_url=_read(env, "BROKER_URL", cls.broker_url, str),
            kafka_security=_kafka_security(env),
            topic_partitions=_read(env, "TOPIC_PARTITIONS", "4", _positive_int),
            topic_replication_factor=topic_replication_factor,
            min_insync_replicas=min_insync_replicas,
            store_url=_read(env, "APP_STORE", cls.store_url, str),
            # Two workers on one machine must not share a RocksDB directory, so
            # the default is per web port.
            data_dir=_read(env, "APP_DATADIR", f".state/worker-{web_port}", str),
            web_host=web_host,
            web_bind=_read(env, "WEB_BIND", cls.web_bind, str),
            web_port=web_port,
            redis_url=_read(env, "REDIS_URL", "redis://127.0.0.1:6379/0", str),
            redis_cluster=_read(env, "REDIS_CLUSTER", "false", _flag),
            cassandra_contact_points=_read(env, "CASSANDRA_CONTACT_POINTS", "127.0.0.1", _csv),
            cassandra_port=_read(env, "CASSANDRA_PORT", "9042", _positive_int),
            cassandra_keyspace=_read(env, "CASSANDRA_KEYSPACE", cls.cassandra_keyspace, _cql_identifier),
            cassandra_replication_factor=cassandra_replication_factor,
            cassandra_write_consistency=_read(env, "CASSANDRA_WRITE_CONSISTENCY", consistency, _consistency),
            cassandra_read_consistency=_read(env, "CASSANDRA_READ_CONSISTENCY", consistency, _consistency),
            cassandra_username=_read(env, "CASSANDRA_USERNAME", "", str),
            cassandra_password=_read(env, "CASSANDRA_PASSWORD", "", str),
            kafka_ack_timeout=_read(env, "LEADERBOARD_KAFKA_TIMEOUT", "10", _positive_float),
            season_grace=_read(env, "LEADERBOARD_SEASON_GRACE", "600", _non_negative_float),
            season_retention=_read(env, "LEADERBOARD_SEASON_RETENTION", str(7 * 86400), _non_negative_float),
            clock_offset=_read(env, "LEADERBOARD_CLOCK_OFFSET", "0", float),
            rate_limit=_read(env, "LEADERBOARD_RATE_LIMIT", "1000", _non_negative_int),
            body_timeout=_read(env, "LEADERBOARD_BODY_TIMEOUT", "10", _positive_float),
            idle_timeout=_read(env, "LEADERBOARD_IDLE_TIMEOUT", "15", _positive_float),
            batch_size=_read(env, "LEADERBOARD_BATCH_SIZE", "1000", _positive_int),
            fetch_wait_ms=_read(env, "LEADERBOARD_FETCH_WAIT_MS", "10", _positive_int),
            store_write_buffer_mb=_read(env, "LEADERBOARD_STORE_WRITE_BUFFER_MB", "8", _positive_int),
            store_block_cache_mb=_read(env, "LEADERBOARD_STORE_BLOCK_CACHE_MB", "32", _positive_int),
            log_format=_read(env, "LOG_FORMAT", cls.log_format, _log_format),
            api_keys=_api_keys(env),
            allowed_hosts=_read(env, "LEADERBOARD_ALLOWED_HOSTS", f"localhost,127.0.0.1,::1,{web_host}", _hosts),
            trusted_proxies=_read(env, "LEADERBOARD_TRUSTED_PROXIES", "", parse_networks),
        )


def _api_keys(env: Mapping[str, str]) -> ApiKeys:
    """The API keys; keys of some scopes but none for writes is refused unless open writes are meant."""
    keys = ApiKeys.from_env(env)
    allow_open_writes = _read(env, ALLOW_OPEN_WRITES_VAR, "false", _flag)
    if keys.configured and not keys.write and not allow_open_writes:
        raise SettingsError(
            f"{WRITE_KEYS_VAR} is empty while other API keys are set, so anyone could submit scores: set write keys,"
            f" or {ALLOW_OPEN_WRITES_VAR}=true to keep score submission open on purpose")
    return keys


def _kafka_replication(env: Mapping[str, str]) -> tuple[int, int]:
    """TOPIC_REPLICATION_FACTOR (Faust's name) and LEADERBOARD_MIN_INSYNC_REPLICAS (default: 2 of 2 or more)."""
    replicas = _read(env, "TOPIC_REPLICATION_FACTOR", "1", _positive_int)
    in_sync = _read(env, "LEADERBOARD_MIN_INSYNC_REPLICAS", "1" if replicas == 1 else "2", _positive_int)
    if in_sync > replicas:
        raise SettingsError(f"LEADERBOARD_MIN_INSYNC_REPLICAS={in_sync} is more than the {replicas} replicas"
                            " TOPIC_REPLICATION_FACTOR keeps: no write could ever be acknowledged")
    return replicas, in_sync


def _consistency(text: str) -> str:
    value = text.strip().upper()
    if value not in _CONSISTENCY_LEVELS:
        raise ValueError(f"must be one of {', '.join(_CONSISTENCY_LEVELS)}")
    return value


#: Cassandra consistency levels a read or a plain write may ask for.
_CONSISTENCY_LEVELS = ("ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE")


def _kafka_security(env: Mapping[str, str]) -> KafkaSecurity:
    try:
        return KafkaSecurity.from_env(env)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise ValueError("must be true or false")
    return value == "true"


def _hosts(text: str) -> tuple[str, ...]:
    hosts = tuple(dict.fromkeys(item.strip().lower().strip("[]") for item in text.split(",") if item.strip()))
    if not hosts:
        raise ValueError("must name at least one host")
    return hosts


def _log_format(text: str) -> str:
    value = text.strip().lower()
    if value not in LOG_FORMATS:
        raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}")
    return value


def _cql_identifier(text: str) -> str:
    # The keyspace name is interpolated into DDL (CQL cannot bind identifiers),
    # so only plain identifiers are accepted.
    if not (text and len(text) <= 48 and text[0].isalpha() and text.replace("_", "").isalnum() and text.isascii()):
        raise ValueError("must be a plain CQL identifier (letters, digits, underscores)")
    return text.lower()
