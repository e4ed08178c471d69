"""Cost of the resilience layer per request and per call (docs/benchmarks.md, "Resilience").

    .venv/bin/python benchmarks/bench_resilience.py [--redis redis://127.0.0.1:6379/9]

Per-request cost of the rate-limit middleware, called as a plain ASGI app in-process (no
network, no HTTP parsing), so the figure is the middleware's own work: the baseline is the same
tiny app without it, measured in the same run. Also the circuit breaker's per-call cost against
a bare ``await``, and the fault proxy's round-trip cost against a direct loopback connection.
Medians of 5 batches; each batch's figure is its mean per request.

The in-memory limiter is also measured *as served*: 100 callers at once, each yielding to the
event loop between requests as a server's requests do while they wait on the network, and
timed in the process's CPU (every thread's). That is where ``limits``' own asynchronous memory
storage (the service's storage until 2026-12-07, measured here as the baseline) pays for its
expiry sweep, which a loop that never yields never lets run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from limits.aio.strategies import MovingWindowRateLimiter  # noqa: E402
from limits.storage import storage_from_string  # noqa: E402
from starlette.types import Message, Receive, Scope, Send  # noqa: E402

from harness.run.chaos.fault_proxy import FaultProxy  # noqa: E402
from target_app.resilience.breaker import BreakerPolicy, CircuitBreaker  # noqa: E402
from target_app.resilience.identity import Identity  # noqa: E402
from target_app.resilience.ratelimit import RateLimitMiddleware  # noqa: E402

#: The shipped limits; 1,000 users take turns, so no key reaches its limit and every request
#: pays the full cost of an admitted one (the moving window's list holds <= limit entries).
LIMITS = {"anonymous": 60, "authenticated": 200, "pro": 500, "operator": 1000}
USERS = 1000
BATCHES = 5


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


_turn = iter(range(10**12))


def resolver(scope: Scope) -> Identity | None:
    return Identity(next(_turn) % USERS, "contractor", "pro")


SCOPE: Scope = {"type": "http", "path": "/jobs", "method": "GET", "headers": [],
                "client": ("127.0.0.1", 5000)}  # fmt: skip


async def receive() -> Message:
    return {"type": "http.request", "body": b""}


async def send(_message: Message) -> None:
    return None


async def per_request_us(app: Callable[[Scope, Receive, Send], Awaitable[None]], n: int) -> float:
    batches = []
    for _ in range(BATCHES):
        started = time.perf_counter()
        for _ in range(n):
            await app(SCOPE, receive, send)
        batches.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(batches)


async def served_cpu_us(
    app: Callable[[Scope, Receive, Send], Awaitable[None]],
    n: int,
    callers: int = 100,
    pause_s: float = 0.002,
) -> float:
    """CPU µs a request (all threads) with ``callers`` at once, yielding between requests."""

    async def caller(requests: int) -> None:
        for _ in range(requests):
            await app(SCOPE, receive, send)
            await asyncio.sleep(pause_s)

    batches = []
    for _ in range(BATCHES):
        started = time.process_time()
        await asyncio.gather(*(caller(n // callers) for _ in range(callers)))
        batches.append((time.process_time() - started) / n * 1e6)
    return statistics.median(batches)


def limits_memory_storage(app: RateLimitMiddleware) -> RateLimitMiddleware:
    """``app`` on ``limits``' own asynchronous memory storage (the baseline it replaced)."""
    app.limiter = MovingWindowRateLimiter(storage_from_string("async+memory://"))
    return app


async def redis_ping_us(url: str, n: int) -> float:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url)
    batches = []
    for _ in range(BATCHES):
        started = time.perf_counter()
        for _ in range(n):
            await client.ping()
        batches.append((time.perf_counter() - started) / n * 1e6)
    await client.aclose()
    return statistics.median(batches)


async def breaker_us(n: int) -> tuple[float, float]:
    breaker = CircuitBreaker("bench", BreakerPolicy(5, 10, 30))

    async def call() -> int:
        return 1

    async def bare() -> None:
        for _ in range(n):
            await call()

    async def guarded() -> None:
        for _ in range(n):
            await breaker.call(call)

    results = []
    for action in (bare, guarded):
        batches = []
        for _ in range(BATCHES):
            started = time.perf_counter()
            await action()
            batches.append((time.perf_counter() - started) / n * 1e6)
        results.append(statistics.median(batches))
    return results[0], results[1]


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def round_trip_us(port: int, n: int) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    batches = []
    for _ in range(BATCHES):
        started = time.perf_counter()
        for _ in range(n):
            writer.write(b"ping")
            await reader.readexactly(4)
        batches.append((time.perf_counter() - started) / n * 1e6)
    writer.close()
    return statistics.median(batches)


async def main(redis_url: str | None) -> None:
    rows: list[tuple[str, float, float]] = []
    base = await per_request_us(hello, 5000)
    rows.append(("baseline: tiny ASGI app", base, base))
    memory = RateLimitMiddleware(hello, limits=LIMITS, resolver=resolver)
    rows.append(("rate limit, memory storage", await per_request_us(memory, 5000), base))
    before = limits_memory_storage(RateLimitMiddleware(hello, limits=LIMITS, resolver=resolver))
    served_before = await served_cpu_us(before, 5000)
    rows.append(("baseline: served, limits' async memory storage", served_before, served_before))
    served = await served_cpu_us(RateLimitMiddleware(hello, limits=LIMITS, resolver=resolver), 5000)
    rows.append(("served, in-process moving window", served, served_before))
    if redis_url:
        shared = RateLimitMiddleware(
            hello, limits=LIMITS, resolver=resolver, storage_uri=redis_url, workers=2
        )
        ping = await redis_ping_us(redis_url, 500)
        rows.append(("baseline: one Redis PING round trip", ping, ping))
        rows.append(("rate limit, Redis on loopback", await per_request_us(shared, 500), ping))
    bare, guarded = await breaker_us(20000)
    rows.append(("baseline: bare await", bare, bare))
    rows.append(("circuit breaker `call`", guarded, bare))
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    direct = await round_trip_us(port, 2000)
    rows.append(("baseline: loopback echo round trip", direct, direct))
    async with FaultProxy("127.0.0.1", port) as proxy:
        rows.append(
            (
                "echo round trip through the fault proxy",
                await round_trip_us(proxy.port, 2000),
                direct,
            )
        )
    server.close()
    print("| measurement | median µs | ratio to its baseline |")
    print("|---|---:|---:|")
    for name, value, baseline in rows:
        print(f"| {name} | {value:,.1f} | {value / baseline:.1f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default=None, help="redis:// URL to measure shared storage")
    asyncio.run(main(parser.parse_args().redis))
