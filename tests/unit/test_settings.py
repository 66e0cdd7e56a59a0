import pytest

from leaderboard_app.settings import Settings, SettingsError


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
        ("LEADERBOARD_BATCH_WINDOW", "0"),
    ],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_batching_is_configurable():
    assert (Settings.from_env({}).batch_size, Settings.from_env({}).batch_window) == (1000, 0.005)
    settings = Settings.from_env({"LEADERBOARD_BATCH_SIZE": "50", "LEADERBOARD_BATCH_WINDOW": "0.02"})
    assert (settings.batch_size, settings.batch_window) == (50, 0.02)


def test_secrets_stay_out_of_repr():
    settings = Settings.from_env({"REDIS_URL": "redis://:hunter2@h:6379/0", "CASSANDRA_PASSWORD": "s3cret"})
    assert "hunter2" not in repr(settings)
    assert "s3cret" not in repr(settings)
