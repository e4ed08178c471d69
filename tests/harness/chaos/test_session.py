"""The one door the orchestration has to chaos: a session's checks, its proxy, its ticks and its
judgement; and the package's independence from the orchestration."""

from __future__ import annotations

import ast
import socket
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.run.chaos import ChaosSession
from harness.run.run_request import RunRequest
from models.profile import load_profile
from tests.harness.chaos.doubles import echo_server

PROFILE = load_profile()
CHAOS = Path(__file__).resolve().parents[3] / "harness" / "run" / "chaos"


def test_an_ordinary_scenario_has_no_session_and_nothing_to_check() -> None:
    request = RunRequest(scenario="smoke", profile=PROFILE, host="http://127.0.0.1:9")
    ChaosSession.check(request)
    assert ChaosSession.planned_for(request) is None


def test_a_session_scales_the_fault_like_the_stages() -> None:
    request = RunRequest(scenario="chaos-payments", profile=PROFILE, duration_scale=0.5)
    session = ChaosSession.planned_for(request)
    planned = PROFILE.scenarios["chaos-payments"].fault
    assert session is not None and planned is not None
    assert session.fault.start_s == planned.start_s * 0.5
    assert session.fault.recovery_s == planned.recovery_s  # the service's clocks do not scale


def test_check_names_what_the_fault_needs() -> None:
    request = RunRequest(scenario="chaos-worker", profile=PROFILE, service_workers=1)
    with pytest.raises(UsageError, match=r"give --service-workers 2 or more \(got 1\)"):
        ChaosSession.check(request)


def test_only_a_database_fault_puts_a_proxy_on_the_service_path() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    payments = ChaosSession.planned_for(RunRequest(scenario="chaos-payments", profile=PROFILE))
    assert payments is not None and payments.route_database(url) == url
    server, port = echo_server()
    direct = f"postgresql+psycopg://postgres:secret@127.0.0.1:{port}/test"
    database = ChaosSession.planned_for(
        RunRequest(scenario="chaos-db", profile=PROFILE, database_url=direct)
    )
    assert database is not None
    try:
        proxied = database.route_database(direct)
        assert proxied is not None and proxied != direct
        assert proxied.startswith("postgresql+psycopg://postgres:secret@127.0.0.1:")
        proxy_port = int(proxied.rsplit(":", 1)[1].split("/")[0])
        with socket.create_connection(("127.0.0.1", proxy_port), timeout=5) as conn:
            conn.sendall(b"through the proxy")
            assert conn.recv(64) == b"through the proxy"
    finally:
        database.stop()
        server.close()


def test_ticks_announce_what_the_fault_did_and_judge_gives_its_gates() -> None:
    request = RunRequest(scenario="chaos-loadgen", profile=PROFILE, workers=2)
    session = ChaosSession.planned_for(request)
    assert session is not None
    assert session.tick(100.0) == []  # not armed: nothing to do
    start_s = session.fault.start_s
    announced = session.arm(None, lambda: 4242, None)
    assert announced == f"chaos: loadgen fault at t+{start_s:g} s once"
    assert session.tick(start_s - 1.0) == []
    assert session.tick(start_s + 0.2) == [
        f"chaos t+{start_s + 0.2:.0f} s: inject: Locust worker pid 4242 killed (SIGKILL)"
    ]
    session.end_fault(start_s + 10.0)
    notes: list[str] = []
    reasons = ["load-generator worker worker-1 exited with code -9 at t=12.1 s"]
    section, gates = session.judge([], None, reasons, None, notes.append)
    assert section.kind == "loadgen" and section.run_marked_incomplete is True
    assert section.details == {"killed_pid": 4242}
    assert [(gate.name, gate.passed) for gate in gates] == [("run_marked_incomplete", True)]
    assert notes == ["chaos: run_marked_incomplete = 1 (target 1) ok"]  # no drain to wait for


def test_the_chaos_package_never_imports_the_orchestration() -> None:
    """Orchestrate calls chaos through ChaosSession; chaos must not call back."""
    above = {"harness.run.orchestrate", "harness.run.watch", "harness.run.outcome"}
    offenders = []
    for path in sorted(CHAOS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [f"{path.name} imports {name}" for name in names if name in above]
    assert offenders == []
