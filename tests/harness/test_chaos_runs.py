"""Short versions of the chaos scenarios, end to end: `harness run chaos-*` against the bundled
service with real Locust processes, the fault injected for real, the run judged by its gates.

Each run is compressed: think times of 1 s so that 20 users write often enough for a breaker
to open, a fault of 6 s from t+3 s, breakers that try again after 2 s, payments and
notifications retried every second or two, and a load that ends 6 s after the heal: at worst
the breakers close about 4.5 s after it (a trial that failed just before the heal, 2 s open, a
retry up to 2 s later, the next look a second after that).
The full-length runs are the documented commands of docs/reliability.md ("Faults under load").
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.exit_codes import ExitCode
from tests.harness.test_run_command import NO_REPORT, finish, harness, read_run

pytestmark = pytest.mark.slow

FAST = """
[personas.homeowner]
think_time_s = 1.0
[personas.contractor]
think_time_s = 1.0
[personas.operator]
think_time_s = 1.0
[business]
write_fraction = 0.3
awards_per_job = 1.0
[infrastructure.retries]
payment_retry_s = 1.0
outbox_backoff_max_s = 2.0
[slo]
api_p50_ms = 5000.0
api_p95_ms = 20000.0
page_p95_ms = 60000.0
"""
BREAKERS = "".join(
    f"[infrastructure.breakers.{name}]\nfailures = 5\ntimeout_s = 10.0\nreset_s = 2.0\n"
    for name in ("payments", "sms", "email")
)


def _profile(tmp_path: Path, scenario: str, kind: str, users: int = 20) -> list[str]:
    path = tmp_path / "chaos.toml"
    path.write_text(
        FAST
        + BREAKERS
        + f"[scenarios.{scenario}]\n"
        + f"stages = [{{ users = {users}, duration_s = 15.0, spawn_rate = {users}.0 }}]\n"
        + f'fault = {{ kind = "{kind}", start_s = 3.0, duration_s = 6.0, error_budget = 0.01, '
        + "recovery_s = 8.0, drain_s = 20.0 }\n"
    )
    return ["--profile", str(path), "--seed", "5", NO_REPORT]


def _gates(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in run["slo"] if row.get("judged", True)}


def _common_checks(run: dict[str, Any], kind: str) -> dict[str, Any]:
    chaos: dict[str, Any] = run["chaos"]
    assert chaos["kind"] == kind and chaos["error"] is None
    assert [e["action"] for e in chaos["events"]][:2] == ["inject", "heal"], chaos["events"]
    inject, heal = chaos["events"][0]["at_s"], chaos["events"][1]["at_s"]
    assert 2.5 <= inject <= 5.0 and 8.5 <= heal <= 11.0, chaos["events"]
    gates = _gates(run)
    for name in ("chaos_error_rate", "chaos_recovery_s", "outbox_pending", "payments_pending",
                 "integrity_lost", "integrity_unexpected"):  # fmt: skip
        assert gates[name]["passed"] is True, gates[name]
    assert chaos["requests"] > 100 and chaos["error_rate"] <= 0.01
    assert chaos["drain"]["outbox_pending"] == 0 and chaos["drain"]["payments_pending"] == 0
    assert run["exit_code"] == 0 and run["complete"] is True
    return chaos


def test_chaos_payments_awards_go_pending_while_payments_are_down_and_settle_after(
    tmp_path: Path,
) -> None:
    args = _profile(tmp_path, "chaos-payments", "payments")
    code, _, err = finish(harness("run", "chaos-payments", *args, out=tmp_path / "runs"), 120.0)
    assert code == ExitCode.OK, err[-3000:]
    chaos = _common_checks(read_run(tmp_path / "runs"), "payments")
    # awards kept answering (no client errors) while their payment holds waited
    assert chaos["backlog_max_during_fault"]["payments_pending"] >= 1
    assert chaos["details"]["dependencies"] == ["payments"]
    assert "chaos t+" in err and "chaos: chaos_recovery_s" in err


def test_chaos_notify_the_outbox_keeps_every_notification_and_delivers_it_after(
    tmp_path: Path,
) -> None:
    args = _profile(tmp_path, "chaos-notify", "notify")
    code, _, err = finish(harness("run", "chaos-notify", *args, out=tmp_path / "runs"), 120.0)
    assert code == ExitCode.OK, err[-3000:]
    chaos = _common_checks(read_run(tmp_path / "runs"), "notify")
    assert chaos["backlog_max_during_fault"]["outbox_pending"] >= 10
    assert chaos["details"]["breaker_opened"] is True  # sms and email: 5 failures in a row
    assert set(chaos["details"]["breaker_states_seen"]) == {"sms", "email"}


def test_chaos_loadgen_a_killed_locust_worker_leaves_the_run_incomplete_never_low(
    tmp_path: Path,
) -> None:
    path = tmp_path / "loadgen.toml"
    path.write_text(
        FAST + "[scenarios.chaos-loadgen]\n"
        "stages = [{ users = 20, duration_s = 12.0, spawn_rate = 20.0 }]\n"
        'fault = { kind = "loadgen", start_s = 4.0, duration_s = 0.0, error_budget = 1.0, '
        "recovery_s = 1.0 }\n"
    )
    process = harness(
        "run", "chaos-loadgen", "--workers", "2", "--profile", str(path), NO_REPORT,
        out=tmp_path / "runs",
    )  # fmt: skip
    code, _, err = finish(process, 120.0)
    assert code == ExitCode.UNREACHABLE, err[-3000:]
    run = read_run(tmp_path / "runs")
    assert run["complete"] is False
    reasons = " | ".join(run["incomplete_reasons"])
    assert f"exited with code {-signal.SIGKILL}" in reasons
    assert "stopped sending heartbeats" in reasons or "left the swarm" in reasons, reasons
    assert run["chaos"]["run_marked_incomplete"] is True
    gates = _gates(run)
    assert gates["run_marked_incomplete"]["passed"] is True
    # the killed worker's log died with it: its writes are not judged "unexpected"
    assert gates["integrity_lost"]["passed"] is True
    assert "integrity_unexpected" not in gates or gates["integrity_unexpected"]["passed"]
    killed = run["chaos"]["details"]["killed_pid"]
    assert f"Locust worker pid {killed} killed" in run["chaos"]["events"][0]["detail"]


def test_chaos_runs_refuse_setups_their_fault_cannot_act_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # In this process (the refusal comes before any child process is started): four Python
    # start-ups would cost 2 s each, for checks that take milliseconds.
    out = ["--out", str(tmp_path / "runs")]
    for args, expected in (
        (["chaos-loadgen"], "give --workers 1 or more"),
        (["chaos-worker"], "give --service-workers 2 or more"),
        (["chaos-db"], "give --database-url postgresql"),
        (["chaos-payments", "--host", "http://127.0.0.1:9"], "run it without --host"),
    ):
        code = main(["run", *args, *out])
        err = capsys.readouterr().err
        assert code == ExitCode.BAD_INPUT, err
        assert expected in err
    assert not (tmp_path / "runs").exists()  # refused before any run directory
