"""infra/: the scripts stop only the processes they started (bash, no service needed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import eventually

INFRA = Path(__file__).resolve().parents[2] / "infra"


def bash(script: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], env={**os.environ, "LEADERBOARD_STATE_DIR": str(state)},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("service", ["redis", "kafka", "cassandra"])
@pytest.mark.parametrize("recorded", ["{pid} 1", "{pid}"])  # another start time; none (a file of older scripts)
def test_stop_leaves_alone_a_process_that_reused_a_recorded_pid(tmp_path: Path, service: str, recorded: str) -> None:
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        pid_file = tmp_path / service / "pid"
        pid_file.parent.mkdir(parents=True)
        pid_file.write_text(recorded.format(pid=bystander.pid) + "\n")
        stopped = bash(f"bash {INFRA / service}.sh stop", tmp_path)
        assert stopped.returncode == 0, stopped.stderr
        assert bystander.poll() is None, "an unrelated process was signalled"
        assert "nothing of ours to stop" in stopped.stderr
        assert not pid_file.exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_a_spawned_service_is_known_by_its_pid_and_start_time_and_stopped(tmp_path: Path) -> None:
    started = bash(f"source {INFRA}/common.sh && spawn_detached probe {tmp_path}/out.log sleep 60"
                   " && running_pid probe", tmp_path)
    assert started.returncode == 0, started.stderr
    pid = int(started.stdout)
    recorded_pid, start_time = (tmp_path / "probe" / "pid").read_text().split()
    assert int(recorded_pid) == pid
    assert start_time == Path(f"/proc/{pid}/stat").read_text().rpartition(") ")[2].split()[19]
    stopped = bash(f"source {INFRA}/common.sh && stop_service_pid probe 5", tmp_path)
    assert stopped.returncode == 0, stopped.stderr

    def gone() -> None:
        assert not Path(f"/proc/{pid}").exists()

    eventually(gone, timeout=10)
