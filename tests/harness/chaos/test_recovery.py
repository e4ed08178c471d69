"""Judging a chaos run on plain data and a real SQLite file: the error budget, the recovery
time, the gates, and the drain check."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from harness.run.chaos import controller as timeline
from harness.run.chaos import recovery
from models.profile import Fault
from models.run_records import Backlog, Drain, SloResult
from tests.harness.chaos.doubles import FAULT, RecordingInjector


def _live(points: list[tuple[float, int, int]], start_wall: float = 1000.0) -> list[dict[str, Any]]:
    return [{"wall": start_wall + t, "requests": r, "failures": f} for t, r, f in points]


def test_errors_are_normal_again_from_the_first_window_after_which_all_stay_clean() -> None:
    points = recovery.windows(
        _live(
            [(28.0, 300, 50), (30.0, 320, 60), (32.0, 340, 70), (34.0, 360, 70), (36.0, 380, 70)]
        ),
        1000.0,
    )
    # heal at 30: the window ending 32 still fails 50%, then clean from 32 on
    assert recovery.errors_normal_at(points, 30.0, 0.01) == 32.0
    # a relapse resets it: never normal again before the end
    relapse = [*points, recovery.Window(38.0, 400, 80)]
    assert recovery.errors_normal_at(relapse, 30.0, 0.01) is None


def _healed_controller() -> timeline.ChaosController:
    controller = timeline.ChaosController(FAULT, RecordingInjector(whole_after_checks=1))
    for load_s in [10.0, 20.0, 30.0, 31.0]:
        controller.tick(load_s)
    return controller


def test_assess_counts_the_error_budget_from_the_fault_to_recovery_and_the_recovery_time() -> None:
    live = _live(
        [(8.0, 100, 0), (10.0, 110, 0), (20.0, 210, 10), (30.0, 310, 20), (32.0, 330, 20),
         (46.0, 470, 20), (50.0, 510, 20)]
    )  # fmt: skip
    drain = Drain(outbox_pending=0, payments_pending=3, waited_s=60.0)
    section, rows = recovery.assess(_healed_controller(), live, 1000.0, drain, [])
    # the budget runs from the injection (10 s) to heal + recovery_s (45 s): whole windows only,
    # so the feed's points at 10 s and 32 s bound it
    figures = section.figures
    assert figures is not None
    assert (figures.window_start_s, figures.window_end_s) == (10.0, 45.0)
    assert figures.requests == 220 and figures.failures == 20
    assert figures.error_rate == pytest.approx(20 / 220, abs=1e-6)
    assert figures.recovery_s == pytest.approx(1.0)  # breaker whole at 31 s, errors at 30 s
    by_name = {row.name: row for row in rows}
    assert by_name["chaos_error_rate"].passed is False  # 9.1% > 5%
    assert by_name["chaos_recovery_s"].passed is True
    assert by_name["outbox_pending"].passed is True
    assert by_name["payments_pending"] == SloResult("payments_pending", 0, 3, False, None)
    assert section.drain == drain and section.note is None


def test_a_fault_the_load_never_reached_fails_both_gates_and_says_why() -> None:
    controller = timeline.ChaosController(FAULT, RecordingInjector())
    controller.tick(3.0)
    section, rows = recovery.assess(controller, _live([(3.0, 10, 0)]), 1000.0, None, [])
    assert section.note is not None and "never injected" in section.note
    assert section.figures is None
    assert [(r.name, r.passed) for r in rows] == [
        ("chaos_error_rate", False),
        ("chaos_recovery_s", False),
    ]


def test_a_lost_load_generator_passes_only_when_the_run_says_so() -> None:
    fault = Fault(kind="loadgen", start_s=5.0, duration_s=0.0, error_budget=1.0, recovery_s=1.0)
    controller = timeline.ChaosController(fault, RecordingInjector())
    reasons = ["load-generator worker-0 exited with code -9 at t=12.1 s"]
    section, rows = recovery.assess(controller, [], None, None, reasons)
    assert section.run_marked_incomplete is True and rows[0].passed is True
    _, rows = recovery.assess(controller, [], None, None, [])
    assert rows[0].passed is False


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
    assert recovery.pending(backlog_db) == Backlog(1, 1)

    def settle_later() -> None:
        engine = create_engine(backlog_db)
        with engine.begin() as c:
            c.execute(text("UPDATE outbox_messages SET delivered_at = 'later'"))
            c.execute(text("UPDATE payment_holds SET status = 'held'"))
        engine.dispose()

    timer = threading.Timer(0.3, settle_later)
    timer.start()
    drain = recovery.wait_drained(backlog_db, drain_s=10.0, poll_s=0.1)
    timer.join()
    assert (drain.outbox_pending, drain.payments_pending) == (0, 0)
    assert 0.2 < drain.waited_s < 5.0


def test_the_drain_check_gives_up_after_drain_s_and_reports_an_unreadable_database(
    tmp_path: Path, backlog_db: str
) -> None:
    drain = recovery.wait_drained(backlog_db, drain_s=0.3, poll_s=0.1)
    assert (drain.outbox_pending, drain.payments_pending) == (1, 1) and drain.waited_s >= 0.3
    missing = recovery.wait_drained(f"sqlite:///{tmp_path / 'none.db'}", drain_s=0.1, poll_s=0.05)
    assert missing.outbox_pending is None and "could not read the outbox" in missing.note


def test_the_chaos_section_is_written_as_run_json_documents_it() -> None:
    """The section's keys in the order docs/artifacts.md lists them, events rounded to 10 ms."""
    live = _live([(8.0, 100, 0), (10.0, 110, 0), (32.0, 330, 20), (46.0, 470, 20)])
    controller = timeline.ChaosController(FAULT, RecordingInjector(whole_after_checks=1))
    for load_s in [10.004, 20.0, 30.0, 31.0]:
        controller.tick(load_s)
    section, _ = recovery.assess(controller, live, 1000.0, None, [])
    written = section.to_json()
    assert list(written) == [
        "kind", "planned", "events", "error", "details", "backlog_max_during_fault", "drain",
        "baseline_error_rate", "normal_error_rate", "window", "requests", "failures",
        "error_rate", "recovery_s",
    ]  # fmt: skip
    assert written["events"] == [
        {"at_s": 10.0, "action": "inject", "detail": "down"},
        {"at_s": 20.0, "action": "escalate", "detail": "worse"},
        {"at_s": 30.0, "action": "heal", "detail": "up"},
        {"at_s": 31.0, "action": "recovered", "detail": "dependency whole again"},
    ]
    assert written["details"] == {"breaker_opened": True}
