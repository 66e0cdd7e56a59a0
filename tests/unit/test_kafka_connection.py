"""How the Kafka security settings become Faust's credentials and our own clients' options."""

from __future__ import annotations

import ssl

import faust
import pytest

from leaderboard_app.app import LeaderboardApp
from leaderboard_app.kafka_connection import KafkaConnection, KafkaSecurity, bootstrap_servers
from leaderboard_app.settings import Settings, SettingsError

SASL = {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "scram-sha-512",
        "KAFKA_SASL_USERNAME": "svc", "KAFKA_SASL_PASSWORD": "pa55word"}


def test_brokers_are_listed_for_aiokafka():
    assert bootstrap_servers("kafka://a:9092;kafka://b:9093/") == ["a:9092", "b:9093"]
    assert bootstrap_servers("a:1,b:2") == ["a:1", "b:2"]


def test_by_default_clients_connect_in_plaintext_without_credentials():
    kafka = Settings.from_env({}).kafka
    assert kafka.faust_credentials() is None
    assert kafka.client_options() == {"bootstrap_servers": ["127.0.0.1:9092"], "security_protocol": "PLAINTEXT"}


def test_sasl_settings_reach_faust_and_our_clients_alike():
    kafka = Settings.from_env({**SASL, "BROKER_URL": "kafka://k1:9092;kafka://k2:9092"}).kafka
    credentials = kafka.faust_credentials()
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password, credentials.mechanism.value) == (
        "svc", "pa55word", "SCRAM-SHA-512")
    assert kafka.client_options() == {
        "bootstrap_servers": ["k1:9092", "k2:9092"], "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "svc", "sasl_plain_password": "pa55word",
        "ssl_context": None}


def test_tls_checks_the_broker_certificate_and_host_name():
    kafka = KafkaConnection("kafka://k:9093", KafkaSecurity(protocol="SSL"))
    options = kafka.client_options()
    assert options["security_protocol"] == "SSL"
    context = options["ssl_context"]
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname


def test_sasl_over_tls_carries_both():
    security = KafkaSecurity.from_env({**SASL, "KAFKA_SECURITY_PROTOCOL": "sasl_ssl"})
    options = KafkaConnection("kafka://k:9093", security).client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)


def test_the_app_hands_faust_the_credentials(tmp_path):
    app = LeaderboardApp(Settings.from_env({**SASL, "APP_DATADIR": str(tmp_path)}))
    assert isinstance(app.conf.broker_credentials, faust.SASLCredentials)
    assert app.conf.broker_credentials.username == "svc"


@pytest.mark.parametrize(("environ", "named"), [
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
    ({**SASL, "KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM"),
    ({**SASL, "KAFKA_SASL_PASSWORD": ""}, "KAFKA_SASL_PASSWORD"),
    ({"KAFKA_SASL_USERNAME": "svc", "KAFKA_SASL_PASSWORD": "x"}, "KAFKA_SECURITY_PROTOCOL is PLAINTEXT"),
    ({"KAFKA_SSL_CAFILE": "/ca.pem"}, "KAFKA_SECURITY_PROTOCOL is PLAINTEXT"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTFILE": "/c.pem"}, "KAFKA_SSL_KEYFILE"),
])
def test_unusable_security_settings_are_refused_by_name(environ, named):
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(environ)


def test_the_password_stays_out_of_repr_and_errors():
    settings = Settings.from_env(SASL)
    assert "pa55word" not in repr(settings)
    assert "pa55word" not in repr(settings.kafka)
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({**SASL, "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"})
    assert "pa55word" not in str(refused.value)
