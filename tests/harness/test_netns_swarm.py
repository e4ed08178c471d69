"""A swarm across hosts: the Locust master, two workers and the target each in a network
namespace of their own, joined by a bridge, so every message crosses a network interface.

    10.77.0.1  master   harness run smoke --expect-workers 2 --host http://10.77.0.4:8001
    10.77.0.2  worker   harness worker --master-host 10.77.0.1
    10.77.0.3  worker   harness worker --master-host 10.77.0.1
    10.77.0.4  target   Datasette with its metrics wrapper (tests/harness/datasette_target.py)

Needs root and ``ip`` (iproute2): skipped with the reason elsewhere, a failure under CI. The
namespaces, the bridge and every process are removed even when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SUBNET = "10.77.0"
MASTER, WORKER_A, WORKER_B, TARGET = "master", "worker-a", "worker-b", "target"
ADDRESSES = {MASTER: f"{SUBNET}.1", WORKER_A: f"{SUBNET}.2", WORKER_B: f"{SUBNET}.3",
             TARGET: f"{SUBNET}.4"}  # fmt: skip
TARGET_URL = f"http://{ADDRESSES[TARGET]}:8001"

LOCUSTFILE = """
import random

from locust import HttpUser, constant, task


class Reader(HttpUser):
    wait_time = constant(0.1)

    @task
    def row(self):
        self.client.get(f"/shop/items/{random.randint(1, 200)}.json", name="/shop/items/{id}.json")
"""

PROFILE = """
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


def _unavailable(reason: str) -> None:
    """Skip with the reason; under CI a failure: CI runs as root with iproute2."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason}. Under CI the network-namespace swarm must run.")
    pytest.skip(reason)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@dataclass
class Lab:
    """Namespaces on one bridge, and the processes started in them (all removed by close)."""

    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    namespaces: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Any] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"h20br{self.tag}"

    def namespace(self, role: str) -> str:
        return f"h20-{self.tag}-{role}"

    def veth(self, role: str) -> str:
        return f"h20v{self.tag}{list(ADDRESSES).index(role)}"

    def build(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("link", "set", self.bridge, "up")
        for role, address in ADDRESSES.items():
            ns, veth = self.namespace(role), self.veth(role)
            _ip("netns", "add", ns)
            self.namespaces.append(ns)
            _ip("link", "add", veth, "type", "veth", "peer", "name", f"{veth}p")
            _ip("link", "set", f"{veth}p", "netns", ns)
            _ip("link", "set", veth, "master", self.bridge)
            _ip("link", "set", veth, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", f"{veth}p", "name", "eth0")
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")

    def start(
        self, role: str, command: list[str], log: Path, **env: str
    ) -> subprocess.Popen[bytes]:
        handle = log.open("wb")
        self.logs.append(handle)
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace(role), *command],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def cut(self, role: str) -> None:
        """Take ``role``'s cable out: its interface on the bridge goes down."""
        _ip("link", "set", self.veth(role), "down")

    def close(self) -> None:
        """Every process in the namespaces (the ones started here and their children in
        sessions of their own: Locust's workers), then the namespaces, cables and bridge."""
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        for ns in self.namespaces:
            listed = subprocess.run(
                ["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10, check=False
            )
            for pid in listed.stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        for handle in self.logs:
            handle.close()
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10, check=False)
        # a namespace lingers while the kernel still holds its sockets: cut its cables here
        for link in [*(self.veth(role) for role in ADDRESSES), self.bridge]:
            subprocess.run(
                ["ip", "link", "del", link], capture_output=True, timeout=10, check=False
            )


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    pytest.importorskip("datasette", reason="datasette is a dev dependency (pip install -e .[dev])")
    if sys.platform != "linux" or shutil.which("ip") is None:
        _unavailable("network namespaces need Linux and iproute2's ip")
    if os.geteuid() != 0:
        _unavailable("network namespaces need root")
    built = Lab()
    try:
        try:
            built.build()
        except subprocess.CalledProcessError as exc:
            _unavailable(f"cannot build network namespaces: {exc.stderr.decode().strip()}")
        _start_target(built, tmp_path)
        yield built
    finally:
        built.close()


def _start_target(lab: Lab, tmp_path: Path) -> None:
    database = tmp_path / "shop.db"
    with sqlite3.connect(database) as connection:
        connection.execute("create table items (id integer primary key, name text)")
        connection.executemany(
            "insert into items values (?, ?)", [(i, f"item {i}") for i in range(1, 201)]
        )
    lab.start(
        TARGET,
        [sys.executable, "-m", "uvicorn", "tests.harness.datasette_target:app",
         "--host", ADDRESSES[TARGET], "--port", "8001", "--log-level", "warning"],
        tmp_path / "target.log",
        DATASETTE_DB=str(database),
    )  # fmt: skip


def _swarm(lab: Lab, tmp_path: Path, duration_scale: str) -> subprocess.Popen[bytes]:
    """The master (which waits for the target and the workers), then the two workers."""
    (tmp_path / "swarm.toml").write_text(PROFILE)
    (tmp_path / "readers.py").write_text(LOCUSTFILE)
    master = lab.start(
        MASTER,
        [sys.executable, "-m", "harness", "run", "smoke", "--host", TARGET_URL,
         "--expect-workers", "2", "--master-port", "5557", "--expect-workers-timeout", "60",
         "--ready-timeout", "30", "--profile", str(tmp_path / "swarm.toml"),
         "--locustfile", str(tmp_path / "readers.py"), "--duration-scale", duration_scale,
         "--out", str(tmp_path / "runs"), "--no-report"],
        tmp_path / "master.log",
    )  # fmt: skip
    for role in (WORKER_A, WORKER_B):
        lab.start(
            role,
            [sys.executable, "-m", "harness", "worker", "--master-host", ADDRESSES[MASTER],
             "--master-port", "5557", "--profile", str(tmp_path / "swarm.toml"),
             "--locustfile", str(tmp_path / "readers.py"), "--log-dir", str(tmp_path / role)],
            tmp_path / f"{role}.log",
        )  # fmt: skip
    return master


def _finish(master: subprocess.Popen[bytes], tmp_path: Path) -> tuple[int, dict[str, Any]]:
    try:
        code = master.wait(timeout=150)
    except subprocess.TimeoutExpired:
        pytest.fail("the master did not finish:\n" + (tmp_path / "master.log").read_text()[-3000:])
    runs = list((tmp_path / "runs").iterdir()) if (tmp_path / "runs").exists() else []
    assert len(runs) == 1, (tmp_path / "master.log").read_text()[-3000:]
    return code, json.loads((runs[0] / "run.json").read_text())


def _wait_for_load(tmp_path: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for live in (tmp_path / "runs").glob("*/logs/live.jsonl"):
            lines = live.read_text().split("\n")[:-1]
            if any(json.loads(line).get("requests", 0) > 0 for line in lines):
                return
        time.sleep(0.2)
    pytest.fail("the load never started:\n" + (tmp_path / "master.log").read_text()[-3000:])


@pytest.mark.slow
def test_a_swarm_across_namespaces_merges_histograms_exactly(lab: Lab, tmp_path: Path) -> None:
    code, run = _finish(_swarm(lab, tmp_path, "0.1"), tmp_path)
    assert code == 0, (tmp_path / "master.log").read_text()[-3000:]
    assert run["load_generator"]["mode"] == "remote" and run["load_generator"]["workers"] == 2
    # the master's merged HDR histograms count exactly what the target's own counter counted
    recon = run["server_vs_client"]
    assert recon["match"] is True and recon["client_total"] > 0, recon
    assert run["complete"] is True, run["incomplete_reasons"]


@pytest.mark.slow
def test_a_worker_cut_off_mid_run_makes_the_run_incomplete(lab: Lab, tmp_path: Path) -> None:
    master = _swarm(lab, tmp_path, "0.2")
    _wait_for_load(tmp_path)
    time.sleep(2.0)
    lab.cut(WORKER_B)
    code, run = _finish(master, tmp_path)
    assert code == 3, (tmp_path / "master.log").read_text()[-3000:]
    assert run["complete"] is False
    reasons = " ".join(run["incomplete_reasons"])
    assert "worker" in reasons, reasons
