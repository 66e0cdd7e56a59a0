"""Whose budget a request spends: the rule of the rate limiter, as pure functions.

A request is counted under its API key only when the key is a known one; any
other request (no key, an unknown key, a malformed header) is counted under the
client's address, so inventing keys buys no fresh budget and guessing keys is
limited like everything else. Behind reverse proxies every request comes from a
proxy: the address is then the nearest one in ``X-Forwarded-For`` that is not a
trusted proxy, and the header of any other sender is ignored (it could write
anything there).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Sequence

from leaderboard_app.auth import ApiKeys, bearer_token

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """Parse a comma-separated list of addresses and CIDR networks; raise ValueError naming a bad one."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
    return tuple(networks)


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[Network]) -> str:
    """The address a request is counted under: ``peer``, or past the trusted proxies in ``X-Forwarded-For``.

    ``forwarded_for`` holds the header's values in order; each proxy appends the
    address it received the request from, so the list is read from the right.
    """
    address = peer or "unknown"
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    while _trusted(address, proxies) and hops:
        address = hops.pop()
    return address


def rate_bucket(keys: ApiKeys, authorization: str | None, address: str) -> str:
    """The counter a request spends: its key's if the key is known, else its address's.

    Keys are named by a digest, so no key is ever written to Redis.
    """
    token = bearer_token(authorization)
    if token is not None and keys.scope_of(token) is not None:
        return "k" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return "a" + address
