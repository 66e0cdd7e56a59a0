"""Child processes the run starts (workers, hello servers), and only those: each is stopped
by the PID it was started with, never looked up by name."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.machine import REPO_DIR


class ChildProcess:
    """A long-running child in a session of its own, its output in ``log_path``."""

    def __init__(self, name: str, command: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.command = list(command)
        self.log_path = log_path
        self.env = dict(env if env is not None else os.environ)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} was not started")
        return self.process.pid

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            # From the repository, so that ``python -m bench.hello`` finds the package.
            self.process = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True, cwd=REPO_DIR)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def require_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(f"{self.name} exited; the end of {self.log_path}:\n{self.log_tail()}")

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM), without waiting."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout: float = 60.0) -> None:
        """Wait for the process to exit; SIGKILL it after ``timeout`` seconds."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        self.terminate()
        self.wait_stopped(timeout)

    def log_tail(self, characters: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-characters:]
        except FileNotFoundError:
            return "(no log)"


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) != 0


def wait_listening(child: ChildProcess, port: int, timeout: float = 30.0, host: str = "127.0.0.1") -> None:
    """Wait until ``child`` accepts connections on ``port``; raise if it dies or the deadline passes."""
    deadline = time.monotonic() + timeout
    while port_free(port, host):
        child.require_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{child.name} did not listen on {host}:{port} within {timeout:g} s")
        time.sleep(0.1)
