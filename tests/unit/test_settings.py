import pytest

from leaderboard_app.app import LeaderboardApp
from leaderboard_app.settings import Settings, SettingsError
from leaderboard_app.tables import store_options


def test_defaults_point_at_local_services():
    settings = Settings.from_env({})
    assert settings.broker_url == "kafka://127.0.0.1:9092"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.cassandra_contact_points == ("127.0.0.1",)
    assert settings.web_port == 6066
    assert settings.data_dir == ".state/worker-6066"


def test_environment_overrides_and_data_dir_follows_the_port():
    settings = Settings.from_env(
        {"WEB_PORT": "7001", "TOPIC_PARTITIONS": "8", "CASSANDRA_CONTACT_POINTS": "a, b", "CASSANDRA_KEYSPACE": "Lb_2"}
    )
    assert (settings.web_port, settings.topic_partitions) == (7001, 8)
    assert settings.data_dir == ".state/worker-7001"
    assert settings.cassandra_contact_points == ("a", "b")
    assert settings.cassandra_keyspace == "lb_2"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEB_PORT", "http"),
        ("TOPIC_PARTITIONS", "0"),
        ("CASSANDRA_KEYSPACE", "x; DROP"),
        ("LEADERBOARD_KAFKA_TIMEOUT", "-1"),
        ("LEADERBOARD_RATE_LIMIT", "-5"),
        ("LEADERBOARD_BATCH_SIZE", "0"),
        ("LEADERBOARD_FETCH_WAIT_MS", "0"),
        ("LEADERBOARD_STORE_WRITE_BUFFER_MB", "0"),
        ("LEADERBOARD_STORE_BLOCK_CACHE_MB", "lots"),
    ],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_batching_is_configurable():
    assert (Settings.from_env({}).batch_size, Settings.from_env({}).fetch_wait_ms) == (1000, 10)
    settings = Settings.from_env({"LEADERBOARD_BATCH_SIZE": "50", "LEADERBOARD_FETCH_WAIT_MS": "20"})
    assert (settings.batch_size, settings.fetch_wait_ms) == (50, 20)


def test_the_table_stores_memory_is_bounded_and_configurable():
    mib = 1024 * 1024
    assert store_options(Settings.from_env({})) == {
        "write_buffer_size": 8 * mib, "max_write_buffer_number": 2, "block_cache_size": 32 * mib}
    settings = Settings.from_env({"LEADERBOARD_STORE_WRITE_BUFFER_MB": "16", "LEADERBOARD_STORE_BLOCK_CACHE_MB": "256"})
    assert store_options(settings) == {
        "write_buffer_size": 16 * mib, "max_write_buffer_number": 2, "block_cache_size": 256 * mib}


def test_the_app_opens_its_table_stores_with_those_options(tmp_path):
    app = LeaderboardApp(Settings.from_env({"APP_DATADIR": str(tmp_path), "LEADERBOARD_STORE_BLOCK_CACHE_MB": "48"}))
    opened = app.player_scores.data.rocksdb_options
    assert (opened.write_buffer_size, opened.max_write_buffer_number, opened.block_cache_size) == (
        8 * 1024 * 1024, 2, 48 * 1024 * 1024)


def test_secrets_stay_out_of_repr():
    settings = Settings.from_env({"REDIS_URL": "redis://:hunter2@h:6379/0", "CASSANDRA_PASSWORD": "s3cret"})
    assert "hunter2" not in repr(settings)
    assert "s3cret" not in repr(settings)


def test_one_copy_of_everything_by_default():
    settings = Settings.from_env({})
    assert (settings.topic_replication_factor, settings.min_insync_replicas) == (1, 1)
    assert (settings.cassandra_write_consistency, settings.cassandra_read_consistency) == ("LOCAL_ONE", "LOCAL_ONE")
    assert settings.redis.cluster is False


def test_replicated_stores_ask_a_majority_by_default():
    settings = Settings.from_env({"TOPIC_REPLICATION_FACTOR": "3", "CASSANDRA_REPLICATION_FACTOR": "3"})
    assert (settings.topic_replication_factor, settings.min_insync_replicas) == (3, 2)
    assert settings.topic_config == {"min.insync.replicas": "2"}
    assert (settings.cassandra_write_consistency, settings.cassandra_read_consistency) == (
        "LOCAL_QUORUM", "LOCAL_QUORUM")
    chosen = Settings.from_env({"CASSANDRA_REPLICATION_FACTOR": "3", "CASSANDRA_READ_CONSISTENCY": "one"})
    assert chosen.cassandra_read_consistency == "ONE"


@pytest.mark.parametrize(("environ", "named"), [
    ({"TOPIC_REPLICATION_FACTOR": "2", "LEADERBOARD_MIN_INSYNC_REPLICAS": "3"}, "LEADERBOARD_MIN_INSYNC_REPLICAS"),
    ({"CASSANDRA_WRITE_CONSISTENCY": "MOST"}, "CASSANDRA_WRITE_CONSISTENCY"),
    ({"REDIS_CLUSTER": "yes"}, "REDIS_CLUSTER"),
])
def test_unusable_replication_settings_are_refused_by_name(environ, named):
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(environ)


def test_the_app_creates_its_topics_and_changelogs_replicated(tmp_path):
    settings = Settings.from_env({"APP_DATADIR": str(tmp_path), "TOPIC_REPLICATION_FACTOR": "3"})
    app = LeaderboardApp(settings)
    assert app.conf.topic_replication_factor == 3
    for topic in (app.score_updates_topic, app.dead_letter_topic, app.game_rule_updates_topic,
                  app.player_scores.changelog_topic, app.game_rules.changelog_topic):
        assert topic.config == {"min.insync.replicas": "2"}, topic


def test_a_redis_cluster_is_named_by_seed_urls():
    settings = Settings.from_env({"REDIS_CLUSTER": "true", "REDIS_URL": "redis://a:7001, redis://b:7002"})
    assert settings.redis.cluster and settings.redis.seed_urls == ["redis://a:7001", "redis://b:7002"]
    one = Settings.from_env({"REDIS_URL": "redis://a:6379/0"}).redis
    assert one.seed_urls == ["redis://a:6379/0"]
