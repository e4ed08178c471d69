"""Tiny real HTTP backends for the HAProxy tests: each answers ``/health/ready`` (200, or 503
while marked unhealthy) and any other path with 200, counting the requests it served."""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Backend(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.healthy = True
        self.requests: Counter[str] = Counter()
        self.connections = 0
        """Connections accepted: fewer than requests when the client keeps them alive."""
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> Backend:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(5.0)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.lock:
            self.connections += 1
        super().process_request(request, client_address)

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet about connections the peer reset: HAProxy resets a health check's connection
        as soon as it has read the status line."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]

    def request_connections(self) -> int:
        """Connections that carried requests other than health checks (HAProxy opens one
        connection per check)."""
        with self.lock:
            return self.connections - self.requests["/health/ready"]

    def served(self) -> int:
        """Requests other than health checks."""
        with self.lock:
            return sum(n for path, n in self.requests.items() if path != "/health/ready")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: HAProxy reuses its connections to us
    server: Backend

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests[self.path] += 1
        failing = self.path == "/health/ready" and not self.server.healthy
        body = f"{'unavailable' if failing else 'ok'} {self.server.port}\n".encode()
        self.send_response(503 if failing else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read the counts, not the access log."""
