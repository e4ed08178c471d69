"""The harness on software nobody here wrote: Datasette, installed from the package index,
serving a SQLite file, with a locustfile of the test's own.

Datasette has no metrics; tests/harness/datasette_target.py wraps it with Prometheus counters
whose labels are its own (``path_template``, ``verb``, ``code``). One short run goes through
what a QA team would use: objectives, the report, JUnit XML and CSV, then ``harness
calibrate`` from the run's metrics (per-endpoint demands and the measured mix) and ``harness
model`` planning with them.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.run.service import free_port

REPO = Path(__file__).resolve().parents[2]
if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
    # under CI a missing dev dependency is a failure, not a skip
    importlib.import_module("datasette")
else:
    pytest.importorskip("datasette", reason="datasette is a dev dependency (pip install -e .[dev])")


LOCUSTFILE = """
import random

from locust import HttpUser, constant, task

class Reader(HttpUser):
    persona = "reader"
    wait_time = constant(0.1)

    @task(3)
    def page(self):
        self.client.get("/shop/items.json?_size=20", name="/shop/items.json")

    @task(2)
    def row(self):
        self.client.get(f"/shop/items/{random.randint(1, 500)}.json", name="/shop/items/{id}.json")


class Analyst(HttpUser):
    persona = "analyst"
    wait_time = constant(0.1)

    @task
    def totals(self):
        sql = "select category, count(*), avg(price) from items group by category"
        self.client.get("/shop.json", params={"sql": sql}, name="/shop.json")
"""

PROFILE = """
[personas.reader]
share = 0.8
think_time_s = 5
requests_per_cycle = 1
[personas.analyst]
share = 0.2
think_time_s = 20
requests_per_cycle = 1

[slo]
api_p50_ms = 5000.0
api_p95_ms = 20000.0
page_p95_ms = 60000.0

[target]
ready_path = "/-/versions.json"
health_path = "/-/versions.json"

[target.metrics]
requests_metric = "ds_requests_total"
route_label = "path_template"
method_label = "verb"
status_label = "code"
route_cpu_metric = "ds_request_cpu_seconds_total"
"""
ENDPOINTS = {"GET /shop/items.json", "GET /shop/items/{id}.json", "GET /shop.json"}


@pytest.fixture
def datasette(tmp_path: Path) -> Iterator[str]:
    """Datasette on a free loopback port, serving a fresh SQLite file; stopped after."""
    database = tmp_path / "shop.db"
    with sqlite3.connect(database) as connection:
        connection.execute(
            "create table items (id integer primary key, name text, category text, price real)"
        )
        connection.executemany(
            "insert into items values (?, ?, ?, ?)",
            [(i, f"item {i}", f"c{i % 7}", i * 0.25) for i in range(1, 501)],
        )
    port = free_port()
    log = (tmp_path / "datasette.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.harness.datasette_target:app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=REPO,
        env={**os.environ, "DATASETTE_DB": str(database), "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )  # fmt: skip
    host = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30.0
        while True:
            try:
                if httpx.get(f"{host}/-/versions.json", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp_path / "datasette.log").read_text()
            assert time.monotonic() < deadline, "datasette did not start"
            time.sleep(0.2)
        yield host
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        log.close()


def harness(cwd: Path, *args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@pytest.mark.slow
def test_datasette_under_the_harness_gated_reported_and_calibrated(
    tmp_path: Path, datasette: str
) -> None:
    (tmp_path / "datasette.toml").write_text(PROFILE)
    (tmp_path / "datasette_users.py").write_text(LOCUSTFILE)
    out = tmp_path / "runs"
    done = harness(
        tmp_path, "run", "smoke", "--host", datasette, "--profile", "datasette.toml",
        "--locustfile", "datasette_users.py", "--duration-scale", "0.15", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = out.iterdir()
    run: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
    assert {e["endpoint"] for e in run["endpoints"]} >= ENDPOINTS
    assert run["slo"] and all(row["passed"] for row in run["slo"])
    recon = run["server_vs_client"]
    assert recon["match"] is True, recon  # Datasette's own counter, on its own labels
    assert "calibration" not in run["skipped"]
    assert "Datasette" not in run["incomplete_reasons"]
    assert (run_dir / "report.html").stat().st_size > 10_000
    junit = (run_dir / "junit.xml").read_text()
    assert 'failures="0"' in junit and 'classname="smoke.overall" name="api_p95_ms"' in junit
    assert "/shop/items/{id}.json" in (run_dir / "stats" / "locust_stats.csv").read_text()

    calibrated = harness(tmp_path, "calibrate", str(run_dir), "--json")
    assert calibrated.returncode == 0, calibrated.stderr[-3000:]
    calibration = json.loads(calibrated.stdout)
    demands = calibration["overlay"]
    assert set(demands) == ENDPOINTS, demands
    assert all(d["cpu_ms"] > 0 for d in demands.values())
    overlay = (run_dir / "calibration.toml").read_text()
    assert "[endpoint_mix]" in overlay and "[personas.reader]" in overlay

    model = harness(tmp_path, "model", "--profile", str(run_dir / "calibration.toml"), "--json")
    assert model.returncode in (0, 1), model.stderr[-3000:]  # 1: a plan that does not fit
    plan = json.loads(model.stdout)
    # the plan's load is the profile's own personas: 20,000 concurrent x (0.8 / 5 s + 0.2 / 20 s)
    assert plan["peak_rps"] == pytest.approx(3400.0)
    # ... at the measured mix's mean demand, over the provisioned workers (2 per instance)
    mix = calibration_mix(overlay)
    mean_cpu_s = sum(share * demands[e]["cpu_ms"] for e, share in mix.items()) / 1000.0
    instances = max(plan["instances"]["required"], plan["instances"]["min"])
    expected = plan["peak_rps"] * mean_cpu_s / (instances * 2)
    assert plan["utilization"]["app_cpu"] == pytest.approx(expected, rel=2e-3)


def calibration_mix(overlay: str) -> dict[str, float]:
    mix: dict[str, float] = tomllib.loads(overlay)["endpoint_mix"]
    assert set(mix) == ENDPOINTS and sum(mix.values()) == pytest.approx(1.0, abs=1e-3)
    return mix
