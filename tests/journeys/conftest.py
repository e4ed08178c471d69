"""A real service for the journeys to run against, and a real Locust to run them.

``service`` seeds a fresh SQLite database at scale 0.01 (2,400 homeowners, 1,400 contractors,
200 operators), starts ``python -m target_app serve --port 0`` with ``TRUSTED_PROXIES=
127.0.0.1`` and waits for ``/health/ready``. A module's tests share it (each start costs about
2 s): a test that counts rows compares the database before and after its own run.
``run_locust`` runs ``locust -f journeys/locustfile.py`` headless as a subprocess (never in
this process: importing Locust would monkey-patch pytest's process with gevent) and returns
what it wrote.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.run.service import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOCUSTFILE = ROOT / "journeys" / "locustfile.py"
SEED_SCALE = 0.01
ACCOUNTS = "homeowner=2400,contractor=1400,operator=200"  # SeedPlan.for_scale(0.01)


@dataclass
class Service:
    url: str
    database: Path
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    from target_app.seed import SeedPlan, seed_database

    tmp_path = tmp_path_factory.mktemp("service")
    database = tmp_path / "marketplace.db"
    plan = SeedPlan.for_scale(SEED_SCALE)
    assert (
        f"homeowner={plan.homeowners},contractor={plan.contractors},operator={plan.operators}"
        == ACCOUNTS
    )
    seed_database(f"sqlite:///{database}", plan)
    env = {**os.environ, "DEV_MODE": "1", "TRUSTED_PROXIES": "127.0.0.1",
           "DATABASE_URL": f"sqlite:///{database}"}  # fmt: skip
    log = (tmp_path / "service.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "target_app", "serve", "--port", "0", "--log-level", "info"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url = _wait_for_address(tmp_path / "service.log", process)
        _wait_ready(url)
        yield Service(url, database, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_for_address(log: Path, process: subprocess.Popen[bytes], timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        match = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", log.read_text())
        if match:
            return match.group(1)
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with {process.returncode}:\n{log.read_text()}")
        time.sleep(0.1)
    raise RuntimeError(f"the service did not start in {timeout_s} s:\n{log.read_text()}")


def _wait_ready(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url}/health/ready did not answer 200 in {timeout_s} s")


@dataclass
class LocustRun:
    returncode: int
    output: str
    stats: list[dict[str, Any]]
    """Locust's --json-file entries (one per request type and name)."""
    hdr_path: Path
    write_log: Path
    trace: list[dict[str, Any]]

    def locust_count(self, method: str, name: str) -> int:
        return sum(
            e["num_requests"] for e in self.stats if (e["method"], e["name"]) == (method, name)
        )


def run_locust(
    tmp_path: Path,
    url: str,
    args: list[str],
    env: dict[str, str] | None = None,
    timeout_s: float = 60,
    json_stats: bool = True,
) -> LocustRun:
    """Run the locustfile headless; ``json_stats=False`` keeps Locust's printed tables instead
    (with ``--json-file`` Locust prints no failures table)."""
    out = tmp_path / "locust"
    out.mkdir(exist_ok=True)
    files = {
        "JOURNEYS_HDR_OUT": str(out / "hdr.json"),
        "JOURNEYS_WRITE_LOG": str(out / "writes.jsonl"),
        "JOURNEYS_TRACE": str(out / "trace.jsonl"),
        "JOURNEYS_ACCOUNTS": ACCOUNTS,
        "JOURNEYS_SEED": "5",
    }
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYS_")}
    full_env.update(files)
    full_env.update(env or {})
    # With --processes the master listens on 5557 unless told otherwise, and its forked workers
    # connect there: a free port keeps runs of two checkouts on one machine apart.
    port = str(free_port())
    master = ["--master-bind-port", port, "--master-port", port] if "--processes" in args else []
    result = subprocess.run(
        [str(BIN / "locust"), "-f", str(LOCUSTFILE), "--host", url, "--headless",
         *(["--json-file", str(out / "stats")] if json_stats else []), "--loglevel", "INFO",
         *master, *args],
        cwd=ROOT, env=full_env, capture_output=True, timeout=timeout_s, check=False,
    )  # fmt: skip
    output = result.stdout.decode() + result.stderr.decode()
    stats_file = out / "stats.json"
    trace_file = out / "trace.jsonl"
    return LocustRun(
        returncode=result.returncode,
        output=output,
        stats=json.loads(stats_file.read_text()) if stats_file.exists() else [],
        hdr_path=out / "hdr.json",
        write_log=out / "writes.jsonl",
        trace=[json.loads(line) for line in trace_file.read_text().splitlines()]
        if trace_file.exists()
        else [],
    )
