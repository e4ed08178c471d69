"""A real uvicorn serving an app on a free loopback port, in a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import uvicorn
from fastapi import FastAPI

START_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class LiveServer:
    """Where the server listens."""

    url: str


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[LiveServer]:
    """Run ``app`` under uvicorn on port 0 until the block ends."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    try:
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        yield LiveServer(url)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
