"""Headless Chromium for the tests, driven over the Chrome DevTools Protocol.

Debian's ``chromium`` package (installed by `make test`) is the browser; the
protocol is spoken over a WebSocket with the ``websockets`` package, so nothing
is downloaded at run time (Playwright and Selenium Manager would fetch a browser
or a driver of their own). Only the few commands the page tests need are here.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

from websockets.sync.client import ClientConnection, connect

START_TIMEOUT = 30.0
COMMAND_TIMEOUT = 30.0


class BrowserError(AssertionError):
    """The browser failed to start, or answered a command with an error."""


class Chromium:
    """A headless Chromium process with one page, closed (and its profile removed) on exit."""

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        executable = shutil.which("chromium")
        if executable is None:
            raise BrowserError("chromium is not installed; `make test` installs Debian's package")
        self.profile = Path(tempfile.mkdtemp(prefix="leaderboard-chromium-"))
        self.log_path = self.profile / "chromium.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                 "--disable-background-networking", f"--window-size={width},{height}",
                 # Port 0: Chromium picks a free one and writes it to DevToolsActivePort.
                 "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "about:blank"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self._connections = ExitStack()
        try:
            self._socket = self._connections.enter_context(
                connect(self._page_socket_url(), max_size=None, open_timeout=START_TIMEOUT))
        except BaseException:
            self.close()
            raise

    def _page_socket_url(self) -> str:
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise BrowserError(f"chromium exited with {self.process.returncode}: {self._log_tail()}")
            lines = port_file.read_text().split() if port_file.exists() else []
            if lines:
                port = int(lines[0])
                with connect(f"ws://127.0.0.1:{port}{lines[1]}", open_timeout=START_TIMEOUT) as browser:
                    target = self._call(browser, "Target.createTarget", url="about:blank")["targetId"]
                return f"ws://127.0.0.1:{port}/devtools/page/{target}"
            if time.monotonic() > deadline:
                raise BrowserError(f"chromium did not open its DevTools port: {self._log_tail()}")
            time.sleep(0.05)

    def _log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""

    def _call(self, socket: ClientConnection, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while True:
            message = json.loads(socket.recv(timeout=max(0.0, deadline - time.monotonic())))
            if message.get("id") == call_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Run one DevTools command on the page and return its result."""
        return self._call(self._socket, method, **params)

    def navigate(self, url: str) -> None:
        """Open ``url`` and wait until the page has loaded."""
        self.send("Page.enable")
        self.events.clear()
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while not any(event["method"] == "Page.loadEventFired" for event in self.events):
            if time.monotonic() > deadline:
                raise BrowserError(f"{url} did not finish loading")
            time.sleep(0.02)
            self.send("Runtime.evaluate", expression="1")  # collects the events that came meanwhile

    def evaluate(self, expression: str) -> Any:
        """Return the value of a JavaScript expression in the page (promises awaited)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the page at ``path``."""
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self._connections.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
