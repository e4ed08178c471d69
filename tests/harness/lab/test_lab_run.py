"""``harness run`` on the lab: its flags refused before anything starts, a run end to end on
every part (instances under CPU limits, HAProxy, PgBouncer, a replica, the cache's settings),
the chaos-instance scenario, and the cleanup of a run whose harness was SIGKILLed.

The runs are short (a smoke of a few seconds of load on top of the lab's start): one run
checks many things. They use Redis database 3 and databases named ``labrun_*``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.cli import main
from harness.lab.cgroups import PARENT_GROUP, CgroupLayout, CgroupVersion
from harness.lab.cleanup import DEFAULT_STATE_DIR
from harness.lab.processes import processes_naming
from harness.lab.programs import HAPROXY
from tests.conftest import BESIDE_GROUP, POSTGRES_ADMIN_URL, REDIS_URL, require_server
from tests.harness.lab.conftest import lab_leftovers, lab_ready, require_programs

REPO = Path(__file__).resolve().parents[3]
REDIS_DB3 = REDIS_URL.rsplit("/", 1)[0] + "/3"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
# The lab's instances are CPU-limited and log in with a deliberate password hash: the runs
# here check the harness, not the service's speed, so they run beside the serial slow group,
# one after another with every other lab test (BESIDE_GROUP): the SIGKILLed run's lab, left
# on purpose for the next start, is never another lab test's leftover.
RELAXED = "[slo]\napi_p50_ms = 20000.0\napi_p95_ms = 60000.0\npage_p95_ms = 90000.0\n"


@pytest.fixture
def relaxed(tmp_path: Path) -> list[str]:
    path = tmp_path / "relaxed.toml"
    path.write_text(RELAXED)
    return ["--profile", str(path)]


def _refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(["run", *argv, "--out", "/nonexistent-never-created"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert not Path("/nonexistent-never-created").exists()
    return err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["smoke", "--instances", "0"], "--instances 0: the lab needs at least one"),
        (["smoke", "--instances", "2", "--cpu-limit", "1.5"], "pass --cpu-limit 1 or less"),
        (["smoke", "--instances", "2", "--read-replicas", "1"], "give --database-url postgres"),
        (["smoke", "--instances", "2", "--pooler"], "--pooler needs PostgreSQL"),
        (["smoke", "--cpu-limit", "0.5"], "pass --instances K (or --lab"),
        (
            ["smoke", "--instances", "300", "--pooler", "--read-replicas", "1",
             "--database-url", f"{PG}/labrun_refused"],
            "300 instances x 1 workers x 5 pool = 1500 client connections, over PgBouncer's "
            "max_client_conn 1000",
        ),
        (["smoke", "--instances", "2", "--host", "http://127.0.0.1:9"], "give one or the other"),
        (["chaos-instance"], "give --instances 2 or more (got 0)"),
        (["chaos-replica", "--instances", "2"], "give --instances K --read-replicas 1 or more"),
        (["chaos-cache", "--instances", "2", "--pooler"], "give --instances K --cache, or --lab"),
    ],
)  # fmt: skip
def test_lab_flags_that_cannot_work_exit_2_before_anything_starts(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    assert expected in _refused(capsys, *argv)


def test_connections_over_postgresqls_max_connections_without_a_pooler_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    require_server("PostgreSQL", POSTGRES_ADMIN_URL, 5432)
    err = _refused(capsys, "smoke", "--instances", "300", "--database-url", f"{PG}/test")
    assert "1500 client connections without a pooler, over PostgreSQL's max_connections" in err
    assert "turn the pooler on" in err


def test_a_missing_program_and_no_cgroup_permission_exit_2_with_the_fix(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("harness.lab.programs.SYSTEM_BIN_DIRS", ())
    err = _refused(capsys, "smoke", "--instances", "2")
    assert "haproxy" in err and "apt-get install haproxy" in err
    monkeypatch.undo()
    require_programs(HAPROXY)
    # A cgroup tree the kernel refuses to write to (sysfs: EPERM even for root).
    unwritable = Path("/sys/kernel")
    monkeypatch.setattr(
        "harness.run.lab_plan.detect_layout",
        lambda: CgroupLayout(CgroupVersion.V1, unwritable, unwritable, unwritable),
    )
    err = _refused(capsys, "smoke", "--instances", "2")
    assert f"cannot write {unwritable / PARENT_GROUP}" in err
    assert "run the harness as root, or delegate the group" in err


def _harness(*args: str, out: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "REDIS_URL": REDIS_DB3}
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "run", *args, "--out", str(out / "runs")],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _finish(process: subprocess.Popen[str], timeout_s: float = 150.0) -> tuple[int, str]:
    try:
        _, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, err = process.communicate()
        pytest.fail(f"harness did not finish in {timeout_s} s:\n{err[-3000:]}")
    assert "Traceback" not in err, err[-3000:]
    return process.returncode, err


def _run_dir(out: Path) -> Path:
    (run_dir,) = list((out / "runs").iterdir())
    return run_dir


def _running(pids: list[int]) -> list[str]:
    """The processes of ``pids`` still running (a zombie waiting for its parent is gone)."""
    running = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE:
                running.append(f"{pid} {process.status()} {' '.join(process.cmdline())}")
        except psutil.NoSuchProcess:
            continue
    return running


@pytest.mark.slow
@pytest.mark.xdist_group(BESIDE_GROUP)
def test_a_run_on_the_whole_lab_reconciles_and_records_every_part(
    tmp_path: Path, relaxed: list[str]
) -> None:
    """The issue's done-when command, on a short smoke: instances, HAProxy, PgBouncer, a
    replica, the cache's settings; counts reconcile three ways; nothing is left behind."""
    lab_ready()
    process = _harness(
        "smoke", "--instances", "3", "--cpu-limit", "0.25", "--database-url",
        f"{PG}/labrun_e2e", "--pooler", "--read-replicas", "1", "--cache",
        "--duration-scale", "0.15", "--seed", "7", *relaxed, out=tmp_path,
    )  # fmt: skip
    code, err = _finish(process)
    run_dir = _run_dir(tmp_path)
    run: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
    assert code == 0, err[-3000:]
    assert run["complete"] is True, run["incomplete_reasons"]
    recon = run["server_vs_client"]
    assert recon["match"] is True and recon["client_total"] > 0
    assert run["integrity"]["lost"] == 0 and run["integrity"]["unexpected"] == 0
    lab = run["lab"]
    assert lab["topology"]["instances"] == 3 and lab["topology"]["pooler"] is True
    assert lab["placement"]["postgresql"]["read_replicas"] == 1
    assert lab["reconciliation"]["match"] is True
    assert lab["reconciliation"]["client"] == recon["client_total"]
    assert [i["name"] for i in lab["instances"]] == ["instance_1", "instance_2", "instance_3"]
    for instance in lab["instances"]:
        assert instance["cpu_s"] > 0 and instance["periods"] > 0 and instance["alive_at_end"]
        assert instance["cpu_cores_mean"] <= 0.25 * 1.1  # the quota holds
    assert sum(b["requests"] for b in lab["balancer"]) >= recon["client_total"]
    assert all(b["last_status"] == "UP" for b in lab["balancer"])
    pooler = lab["pooler"]
    assert (
        pooler["transactions"] > 0 and pooler["servers_active_max"] + pooler["servers_idle_max"] > 0
    )
    # each worker's own pool is database.worker_pool_size (5): 3 instances hold at most 15
    assert 0 < lab["pooler"]["clients_active_max"] <= 15
    assert lab["placement"]["client_connections"] == 15
    (replica,) = lab["replicas"]
    assert replica["name"] == "replica_1" and replica["lag_bytes_max"] is not None
    cache = lab["cache"]
    assert cache["unavailable"] is None and cache["hits"] + cache["misses"] > 0
    lines = (run_dir / "lab.jsonl").read_text().splitlines()
    parts = {json.loads(line)["part"] for line in lines}
    assert parts == {"instance", "haproxy", "pool", "pooler_traffic", "replica", "cache_redis"}
    assert "cpu limit" in (run_dir / "report.html").read_text().lower()
    assert lab_leftovers() == []


@pytest.mark.slow
@pytest.mark.xdist_group(BESIDE_GROUP)
def test_chaos_instance_kills_one_and_haproxy_takes_it_out_nothing_lost(
    tmp_path: Path, relaxed: list[str]
) -> None:
    lab_ready()
    process = _harness(
        "chaos-instance", "--instances", "2", "--cpu-limit", "0.4",
        "--duration-scale", "0.12", "--seed", "7", "--no-report", *relaxed, out=tmp_path,
    )  # fmt: skip
    code, err = _finish(process)
    run: dict[str, Any] = json.loads((_run_dir(tmp_path) / "run.json").read_text())
    failed = [row for row in run["slo"] if not row["passed"] and row.get("judged", True)]
    assert code == 0, (run["incomplete_reasons"], failed, run["chaos"], err[-2000:])
    chaos = run["chaos"]
    assert chaos["kind"] == "instance" and chaos["error"] is None
    assert "instance_1" in chaos["events"][0]["detail"]
    assert chaos["details"]["balancer_statuses_seen"][-1] == "DOWN"
    assert chaos["recovery_s"] is not None and chaos["recovery_s"] <= 10.0  # two checks
    assert run["integrity"]["lost"] == 0 and run["integrity"]["unexpected"] == 0
    killed, survivor = run["lab"]["instances"]
    assert killed["alive_at_end"] is False and survivor["alive_at_end"] is True
    assert lab_leftovers() == []


@pytest.mark.slow
@pytest.mark.xdist_group(BESIDE_GROUP)
def test_the_next_start_removes_what_a_sigkilled_run_left(tmp_path: Path) -> None:
    """SIGKILL the harness with the lab up; the next ``harness run`` (here one refused at
    once) removes the instances, HAProxy, PgBouncer, PostgreSQL, groups and directories."""
    lab_ready()
    process = _harness(
        "smoke", "--instances", "2", "--cpu-limit", "0.3", "--pooler", "--read-replicas", "1",
        "--database-url", f"{PG}/labrun_killed", "--no-report", out=tmp_path,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    ledger = None
    while time.monotonic() < deadline and process.poll() is None:
        ledgers = list(DEFAULT_STATE_DIR.glob(f"{process.pid}-*.jsonl"))
        live = list(tmp_path.glob("runs/*/logs/live.jsonl"))
        if ledgers and live and live[0].stat().st_size > 0:
            ledger = ledgers[0]
            break
        time.sleep(0.2)
    assert ledger is not None, "the lab never came up"
    entries = [json.loads(line) for line in ledger.read_text().splitlines()]
    directories = [Path(e["path"]) for e in entries if e["kind"] == "directory"]
    servers = [e["pid"] for e in entries if e["kind"] == "process"]
    harness_children = psutil.Process(process.pid).children(recursive=True)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    for child in harness_children:  # Locust: the run's, not the lab's (no ledger entry)
        if child.is_running():
            child.kill()
    assert any(psutil.pid_exists(pid) for pid in servers)  # left running by the kill
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    next_start = subprocess.run(
        [sys.executable, "-m", "harness", "run", "smoke", "--instances", "0"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert next_start.returncode == 2, next_start.stderr
    assert not ledger.exists()
    assert _running(servers) == [], next_start.stderr
    assert not any(path.exists() for path in directories)
    assert all(processes_naming(path) == [] for path in directories)
    assert lab_leftovers() == []


def test_the_cache_hit_alert_is_evaluated_from_the_labs_scrapes() -> None:
    from harness.run.alerts import metric_series

    def scrape(t_s: float, hit: float, miss: float) -> dict[str, Any]:
        return {"t_s": t_s, "cpu_seconds": 0.0, "pool_in_use": 0.0,
                "lab": {"cache": {"hit": hit, "miss": miss}}}  # fmt: skip

    series = metric_series([], [scrape(0, 0, 0), scrape(2, 6, 4), scrape(4, 6, 4)], 1.0)
    assert series["cache_hit_ratio"] == [(2.0, 0.6)]  # no lookup in the second interval
    assert "cache_hit_ratio" not in metric_series([], [scrape(0, 0, 0) | {"lab": {}}] * 2, 1.0)
