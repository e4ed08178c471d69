"""Benchmarks of the journeys against their speed goals (docs/benchmarks.md, "Journeys"). Not a
test: prints figures for docs/benchmarks.md.

    .venv/bin/python benchmarks/bench_journeys.py overhead      # machinery vs bare FastHttpUser
    .venv/bin/python benchmarks/bench_journeys.py users [--levels 100,300,2000]  # users per core
    .venv/bin/python benchmarks/bench_journeys.py ratio         # jobs : bids : messages
    .venv/bin/python benchmarks/bench_journeys.py [all]         # all three (`make bench`)

Each part starts the bundled service (one uvicorn worker, SQLite seeded at scale 0.01) on a
free loopback port, runs Locust *in this process* (so the load generator's CPU can be read with
``time.process_time``), and stops the service. Load stays on 127.0.0.1 and every run is bounded.
"""

from __future__ import annotations

# Locust first: it monkey-patches the standard library with gevent.
import locust  # isort: skip

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gevent
import httpx
from locust import FastHttpUser, constant, task
from locust.env import Environment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from journeys.checks import Caller, has_keys  # noqa: E402
from journeys.personas import user_classes  # noqa: E402
from journeys.run import install  # noqa: E402
from journeys.settings import JourneySettings  # noqa: E402
from models.catalogue import PersonaName  # noqa: E402
from models.profile import load_profile  # noqa: E402
from models.workload import request_rate  # noqa: E402

ACCOUNTS: dict[PersonaName, int] = {"homeowner": 2400, "contractor": 1400, "operator": 200}


@contextmanager
def service(tmp: Path) -> Iterator[str]:
    """The bundled service on a free loopback port, seeded at scale 0.01."""
    from target_app.seed import SeedPlan, seed_database

    database = tmp / "bench.db"
    seed_database(f"sqlite:///{database}", SeedPlan.for_scale(0.01))
    env = {**os.environ, "DEV_MODE": "1", "TRUSTED_PROXIES": "127.0.0.1",
           "DATABASE_URL": f"sqlite:///{database}"}  # fmt: skip
    log_path = tmp / "service.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "target_app", "serve", "--port", "0", "--log-level", "info"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            url = None
            while url is None and time.monotonic() < deadline:
                match = re.search(r"running on (http://127\.0\.0\.1:\d+)", log_path.read_text())
                url = match.group(1) if match else None
                time.sleep(0.1)
            if url is None:
                raise RuntimeError(f"service did not start:\n{log_path.read_text()}")
            while httpx.get(f"{url}/health/ready", timeout=2).status_code != 200:
                time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


# A minimal keep-alive HTTP server (asyncio, fixed JSON answer), several times faster than a
# Python web framework: against it the load generator, not the server, is the bottleneck.
MINIMAL_SERVER = r"""
import asyncio, sys
BODY = b'{"status":"ok"}'
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.transport.write(RESPONSE)
async def main():
    server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(float(sys.argv[1]))
asyncio.run(main())
"""


@contextmanager
def minimal_server(lifetime_s: float = 600.0) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", MINIMAL_SERVER, str(lifetime_s)], stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        yield f"http://127.0.0.1:{int(process.stdout.readline())}"
    finally:
        process.terminate()
        process.wait(timeout=10)


class BareUser(FastHttpUser):
    """The baseline: a bare FastHttpUser, no checks, no naming, no histograms."""

    wait_time = constant(0)

    @task
    def health(self) -> None:
        self.client.get("/health")


class MachineryUser(FastHttpUser):
    """The same call through the journeys' machinery: Caller (catch_response, checks, route
    name, headers) and, with the run installed, HDR recording of every sample."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.caller = Caller(self.client, {"Accept": "application/json",
                                           "X-Forwarded-For": "10.0.0.1"})  # fmt: skip

    @task
    def health(self) -> None:
        self.caller.reset()
        self.caller.call("GET /health", "/health", check=has_keys("status"))


def _api_requests(runner: Any) -> int:
    """API calls so far. Locust's total also counts our PAGE samples, which are not requests."""
    return sum(
        e.num_requests for (_, method), e in runner.stats.entries.items() if method != "PAGE"
    )


def _measure(env: Environment, users: int, spawn_rate: float, warmup_s: float, window_s: float
             ) -> dict[str, float]:  # fmt: skip
    runner = env.runner
    assert runner is not None
    runner.start(users, spawn_rate)
    gevent.sleep(warmup_s)
    requests0, cpu0, t0 = _api_requests(runner), time.process_time(), time.monotonic()
    gevent.sleep(window_s)
    requests1, cpu1, t1 = _api_requests(runner), time.process_time(), time.monotonic()
    failures = runner.stats.total.num_failures
    runner.quit()
    return {
        "rps": (requests1 - requests0) / (t1 - t0),
        "cpu": (cpu1 - cpu0) / (t1 - t0),
        "cpu_us_per_request": 1e6 * (cpu1 - cpu0) / max(requests1 - requests0, 1),
        "failures": failures,
    }


def overhead(url: str, rounds: int = 3, users: int = 10, window_s: float = 10.0) -> None:
    results: dict[str, list[dict[str, float]]] = {"bare": [], "machinery": []}
    for _ in range(rounds):
        for name in ("bare", "machinery"):
            cls = BareUser if name == "bare" else MachineryUser
            env = Environment(user_classes=[cls], host=url, events=locust.events.__class__())
            env.create_local_runner()
            if name == "machinery":
                install(env, JourneySettings(accounts=ACCOUNTS))
            results[name].append(_measure(env, users, users, 2.0, window_s))
    median = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in results.items()}
    for name, figures in median.items():
        print(
            f"{name:10s} rps {figures['rps']:7.0f}  client CPU {figures['cpu']:.2f} core  "
            f"{figures['cpu_us_per_request']:6.0f} us/request  failures {figures['failures']:.0f}"
        )
    bare, machinery = median["bare"], median["machinery"]
    print(f"machinery / bare requests/s: {machinery['rps'] / bare['rps']:.2f}")
    cpu_ratio = bare["cpu_us_per_request"] / machinery["cpu_us_per_request"]
    print(f"machinery / bare requests per client CPU-second: {cpu_ratio:.2f}")


def users_per_core(url: str, levels: tuple[int, ...] = (100, 300), window_s: float = 30.0) -> None:
    """Locust CPU per simulated user with the day-1 mix and the profile's think times."""
    profile = load_profile()
    rows = []
    for users in levels:
        env = Environment(user_classes=user_classes(profile), host=url,
                          events=locust.events.__class__())  # fmt: skip
        env.create_local_runner()
        install(env, JourneySettings(accounts=ACCOUNTS, seed=1))
        # Spawn slowly: each login costs the service a password hash (tens of ms of CPU).
        spawn_rate = 10.0 if users <= 300 else 15.0
        figures = _measure(env, users, spawn_rate, users / spawn_rate + 10.0, window_s)
        expected = request_rate(profile, users)
        per_user = figures["cpu"] / users
        rows.append((users, figures, expected, per_user))
        print(f"{users:5d} users: {figures['rps']:6.1f} req/s (model upper bound {expected:5.1f}), "
              f"client CPU {figures['cpu']:.3f} core, {1e6 * per_user:.1f} us CPU/s per user, "
              f"failures {figures['failures']:.0f}")  # fmt: skip
    slope = (rows[-1][1]["cpu"] - rows[0][1]["cpu"]) / (rows[-1][0] - rows[0][0])
    print(
        f"marginal CPU per user {1e6 * slope:.1f} us/s -> users at 80% of one core: "
        f"{0.8 / slope:,.0f} (from the slope), {0.8 / rows[-1][3]:,.0f} (from the top level)"
    )


WRITE_HEAVY = """
[business]
write_fraction = 0.4
"""


def ratio(url: str, tmp: Path, users: int = 40, duration_s: float = 180.0) -> None:
    """Jobs : bids : messages over a run (a write-heavy profile: same 1:5:10 derivation)."""
    profile_path = tmp / "write-heavy.toml"
    profile_path.write_text(WRITE_HEAVY)
    settings = JourneySettings(profile_path=profile_path, accounts=ACCOUNTS, seed=2,
                               think_scale=0.03, write_log_path=tmp / "writes.jsonl")  # fmt: skip
    profile = settings.load_profile()
    env = Environment(
        user_classes=user_classes(profile), host=url, events=locust.events.__class__()
    )
    env.create_local_runner()
    run = install(env, settings)
    started = time.time()
    figures = _measure(env, users, 10.0, 5.0, duration_s)
    # Counted over the measurement window only (the first 5 s are the ramp).
    counts = Counter(r.kind.value for r in run.write_log.records if r.at >= started + 5.0)
    jobs = counts["job"]
    print(f"{users} users, {duration_s:.0f} s: jobs {jobs}, bids {counts['bid']}, messages "
          f"{counts['message']} -> 1 : {counts['bid'] / jobs:.2f} : {counts['message'] / jobs:.2f}"
          f" (target 1 : 5 : 10); failures {figures['failures']:.0f}")  # fmt: skip
    print(f"skipped screens: {dict(run.skipped)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "part", nargs="?", default="all", choices=("overhead", "users", "ratio", "all"),
        help="which measurement (default: all, as `make bench` runs it)",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=5, help="overhead: alternating rounds")
    parser.add_argument(
        "--levels", default="100,300", metavar="N,N",
        help="users: the user counts to measure (comma-separated; 2,000 takes about 4 minutes)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        with service(tmp) as url:
            if args.part in ("overhead", "all"):
                print("-- overhead against the bundled service's /health (server-bound):")
                overhead(url, rounds=args.rounds)
                with minimal_server() as fast_url:
                    print("-- overhead against a minimal asyncio server (client-bound):")
                    overhead(fast_url, rounds=args.rounds)
            if args.part in ("users", "all"):
                users_per_core(url, tuple(int(n) for n in args.levels.split(",")))
            if args.part in ("ratio", "all"):
                ratio(url, tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
