"""What ships besides the code: docker-compose.yml, the Dockerfile, and what importing the package costs.

No Docker engine runs here (nor in CI), so the files are read and checked for the
properties the stack depends on; the imports run in fresh interpreters, since this
test session has long since imported everything.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from leaderboard_app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FAUST = Path(sys.executable).with_name("faust")
BACKING_SERVICES = ("kafka", "redis", "cassandra")


class RecordingEnviron(Mapping[str, str]):
    """An empty environment that notes every variable asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def variables_the_app_reads() -> set[str]:
    """Every environment variable ``Settings.from_env`` (the app's one reader of the environment) asks for."""
    environ = RecordingEnviron()
    Settings.from_env(environ)
    return environ.asked


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def workers() -> dict[str, dict[str, Any]]:
    """The services built from this repository."""
    return {name: service for name, service in compose()["services"].items() if "build" in service}


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the ["NAME=value", ...] form
        env = dict(item.split("=", 1) for item in env)
    return {name: str(value) for name, value in env.items()}


def published(port: str) -> tuple[int, int]:
    """(host port, container port) of a short-syntax port such as "127.0.0.1:6066:6066"."""
    *_, host, container = port.split(":")
    return int(host), int(container)


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = (line.strip() for line in text.splitlines())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines
            if line and not line.startswith("#")]


def instructions(keyword: str) -> list[str]:
    return [arguments for name, arguments in dockerfile() if name == keyword]


# -- docker-compose.yml -----------------------------------------------------------


def test_compose_runs_two_workers_built_from_the_dockerfile() -> None:
    found = workers()
    assert sorted(found) == ["worker-1", "worker-2"]
    for service in found.values():
        build = service["build"]
        assert (build if isinstance(build, str) else build["context"]) == "."
        assert "profiles" not in service, "`docker compose up` must start the workers too"


def test_workers_publish_distinct_host_ports_onto_their_web_port() -> None:
    ports = {name: [published(port) for port in service["ports"]] for name, service in workers().items()}
    assert ports == {"worker-1": [(6066, 6066)], "worker-2": [(6067, 6066)]}
    for name, service in workers().items():
        assert environment(service)["WEB_PORT"] == str(ports[name][0][1])


def test_workers_start_once_kafka_redis_and_cassandra_are_healthy() -> None:
    services = compose()["services"]
    for service in workers().values():
        depends = service["depends_on"]
        for backing in BACKING_SERVICES:
            assert depends[backing]["condition"] == "service_healthy"
            # Without a health check, service_healthy would wait forever.
            assert services[backing]["healthcheck"]["test"]


def test_workers_can_route_to_each_other() -> None:
    found = workers()
    for name, service in found.items():
        env = environment(service)
        # Faust routes a table read to http://WEB_HOST:WEB_PORT of the worker owning the key:
        # the service name, which the compose network resolves.
        assert env["WEB_HOST"] == name
        assert env["WEB_BIND"] == "0.0.0.0"
        # Each worker needs a partition of its own.
        assert int(env["TOPIC_PARTITIONS"]) >= len(found)
        assert env["BROKER_URL"].startswith("kafka://kafka:")
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert env["CASSANDRA_CONTACT_POINTS"] == "cassandra"


def test_workers_set_only_variables_the_app_reads() -> None:
    read = variables_the_app_reads()
    assert {"BROKER_URL", "TOPIC_PARTITIONS", "WEB_HOST", "REDIS_URL"} <= read  # the recorder works
    for name, service in workers().items():
        assert set(environment(service)) - read == set(), name


def test_workers_keep_the_images_ready_check() -> None:
    for service in workers().values():
        check = service.get("healthcheck")
        assert check is None or (not check.get("disable") and "/ready" in str(check["test"]))


def test_every_image_has_a_pinned_tag() -> None:
    for name, service in compose()["services"].items():
        if "image" not in service:
            assert "build" in service, name
            continue
        image = service["image"]
        assert ":" in image.rsplit("/", 1)[-1], f"{name}: {image} has no tag"
        tag = image.rsplit(":", 1)[1]
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned"


# -- Dockerfile ---------------------------------------------------------------------


def test_dockerfile_builds_on_a_pinned_slim_python() -> None:
    (base,) = instructions("FROM")
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim(-\w+)?", base), base


def test_dockerfile_runs_as_an_unprivileged_user() -> None:
    users = instructions("USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")


def test_dockerfile_health_check_asks_ready_on_the_web_port() -> None:
    (check,) = instructions("HEALTHCHECK")
    program, flag, code = json.loads(check.split(" CMD ", 1)[1])
    assert (program, flag) == ("python", "-c")
    compile(code, "HEALTHCHECK", "exec")
    assert "/ready" in code
    # Read when the check runs, so a WEB_PORT set at run time is the port checked.
    assert "os.environ.get('WEB_PORT'" in code


def test_dockerfile_sets_only_variables_the_app_reads() -> None:
    read = variables_the_app_reads()
    for env in instructions("ENV"):
        names = {pair.split("=", 1)[0] for pair in env.split()}
        assert names - read == set()


def test_dockerfile_runs_the_worker_of_the_package_app() -> None:
    (command,) = instructions("CMD")
    assert command == '["faust", "-A", "leaderboard_app", "worker", "-l", "info"]'


# -- importing the package ------------------------------------------------------------


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_importing_the_client_builds_no_app() -> None:
    # The client reaches the service over HTTP: it needs neither the Faust app nor the drivers
    # of the service's stores. (faust itself it does import, through errors.py's WebError.)
    done = run_python(
        "import sys, leaderboard_app.client\n"
        "loaded = [m for m in ('leaderboard_app.app', 'aiokafka', 'redis', 'cassandra') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    assert done.returncode == 0, done.stderr


def test_the_package_attribute_app_is_the_faust_app() -> None:
    done = run_python(
        "import sys, faust, leaderboard_app\n"
        "assert 'leaderboard_app.app' not in sys.modules\n"
        "app = leaderboard_app.app\n"
        "assert isinstance(app, faust.App), type(app)\n"
        "assert app is sys.modules['leaderboard_app.app'].app is leaderboard_app.app\n"
    )
    assert done.returncode == 0, done.stderr


def test_faust_cli_finds_the_app_and_its_commands() -> None:
    done = subprocess.run([str(FAUST), "-A", "leaderboard_app", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    commands = set(re.findall(r"^  ([a-z][a-z-]+)\s", done.stdout.split("Commands:")[1], flags=re.MULTILINE))
    assert {"worker", "rebuild-redis", "load-scores"} <= commands


@pytest.mark.parametrize("module", ["leaderboard_app.models", "leaderboard_app.loadgen"])
def test_importing_a_submodule_builds_no_app(module: str) -> None:
    done = run_python(f"import sys, {module}\nassert 'leaderboard_app.app' not in sys.modules\n")
    assert done.returncode == 0, done.stderr
