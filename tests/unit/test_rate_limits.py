"""rate_limits: whose budget a request spends."""

from __future__ import annotations

import pytest

from leaderboard_app.auth import ApiKeys
from leaderboard_app.rate_limits import client_address, parse_networks, rate_bucket
from leaderboard_app.settings import Settings, SettingsError

KEYS = ApiKeys(read=("reader-key",), write=("writer-key",), admin=("admin-key",))
PROXIES = parse_networks("10.0.0.0/8, 192.168.1.5, ::1")


def test_a_known_key_spends_its_own_budget_wherever_it_comes_from() -> None:
    one = rate_bucket(KEYS, "Bearer reader-key", "203.0.113.7")
    assert one == rate_bucket(KEYS, "Bearer reader-key", "198.51.100.1")
    assert one.startswith("k") and "reader-key" not in one
    assert one != rate_bucket(KEYS, "Bearer writer-key", "203.0.113.7")


@pytest.mark.parametrize("authorization", [None, "Bearer made-up-1", "Bearer made-up-2", "Basic abc", "Bearer"])
def test_anything_but_a_known_key_spends_the_budget_of_its_address(authorization: str | None) -> None:
    assert rate_bucket(KEYS, authorization, "203.0.113.7") == "a203.0.113.7"


def test_without_keys_configured_every_request_is_counted_by_address() -> None:
    assert rate_bucket(ApiKeys(), "Bearer anything", "203.0.113.7") == "a203.0.113.7"


def test_the_peer_is_the_client_unless_it_is_a_trusted_proxy() -> None:
    assert client_address("203.0.113.7", ["1.2.3.4"], PROXIES) == "203.0.113.7"  # its header is not believed
    assert client_address("203.0.113.7", [], ()) == "203.0.113.7"
    assert client_address(None, [], PROXIES) == "unknown"


@pytest.mark.parametrize(("forwarded", "client"), [
    (["198.51.100.1"], "198.51.100.1"),
    (["6.6.6.6, 198.51.100.1"], "198.51.100.1"),  # what the client wrote itself stays left of the real hop
    (["6.6.6.6, 198.51.100.1, 10.1.2.3"], "198.51.100.1"),  # through two trusted proxies
    (["6.6.6.6", "198.51.100.1, 192.168.1.5"], "198.51.100.1"),  # the header sent twice
    (["10.9.9.9"], "10.9.9.9"),  # only proxies: the farthest one
    ([], "10.0.0.2"),
    (["not-an-address"], "not-an-address"),
])
def test_behind_trusted_proxies_the_nearest_untrusted_forwarded_address_counts(forwarded: list[str],
                                                                                client: str) -> None:
    assert client_address("10.0.0.2", forwarded, PROXIES) == client


def test_trusted_proxies_come_from_the_environment() -> None:
    settings = Settings.from_env({"LEADERBOARD_TRUSTED_PROXIES": "10.0.0.0/8,::1"})
    assert [str(network) for network in settings.trusted_proxies] == ["10.0.0.0/8", "::1/128"]
    assert Settings.from_env({}).trusted_proxies == ()
    with pytest.raises(SettingsError, match="'nonsense' is not an IP address or network"):
        Settings.from_env({"LEADERBOARD_TRUSTED_PROXIES": "10.0.0.1,nonsense"})
