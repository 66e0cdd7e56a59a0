"""infra/cluster.sh and the helpers it shares with the single-node scripts (bash, no service needed)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

INFRA = Path(__file__).resolve().parents[2] / "infra"
CLUSTER = INFRA / "cluster.sh"
NODES = ([f"kafka-{i}" for i in range(1, 4)] + [f"cassandra-{i}" for i in range(1, 4)]
         + [f"redis-{i}" for i in range(1, 7)] + ["worker-1", "worker-2"])


def bash(script: str, state: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], env={**os.environ, "LEADERBOARD_STATE_DIR": str(state), **env},
                          capture_output=True, text=True, timeout=60)


def start_time(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(") ")[2].split()[19]


def test_render_template_fills_every_placeholder_verbatim(tmp_path: Path) -> None:
    template = tmp_path / "t.conf"
    template.write_text("dir=@DATA_DIR@\nsecret=@SECRET@ again @SECRET@\nmail=user@host\n")
    value = r"a|b&c\d /e"
    done = bash(f"source {INFRA}/common.sh && render_template {template} {tmp_path}/out.conf"
                f" DATA_DIR=/x/y 'SECRET={value}'", tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.conf").read_text() == f"dir=/x/y\nsecret={value} again {value}\nmail=user@host\n"


def test_render_template_refuses_to_leave_a_placeholder_unfilled(tmp_path: Path) -> None:
    template = tmp_path / "t.conf"
    template.write_text("a=@A@\nb=@B@\n")
    (tmp_path / "out.conf").write_text("previous\n")
    done = bash(f"source {INFRA}/common.sh && render_template {template} {tmp_path}/out.conf A=1", tmp_path)
    assert done.returncode != 0
    assert "@B@" in done.stderr
    assert (tmp_path / "out.conf").read_text() == "previous\n"  # left as it was
    assert not (tmp_path / "out.conf.new").exists()


def test_the_cassandra_and_kafka_templates_render_with_the_values_the_scripts_pass(tmp_path: Path) -> None:
    done = bash(f"source {INFRA}/common.sh && source {INFRA}/lib-cassandra.sh"
                f" && cassandra_render_config {tmp_path}/c CLUSTER_NAME=leaderboard-cluster ADDRESS=127.0.0.2"
                " SEEDS=127.0.0.1:7000 INITIAL_TOKEN=-3074457345618258603"
                f" && source {INFRA}/lib-kafka.sh && kafka_render_config {INFRA}/kafka/cluster-server.properties"
                f" {tmp_path}/k NODE_ID=2 BROKER_PORT=9292 CONTROLLER_PORT=9293"
                f" BOOTSTRAP_CONTROLLERS=127.0.0.1:9193,127.0.0.1:9293,127.0.0.1:9393 DATA_DIR={tmp_path}/k/data",
                tmp_path)
    assert done.returncode == 0, done.stderr
    yaml = (tmp_path / "c" / "conf" / "cassandra.yaml").read_text()
    assert "listen_address: 127.0.0.2\n" in yaml and "rpc_address: 127.0.0.2\n" in yaml
    assert 'seeds: "127.0.0.1:7000"' in yaml and "initial_token: -3074457345618258603\n" in yaml
    assert f"  - {tmp_path}/c/data/data\n" in yaml
    props = (tmp_path / "k" / "server.properties").read_text()
    assert "node.id=2\n" in props and "listeners=PLAINTEXT://127.0.0.1:9292,CONTROLLER://127.0.0.1:9293\n" in props
    assert "min.insync.replicas=2\n" in props and "default.replication.factor=3\n" in props
    assert oct((tmp_path / "k" / "server.properties").stat().st_mode & 0o777) == "0o600"


def test_status_prints_one_line_per_node_and_fails_when_nothing_runs(tmp_path: Path) -> None:
    done = bash(f"bash {CLUSTER} status", tmp_path)
    assert done.returncode != 0
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[:len(NODES)]] == NODES
    assert all(line.endswith("not running") for line in lines[:len(NODES)])


@pytest.mark.parametrize("node", ["redis-1", "kafka-2", "cassandra-3", "worker-1"])
@pytest.mark.parametrize("action", ["kill", "stop"])
def test_kill_and_stop_leave_alone_a_process_that_is_not_the_one_recorded(tmp_path: Path, node: str,
                                                                           action: str) -> None:
    """Same start time but another program (a `sleep`): the pid file is forgotten, nothing signalled."""
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        key = "worker-6091" if node == "worker-1" else node
        pid_file = tmp_path / "cluster" / key / "pid"
        pid_file.parent.mkdir(parents=True)
        pid_file.write_text(f"{bystander.pid} {start_time(bystander.pid)}\n")
        done = bash(f"bash {CLUSTER} {action} {node if action == 'kill' else ''}", tmp_path)
        assert done.returncode == 0, done.stderr
        assert bystander.poll() is None, "an unrelated process was signalled"
        assert not pid_file.exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_kill_refuses_an_unknown_node(tmp_path: Path) -> None:
    done = bash(f"bash {CLUSTER} kill kafka-4", tmp_path)
    assert done.returncode != 0
    assert "usage" in done.stderr


def test_start_refuses_a_port_held_by_another_process_before_starting_anything(tmp_path: Path) -> None:
    listener = socket.socket()
    try:
        try:
            listener.bind(("127.0.0.3", 7000))  # cassandra-3's storage port
        except OSError:
            pytest.skip("127.0.0.3:7000 is in use here (a cluster is running?)")
        listener.listen()
        done = bash(f"bash {CLUSTER} start", tmp_path, CLUSTER_WORKERS="0")
        assert done.returncode != 0
        assert "127.0.0.3:7000, needed by cassandra-3, is in use" in done.stderr
        assert "not starting" in done.stderr
        assert not list((tmp_path / "cluster").glob("*/pid")), "something was started"
    finally:
        listener.close()
