"""Headless Chromium driven over the DevTools protocol, for the report's browser test.

Chromium is started with ``--remote-debugging-port=0`` (it picks a free port and writes it to
``DevToolsActivePort`` in its profile directory), a page target is opened, and commands are
sent over the page's WebSocket with the ``websockets`` package already in the environment.
Every console message, uncaught exception and browser log entry is collected, so a test can
assert that a page produced none.

It also screenshots a real report for the README (the picture must be of a real run, not of
the tests' fixtures)::

    .venv/bin/python -m tests.reports.browser runs/<id>/report.html docs/img/report.png
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from websockets.sync.client import ClientConnection, connect

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--remote-allow-origins=*",
)
START_TIMEOUT_S = 30.0


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError("headless Chromium is not installed: apt-get install -y chromium")
    return path


class Browser:
    """One Chromium process and one page; use as a context manager."""

    def __init__(self, profile_dir: Path) -> None:
        self.profile_dir = profile_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.socket: ClientConnection | None = None
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Browser:
        self.process = subprocess.Popen(
            [
                chromium_path(),
                *FLAGS,
                "--remote-debugging-port=0",
                f"--user-data-dir={self.profile_dir}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port = self._wait_for_port()
            url = f"http://127.0.0.1:{port}/json/list"
            with urllib.request.urlopen(url, timeout=10) as reply:  # loopback
                targets = json.load(reply)
            page = next(t for t in targets if t["type"] == "page")
            self.socket = self._stack.enter_context(
                connect(page["webSocketDebuggerUrl"], max_size=64 * 2**20)
            )
            for domain in ("Runtime", "Log", "Page"):
                self.send(f"{domain}.enable")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def _wait_for_port(self) -> int:
        marker = self.profile_dir / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if marker.is_file() and marker.read_text().strip():
                return int(marker.read_text().splitlines()[0])
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            time.sleep(0.05)
        raise TimeoutError(f"chromium did not open its DevTools port in {START_TIMEOUT_S} s")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command, collect events until its reply, return the reply's result."""
        assert self.socket is not None
        message_id = next(self._ids)
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for(self, event: str, timeout_s: float = 30.0) -> dict[str, Any]:
        assert self.socket is not None
        for seen in self.events:
            if seen.get("method") == event:
                return seen
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message: dict[str, Any] = json.loads(
                self.socket.recv(timeout=deadline - time.monotonic())
            )
            self.events.append(message)
            if message.get("method") == event:
                return message
        raise TimeoutError(f"no {event} within {timeout_s} s")

    def open(self, path: Path, width: int = 1200, height: int = 900) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=width < 600,
        )
        self.events.clear()
        self.send("Page.navigate", url=path.resolve().as_uri())
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        reply = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression!r} threw: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and browser log errors seen."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning"):
                found.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params.get('exceptionDetails')}")
            elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
                found.append(f"log: {params['entry'].get('text')}")
        return found

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params |= {
                "captureBeyondViewport": True,
                "clip": {
                    "x": 0,
                    "y": 0,
                    "scale": 1,
                    "width": size["width"],
                    "height": size["height"],
                },
            }
        data = self.send("Page.captureScreenshot", **params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def print_pdf(self) -> bytes:
        reply = self.send("Page.printToPDF", preferCSSPageSize=True, printBackground=True)
        return base64.b64decode(reply["data"])


def main(argv: list[str]) -> int:
    """``python -m tests.reports.browser REPORT.html OUT.png [WIDTH HEIGHT]``: the top of a
    rendered report as the README shows it (1100 x 1500 CSS pixels by default)."""
    if len(argv) not in (2, 4):
        print(main.__doc__, file=sys.stderr)
        return 2
    report, out = Path(argv[0]), Path(argv[1])
    width, height = (int(argv[2]), int(argv[3])) if len(argv) == 4 else (1100, 1500)
    with tempfile.TemporaryDirectory() as profile, Browser(Path(profile)) as browser:
        browser.open(report, width=width, height=height)
        browser.screenshot(out, full_page=False)
        problems = browser.problems()
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(out)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
