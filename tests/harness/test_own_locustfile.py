"""`harness run --locustfile FILE`: a user's own Locust classes, any names and weights, gated
by the harness against a service that is not ours.

The service here is a small HTTP server on a free loopback port (a thread of the test) with
two routes of its own, no seeded accounts and no metrics; the locustfile is written by the
test, as a QA engineer would write theirs. Bad locustfiles exit 2 naming the file, before any
load (the server counts every request it gets).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


OWN_LOCUSTFILE = """
from locust import HttpUser, constant, task

class Shopper(HttpUser):
    persona = "buyer"
    wait_time = constant(0.05)

    @task(3)
    def browse(self):
        self.client.get("/items")

    @task
    def item(self):
        self.client.get("/items/7", name="/items/{id}")


class Clerk(HttpUser):
    persona = "seller"
    wait_time = constant(0.05)

    @task
    def stock(self):
        self.client.post("/stock", json={"n": 1})
"""

TARGET = """
[target]
ready_path = "/ready"
health_path = "/ping"
"""
NO_METRICS = '[target.metrics]\nurl = ""\n'
OWN_METRICS = """
[target.login]
path = "/login"
body = {user = "qa", password = "secret"}
[target.metrics]
requests_metric = "shop_requests_total"
route_label = "handler"
method_label = "verb"
status_label = "code"
"""
OWN_PROFILE = (
    """
[personas.buyer]
share = 0.75
think_time_s = 1
[personas.seller]
share = 0.25
think_time_s = 1
[slo]
api_p50_ms = 5000.0
api_p95_ms = 20000.0
page_p95_ms = 60000.0
api_p99_ms = 20000.0
throughput_min_rps = 1.0
[slo.endpoints."GET /items"]
p95_ms = 20000.0
error_rate = 0.01
"""
    + TARGET
)


def _route(path: str) -> str:
    """The service's route template of a path (what its counter's handler label says)."""
    parts = path.split("?")[0].rstrip("/").split("/")
    if len(parts) == 3 and parts[1] == "items":
        return "/items/{id}"
    return "/".join(parts) or "/"


@dataclass
class Hits:
    paths: list[str] = field(default_factory=list)
    counts: dict[tuple[str, str, int], int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self) -> list[str]:
        """The load: requests to the routes the locustfile calls (not the harness's own)."""
        with self.lock:
            return [p for p in self.paths if p.startswith(("/items", "/stock"))]

    def exposition(self) -> str:
        """Prometheus text with labels of its own, as a service not written here has."""
        lines = ["# TYPE shop_requests_total counter"]
        with self.lock:
            for (route, verb, code), n in sorted(self.counts.items()):
                lines.append(
                    f'shop_requests_total{{handler="{route}",verb="{verb}",code="{code}"}} {n}'
                )
        lines += ["# TYPE process_cpu_seconds_total counter",
                  f"process_cpu_seconds_total {time.process_time()}"]  # fmt: skip
        return "\n".join(lines) + "\n"


class _Server(ThreadingHTTPServer):
    """The foreign service's server. HTTP/1.0 opens a connection a request, and the standard
    listen backlog of 5 overflowed under ten users at 166 requests a second: a refused SYN is
    retried after a second, so the harness's 1 s health probe failed and the run breached its
    availability objective (a flaky failure, 2026-12-07). A backlog of 128 holds any burst."""

    request_queue_size = 128
    daemon_threads = True


@pytest.fixture
def foreign_service() -> Iterator[tuple[str, Hits]]:
    hits = Hits()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            payload = self.rfile.read(length) if length else b""
            status, body, kind = 200, b'{"ok": true}', "application/json"
            if self.path == "/metrics":
                body, kind = hits.exposition().encode(), "text/plain; version=0.0.4"
            elif self.path == "/login" and json.loads(payload or b"{}") != {
                "user": "qa",
                "password": "secret",
            }:
                status = 401
            with hits.lock:
                hits.paths.append(self.path)
                if self.path != "/metrics":
                    key = (_route(self.path), self.command.lower(), status)
                    hits.counts[key] = hits.counts.get(key, 0) + 1
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def harness(
    tmp_path: Path, *args: str, timeout_s: float = 120.0
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow
def test_own_users_against_a_foreign_service_reconcile_on_its_own_labels(
    tmp_path: Path, foreign_service: tuple[str, Hits]
) -> None:
    host, hits = foreign_service
    profile = write(tmp_path / "own.toml", OWN_PROFILE + OWN_METRICS)
    locustfile = write(tmp_path / "shop.py", OWN_LOCUSTFILE)
    out = tmp_path / "runs"
    done = harness(
        tmp_path, "run", "smoke", "--host", host, "--profile", str(profile),
        "--locustfile", str(locustfile), "--duration-scale", "0.1", "--out", str(out),
        "--workers", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    (run_dir,) = out.iterdir()
    run = json.loads((run_dir / "run.json").read_text())
    names = {e["endpoint"] for e in run["endpoints"]}
    assert {"GET /items", "GET /items/{id}", "POST /stock"} <= names
    # HDR histograms merged from two worker processes: the client's count is what the server
    # was sent, and what its own counter (handler, verb, code) says, endpoint by endpoint
    client = sum(e["requests"] for e in run["endpoints"] if e["method"] != "PAGE")
    assert client == len(hits.load()) > 0
    assert run["overall"]["requests"] == client
    recon = run["server_vs_client"]
    assert recon["match"] is True and recon["server_total"] == client, recon
    assert hits.paths.count("/login") == 1  # the harness's one login, before the load
    # objectives gated on the client side; what needs the journeys skipped, with the reason
    assert run["slo"] and all(row["passed"] for row in run["slo"])
    assert set(run["skipped"]) == {"integrity", "persona_mix", "model"}
    assert run["integrity"]["checked"] is False
    assert "write log" in run["integrity"]["reason"]
    assert not (run_dir / "capacity.json").exists()
    # the personas' shares are the classes' weights: 3 buyers to 1 seller of 10 users
    stock = sum(e["requests"] for e in run["endpoints"] if e["endpoint"] == "POST /stock")
    assert 0 < stock < client / 2
    report = (run_dir / "report.html").read_text()
    assert 'id="run-skipped"' in report and "lost-write audit" in report
    assert "p99.9" in report and "GET /items p95" in report
    # p99, a throughput floor and an endpoint's own objectives, gated; p99.9 recorded
    gated = {(row["name"], row["stage"]) for row in run["slo"]}
    assert {("api_p99_ms", "stage 1"), ("api_p99_ms", None), ("throughput_min_rps", None),
            ("p95_ms[GET /items]", None), ("error_rate[GET /items]", None)} <= gated  # fmt: skip
    assert run["overall"]["p999_ms"] >= run["overall"]["p99_ms"] > 0
    assert all(e["p999_ms"] >= e["p99_ms"] for e in run["endpoints"])
    assert_ci_artifacts(run_dir, run)
    assert_fail_on_regression(tmp_path, run_dir)


def assert_ci_artifacts(run_dir: Path, run: dict[str, Any]) -> None:
    """junit.xml: one case per objective per stage, skipped checks as skipped cases; Locust's
    own CSV files."""
    # our own file, just written
    suite = ET.parse(run_dir / "junit.xml").getroot().find("testsuite")  # noqa: S314
    assert suite is not None
    cases = {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}
    for row in run["slo"]:
        stage = "overall" if row["stage"] is None else row["stage"]
        case = cases[(f"smoke.{stage}", row["name"])]
        assert (case.find("failure") is None) == row["passed"]
    assert cases[("smoke.skipped", "integrity")].find("skipped") is not None
    assert cases[("smoke.run", "complete")].find("failure") is None
    assert suite.get("tests") == str(len(cases)) and suite.get("failures") == "0"
    with (run_dir / "stats" / "locust_stats.csv").open() as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    client = sum(e["requests"] for e in run["endpoints"])
    assert int(rows["Aggregated"]["Request Count"]) == client
    assert int(rows["/items"]["Request Count"]) == next(
        e["requests"] for e in run["endpoints"] if e["endpoint"] == "GET /items"
    )
    for name in ("locust_stats_history.csv", "locust_failures.csv"):
        assert (run_dir / "stats" / name).stat().st_size > 0, name


def doctored_baseline(run_dir: Path, to: Path) -> Path:
    """A copy of the run whose endpoints answered a thousand times faster."""
    shutil.copytree(run_dir, to)
    document = json.loads((to / "run.json").read_text())
    for endpoint in document["endpoints"]:
        for figure in ("p50_ms", "p95_ms", "p99_ms"):
            endpoint[figure] = endpoint[figure] / 1000.0
    (to / "run.json").write_text(json.dumps(document))
    return to


def assert_fail_on_regression(tmp_path: Path, run_dir: Path) -> None:
    same = harness(
        tmp_path, "report", str(run_dir), "--baseline", str(run_dir),
        "--out", str(tmp_path / "same.html"), "--fail-on-regression", "10",
    )  # fmt: skip
    assert same.returncode == 0, same.stderr
    faster = doctored_baseline(run_dir, tmp_path / "faster")
    worse = harness(
        tmp_path, "report", str(run_dir), "--baseline", str(faster),
        "--out", str(tmp_path / "worse.html"), "--fail-on-regression", "10",
    )  # fmt: skip
    assert worse.returncode == 1, worse.stderr
    assert "regression beyond 10%: GET /items: p95" in worse.stderr


@pytest.mark.slow
def test_a_target_without_metrics_runs_and_says_what_it_cannot_judge(
    tmp_path: Path, foreign_service: tuple[str, Hits]
) -> None:
    host, hits = foreign_service
    profile = write(tmp_path / "own.toml", OWN_PROFILE + NO_METRICS)
    locustfile = write(tmp_path / "shop.py", OWN_LOCUSTFILE)
    out = tmp_path / "runs"
    done = harness(
        tmp_path, "run", "smoke", "--host", host, "--profile", str(profile),
        "--locustfile", str(locustfile), "--duration-scale", "0.05", "--out", str(out),
        "--no-report",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads((next(out.iterdir()) / "run.json").read_text())
    assert {"server_vs_client", "calibration"} <= set(run["skipped"])
    assert "no metrics" in run["server_vs_client"]["unavailable"]
    assert "/metrics" not in hits.paths and hits.paths.count("/ping") >= 2
    assert run["overall"]["availability"] == 1.0
    refused = harness(tmp_path, "calibrate", str(next(out.iterdir())))
    assert refused.returncode == 2 and "cannot calibrate: the target has no metrics" in (
        refused.stderr
    )
    # the same run again against a baseline a thousand times faster: exit 1, naming it
    faster = doctored_baseline(next(out.iterdir()), tmp_path / "faster")
    again = harness(
        tmp_path, "run", "smoke", "--host", host, "--profile", str(profile),
        "--locustfile", str(locustfile), "--duration-scale", "0.05", "--out", str(out),
        "--no-report", "--baseline", str(faster), "--fail-on-regression", "50",
    )  # fmt: skip
    assert again.returncode == 1, again.stderr[-3000:]
    assert "regression beyond 50%: GET /items: p95" in again.stderr


@pytest.mark.parametrize(
    ("extra", "code", "expected"),
    [
        (
            OWN_METRICS.replace('"handler"', '"route"'),
            2,
            "without the label(s) route (its labels: code, handler, verb)",
        ),
        (OWN_METRICS.replace('"secret"', '"wrong"'), 2, "target.login: POST"),
        (OWN_METRICS.replace("shop_requests_total", "nope_total"), 2, "has no sample of it"),
        ('[target.metrics]\nurl = "/nothing"\n', 2, "/nothing is not Prometheus text"),
        ('[target.metrics]\nurl = "http://127.0.0.1:9/metrics"\n', 3, "got no answer"),
    ],
)
def test_a_target_that_does_not_offer_what_target_says_stops_before_any_load(
    tmp_path: Path, foreign_service: tuple[str, Hits], extra: str, code: int, expected: str
) -> None:
    host, hits = foreign_service
    profile = write(tmp_path / "own.toml", OWN_PROFILE + extra)
    locustfile = write(tmp_path / "shop.py", OWN_LOCUSTFILE)
    done = harness(
        tmp_path, "run", "smoke", "--host", host, "--profile", str(profile),
        "--locustfile", str(locustfile), "--out", str(tmp_path / "runs"),
    )  # fmt: skip
    assert done.returncode == code, done.stderr[-2000:]
    assert expected in done.stderr
    assert hits.load() == []
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import not_a_module_anywhere\n", "does not import: ModuleNotFoundError"),
        ("x = 1\n", "has no Locust user class"),
        (OWN_LOCUSTFILE.replace('"seller"', '"auditor"'), "names persona 'auditor'"),
        (
            OWN_LOCUSTFILE
            + "\nfrom locust import LoadTestShape\n\nclass Mine(LoadTestShape):\n"
            + "    def tick(self):\n        return None\n",
            "defines a load shape (Mine)",
        ),
    ],
)
def test_a_bad_locustfile_exits_2_naming_it_before_any_load(
    tmp_path: Path, foreign_service: tuple[str, Hits], source: str, expected: str
) -> None:
    host, hits = foreign_service
    profile = write(tmp_path / "own.toml", OWN_PROFILE)
    locustfile = write(tmp_path / "bad.py", source)
    done = harness(
        tmp_path, "run", "smoke", "--host", host, "--profile", str(profile),
        "--locustfile", str(locustfile), "--out", str(tmp_path / "runs"),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"--locustfile = {str(locustfile)!r}" in done.stderr
    assert expected in done.stderr
    assert hits.paths == []  # not even the readiness check: nothing was sent
    assert not (tmp_path / "runs").exists()


def test_the_profile_key_names_the_locustfile_and_is_named_when_bad(
    tmp_path: Path, foreign_service: tuple[str, Hits]
) -> None:
    host, _hits = foreign_service
    profile = write(
        tmp_path / "own.toml", OWN_PROFILE + '\n[journeys]\nlocustfile = "missing.py"\n'
    )
    done = harness(tmp_path, "run", "smoke", "--host", host, "--profile", str(profile))
    assert done.returncode == 2
    assert "journeys.locustfile = 'missing.py': file not found" in done.stderr


def test_the_bundled_journeys_refuse_a_profile_with_personas_of_its_own(
    tmp_path: Path, foreign_service: tuple[str, Hits]
) -> None:
    host, hits = foreign_service
    profile = write(tmp_path / "own.toml", OWN_PROFILE)
    done = harness(tmp_path, "run", "smoke", "--host", host, "--profile", str(profile))
    assert done.returncode == 2, done.stderr[-2000:]
    assert "--locustfile" in done.stderr and "buyer" in done.stderr
    assert hits.load() == []


def test_server_cpu_from_the_process_or_node_exporter_and_requests_on_own_labels() -> None:
    from harness.run.scrape import parse_metrics
    from models.profile import TargetMetrics

    node = (
        'node_cpu_seconds_total{cpu="0",mode="idle"} 100\n'
        'node_cpu_seconds_total{cpu="0",mode="user"} 3\n'
        'node_cpu_seconds_total{cpu="1",mode="system"} 2\n'
        'node_cpu_seconds_total{cpu="1",mode="iowait"} 7\n'
        "process_cpu_seconds_total 4.5\n"
        'hits_total{handler="/a/{id}",verb="get",code="503"} 2\n'
        'hits_total{handler="/a/{id}",verb="get",code="200"} 5\n'
    )
    by_node = TargetMetrics(cpu_metric="node_cpu_seconds_total")
    assert parse_metrics(node, 0.0, by_node)["cpu_seconds"] == 5.0  # busy modes only
    assert parse_metrics(node, 0.0)["cpu_seconds"] == 4.5  # the process's own counter
    own = TargetMetrics(
        requests_metric="hits_total", route_label="handler", method_label="verb",
        status_label="code",
    )  # fmt: skip
    route = parse_metrics(node, 0.0, own)["routes"]["GET /a/{id}"]
    assert (route["requests"], route["errors"]) == (7.0, 2.0)
