"""Locust as child processes: one master (or one local process) and K local workers.

Locust's master/worker mode is the distributed engine; this module only starts it, watches it
and stops it. Every Locust process is ``python -m locust -f journeys/locustfile.py,
harness/run/locust_plugin.py`` (with ``--locustfile``, the user's own file and
harness/run/own_users_plugin.py in place of the journeys), so gevent's monkey-patching never
touches the harness process, and the plugin (see its docstring) reports back through files in
``run_dir/logs``::

    mode                  processes started here                  who else joins
    local  (workers=0)    one headless Locust process             -
    local  (workers=K)    a master + K ``--worker`` processes     -
    remote (expect=K)     a master bound to all interfaces        K ``harness worker`` processes

Each process runs in its own session, so a Ctrl-C in the terminal reaches only the harness,
which then asks the master to stop gracefully (through the control file) and still collects
everything it can.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parents[2]
JOURNEYS_LOCUSTFILE = REPO_ROOT / "journeys" / "locustfile.py"
PLUGIN_LOCUSTFILE = REPO_ROOT / "harness" / "run" / "locust_plugin.py"
OWN_USERS_PLUGIN = REPO_ROOT / "harness" / "run" / "own_users_plugin.py"

#: Seconds a user may take to finish its screen when the test stops (Locust --stop-timeout).
STOP_TIMEOUT_S = 30.0


def locustfiles(own: Path | None = None) -> str:
    """Locust's ``-f``: the bundled journeys, or ``own`` (a user's locustfile) with the
    plugin that measures its users (harness/run/own_users_plugin.py); then ours."""
    if own is None:
        return f"{JOURNEYS_LOCUSTFILE},{PLUGIN_LOCUSTFILE}"
    return f"{own},{OWN_USERS_PLUGIN},{PLUGIN_LOCUSTFILE}"


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def worker_command(master_host: str, master_port: int, own: Path | None = None) -> list[str]:
    """The command line of one Locust worker joining ``master_host:master_port`` (``own``: the
    user's locustfile the master runs)."""
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        locustfiles(own),
        "--worker",
        "--master-host",
        master_host,
        "--master-port",
        str(master_port),
    ]


def worker_env(profile_path: Path | None = None) -> dict[str, str]:
    """Environment of a worker process: the profile it reads (personas, think times)."""
    env = _base_env()
    if profile_path is not None:
        env["JOURNEYS_PROFILE"] = str(profile_path)
    return env


@dataclass(frozen=True, slots=True)
class SwarmPlan:
    """Everything needed to start one Locust run."""

    scenario: str
    host: str
    run_dir: Path
    profile_path: Path
    scale: float = 1.0
    time_scale: float = 1.0
    seed_scale: float = 0.01
    local_workers: int = 0
    expect_workers: int = 0
    master_port: int = 5557
    master_bind_host: str = "127.0.0.1"
    window_s: float = 2.0
    expect_workers_max_wait_s: float = 120.0
    seed: int | None = None
    accounts: tuple[tuple[str, int], ...] | None = None
    """Exact seeded accounts per persona (the bundled service's seed plan); None lets the
    journeys derive them from ``seed_scale``, which suits a target seeded elsewhere."""
    locustfile: Path | None = None
    """A user's own locustfile in place of the bundled journeys (harness/run/own_locustfile.py)."""
    think: str = "profile"
    """The journeys' think-time mode (``--journeys-think``); "profile": each persona's own."""

    @property
    def distributed(self) -> bool:
        return self.local_workers > 0 or self.expect_workers > 0

    @property
    def worker_count(self) -> int:
        return self.local_workers + self.expect_workers

    @property
    def logs(self) -> Path:
        return self.run_dir / "logs"

    @property
    def live_path(self) -> Path:
        return self.logs / "live.jsonl"

    @property
    def control_path(self) -> Path:
        return self.logs / "control"

    @property
    def final_path(self) -> Path:
        return self.logs / "final.json"

    @property
    def hdr_path(self) -> Path:
        return self.logs / "hdr.json"

    @property
    def csv_prefix(self) -> Path:
        """Locust writes ``<prefix>_stats.csv``, ``_stats_history.csv``, ``_failures.csv``,
        ``_exceptions.csv``."""
        return self.run_dir / "stats" / "locust"

    @property
    def writes_path(self) -> Path:
        return self.run_dir / "stats" / "writes.jsonl"

    def master_command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            locustfiles(self.locustfile),
            "--headless",
            "--host",
            self.host,
            "--stop-timeout",
            f"{STOP_TIMEOUT_S:g}",
            "--only-summary",
            "--csv",  # Locust's own CSV (stats, stats history, failures) for CI tools
            str(self.csv_prefix),
            "--journeys-scale",
            f"{self.scale:g}",
            "--journeys-time-scale",
            f"{self.time_scale:g}",
            "--journeys-seed-scale",
            f"{self.seed_scale:g}",
            "--journeys-write-log",
            str(self.writes_path),
            "--journeys-hdr-out",
            str(self.hdr_path),
        ]
        if self.seed is not None:
            command += ["--journeys-seed", str(self.seed)]
        if self.think != "profile":
            command += ["--journeys-think", self.think]
        if self.accounts:
            counts = ",".join(f"{persona}={count}" for persona, count in self.accounts)
            command += ["--journeys-accounts", counts]
        if self.distributed:
            command += [
                "--master",
                "--master-bind-host",
                self.master_bind_host,
                "--master-bind-port",
                str(self.master_port),
                "--expect-workers",
                str(self.worker_count),
                "--expect-workers-max-wait",
                f"{self.expect_workers_max_wait_s:g}",
            ]
        return command

    def master_env(self) -> dict[str, str]:
        env = worker_env(self.profile_path)
        env.update(
            {
                "JOURNEYS_SCENARIO": self.scenario,
                "HARNESS_LIVE": str(self.live_path),
                "HARNESS_CONTROL": str(self.control_path),
                "HARNESS_FINAL": str(self.final_path),
                "HARNESS_WINDOW_S": f"{self.window_s:g}",
            }
        )
        return env


@dataclass
class LocalProcess:
    """A child process we started, its log, and how it ended."""

    role: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    exit_code: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        if self.exit_code is None:
            self.exit_code = self.process.poll()
        return self.exit_code

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def stop(self, timeout_s: float) -> None:
        if self.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait(timeout=5.0)
        self.poll()
        self.log.close()


def start_process(
    role: str, command: list[str], env: dict[str, str], log_path: Path
) -> LocalProcess:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    process = subprocess.Popen(
        command,
        env=env,
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches the harness only; it stops us gracefully
    )
    return LocalProcess(role, process, log)


@dataclass
class Swarm:
    """A running Locust master (or local process) and its local workers."""

    plan: SwarmPlan
    master: LocalProcess | None = None
    workers: list[LocalProcess] = field(default_factory=list)
    exited: dict[str, tuple[int, float]] = field(default_factory=dict)
    cpu_max: float = 0.0
    _psutil: dict[int, Any] = field(default_factory=dict)
    _live_offset: int = 0
    _stop_requested_at: float | None = None

    def start(self) -> None:
        plan = self.plan
        plan.logs.mkdir(parents=True, exist_ok=True)
        plan.writes_path.parent.mkdir(parents=True, exist_ok=True)
        for stale in (plan.live_path, plan.control_path, plan.final_path, plan.hdr_path):
            stale.unlink(missing_ok=True)
        self.master = start_process(
            "master" if plan.distributed else "local",
            plan.master_command(),
            plan.master_env(),
            plan.logs / ("master.log" if plan.distributed else "locust.log"),
        )
        for index in range(plan.local_workers):
            self.workers.append(
                start_process(
                    f"worker-{index}",
                    worker_command("127.0.0.1", plan.master_port, plan.locustfile),
                    worker_env(plan.profile_path),
                    plan.logs / f"worker-{index}.log",
                )
            )

    def read_live(self) -> list[dict[str, Any]]:
        """New complete lines of the plugin's live feed since the last call."""
        path = self.plan.live_path
        if not path.exists():
            return []
        with path.open("rb") as handle:
            handle.seek(self._live_offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1
        self._live_offset += end
        return [json.loads(line) for line in data[:end].splitlines() if line.strip()]

    def check_workers(self) -> list[tuple[str, int, int, float]]:
        """Local worker processes that exited since the last call: (role, pid, code, wall time).

        Whether an exit was abnormal depends on when: workers quit at the end of every run,
        so the caller compares the time with the moment the load was stopped.
        """
        found = []
        for worker in self.workers:
            if worker.role in self.exited:
                continue
            code = worker.poll()
            if code is not None:
                self.exited[worker.role] = (code, time.time())
                found.append((worker.role, worker.pid, code, time.time()))
        return found

    def sample_cpu(self) -> float:
        """Highest CPU fraction of any local Locust process right now (psutil, since last call)."""
        import psutil

        highest = 0.0
        for process in [*([self.master] if self.master else []), *self.workers]:
            if process.poll() is not None:
                continue
            try:
                handle = self._psutil.get(process.pid)
                if handle is None:
                    handle = self._psutil[process.pid] = psutil.Process(process.pid)
                    handle.cpu_percent(None)  # the first call only starts the measurement
                    continue
                highest = max(highest, handle.cpu_percent(None) / 100.0)
            except psutil.Error:
                continue
        self.cpu_max = max(self.cpu_max, highest)
        return highest

    def kill_one_worker(self) -> int:
        """SIGKILL the first running local worker (chaos-loadgen); returns its pid."""
        for worker in self.workers:
            if worker.poll() is None:
                worker.signal(signal.SIGKILL)
                return worker.pid
        raise RuntimeError("no local Locust worker is running")

    def request_stop(self, reason: str) -> None:
        """Ask the master to stop gracefully (it finishes screens and collects final reports)."""
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
            self.plan.control_path.write_text(f"stop {reason}\n", encoding="utf-8")

    def escalate_if_stuck(self, grace_s: float) -> None:
        """SIGTERM the master when a requested stop has not ended it within ``grace_s``."""
        if self._stop_requested_at is None or self.master is None or self.master.poll() is not None:
            return
        if time.monotonic() - self._stop_requested_at > grace_s:
            self.master.signal(signal.SIGTERM)
            self._stop_requested_at = time.monotonic() + 3600.0  # once

    def master_exited(self) -> bool:
        return self.master is None or self.master.poll() is not None

    def shutdown(self, timeout_s: float = 20.0) -> None:
        """Wait for the master to quit, then stop the local workers; kill what lingers."""
        if self.master is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.master.process.wait(timeout=timeout_s)
            self.master.stop(timeout_s=5.0)
        for worker in self.workers:
            # Workers quit when the master says so; give them a moment, then insist.
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(timeout=5.0)
            worker.stop(timeout_s=5.0)

    def kill(self) -> None:
        for process in [*self.workers, *([self.master] if self.master else [])]:
            if process.poll() is None:
                process.signal(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.process.wait(timeout=5.0)
            if not process.log.closed:
                process.log.close()

    def pids(self) -> dict[str, Any]:
        return {
            "master": self.master.pid if self.master else None,
            "workers": [w.pid for w in self.workers],
        }
