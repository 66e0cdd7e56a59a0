"""How every Kafka client of a worker reaches the brokers: their addresses and security (SASL, TLS).

Faust's own producer, consumer and admin client take :meth:`KafkaConnection.faust_credentials`;
the clients the service opens beside them (readiness, lag, reading a range of records, the
bench) take :meth:`KafkaConnection.client_options`, which Faust's own mapping derives from the
same credentials, so no client can connect differently from the others.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types.auth import CredentialsT

from leaderboard_app.faust_compat import aiokafka_auth_options

#: KAFKA_SECURITY_PROTOCOL values, as Kafka names them.
PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
#: KAFKA_SASL_MECHANISM values both the broker and aiokafka know without extra libraries.
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def bootstrap_servers(broker_url: str) -> list[str]:
    """Turn Faust's ``kafka://host:port;kafka://host2:port`` into aiokafka's host list."""
    servers = []
    for part in broker_url.replace(",", ";").split(";"):
        part = part.strip()
        if part:
            servers.append(part.split("://", 1)[-1].rstrip("/"))
    return servers


@dataclass(frozen=True)
class KafkaSecurity:
    """How clients authenticate to the brokers and encrypt the connection (default: neither)."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    #: CA bundle the brokers' certificates are checked against ("": the system's).
    ssl_cafile: str = ""
    #: A client certificate and its key, for brokers that require one (mutual TLS).
    ssl_certfile: str = ""
    ssl_keyfile: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> KafkaSecurity:
        """Read the KAFKA_* variables; ValueError names the one that cannot be used."""
        protocol = environ.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").strip().upper()
        if protocol not in PROTOCOLS:
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}")
        mechanism = environ.get("KAFKA_SASL_MECHANISM", "PLAIN").strip().upper()
        if mechanism not in SASL_MECHANISMS:
            raise ValueError(f"KAFKA_SASL_MECHANISM must be one of {', '.join(SASL_MECHANISMS)}")
        security = cls(
            protocol=protocol, sasl_mechanism=mechanism,
            sasl_username=environ.get("KAFKA_SASL_USERNAME", ""),
            sasl_password=environ.get("KAFKA_SASL_PASSWORD", ""),
            ssl_cafile=environ.get("KAFKA_SSL_CAFILE", ""),
            ssl_certfile=environ.get("KAFKA_SSL_CERTFILE", ""),
            ssl_keyfile=environ.get("KAFKA_SSL_KEYFILE", ""),
        )
        security._check()
        return security

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol.endswith("SSL")

    def _check(self) -> None:
        if self.sasl and not (self.sasl_username and self.sasl_password):
            raise ValueError(f"KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with {self.protocol}")
        if not self.sasl and (self.sasl_username or self.sasl_password):
            # Credentials that would silently go unused are a configuration mistake.
            raise ValueError(f"KAFKA_SASL_USERNAME/PASSWORD are set but KAFKA_SECURITY_PROTOCOL is {self.protocol}")
        if not self.tls and (self.ssl_cafile or self.ssl_certfile or self.ssl_keyfile):
            raise ValueError(f"KAFKA_SSL_* files are set but KAFKA_SECURITY_PROTOCOL is {self.protocol}")
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context that checks the brokers' certificates (and presents ours), or None without TLS."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ssl_cafile or None)
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return context


@dataclass(frozen=True)
class KafkaConnection:
    """The brokers and how to reach them, shared by every Kafka client of a process."""

    broker_url: str
    security: KafkaSecurity = KafkaSecurity()

    @property
    def servers(self) -> list[str]:
        return bootstrap_servers(self.broker_url)

    def faust_credentials(self) -> CredentialsT | None:
        """Faust's ``broker_credentials`` (None: plaintext without authentication)."""
        security = self.security
        context = security.ssl_context()
        if security.sasl:
            return faust.SASLCredentials(username=security.sasl_username, password=security.sasl_password,
                                         mechanism=security.sasl_mechanism, ssl_context=context)
        if context is not None:
            return faust.SSLCredentials(context)
        return None

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for an aiokafka client of our own: the servers and the same security as Faust's."""
        return {"bootstrap_servers": self.servers, **aiokafka_auth_options(self.faust_credentials())}
