"""API keys, their scopes, and who may call which endpoint.

Keys come from the environment as comma-separated lists, so an old and a new key
can both be valid while clients rotate:

    LEADERBOARD_READ_KEYS    read the leaderboards
    LEADERBOARD_WRITE_KEYS   submit scores (and read)
    LEADERBOARD_ADMIN_KEYS   admin endpoints (and write, and read)

Clients present a key as ``Authorization: Bearer <key>``. This module is pure
logic: the web layer maps :class:`AuthError` to its status, keeps ``/health`` and
``/ready`` out of it, and logs :func:`open_warning` at start. No function here
puts a key's value into a message, and :class:`ApiKeys` keeps them out of its repr.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

READ_KEYS_VAR = "LEADERBOARD_READ_KEYS"
WRITE_KEYS_VAR = "LEADERBOARD_WRITE_KEYS"
ADMIN_KEYS_VAR = "LEADERBOARD_ADMIN_KEYS"

OPEN_WARNING = (
    "NO API KEYS CONFIGURED: every endpoint, admin ones included, is open to anyone who can reach this port "
    f"(set {WRITE_KEYS_VAR} and {ADMIN_KEYS_VAR}, and {READ_KEYS_VAR} to close reads)"
)


class Scope(enum.IntEnum):
    """What a key may do; a higher scope includes every lower one."""

    READ = 1
    WRITE = 2
    ADMIN = 3


_VERBS = {Scope.READ: "read", Scope.WRITE: "write", Scope.ADMIN: "administer"}


class AuthError(Exception):
    """A request lacks the key its endpoint needs; ``status`` is 401 or 403."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _keys(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _utf8(text: str) -> bytes:
    # surrogatepass: a header holding a lone surrogate must not raise, because
    # UnicodeEncodeError would carry the presented key into its message.
    return text.encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class ApiKeys:
    """The configured keys of each scope; empty tuples mean none."""

    read: tuple[str, ...] = field(default=(), repr=False)
    write: tuple[str, ...] = field(default=(), repr=False)
    admin: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ApiKeys:
        """Read the three comma-separated key lists from ``environ``."""
        return cls(
            read=_keys(environ.get(READ_KEYS_VAR, "")),
            write=_keys(environ.get(WRITE_KEYS_VAR, "")),
            admin=_keys(environ.get(ADMIN_KEYS_VAR, "")),
        )

    @property
    def configured(self) -> bool:
        """Return whether any key of any scope is configured."""
        return bool(self.read or self.write or self.admin)

    def scope_of(self, key: str) -> Scope | None:
        """Return the highest scope ``key`` grants, or None if it is unknown."""
        presented = _utf8(key)
        granted = 0
        # Every configured key is compared, with no early exit, so the time taken
        # does not reveal which list or position matched, nor whether any did.
        for scope, candidates in ((Scope.READ, self.read), (Scope.WRITE, self.write), (Scope.ADMIN, self.admin)):
            for candidate in candidates:
                matched = hmac.compare_digest(_utf8(candidate), presented)
                granted = max(granted, int(scope) * matched)
        return Scope(granted) if granted else None


def needs_key(keys: ApiKeys, scope: Scope) -> bool:
    """Return whether an endpoint of ``scope`` needs a key under ``keys``."""
    if scope is Scope.ADMIN:
        return keys.configured
    if scope is Scope.WRITE:
        # Writes close only when write keys are configured, as the issue says:
        # with admin keys alone, score submission stays open and only the admin
        # endpoints are closed. Configure write keys to close writes.
        return bool(keys.write)
    # Reads close only when read keys are configured; write and admin keys are
    # then accepted too (see Scope).
    return bool(keys.read)


def bearer_token(header: str | None) -> str | None:
    """Return the token of an ``Authorization: Bearer <token>`` value, or None."""
    if header is None:
        return None
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1]


def authorize(keys: ApiKeys, scope: Scope, authorization: str | None) -> None:
    """Raise AuthError unless the Authorization header allows an endpoint of ``scope``."""
    # On an endpoint that needs no key, a presented key is not checked at all:
    # an unknown or malformed one is ignored rather than rejected, so the
    # endpoint behaves the same for every caller.
    if not needs_key(keys, scope):
        return
    token = bearer_token(authorization)
    if token is None:
        raise AuthError(401, "missing or malformed Authorization: Bearer <key> header")
    granted = keys.scope_of(token)
    if granted is None:
        raise AuthError(401, "unknown API key")
    if granted < scope:
        raise AuthError(403, f"this key may not {_VERBS[scope]}")


def open_warning(keys: ApiKeys) -> str | None:
    """Return the warning to log at start when no key at all is configured."""
    return None if keys.configured else OPEN_WARNING
