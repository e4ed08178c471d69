"""The lab's read-path chaos scenarios through ``harness run``, short: a read replica crashed
(``chaos-replica``) and the cache's own Redis killed (``chaos-cache``), each started again at
the heal; no request may fail (an error budget of 0) and the lost-write audit must find
nothing lost and nothing unexpected. Then ``harness serve --port`` with the lab.

Each run is compressed: 20 users with 1 s think times, the fault from t+5 s for 6 s, a load
of 24 s. The breakers keep the service's own times (reset 10 s): the breaker opened at the
injection tries again about t+15 s, 4 s after the heal, and the load goes on 9 s past that.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.lab.programs import REDIS_SERVER
from tests.conftest import BESIDE_GROUP
from tests.harness.lab.conftest import lab_leftovers, lab_ready, require_programs
from tests.harness.lab.test_lab_run import (
    PG,
    REPO,
    _finish,
    _harness,
    _run_dir,
)

# Beside the serial slow group, not in it (make test's ten minutes): these runs judge failures,
# breakers, lost writes and leftovers, never latency, and a lab still running beside them is
# not a leftover (lab_leftovers).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(BESIDE_GROUP)]

SHORT = """
[slo]
api_p50_ms = 20000.0
api_p95_ms = 60000.0
page_p95_ms = 90000.0
[personas.homeowner]
think_time_s = 1.0
[personas.contractor]
think_time_s = 1.0
[personas.operator]
think_time_s = 1.0
"""


def _short(tmp_path: Path, scenario: str, kind: str) -> list[str]:
    path = tmp_path / "short.toml"
    path.write_text(
        SHORT
        + f"[scenarios.{scenario}]\n"
        + "stages = [{ users = 20, duration_s = 24.0, spawn_rate = 20.0 }]\n"
        + f'fault = {{ kind = "{kind}", start_s = 5.0, duration_s = 6.0, error_budget = 0.0, '
        + "recovery_s = 15.0 }\n"
    )
    return ["--profile", str(path), "--seed", "7", "--no-report"]


def _judged(tmp_path: Path, process: subprocess.Popen[str]) -> tuple[dict[str, Any], Path]:
    """run.json of a chaos run that passed every gate, and its run directory."""
    code, err = _finish(process, timeout_s=120.0)
    run_dir = _run_dir(tmp_path)
    run: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
    failed = [row for row in run["slo"] if not row["passed"] and row.get("judged", True)]
    assert code == 0, (run["incomplete_reasons"], failed, run.get("chaos"), err[-2000:])
    chaos = run["chaos"]
    assert chaos["error"] is None
    assert [event["action"] for event in chaos["events"]] == ["inject", "heal", "recovered"]
    # no request failed from the injection to the end of the window, and recovery came in time
    assert chaos["requests"] > 50 and chaos["failures"] == 0, chaos
    assert chaos["recovery_s"] is not None and chaos["recovery_s"] <= 15.0
    details = chaos["details"]
    assert details["breaker_opened"] is True, details
    assert set(details["breaker_states_seen"]) == {"instance_1", "instance_2"}
    assert run["integrity"]["lost"] == 0 and run["integrity"]["unexpected"] == 0
    assert run["complete"] is True, run["incomplete_reasons"]
    return run, run_dir


def test_chaos_replica_crashes_a_replica_reads_fall_back_nothing_fails_or_is_lost(
    tmp_path: Path,
) -> None:
    lab_ready()
    process = _harness(
        "chaos-replica", "--instances", "2", "--cpu-limit", "0.4", "--pooler",
        "--read-replicas", "1", "--database-url", f"{PG}/labchaos_replica",
        *_short(tmp_path, "chaos-replica", "replica"), out=tmp_path,
    )  # fmt: skip
    run, run_dir = _judged(tmp_path, process)
    chaos = run["chaos"]
    assert chaos["kind"] == "replica" and chaos["details"]["breaker"] == "replica"
    assert "pg_ctl stop -m immediate" in chaos["events"][0]["detail"]
    assert "replica_1 started again" in chaos["events"][1]["detail"]
    lines = [json.loads(line) for line in (run_dir / "lab.jsonl").read_text().splitlines()]
    lags = [line for line in lines if line["part"] == "replica"]
    # streaming before the crash, absent from the primary's view while down (sampled each
    # second: a gap of seconds), streaming again after the heal
    gaps = [later["at"] - earlier["at"] for earlier, later in itertools.pairwise(lags)]
    assert lags[0]["state"] == lags[-1]["state"] == "streaming"
    assert max(gaps) >= 3.0, gaps
    assert lab_leftovers(owner=process.pid) == []


def test_chaos_cache_kills_its_own_redis_reads_go_to_the_database_nothing_fails_or_is_lost(
    tmp_path: Path, postgres_url: str
) -> None:
    lab_ready()
    require_programs(REDIS_SERVER)
    # PostgreSQL, not the default SQLite file: two instances writing one SQLite file can wait
    # past its busy timeout, an error this run is not about and its budget of 0 would not allow
    process = _harness(
        "chaos-cache", "--instances", "2", "--cpu-limit", "0.4", "--cache",
        "--database-url", postgres_url, *_short(tmp_path, "chaos-cache", "cache"), out=tmp_path,
    )  # fmt: skip
    run, run_dir = _judged(tmp_path, process)
    chaos = run["chaos"]
    assert chaos["kind"] == "cache" and chaos["details"]["breaker"] == "cache"
    assert "SIGKILL" in chaos["events"][0]["detail"]
    cache = run["lab"]["cache"]
    assert cache["hits"] > 0 and cache["misses"] > 0
    lines = [json.loads(line) for line in (run_dir / "lab.jsonl").read_text().splitlines()]
    states = [line["up"] for line in lines if line["part"] == "cache_redis"]
    # up, down while killed, up again once started on its port
    assert states[0] and not all(states) and states[-1], states
    assert lab_leftovers(owner=process.pid) == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_puts_the_labs_front_door_on_the_port_asked_for(tmp_path: Path) -> None:
    lab_ready()
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "serve", "--instances", "1", "--cpu-limit", "0.5",
         "--port", str(port), "--seed-scale", "0.001"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert re.search(rf"serving on http://127\.0\.0\.1:{port}\b", line), line
        ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5)
        assert ready.status_code == 200 and ready.json()["instance"] == "instance_1"
        os.kill(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err[-2000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert lab_leftovers(owner=process.pid) == []


def test_serve_refuses_a_taken_port_for_the_lab_before_anything_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = subprocess.run(
            [sys.executable, "-m", "harness", "serve", "--instances", "1", "--port", str(port)],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
            text=True, timeout=60, check=False,
        )  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert f"--port {port}: 127.0.0.1:{port} is taken" in refused.stderr
    assert "--port 0" in refused.stderr
