"""A TCP fault proxy on asyncio, with Toxiproxy's semantics for the faults we need.

Put it between the service and PostgreSQL (``DATABASE_URL=...@127.0.0.1:<proxy port>/...``)
and change the network's behaviour while the service runs::

    proxy = FaultProxy("127.0.0.1", 5432)
    await proxy.start()                       # proxy.port is the port to connect to
    proxy.set_latency(0.050)                  # +50 ms on every chunk towards the client
    proxy.reset_connections()                 # RST every open connection now
    proxy.set_reset_peer(True)                # ...and every new one, until cleared
    proxy.set_blackhole(True)                 # accept data, deliver nothing, keep sockets open
    proxy.clear()                             # healthy again

============  =======================================================  ======================
fault         what the client sees                                     Toxiproxy equivalent
============  =======================================================  ======================
latency       each chunk delayed ``latency_s`` (± ``jitter_s``) in the  ``latency``
              chosen direction(s); order and throughput preserved
reset         ``ECONNRESET`` (TCP RST, via ``SO_LINGER`` 0)             ``reset_peer``
blackhole     silence: writes succeed, nothing arrives, no close         ``timeout`` (0)
============  =======================================================  ======================

Latency is applied per direction like Toxiproxy's *downstream* (server -> client, the default)
and *upstream* toxics; a request/response round trip through a proxy with downstream latency
L takes L longer. Chunks are timestamped on arrival and released by a separate writer task,
so a delay never stalls reading (as a ``sleep`` in the copy loop would).

The ``db`` chaos scenario puts it on the bundled service's path to PostgreSQL
(:mod:`harness.run.chaos.injectors`). Run it alone with
``python -m harness.run.chaos.fault_proxy --upstream 127.0.0.1:5432``; ``docs/resilience.md``
shows the control commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

DIRECTIONS = ("upstream", "downstream")
CHUNK = 65536


@dataclass(slots=True)
class Toxics:
    """The faults currently applied (all off by default)."""

    latency_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(DIRECTIONS, 0.0))
    jitter_s: float = 0.0
    blackhole: bool = False
    reset_peer: bool = False


@dataclass(eq=False, slots=True)
class _Link:
    """One proxied connection: the client's and the upstream's writers."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST instead of a FIN: the peer gets ECONNRESET."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """Listens on ``listen_host:listen_port`` (0 = any free port), forwards to the upstream."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        seed: int = 0,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.listen = (listen_host, listen_port)
        self.toxics = Toxics()
        self._rng = random.Random(seed)
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.accepted = 0
        self.resets = 0

    def __repr__(self) -> str:
        port = self.port if self._server is not None else self.listen[1]
        target = f"{self.upstream[0]}:{self.upstream[1]}"
        return f"FaultProxy({self.listen[0]}:{port} -> {target}, {self.toxics})"

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> FaultProxy:
        """Start listening; returns self (``proxy = await FaultProxy(...).start()``)."""
        self._server = await asyncio.start_server(self._accept, *self.listen)
        return self

    @property
    def port(self) -> int:
        """The port clients connect to."""
        if self._server is None:
            raise RuntimeError("FaultProxy.start() has not been awaited")
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            self._close(link, reset=False)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # --- faults ----------------------------------------------------------------------------------

    def set_latency(
        self, latency_s: float, *, jitter_s: float = 0.0, direction: str = "downstream"
    ) -> None:
        """Delay every chunk in ``direction`` (upstream, downstream or both) by ``latency_s``."""
        if latency_s < 0 or jitter_s < 0 or jitter_s > latency_s:
            raise ValueError(
                f"latency_s={latency_s}, jitter_s={jitter_s}: need 0 <= jitter_s <= latency_s"
            )
        targets = DIRECTIONS if direction == "both" else (direction,)
        if any(d not in DIRECTIONS for d in targets):
            raise ValueError(f"direction {direction!r} must be upstream, downstream or both")
        for d in targets:
            self.toxics.latency_s[d] = latency_s
        self.toxics.jitter_s = jitter_s

    def set_blackhole(self, on: bool) -> None:
        """Swallow all data in both directions (connections stay open) while ``on``."""
        self.toxics.blackhole = on

    def set_reset_peer(self, on: bool) -> None:
        """Reset every open connection now and, while ``on``, every new one on arrival."""
        self.toxics.reset_peer = on
        if on:
            self.reset_connections()

    def reset_connections(self) -> int:
        """Send a TCP RST on every open connection (both sides); returns how many."""
        links = list(self._links)
        for link in links:
            self._close(link, reset=True)
        return len(links)

    def clear(self) -> None:
        """Remove every fault."""
        self.toxics = Toxics()

    @property
    def open_connections(self) -> int:
        """Connections currently proxied."""
        return len(self._links)

    # --- proxying --------------------------------------------------------------------------------

    def _close(self, link: _Link, *, reset: bool) -> None:
        self._links.discard(link)
        for writer in (link.client, link.upstream):
            if writer is None or writer.transport.is_closing():
                continue
            if reset:
                self.resets += 1
                _reset(writer)
            else:
                writer.close()

    def _delay(self, direction: str) -> float:
        base = self.toxics.latency_s[direction]
        jitter = self.toxics.jitter_s
        return base + self._rng.uniform(-jitter, jitter) if jitter else base

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        link = _Link(writer)
        try:
            if self.toxics.reset_peer:
                self.resets += 1
                _reset(writer)
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError as exc:
                logger.warning("upstream %s:%s unreachable: %s", *self.upstream, exc)
                _reset(writer)
                return
            link.upstream = up_writer
            self._links.add(link)
            pumps = {
                asyncio.create_task(self._pump(reader, up_writer, "upstream")),
                asyncio.create_task(self._pump(up_reader, writer, "downstream")),
            }
            try:
                done, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
                if pending and any(not t.cancelled() and t.exception() for t in done):
                    # One side broke (reset, refused write): tear the other down as well.
                    self._close(link, reset=True)
                await asyncio.gather(*pending, return_exceptions=True)
            finally:
                for pump in pumps:
                    pump.cancel()
        except asyncio.CancelledError:
            # stop() cancels connection handlers; nobody awaits them but stop() itself, so end
            # quietly instead of having asyncio log the cancellation as an unhandled error.
            return
        finally:
            self._close(link, reset=False)
            self._tasks.discard(task)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: str
    ) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if chunk is None:
                    if writer.can_write_eof() and not writer.transport.is_closing():
                        writer.write_eof()
                    return
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                chunk = await reader.read(CHUNK)
                if not chunk:
                    queue.put_nowait((loop.time() + self._delay(direction), None))
                    break
                if self.toxics.blackhole:
                    continue  # swallowed: the sender thinks it was sent
                queue.put_nowait((loop.time() + self._delay(direction), chunk))
            await sender
        finally:
            sender.cancel()


COMMANDS = """commands: latency SECONDS [JITTER] [upstream|downstream|both] | reset |
reset_peer on|off | blackhole on|off | clear | status"""


def apply_command(proxy: FaultProxy, line: str) -> str:
    """Apply one control command (see `COMMANDS`); returns a one-line answer."""
    words = line.split()
    try:
        match words:
            case ["latency", seconds, *rest]:
                jitter = float(rest[0]) if rest else 0.0
                direction = rest[1] if len(rest) > 1 else "downstream"
                proxy.set_latency(float(seconds), jitter_s=jitter, direction=direction)
            case ["reset"]:
                return f"reset {proxy.reset_connections()} connections"
            case ["reset_peer", "on" | "off" as flag]:
                proxy.set_reset_peer(flag == "on")
            case ["blackhole", "on" | "off" as flag]:
                proxy.set_blackhole(flag == "on")
            case ["clear"]:
                proxy.clear()
            case ["status"] | []:
                pass
            case _:
                return f"unknown command {line.strip()!r}; {COMMANDS}"
    except ValueError as exc:
        return f"error: {exc}"
    return repr(proxy)


async def _serve(upstream: str, listen: str) -> None:  # pragma: no cover - interactive
    import sys

    host, _, port = upstream.rpartition(":")
    lhost, _, lport = listen.rpartition(":")
    proxy = await FaultProxy(host, int(port), listen_host=lhost, listen_port=int(lport)).start()
    print(f"fault proxy on {lhost}:{proxy.port} -> {upstream}\n{COMMANDS}", flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        print(apply_command(proxy, line), flush=True)
    await proxy.stop()


if __name__ == "__main__":  # pragma: no cover - interactive
    import argparse

    parser = argparse.ArgumentParser(
        description="TCP fault proxy; type commands on standard input to inject faults."
    )
    parser.add_argument("--upstream", required=True, help="host:port to forward to")
    parser.add_argument("--listen", default="127.0.0.1:0", help="host:port to listen on")
    args = parser.parse_args()
    asyncio.run(_serve(args.upstream, args.listen))
