"""What the chaos tests share: a fault, an injector that records what it was asked, and an
echo server on a real socket for the proxy to stand in front of."""

from __future__ import annotations

import contextlib
import socket
import threading

from harness.run.chaos.injectors import Details
from models.profile import Fault

FAULT = Fault(kind="payments", start_s=10.0, duration_s=20.0, error_budget=0.05, recovery_s=15.0)


class RecordingInjector:
    """Our own Injector protocol, recording what the controller asked for."""

    def __init__(self, whole_after_checks: int = 2) -> None:
        self.calls: list[str] = []
        self.checks = 0
        self.whole_after_checks = whole_after_checks

    def inject(self) -> str:
        self.calls.append("inject")
        return "down"

    def midpoint(self) -> str | None:
        self.calls.append("midpoint")
        return "worse"

    def heal(self) -> str:
        self.calls.append("heal")
        return "up"

    def recovered(self) -> bool:
        self.checks += 1
        return self.checks >= self.whole_after_checks

    def observe(self) -> None:
        self.calls.append("observe")

    def details(self) -> Details:
        return {"breaker_opened": True}


def echo_server() -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def echo(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the proxy resets some of them
            while data := conn.recv(1024):
                conn.sendall(data)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return server, int(server.getsockname()[1])
