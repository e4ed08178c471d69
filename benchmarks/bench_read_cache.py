"""The cache's effect on ``GET /jobs``: service CPU per request and p95, cache off against on.

    .venv/bin/python benchmarks/bench_read_cache.py [--rounds 3] [--requests 1200]
        [--clients 4] [--hit-ratio 0.9] [--scale 0.02] [--redis redis://127.0.0.1:6379/1]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]

What it does, on loopback:

1. seeds a fresh schema of the machine's PostgreSQL at ``--scale`` (dropped at the end);
2. starts two services on it, ``python -m target_app serve --workers 1``, both with
   ``REDIS_URL``, one with ``CACHE_ENABLED=true`` (rate limits off: the benchmark's few tokens
   would pass their tier's limit);
3. alternates rounds between them (``--rounds`` each): ``--clients`` threads send
   ``--requests`` ``GET /jobs?territory_id=T`` (the board's first page, T over 10
   territories, one signed-in contractor each), and before every ``1 / (1 - hit ratio)``-th
   request the client raises that territory's cache version in Redis, as a new job there
   would (the same for both services, so both clients do the same work);
4. per round: the service's CPU per request (``/proc/<pid>/stat``, user + system, whole
   process: HTTP parsing included), the route's own CPU per request
   (``http_request_cpu_seconds_total``), the client's p95, and the hit ratio the service
   counted (``cache_requests_total``); prints the medians and the on/off ratios.

Absolute figures depend on the machine and its load (printed); compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import redis
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from target_app.seed import SEED_PASSWORD, SeedPlan, seed_database  # noqa: E402

TERRITORIES = 10
ROUND_LIMIT_S = 120.0  # a round that takes longer than this is stopped (a broken service)
START_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Round:
    """One round against one service."""

    process_cpu_ms: float
    route_cpu_ms: float
    p95_ms: float
    hit_ratio: float | None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def fresh_schema(admin_url: str) -> Iterator[str]:
    """A new schema of ``admin_url``'s database, as a SQLAlchemy URL; dropped afterwards."""
    schema = f"bench_cache_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    base = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def service(env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """``python -m target_app serve`` with ``env``: (base URL, pid); stopped afterwards."""
    port = free_port()
    argv = [sys.executable, "-m", "target_app", "serve", "--port", str(port), "--workers", "1"]
    process = subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the service exited with {process.returncode}")
            try:
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the service did not start")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=20)


def counters(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every ``*_total`` sample on ``/metrics``, by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.name.endswith("_total"):
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _jobs(
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    wanted = {"route": "/jobs", **labels}
    return sum(
        value
        for (sample, sample_labels), value in values.items()
        if sample == name and all(dict(sample_labels).get(k) == v for k, v in wanted.items())
    )


def one_round(
    url: str, pid: int, tokens: list[str], cache: redis.Redis, args: argparse.Namespace
) -> Round:
    """Send the round's requests from ``args.clients`` threads (module docstring, step 3)."""
    every = max(1, round(1 / (1 - args.hit_ratio))) if args.hit_ratio < 1 else 0
    latencies: list[float] = []
    failures: list[int] = []  # statuses other than 200 (a thread cannot raise to the caller)
    lock, turn = threading.Lock(), iter(range(args.requests))
    deadline = time.monotonic() + ROUND_LIMIT_S

    def client() -> None:
        with httpx.Client(base_url=url, timeout=10) as http:
            while time.monotonic() < deadline:
                with lock:
                    n = next(turn, None)
                if n is None:
                    return
                territory = n % TERRITORIES + 1
                if every and n % every == 0:
                    cache.incr(f"target_app:cache:v:{territory}")
                headers = {"Authorization": f"Bearer {tokens[territory - 1]}"}
                started = time.perf_counter()
                response = http.get(f"/jobs?territory_id={territory}", headers=headers)
                elapsed = time.perf_counter() - started
                with lock:
                    if response.status_code != 200:
                        failures.append(response.status_code)
                        return
                    latencies.append(elapsed)

    before, cpu_before = counters(url), process_cpu_s(pid)
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu_s, after = process_cpu_s(pid) - cpu_before, counters(url)
    if failures or not latencies:
        raise SystemExit(f"GET /jobs at {url} answered {failures or 'nothing'}")
    count = _jobs(after, "http_requests_total") - _jobs(before, "http_requests_total")
    route_cpu = _jobs(after, "http_request_cpu_seconds_total") - _jobs(
        before, "http_request_cpu_seconds_total"
    )
    hits = _jobs(after, "cache_requests_total", result="hit") - _jobs(
        before, "cache_requests_total", result="hit"
    )
    misses = _jobs(after, "cache_requests_total", result="miss") - _jobs(
        before, "cache_requests_total", result="miss"
    )
    latencies.sort()
    p95 = latencies[max(0, math.ceil(0.95 * len(latencies)) - 1)]
    return Round(
        1000 * cpu_s / max(1.0, count),
        1000 * route_cpu / max(1.0, count),
        1000 * p95,
        hits / (hits + misses) if hits + misses else None,
    )


def tokens_of(url: str) -> list[str]:
    """Tokens of ten seeded contractors, one per benchmark territory (any signed-in user may
    read any board; ten users look more like a crowd than one)."""
    tokens = []
    for n in range(TERRITORIES):
        login = httpx.post(
            f"{url}/auth/login",
            json={"email": f"contractor{n}@seed.example", "password": SEED_PASSWORD},
        )
        login.raise_for_status()
        tokens.append(login.json()["access_token"])
    return tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--hit-ratio", type=float, default=0.9)
    parser.add_argument("--scale", type=float, default=0.02)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/1")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    if not 0 <= args.hit_ratio <= 1:
        print(f"--hit-ratio {args.hit_ratio}: expected 0 to 1 (0.9 is 90% hits)")
        return 2
    try:
        cache = redis.Redis.from_url(args.redis)
        cache.ping()
        with psycopg.connect(args.postgres, connect_timeout=5):
            pass
    except (redis.RedisError, psycopg.Error) as exc:
        print(f"cannot reach Redis {args.redis} or PostgreSQL {args.postgres}: {exc}")
        return 3
    with fresh_schema(args.postgres) as database_url:
        started = time.monotonic()
        seed_database(database_url, SeedPlan.for_scale(args.scale))
        print(f"seeded scale {args.scale} in {time.monotonic() - started:.1f} s")
        return _compare(args, database_url, cache)


def _compare(args: argparse.Namespace, database_url: str, cache: redis.Redis) -> int:
    base = {
        **os.environ,
        "SECRET_KEY": secrets.token_hex(32),  # one key: tokens from one serve the other
        "DATABASE_URL": database_url,
        "REDIS_URL": args.redis,
        "PYTHONPATH": str(ROOT),
        "RATE_LIMIT_ENABLED": "false",
        "RESILIENCE_WORKERS": "false",
    }
    base.pop("PROMETHEUS_MULTIPROC_DIR", None)
    rounds: dict[str, list[Round]] = {"off": [], "on": []}
    with (
        service({**base, "CACHE_ENABLED": "false"}) as (off_url, off_pid),
        service({**base, "CACHE_ENABLED": "true", "CACHE_TTL_S": "30"}) as (on_url, on_pid),
    ):
        tokens = tokens_of(off_url)
        targets = {"off": (off_url, off_pid), "on": (on_url, on_pid)}
        for url, pid in targets.values():  # warm-up: imports, pools, the first cache fills
            warm = argparse.Namespace(**{**vars(args), "requests": 200})
            one_round(url, pid, tokens, cache, warm)
        for _ in range(args.rounds):
            for name, (url, pid) in targets.items():
                rounds[name].append(one_round(url, pid, tokens, cache, args))
    _print(args, rounds)
    return 0


def _print(args: argparse.Namespace, rounds: dict[str, list[Round]]) -> None:
    def median(name: str, field: str) -> float:
        return float(statistics.median(getattr(r, field) for r in rounds[name]))

    hit = statistics.median(r.hit_ratio or 0.0 for r in rounds["on"])
    print(f"load average {os.getloadavg()[0]:.2f}; {args.rounds} rounds of {args.requests} "
          f"requests from {args.clients} clients; target hit ratio {args.hit_ratio:.2f}, "
          f"measured {hit:.3f}")  # fmt: skip
    print(f"{'GET /jobs (first page)':<34}{'cache off':>12}{'cache on':>12}{'on / off':>10}")
    for label, field in (
        ("service CPU per request, ms", "process_cpu_ms"),
        ("route CPU per request, ms", "route_cpu_ms"),
        ("client p95, ms", "p95_ms"),
    ):
        off, on = median("off", field), median("on", field)
        print(f"{label:<34}{off:>12.3f}{on:>12.3f}{on / off:>10.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
