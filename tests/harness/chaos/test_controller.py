"""The chaos machinery on plain data and real small parts: the fault's timeline, the judgement
of a run's live feed, the drain check on a real SQLite file, the proxy on a real socket, and
the profile's rules for faults. The end-to-end chaos runs are in test_chaos_runs.py.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from harness import chaos
from models.profile import Fault, ProfileError, load_profile, validate_profile

FAULT = Fault(kind="payments", start_s=10.0, duration_s=20.0, error_budget=0.05, recovery_s=15.0)


class RecordingInjector:
    """Our own Injector protocol, recording what the controller asked for."""

    def __init__(self, whole_after_checks: int = 2) -> None:
        self.calls: list[str] = []
        self.checks = 0
        self.whole_after_checks = whole_after_checks

    def inject(self) -> str:
        self.calls.append("inject")
        return "down"

    def midpoint(self) -> str | None:
        self.calls.append("midpoint")
        return "worse"

    def heal(self) -> str:
        self.calls.append("heal")
        return "up"

    def recovered(self) -> bool:
        self.checks += 1
        return self.checks >= self.whole_after_checks

    def observe(self) -> None:
        self.calls.append("observe")

    def details(self) -> dict[str, Any]:
        return {"breaker_opened": True}


def test_the_controller_injects_escalates_heals_and_watches_recovery_in_order() -> None:
    injector = RecordingInjector()
    controller = chaos.ChaosController(FAULT, injector)
    for load_s in [0.0, 5.0, 10.2, 15.0, 20.1, 25.0, 30.3, 31.5, 32.6, 40.0]:
        controller.tick(load_s)
    actions = [e.action for e in controller.events]
    assert actions == ["inject", "escalate", "heal", "recovered"]
    assert controller.injected_at == 10.2 and controller.midpoint_at == 20.1
    assert controller.healed_at == 30.3 and controller.dependency_recovered_at == 32.6
    assert injector.calls.count("inject") == injector.calls.count("heal") == 1


def test_a_failing_action_is_recorded_and_the_fault_healed_on_close() -> None:
    class Broken(RecordingInjector):
        def midpoint(self) -> str | None:
            raise ConnectionError("proxy gone")

    injector = Broken()
    controller = chaos.ChaosController(FAULT, injector)
    for load_s in [10.0, 20.0, 21.0]:
        controller.tick(load_s)
    assert controller.error == "ConnectionError: proxy gone"
    assert controller.events[-1].action == "error"
    controller.close(22.0)
    assert injector.calls[-1] == "heal" and controller.healed_at == 22.0


def test_a_heal_that_fails_is_tried_again_until_it_works() -> None:
    class Flaky(RecordingInjector):
        failures = 2

        def heal(self) -> str:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("429 Too Many Requests")
            return super().heal()

    controller = chaos.ChaosController(FAULT, Flaky())
    for load_s in [10.0, 30.0, 30.5, 31.0]:
        controller.tick(load_s)
    actions = [e.action for e in controller.events]
    assert actions == ["inject", "escalate", "heal failed", "heal failed", "heal"]
    assert controller.healed_at == 31.0 and controller.error is None


def test_a_fault_that_cannot_be_healed_is_an_error_at_the_end() -> None:
    class Stuck(RecordingInjector):
        def heal(self) -> str:
            raise ConnectionError("service gone")

    controller = chaos.ChaosController(FAULT, Stuck())
    controller.tick(10.0)
    controller.close(12.0)
    assert controller.healed_at is None
    assert controller.error == "the fault could not be healed; the service stayed broken"


def test_fault_times_shrink_with_the_duration_scale_but_the_service_clocks_do_not() -> None:
    fast = chaos.scaled(FAULT, 0.25)
    assert (fast.start_s, fast.duration_s) == (2.5, 5.0)
    assert (fast.recovery_s, fast.drain_s, fast.error_budget) == (15.0, 60.0, 0.05)


def _live(points: list[tuple[float, int, int]], start_wall: float = 1000.0) -> list[dict[str, Any]]:
    return [{"wall": start_wall + t, "requests": r, "failures": f} for t, r, f in points]


def test_errors_are_normal_again_from_the_first_window_after_which_all_stay_clean() -> None:
    points = chaos.windows(
        _live(
            [(28.0, 300, 50), (30.0, 320, 60), (32.0, 340, 70), (34.0, 360, 70), (36.0, 380, 70)]
        ),
        1000.0,
    )
    # heal at 30: the window ending 32 still fails 50%, then clean from 32 on
    assert chaos.errors_normal_at(points, 30.0, 0.01) == 32.0
    # a relapse resets it: never normal again before the end
    relapse = [*points, chaos.Window(38.0, 400, 80)]
    assert chaos.errors_normal_at(relapse, 30.0, 0.01) is None


def _healed_controller() -> chaos.ChaosController:
    controller = chaos.ChaosController(FAULT, RecordingInjector(whole_after_checks=1))
    for load_s in [10.0, 20.0, 30.0, 31.0]:
        controller.tick(load_s)
    return controller


def test_assess_counts_the_error_budget_from_the_fault_to_recovery_and_the_recovery_time() -> None:
    live = _live(
        [(8.0, 100, 0), (10.0, 110, 0), (20.0, 210, 10), (30.0, 310, 20), (32.0, 330, 20),
         (46.0, 470, 20), (50.0, 510, 20)]
    )  # fmt: skip
    drain = chaos.Drain(outbox_pending=0, payments_pending=3, waited_s=60.0)
    section, rows = chaos.assess(_healed_controller(), live, 1000.0, drain, [])
    # the budget runs from the injection (10 s) to heal + recovery_s (45 s): whole windows only,
    # so the feed's points at 10 s and 32 s bound it
    assert section["window"] == {"start_s": 10.0, "end_s": 45.0}
    assert section["requests"] == 220 and section["failures"] == 20
    assert section["error_rate"] == pytest.approx(20 / 220, abs=1e-6)
    assert section["recovery_s"] == pytest.approx(1.0)  # breaker whole at 31 s, errors at 30 s
    by_name = {row["name"]: row for row in rows}
    assert by_name["chaos_error_rate"]["passed"] is False  # 9.1% > 5%
    assert by_name["chaos_recovery_s"]["passed"] is True
    assert by_name["outbox_pending"]["passed"] is True
    assert by_name["payments_pending"] == {
        "name": "payments_pending", "target": 0, "measured": 3, "passed": False, "stage": None,
    }  # fmt: skip


def test_a_fault_the_load_never_reached_fails_both_gates_and_says_why() -> None:
    controller = chaos.ChaosController(FAULT, RecordingInjector())
    controller.tick(3.0)
    section, rows = chaos.assess(controller, _live([(3.0, 10, 0)]), 1000.0, None, [])
    assert "never injected" in section["note"]
    assert [(r["name"], r["passed"]) for r in rows] == [
        ("chaos_error_rate", False),
        ("chaos_recovery_s", False),
    ]


def test_a_lost_load_generator_passes_only_when_the_run_says_so() -> None:
    fault = Fault(kind="loadgen", start_s=5.0, duration_s=0.0, error_budget=1.0, recovery_s=1.0)
    controller = chaos.ChaosController(fault, RecordingInjector())
    reasons = ["load-generator worker-0 exited with code -9 at t=12.1 s"]
    section, rows = chaos.assess(controller, [], None, None, reasons)
    assert section["run_marked_incomplete"] is True and rows[0]["passed"] is True
    _, rows = chaos.assess(controller, [], None, None, [])
    assert rows[0]["passed"] is False


@pytest.fixture
def backlog_db(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'backlog.db'}"
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE outbox_messages (id INTEGER PRIMARY KEY, delivered_at TEXT)"))
        c.execute(text("CREATE TABLE payment_holds (id INTEGER PRIMARY KEY, status TEXT)"))
        c.execute(text("INSERT INTO outbox_messages (delivered_at) VALUES (NULL), ('now')"))
        c.execute(text("INSERT INTO payment_holds (status) VALUES ('pending'), ('held')"))
    engine.dispose()
    yield url


def test_the_drain_check_reads_the_backlog_and_waits_until_it_is_gone(backlog_db: str) -> None:
    assert chaos.pending(backlog_db) == (1, 1)

    def settle_later() -> None:
        engine = create_engine(backlog_db)
        with engine.begin() as c:
            c.execute(text("UPDATE outbox_messages SET delivered_at = 'later'"))
            c.execute(text("UPDATE payment_holds SET status = 'held'"))
        engine.dispose()

    timer = threading.Timer(0.3, settle_later)
    timer.start()
    drain = chaos.wait_drained(backlog_db, drain_s=10.0, poll_s=0.1)
    timer.join()
    assert (drain.outbox_pending, drain.payments_pending) == (0, 0)
    assert 0.2 < drain.waited_s < 5.0


def test_the_drain_check_gives_up_after_drain_s_and_reports_an_unreadable_database(
    tmp_path: Path, backlog_db: str
) -> None:
    drain = chaos.wait_drained(backlog_db, drain_s=0.3, poll_s=0.1)
    assert (drain.outbox_pending, drain.payments_pending) == (1, 1) and drain.waited_s >= 0.3
    missing = chaos.wait_drained(f"sqlite:///{tmp_path / 'none.db'}", drain_s=0.1, poll_s=0.05)
    assert missing.outbox_pending is None and "could not read the outbox" in missing.note


def _echo_server() -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def echo(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the proxy resets some of them
            while data := conn.recv(1024):
                conn.sendall(data)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return server, int(server.getsockname()[1])


def test_the_database_fault_delays_then_resets_then_heals_a_real_connection() -> None:
    server, port = _echo_server()
    proxy = chaos.DatabaseProxy("127.0.0.1", port)
    listen = proxy.start()
    faults = chaos.DatabaseFaults(proxy, chaos.AdminFaults("http://127.0.0.1:9", "x" * 16, ()))
    try:
        with socket.create_connection(("127.0.0.1", listen), timeout=5) as conn:
            conn.sendall(b"ping")
            assert conn.recv(16) == b"ping"
            assert "+200 ms" in faults.inject()
            assert "1 connections reset" in str(faults.midpoint())
            with pytest.raises(OSError):  # reset by the proxy (RST), or closed
                conn.sendall(b"x")
                if not conn.recv(16):
                    raise ConnectionResetError
        faults.heal()
        with socket.create_connection(("127.0.0.1", listen), timeout=5) as conn:
            conn.sendall(b"again")
            assert conn.recv(16) == b"again"
    finally:
        proxy.stop()
        server.close()


ONE_STAGE = [{"users": 10, "duration_s": 60.0, "spawn_rate": 10.0}]
GOOD_FAULT = {"kind": "payments", "start_s": 10.0, "duration_s": 20.0, "error_budget": 0.01,
              "recovery_s": 30.0}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "fault", "expected"),
    [
        ("load", GOOD_FAULT, "scenarios.load.fault: only chaos-* scenarios"),
        ("chaos-notify", GOOD_FAULT, "chaos-notify.fault.kind = 'payments': must be 'notify'"),
        ("chaos-payments", GOOD_FAULT | {"start_s": 45.0}, "must end before the load does (60 s)"),
        ("chaos-payments", None, "chaos-payments: a chaos scenario needs a [fault] table"),
        ("chaos-payments", GOOD_FAULT | {"kind": "disk"}, "scenarios.chaos-payments.fault.kind"),
        ("chaos-payments", GOOD_FAULT | {"error_budget": 2.0}, "must be between 0 and 1"),
    ],
)
def test_the_profile_refuses_faults_that_cannot_be_run(
    name: str, fault: dict[str, Any] | None, expected: str
) -> None:
    data = load_profile().model_dump(mode="json", exclude_none=True)
    data["scenarios"][name] = {"stages": ONE_STAGE} | ({"fault": fault} if fault else {})
    with pytest.raises(ProfileError) as caught:
        validate_profile(data)
    assert expected in str(caught.value)


def test_every_shipped_chaos_scenario_has_a_fault_of_its_own_kind() -> None:
    profile = load_profile()
    chaos_names = sorted(n for n in profile.scenarios if n.startswith("chaos-"))
    assert chaos_names == ["chaos-db", "chaos-loadgen", "chaos-notify", "chaos-payments",
                           "chaos-worker"]  # fmt: skip
    for name in chaos_names:
        fault = profile.scenarios[name].fault
        assert fault is not None and fault.kind == name.removeprefix("chaos-")


def test_the_profiles_retry_times_reach_the_bundled_service() -> None:
    from harness.run.service import profile_environment

    environment = dict(profile_environment(load_profile()))
    assert environment["PAYMENT_RETRY_S"] == "30" and environment["OUTBOX_BACKOFF_MAX_S"] == "60"
    assert environment["BREAKER_PAYMENTS"] == "5/15/30"
