"""A Locust swarm across hosts: the master, two workers and the target each in its own network
namespace, joined by a bridge (tests/harness/netns.py), so every request, heartbeat and
statistics message crosses a real interface, as on separate machines (docs/distributed.md).

* A clean run: both workers join from their own addresses; the master's merged histograms
  count exactly what the target served, per endpoint.
* A worker cut off mid-run (its link taken down, as a pulled cable): the master loses its
  heartbeats, and the run is incomplete (exit 3), never a quietly lower measurement.

Skipped with the reason where namespaces cannot be made (no root, no iproute2); a failure
under CI, which runs as root on this machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.exit_codes import ExitCode
from journeys.hdr import PAGE, HistogramSet
from tests.conftest import BESIDE_GROUP
from tests.harness import netns

# Slow, but beside the serial slow group (tests/conftest.py, BESIDE_GROUP): its processes
# wait on the network more than they use the CPU, and its objectives are relaxed.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(BESIDE_GROUP)]

REPO = Path(__file__).resolve().parents[2]
TARGET_PORT = 8080
#: Locust worker processes per worker host (``harness worker --processes``).
WORKER_PROCESSES = {"w1": 2, "w2": 1}
MASTER_PORT = 5557
RELAXED = "[slo]\napi_p50_ms = 5000.0\napi_p95_ms = 20000.0\npage_p95_ms = 60000.0\n"


def _harness(host: netns.Host, *args: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as stream:
        return subprocess.Popen(
            host.command([sys.executable, "-m", "harness", *args]),
            cwd=REPO,
            env=env,
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait(process: subprocess.Popen[bytes], log: Path, timeout_s: float) -> int:
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail(f"did not finish in {timeout_s} s:\n{log.read_text()[-3000:]}")


@dataclass
class Swarm:
    hosts: dict[str, netns.Host]
    tmp: Path
    target_url: str
    profile: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def workers(self, tag: str) -> list[subprocess.Popen[bytes]]:
        """``harness worker`` on each worker host: two Locust processes on w1, one on w2."""
        master = self.hosts["master"].address
        processes = [
            _harness(
                self.hosts[role],
                "worker",
                "--master-host",
                master,
                "--master-port",
                str(MASTER_PORT),
                "--processes",
                str(count),
                "--profile",
                str(self.profile),
                "--log-dir",
                str(self.tmp / f"{tag}-{role}"),
                log=self.tmp / f"{tag}-{role}.log",
            )
            for role, count in WORKER_PROCESSES.items()
        ]
        self.started.extend(processes)
        return processes

    def master(self, tag: str, duration_scale: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.tmp / f"{tag}-master.log"
        process = _harness(
            self.hosts["master"],
            "run",
            "smoke",
            "--profile",
            str(self.profile),
            "--host",
            self.target_url,
            "--expect-workers",
            str(sum(WORKER_PROCESSES.values())),
            "--master-port",
            str(MASTER_PORT),
            "--expect-workers-timeout",
            "60",
            "--duration-scale",
            duration_scale,
            "--seed",
            "7",
            "--no-report",
            "--out",
            str(self.tmp / tag),
            log=log,
        )
        self.started.append(process)
        return process, log


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swarm]:
    why = netns.unavailable()
    if why is not None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"network namespaces are unavailable under CI: {why}")
        pytest.skip(f"network namespaces are unavailable: {why}")
    tmp = tmp_path_factory.mktemp("swarm")
    profile = tmp / "relaxed.toml"
    profile.write_text(RELAXED, encoding="utf-8")
    with netns.hosts(["master", "w1", "w2", "target"]) as hosts:
        generators = ",".join(hosts[role].address for role in ("master", "w1", "w2"))
        target = hosts["target"]
        url = f"http://{target.address}:{TARGET_PORT}"
        service = _harness(
            target,
            "serve",
            "--bind",
            target.address,
            "--port",
            str(TARGET_PORT),
            "--trusted-proxies",
            generators,
            log=tmp / "target.log",
        )
        swarm = Swarm(hosts, tmp, url, profile, [service])
        try:
            _wait_ready(hosts["master"], url, service, tmp / "target.log")
            yield swarm
        finally:
            for process in reversed(swarm.started):
                _stop(process)


def _wait_ready(master: netns.Host, url: str, service: subprocess.Popen[bytes], log: Path) -> None:
    """Ready as the master's host sees it: across the bridge, not from inside the target."""
    deadline = time.monotonic() + 60
    probe = [
        sys.executable,
        "-c",
        f"import httpx; httpx.get('{url}/health/ready').raise_for_status()",
    ]
    while time.monotonic() < deadline:
        if service.poll() is not None:
            pytest.fail(f"the target exited with {service.returncode}:\n{log.read_text()[-3000:]}")
        if subprocess.run(master.command(probe), capture_output=True, timeout=10).returncode == 0:
            return
        time.sleep(0.5)
    pytest.fail(
        f"the target was not ready across the bridge after 60 s:\n{log.read_text()[-3000:]}"
    )


def _run_dir(out: Path) -> Path:
    (run_dir,) = [path for path in out.iterdir() if path.is_dir()]
    return run_dir


def _run_json(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((_run_dir(out) / "run.json").read_text())
    return data


def _histogram_requests(run_dir: Path) -> int:
    """API requests in the merged HDR histograms the master wrote, all stages."""
    total = 0
    for path in sorted((run_dir / "stats" / "histograms").glob("*.json")):
        histograms = HistogramSet.decode(json.loads(path.read_text()))
        for stage, method, name in histograms.keys():  # noqa: SIM118  # not a dict
            if method != PAGE:
                total += histograms.histogram(stage, method, name).get_total_count()
    return total


def test_a_swarm_across_hosts_merges_every_worker_s_histograms_exactly(swarm: Swarm) -> None:
    master, log = swarm.master("clean", "0.1")
    workers = swarm.workers("clean")
    code = _wait(master, log, timeout_s=150)
    assert code == ExitCode.OK, log.read_text()[-3000:]
    for worker in workers:
        assert worker.wait(timeout=30) == 0
    run = _run_json(swarm.tmp / "clean")
    assert run["complete"], run.get("incomplete_reasons")
    generator = run["load_generator"]
    assert isinstance(generator, dict)
    assert generator["mode"] == "remote" and generator["workers"] == 3
    # Every request the workers sent was counted once: the merged client counts equal what
    # the target (in another namespace) served, endpoint by endpoint.
    reconciliation = run["server_vs_client"]
    assert isinstance(reconciliation, dict)
    assert reconciliation["match"], reconciliation
    assert reconciliation["client_total"] == reconciliation["server_total"] > 0
    # The HDR histograms merged from both workers hold every one of those requests.
    assert _histogram_requests(_run_dir(swarm.tmp / "clean")) == reconciliation["server_total"]
    for role, count in WORKER_PROCESSES.items():
        assert "Traceback" not in (swarm.tmp / f"clean-{role}.log").read_text()
        # each Locust process of `harness worker` logs into --log-dir
        assert len(list((swarm.tmp / f"clean-{role}").glob("harness-worker-*.log"))) == count


def test_a_worker_cut_off_mid_run_leaves_the_run_incomplete(swarm: Swarm) -> None:
    master, log = swarm.master("cut", "0.2")
    workers = swarm.workers("cut")
    deadline = time.monotonic() + 90
    # Cut once the load is running: the master prints its first progress line then.
    while "t=" not in log.read_text() and time.monotonic() < deadline:
        assert master.poll() is None, log.read_text()[-3000:]
        time.sleep(0.2)
    swarm.hosts["w2"].cut_off()
    code = _wait(master, log, timeout_s=150)
    assert code == ExitCode.UNREACHABLE, log.read_text()[-3000:]
    run = _run_json(swarm.tmp / "cut")
    assert run["complete"] is False
    reasons = " ".join(str(reason) for reason in run["incomplete_reasons"])
    assert "worker" in reasons, reasons
    assert workers[0].wait(timeout=30) == 0  # the worker still connected finished normally
    # The cut-off worker cannot say goodbye to its master: an interrupt would wait for that
    # for about ten seconds at teardown. Nothing of it is judged, so it is stopped now.
    _stop(workers[1], timeout_s=1.0)


def test_namespaces_a_killed_test_left_are_removed_by_the_next(swarm: Swarm) -> None:
    """A test process killed mid-way strands its namespaces and bridge; the next start
    removes every one whose owner is gone (and nothing of a live owner)."""
    dead = max(psutil.pids()) + 10_000  # no such process: the "killed" owner
    while psutil.pid_exists(dead):
        dead += 1
    stranded, bridge = f"{netns.PREFIX}{dead}w1", f"{netns.PREFIX}{dead}br"
    subprocess.run(["ip", "netns", "add", stranded], check=True)
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    removed = netns.remove_leftovers()
    assert set(removed) == {stranded, bridge}
    assert (
        stranded
        not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    )
    alive = {host.namespace for host in swarm.hosts.values()}
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert all(name in listed for name in alive)  # this process's own hosts are untouched
