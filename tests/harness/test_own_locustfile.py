"""`harness run --locustfile FILE`: a user's own Locust classes, any names and weights, gated
by the harness against a service that is not ours.

The service here is a small HTTP server on a free loopback port (a thread of the test) with
two routes of its own, no seeded accounts and no metrics; the locustfile is written by the
test, as a QA engineer would write theirs. Bad locustfiles exit 2 naming the file, before any
load (the server counts every request it gets).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
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

OWN_PROFILE = """
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
"""


@dataclass
class Hits:
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self) -> list[str]:
        """Requests other than the harness's readiness, health and metrics requests."""
        with self.lock:
            return [p for p in self.paths if not p.startswith(("/health", "/metrics"))]


@pytest.fixture
def foreign_service() -> Iterator[tuple[str, Hits]]:
    hits = Hits()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            with hits.lock:
                hits.paths.append(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
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
def test_own_users_run_under_the_harness_with_gates_and_report(
    tmp_path: Path, foreign_service: tuple[str, Hits]
) -> None:
    host, hits = foreign_service
    profile = write(tmp_path / "own.toml", OWN_PROFILE)
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
    # was sent
    client = sum(e["requests"] for e in run["endpoints"] if e["method"] != "PAGE")
    assert client == len(hits.load()) > 0
    assert run["overall"]["requests"] == client
    # objectives gated on the client side; what needs the journeys skipped, with the reason
    assert run["slo"] and all(row["passed"] for row in run["slo"])
    assert set(run["skipped"]) == {"integrity", "persona_mix", "model"}
    assert run["integrity"]["checked"] is False
    assert "write log" in run["integrity"]["reason"]
    assert run["server_vs_client"]["unavailable"]  # no metrics: said, not judged
    assert not (run_dir / "capacity.json").exists()
    # the personas' shares are the classes' weights: 3 buyers to 1 seller of 10 users
    stock = sum(e["requests"] for e in run["endpoints"] if e["endpoint"] == "POST /stock")
    assert 0 < stock < client / 2
    report = (run_dir / "report.html").read_text()
    assert 'id="run-skipped"' in report and "lost-write audit" in report


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
