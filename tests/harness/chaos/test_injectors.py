"""The injectors on real small parts: the database fault on a real connection through the
fault proxy."""

from __future__ import annotations

import socket

import pytest

from harness.run.chaos import injectors
from tests.harness.chaos.doubles import echo_server


def test_the_database_fault_delays_then_resets_then_heals_a_real_connection() -> None:
    server, port = echo_server()
    proxy = injectors.DatabaseProxy("127.0.0.1", port)
    listen = proxy.start()
    faults = injectors.DatabaseFaults(
        proxy, injectors.AdminFaults("http://127.0.0.1:9", "x" * 16, ())
    )
    try:
        with socket.create_connection(("127.0.0.1", listen), timeout=5) as conn:
            conn.sendall(b"ping")
            assert conn.recv(16) == b"ping"
            assert "+200 ms" in faults.inject()
            assert "1 connections reset" in str(faults.midpoint())
            with pytest.raises(OSError):  # reset by the proxy (RST), or closed
                conn.sendall(b"x")
                if not conn.recv(16):
                    raise ConnectionResetError
        faults.heal()
        with socket.create_connection(("127.0.0.1", listen), timeout=5) as conn:
            conn.sendall(b"again")
            assert conn.recv(16) == b"again"
    finally:
        proxy.stop()
        server.close()
