"""The TCP fault proxy against a real echo server and the real PostgreSQL.

Latency tolerance, stated once: the added delay's median over 15 round trips is within
-5 ms / +30 ms of the configured value (asyncio timers fire on time to within a millisecond;
the upper margin absorbs scheduling noise on a shared 2-core machine).
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from harness.run.chaos.fault_proxy import FaultProxy, apply_command

pytestmark = pytest.mark.anyio

LOW_S, HIGH_S = 0.005, 0.030
ROUNDS = 15


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def proxy(echo_port: int) -> AsyncIterator[FaultProxy]:
    async with FaultProxy("127.0.0.1", echo_port) as running:
        yield running


async def _round_trips(port: int, rounds: int = ROUNDS) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    times = []
    try:
        for i in range(rounds):
            payload = f"ping {i}\n".encode()
            started = time.perf_counter()
            writer.write(payload)
            await writer.drain()
            assert await reader.readexactly(len(payload)) == payload
            times.append(time.perf_counter() - started)
    finally:
        writer.close()
    return times


@pytest.mark.parametrize(("direction", "factor"), [("downstream", 1), ("upstream", 1), ("both", 2)])
async def test_latency_against_an_echo_server(
    proxy: FaultProxy, direction: str, factor: int
) -> None:
    baseline = statistics.median(await _round_trips(proxy.port))
    proxy.set_latency(0.080, direction=direction)
    delayed = statistics.median(await _round_trips(proxy.port))
    added = delayed - baseline
    expected = 0.080 * factor
    assert expected - LOW_S <= added <= expected + HIGH_S, f"added {added * 1000:.1f} ms"
    proxy.clear()
    healed = statistics.median(await _round_trips(proxy.port))
    assert healed < baseline + HIGH_S


async def test_jitter_keeps_order_and_stays_in_bounds(proxy: FaultProxy) -> None:
    proxy.set_latency(0.050, jitter_s=0.020)
    times = await _round_trips(proxy.port, rounds=20)  # readexactly checks order and content
    # No chunk is early (a delay is never shorter than latency - jitter); single late samples
    # are the machine's noise, so the upper bound is on the median.
    assert min(times) >= 0.030 - LOW_S, times
    assert 0.030 <= statistics.median(times) <= 0.070 + HIGH_S, times


async def test_a_reset_surfaces_as_connection_reset(proxy: FaultProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"hello")
    assert await reader.readexactly(5) == b"hello"
    assert proxy.reset_connections() == 1
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(10), timeout=5)
    writer.close()
    assert proxy.open_connections == 0


async def test_reset_peer_refuses_new_connections_until_cleared(proxy: FaultProxy) -> None:
    proxy.set_reset_peer(True)
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    with pytest.raises(ConnectionResetError):
        writer.write(b"hello")
        await writer.drain()
        await asyncio.wait_for(reader.read(10), timeout=5)
    writer.close()
    proxy.clear()
    assert len(await _round_trips(proxy.port, rounds=2)) == 2


async def test_blackhole_swallows_data_but_keeps_the_connection(proxy: FaultProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    proxy.set_blackhole(True)
    writer.write(b"lost")
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(10), timeout=0.3)
    assert proxy.open_connections == 1  # silent, not closed
    proxy.set_blackhole(False)
    writer.write(b"found")
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(5), timeout=5) == b"found"
    writer.close()


def test_control_commands_name_bad_input() -> None:
    proxy = FaultProxy("127.0.0.1", 9)
    assert "latency_s={'upstream': 0.0, 'downstream': 0.2}" in apply_command(proxy, "latency 0.2")
    assert "blackhole=True" in apply_command(proxy, "blackhole on")
    assert "error: latency_s=-1.0" in apply_command(proxy, "latency -1")
    assert "unknown command 'explode'" in apply_command(proxy, "explode")
    assert "blackhole=False" in apply_command(proxy, "clear")


def test_the_proxy_runs_alone_from_its_module_path() -> None:
    """``python -m harness.run.chaos.fault_proxy`` (docs/resilience.md): it listens, answers
    a command from standard input, and stops at its end; loading it from its package first
    would warn (warnings are errors here)."""
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "harness.run.chaos.fault_proxy",
         "--upstream", "127.0.0.1:9"],
        input="blackhole on\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[3],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("fault proxy on 127.0.0.1:") and lines[0].endswith("127.0.0.1:9")
    assert "blackhole=True" in lines[-1]


def _conninfo(postgres_url: str, port: int) -> str:
    url = make_url(postgres_url).set(drivername="postgresql", port=port)
    return url.render_as_string(hide_password=False)


async def _select_times(conn: psycopg.AsyncConnection, rounds: int = ROUNDS) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await conn.execute("SELECT 1")
        times.append(time.perf_counter() - started)
    return times


@pytest.mark.postgres
async def test_latency_and_resets_against_postgresql(postgres_url: str) -> None:
    async with FaultProxy("127.0.0.1", make_url(postgres_url).port or 5432) as proxy:
        conninfo = _conninfo(postgres_url, proxy.port)
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            baseline = statistics.median(await _select_times(conn))
            proxy.set_latency(0.050)
            added = statistics.median(await _select_times(conn)) - baseline
            assert 0.050 - LOW_S <= added <= 0.050 + HIGH_S, f"added {added * 1000:.1f} ms"
            proxy.clear()
            assert proxy.reset_connections() == 1
            with pytest.raises(psycopg.OperationalError):
                await conn.execute("SELECT 1")
        proxy.set_reset_peer(True)
        with pytest.raises(psycopg.OperationalError):
            await psycopg.AsyncConnection.connect(conninfo, connect_timeout=5)
        proxy.clear()
        async with await psycopg.AsyncConnection.connect(conninfo) as conn:
            cursor = await conn.execute("SELECT 41 + 1")
            assert await cursor.fetchone() == (42,)
