"""Benchmark of the bundled service against its speed goal: throughput beside a hello world.

    .venv/bin/python benchmarks/bench_service.py [--scale 1.0] [--rounds 3] [--seconds 8]
        [--connections 16] [--compare-async]

What it does, all on loopback, every server a separate process driven by ``wrk`` (a second
process; ``apt-get install -y wrk``):

1. seeds a fresh SQLite database at ``--scale`` (timed: the seeder goal is < 60 s at 1.0);
2. starts ``python -m target_app serve --workers 1`` on it, and a bare FastAPI/uvicorn hello
   world (``async def`` returning a small JSON object, same uvicorn options);
3. alternates ``wrk`` runs against ``GET /jobs?territory_id=7&category=plumbing`` (a filtered
   first page of 20, authenticated) and ``GET /hello``, ``--rounds`` times each, and reports
   the medians and their ratio (goal >= 0.30, aim 0.50);
4. with ``--compare-async``, also serves the same listing through SQLAlchemy and the pool (the
   general path, which PostgreSQL takes) from an ``async def`` endpoint (the blocking database
   call then runs on the event loop) next to a ``def`` one, to show the measurement behind the
   endpoint choice.

It also reports each server's CPU time per request (``/proc/<pid>/stat``, user + system, over
the measured runs), which explains the ratio: wrk keeps the server's one core busy in both
cases, so requests/s is about 1 / (CPU per request).

Absolute figures depend on the machine and on its load (printed); the ratios measured in
one run are what to compare.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from target_app.seed import SEED_PASSWORD, SeedPlan, seed_database  # noqa: E402

JOBS_PATH = "/jobs?territory_id=7&category=plumbing&page_size=20"

HELLO_APP = """
import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "hello"}


uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", access_log=False,
            proxy_headers=False, server_header=False)
"""

VARIANT_APP = """
import uvicorn
from fastapi import Request
from fastapi.responses import Response
from target_app.api.job_search import JobQuery
from target_app.api.routes.jobs import _job_page
from target_app.core.config import load_settings
from target_app.core.security import Principal
from target_app.main import create_app
from target_app.schemas import Category

app = create_app(load_settings())
state = app.state.target_app
caller = Principal(1, "homeowner", "free", 1)
query = JobQuery(territory_id=7, category=Category.plumbing, page_size=20)


# Both through SQLAlchemy and the pool (the general path, the one PostgreSQL takes).
@app.get("/variant/sync")
def variant_sync(request: Request):
    return Response(_job_page(state, caller, query), media_type="application/json")


@app.get("/variant/async")
async def variant_async(request: Request):
    # blocks the event loop, on purpose
    return Response(_job_page(state, caller, query), media_type="application/json")


uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", access_log=False,
            proxy_headers=False, server_header=False)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(argv: list[str], url: str, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"server {argv} exited with {process.returncode}")
            try:
                if httpx.get(url, timeout=2).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"server {argv} did not start")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=20)


Target = tuple[str, str | None, int]
"""(url, bearer token or None, pid of the server process)"""


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, seconds: int, connections: int, token: str | None = None) -> tuple[float, int]:
    """Requests per second and requests completed of one wrk run (non-2xx make it invalid)."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url]
    if token:
        argv[1:1] = ["-H", f"Authorization: Bearer {token}"]
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in output:
        raise SystemExit(f"wrk saw errors against {url}:\n{output}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    count = re.search(r"(\d+) requests in", output)
    if rate is None or count is None:
        raise SystemExit(f"no Requests/sec in wrk output:\n{output}")
    return float(rate.group(1)), int(count.group(1))


def alternate(
    targets: dict[str, Target], rounds: int, seconds: int, connections: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Requests/s per run of each target, and each target's server CPU ms per request."""
    results: dict[str, list[float]] = {name: [] for name in targets}
    cpu_s = dict.fromkeys(targets, 0.0)
    requests = dict.fromkeys(targets, 0)
    for url, token, _ in targets.values():  # warm-up: imports, caches, connection pools
        wrk(url, 2, connections, token)
    for _ in range(rounds):
        for name, (url, token, pid) in targets.items():
            before = process_cpu_s(pid)
            rate, count = wrk(url, seconds, connections, token)
            cpu_s[name] += process_cpu_s(pid) - before
            requests[name] += count
            results[name].append(rate)
    return results, {name: 1000 * cpu_s[name] / max(1, requests[name]) for name in targets}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--compare-async", action="store_true")
    parser.add_argument(
        "--database-url", help="an already seeded SQLite database: skip the seeding step"
    )
    args = parser.parse_args()
    # Checked before the seeding (the longest step): every measurement is a wrk run.
    if shutil.which("wrk") is None:
        raise SystemExit("bench_service.py needs wrk on PATH (apt-get install -y wrk)")

    workdir = Path(tempfile.mkdtemp(prefix="bench_service_"))
    try:
        return _run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # a scale-1.0 database is about 300 MB


def _run(args: argparse.Namespace, workdir: Path) -> int:
    db_url = args.database_url
    if db_url is None:
        db_url = f"sqlite:///{workdir / 'marketplace.db'}"
        report = seed_database(db_url, SeedPlan.for_scale(args.scale))
        rows = sum(report.rows.values())
        print(
            f"seed scale {args.scale}: {rows:,} rows in {report.total_s:.1f} s "
            f"(load {report.load_s:.1f} s, indexes {report.index_s:.1f} s)"
        )

    # Rate limits off: one token drives thousands of requests a second, far past its tier's
    # limit (200 a minute); the limiter's own cost is measured in the resilience benchmark.
    env = {
        **os.environ,
        "DEV_MODE": "1",
        "DATABASE_URL": db_url,
        "PYTHONPATH": str(ROOT),
        "RATE_LIMIT_ENABLED": "false",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    service_port, hello_port = free_port(), free_port()
    service = f"http://127.0.0.1:{service_port}"
    hello = f"http://127.0.0.1:{hello_port}"
    serve = [
        sys.executable,
        "-m",
        "target_app",
        "serve",
        "--port",
        str(service_port),
        "--workers",
        "1",
    ]
    hello_argv = [sys.executable, "-c", HELLO_APP.replace("{port}", str(hello_port))]
    with (
        server(serve, f"{service}/health/ready", env) as service_process,
        server(hello_argv, f"{hello}/hello", env) as hello_process,
    ):
        login = httpx.post(
            f"{service}/auth/login",
            json={"email": "homeowner0@seed.example", "password": SEED_PASSWORD},
        )
        token = login.json()["access_token"]
        targets: dict[str, Target] = {
            "GET /jobs (filtered, first page of 20)": (
                service + JOBS_PATH, token, service_process.pid
            ),
            "GET /hello (bare FastAPI)": (f"{hello}/hello", None, hello_process.pid),
        }  # fmt: skip
        results, cpu_ms = alternate(targets, args.rounds, args.seconds, args.connections)
    variant_results: dict[str, list[float]] = {}
    if args.compare_async:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-c", VARIANT_APP.replace("{port}", str(port))]
        with server(argv, f"{base}/health", env) as variant:
            variant_results, variant_cpu = alternate(
                {"def endpoint (thread pool)": (f"{base}/variant/sync", None, variant.pid),
                 "async def endpoint (blocking on the loop)": (
                     f"{base}/variant/async", None, variant.pid)},
                args.rounds, args.seconds, args.connections,
            )  # fmt: skip
            cpu_ms.update(variant_cpu)

    load = os.getloadavg()
    print(
        f"\nwrk -t1 -c{args.connections} -d{args.seconds}s, {args.rounds} rounds alternating; "
        f"load average {load[0]:.1f} / {load[1]:.1f} on {os.cpu_count()} CPUs\n"
    )
    print("| target | median req/s | runs | server CPU ms/request |")
    print("|---|---:|---|---:|")
    medians = {}
    for name, values in {**results, **variant_results}.items():
        medians[name] = statistics.median(values)
        runs = ", ".join(f"{v:,.0f}" for v in values)
        print(f"| {name} | {medians[name]:,.0f} | {runs} | {cpu_ms[name]:.3f} |")
    names = list(results)
    ratio = medians[names[0]] / medians[names[1]]
    print(f"\nratio GET /jobs / hello world: {ratio:.2f} (goal >= 0.30, aim 0.50)")
    if variant_results:
        sync, async_ = (statistics.median(v) for v in variant_results.values())
        print(f"ratio async def / def for the same listing: {async_ / sync:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
