"""What every request passes before it reaches a backend: the Host check without keys, JSON bodies only,
and a configuration that leaves writes open only on purpose (aiohttp's test
client on the app's own web application; no service is started)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from leaderboard_app.app import create_app
from leaderboard_app.settings import Settings, SettingsError


async def client_of(settings: Settings) -> TestClient:
    app = create_app(settings)
    app.web.init_server()
    return TestClient(TestServer(app.web.web_app))


@pytest.fixture
async def keyless() -> AsyncIterator[TestClient]:
    async with await client_of(Settings.from_env({"LEADERBOARD_RATE_LIMIT": "0", "WEB_HOST": "lb-1"})) as client:
        yield client


@pytest.mark.parametrize("host", ["localhost:6066", "127.0.0.1:6066", "[::1]:6066", "LOCALHOST", "lb-1:6066"])
async def test_without_keys_the_configured_hosts_are_served(keyless: TestClient, host: str) -> None:
    response = await keyless.get("/health", headers={"Host": host})
    assert response.status == 200


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:6066", "127.0.0.1.attacker.example"])
async def test_without_keys_a_rebinding_page_is_refused(keyless: TestClient, host: str) -> None:
    for method, path in (("GET", "/health"), ("PUT", "/games/g"), ("DELETE", "/users/u")):
        response = await keyless.request(method, path, headers={"Host": host})
        assert response.status == 421
        assert "LEADERBOARD_ALLOWED_HOSTS" in (await response.json())["error"]


async def test_with_keys_any_host_is_served() -> None:
    settings = Settings.from_env({"LEADERBOARD_RATE_LIMIT": "0", "LEADERBOARD_WRITE_KEYS": "w",
                                  "LEADERBOARD_ADMIN_KEYS": "a"})
    async with await client_of(settings) as client:
        assert (await client.get("/health", headers={"Host": "leaderboard.example.com"})).status == 200


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx"])
@pytest.mark.parametrize(("method", "path"), [("POST", "/score"), ("POST", "/scores"), ("PUT", "/games/g")])
async def test_writes_refuse_a_body_not_declared_json(keyless: TestClient, method: str, path: str,
                                                      content_type: str | None) -> None:
    headers = {"Host": "localhost"} | ({"Content-Type": content_type} if content_type else {})
    response = await keyless.request(method, path, data=b'{"gameId": "g", "userId": "u", "score": 1}',
                                     headers=headers)
    assert response.status == 415
    assert await response.json() == {"error": "Content-Type must be application/json"}


async def test_a_json_body_with_a_charset_passes_the_type_check(keyless: TestClient) -> None:
    # Past the check, the body is validated: an invalid one is a 400 about its field, not a 415.
    response = await keyless.post("/score", data=b'{"gameId": "g", "userId": "u", "score": "x"}',
                                  headers={"Host": "localhost", "Content-Type": "Application/JSON; charset=utf-8"})
    assert response.status == 400
    assert (await response.json())["error"].startswith("score ")


@pytest.mark.parametrize("keys", [
    {"LEADERBOARD_READ_KEYS": "r", "LEADERBOARD_ADMIN_KEYS": "a"},
    {"LEADERBOARD_ADMIN_KEYS": "a"},
    {"LEADERBOARD_READ_KEYS": "r"},
])
def test_keys_without_write_keys_are_refused_unless_open_writes_are_meant(keys: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="LEADERBOARD_WRITE_KEYS is empty") as refused:
        Settings.from_env(keys)
    assert "r" not in str(refused.value).split() and "a" not in str(refused.value).split()  # no key in it
    assert not Settings.from_env({**keys, "LEADERBOARD_ALLOW_OPEN_WRITES": "true"}).api_keys.write
    with pytest.raises(SettingsError, match="LEADERBOARD_ALLOW_OPEN_WRITES"):
        Settings.from_env({**keys, "LEADERBOARD_ALLOW_OPEN_WRITES": "yes"})


def test_allowed_hosts_come_from_the_environment() -> None:
    assert Settings.from_env({"LEADERBOARD_ALLOWED_HOSTS": " Board.Example , [::1] "}).allowed_hosts == (
        "board.example", "::1")
    assert "lb-7" in Settings.from_env({"WEB_HOST": "lb-7"}).allowed_hosts
    with pytest.raises(SettingsError, match="LEADERBOARD_ALLOWED_HOSTS"):
        Settings.from_env({"LEADERBOARD_ALLOWED_HOSTS": " , "})
