"""``python -m target_app serve`` as a real process: several workers, merged metrics."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from target_app.core.config import load_settings
from target_app.seed import SeedPlan, seed_database

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not become ready")


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def idle_connection_closed_after(port: int, idle_s: float) -> bool:
    """Whether the server closes a keep-alive connection left idle for ``idle_s``."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        time.sleep(idle_s)
        sock.settimeout(1.0)
        try:
            # The rest of the response, if its body came in a later segment, then the
            # server's FIN (an empty read): an orderly close. Still open: the read times out.
            while sock.recv(65536):
                pass
        except TimeoutError:
            return False
        return True


def test_keep_alive_outlasts_the_think_times_by_default() -> None:
    assert load_settings(secret_key="k" * 40).keep_alive_s == 75


@pytest.mark.slow
def test_two_workers_serve_and_merge_metrics(tmp_path: Path, redis_url: str) -> None:
    url_db = f"sqlite:///{tmp_path / 'serve.db'}"
    seed_database(url_db, SeedPlan.for_scale(0.002))
    port = free_port()
    env = {
        **os.environ,
        "DEV_MODE": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": redis_url,  # two workers share their rate limits there (or refuse to start)
        "KEEP_ALIVE_S": "1",  # checked at the end: the setting reaches uvicorn
    }
    env.pop("SECRET_KEY", None)
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "target_app", "serve", "--port", str(port), "--workers", "2",
         "--database-url", url_db],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        with httpx.Client(base_url=base, timeout=10) as http:
            login = http.post(
                "/auth/login",
                json={"email": "homeowner1@seed.example", "password": "launch-day-password"},
            )
            assert login.status_code == 200
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            # New connections spread the requests over both workers; tokens work on either.
            for _ in range(40):
                with httpx.Client(base_url=base, timeout=10) as fresh:
                    assert (
                        fresh.get("/jobs", params={"territory_id": 2}, headers=headers).status_code
                        == 200
                    )
            text = http.get("/metrics").text
        assert metric(text, "http_requests_total", route="/jobs", method="GET", status="200") == 40
        assert metric(text, "http_requests_total", route="/auth/login", status="200") == 1
        assert metric(text, "process_cpu_seconds_total") > 0
        assert metric(text, "db_pool_size") == 200  # DB_POOL_MAX summed over 2 workers
        assert metric(text, "http_request_cpu_seconds_total", route="/jobs") > 0
        assert idle_connection_closed_after(port, idle_s=2.5)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        log.close()
    output = (tmp_path / "server.log").read_text()
    assert "Traceback" not in output, output
