"""Judging a chaos run: the errors the fault cost, how soon the service recovered, what it owes.

After the load, :func:`wait_drained` waits (up to the fault's ``drain_s``) until every outbox
message is delivered and every payment hold settled, reading the database directly.
:func:`assess` turns the controller's timeline, the live feed and the drain into the ``chaos``
section of ``run.json`` and its gates, which breach like any objective (exit 1)::

    chaos_error_rate        failed / requests from the injection to recovery_s after the heal
    chaos_recovery_s        from the heal until errors are normal and the dependency whole
    outbox_pending          notifications still undelivered after the drain wait   (must be 0)
    payments_pending        payment holds still unsettled after the drain wait     (must be 0)
    run_marked_incomplete   ``loadgen`` only: the run said it lost a load generator (must be 1)

"Errors back to normal" means every live window after the heal has an error rate at most
:data:`NORMAL_ERROR_RATE` or twice the rate before the fault, whichever is higher.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import create_engine, text

from harness.run.chaos.controller import ChaosController
from models.rounding import rounded
from models.run_records import (
    Backlog,
    ChaosEvent,
    ChaosFigures,
    ChaosResult,
    Drain,
    PlannedFault,
    SloResult,
)

#: An error rate at or under this counts as normal after a fault (1%, the default SLO's).
NORMAL_ERROR_RATE = 0.01


def pending(database_url: str) -> Backlog:
    """Undelivered outbox messages and unsettled payment holds, read from the database."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            outbox = connection.execute(
                text("SELECT count(*) FROM outbox_messages WHERE delivered_at IS NULL")
            ).scalar_one()
            payments = connection.execute(
                text("SELECT count(*) FROM payment_holds WHERE status = 'pending'")
            ).scalar_one()
        return Backlog(int(outbox), int(payments))
    finally:
        engine.dispose()


def wait_drained(database_url: str, drain_s: float, poll_s: float = 1.0) -> Drain:
    """Poll :func:`pending` until both are 0 or ``drain_s`` has passed."""
    started = time.monotonic()
    backlog: Backlog | None = None
    note = ""
    while True:
        try:
            backlog = pending(database_url)
        except Exception as exc:  # reported; the gates then fail as "not measured"
            note = f"could not read the outbox: {type(exc).__name__}: {exc}"
        waited = time.monotonic() - started
        if backlog == Backlog(0, 0) or waited >= drain_s:
            return Drain(
                None if backlog is None else backlog.outbox_pending,
                None if backlog is None else backlog.payments_pending,
                rounded(waited, 2),
                note,
            )
        time.sleep(poll_s)


@dataclass(frozen=True, slots=True)
class Window:
    """Cumulative request and failure counts of the live feed at one moment."""

    load_s: float
    requests: int
    failures: int


def windows(live: Sequence[Mapping[str, Any]], load_started_wall: float) -> list[Window]:
    """The live feed's cumulative counts (harness/run/locust_plugin.py writes the feed), timed
    in seconds since the load started."""
    return [
        Window(
            float(line["wall"]) - load_started_wall, int(line["requests"]), int(line["failures"])
        )
        for line in live
        if "requests" in line
    ]


def _between(points: Sequence[Window], start: float, end: float) -> tuple[int, int]:
    """Requests and failures counted in (start, end], from the windows around it."""
    before = [p for p in points if p.load_s <= start]
    upto = [p for p in points if p.load_s <= end]
    if not upto:
        return 0, 0
    first = before[-1] if before else Window(0.0, 0, 0)
    last = upto[-1]
    return last.requests - first.requests, last.failures - first.failures


def _rate(requests: int, failures: int) -> float:
    return failures / requests if requests > 0 else 0.0


def errors_normal_at(points: Sequence[Window], healed_at: float, normal: float) -> float | None:
    """The first window end after ``healed_at`` from which every window's error rate stays
    at or under ``normal`` (None when the load ended before that)."""
    after = [p for p in points if p.load_s >= healed_at]
    candidate: float | None = None
    previous = next((p for p in reversed(points) if p.load_s < healed_at), None)
    for point in after:
        if previous is not None:
            rate = _rate(point.requests - previous.requests, point.failures - previous.failures)
            if rate > normal:
                candidate = None
            elif candidate is None:
                candidate = previous.load_s if previous.load_s >= healed_at else healed_at
        previous = point
    return candidate


def _gate(name: str, target: float, measured: float | None, passed: bool) -> SloResult:
    return SloResult(name, target, measured, passed, None)


def _healed(
    controller: ChaosController, points: Sequence[Window]
) -> tuple[ChaosFigures, list[SloResult]]:
    """The figures and the two recovery gates of a fault that was injected and healed."""
    fault = controller.fault
    injected, healed = controller.injected_at, controller.healed_at
    assert injected is not None and healed is not None  # assess() checks both first
    baseline = _rate(*_between(points, 0.0, injected))
    normal = max(NORMAL_ERROR_RATE, 2.0 * baseline)
    # the budget runs until recovery_s after the heal, or the load's end if sooner
    budget_end = min(healed + fault.recovery_s, points[-1].load_s if points else healed)
    requests, failures = _between(points, injected, budget_end)
    during = _rate(requests, failures)
    errors_ok = errors_normal_at(points, healed, normal)
    whole = controller.dependency_recovered_at
    recovered = None if errors_ok is None or whole is None else max(errors_ok, whole)
    recovery_s = None if recovered is None else max(0.0, recovered - healed)
    figures = ChaosFigures(
        baseline_error_rate=rounded(baseline, 6),
        normal_error_rate=rounded(normal, 6),
        window_start_s=rounded(injected, 2),
        window_end_s=rounded(budget_end, 2),
        requests=requests,
        failures=failures,
        error_rate=rounded(during, 6),
        recovery_s=rounded(recovery_s, 2),
    )
    return figures, [
        _gate(
            "chaos_error_rate", fault.error_budget, figures.error_rate, during <= fault.error_budget
        ),
        _gate(
            "chaos_recovery_s",
            fault.recovery_s,
            figures.recovery_s,
            recovery_s is not None and recovery_s <= fault.recovery_s,
        ),
    ]


def assess(
    controller: ChaosController,
    live: Sequence[Mapping[str, Any]],
    load_started_wall: float | None,
    drain: Drain | None,
    incomplete_reasons: Sequence[str],
) -> tuple[ChaosResult, list[SloResult]]:
    """The ``chaos`` section of ``run.json`` and its gates (``slo`` rows)."""
    fault = controller.fault
    section = ChaosResult(
        kind=fault.kind,
        planned=PlannedFault(fault.start_s, fault.duration_s),
        events=tuple(ChaosEvent(rounded(e.at_s, 2), e.action, e.detail) for e in controller.events),
        error=controller.error,
        details=controller.injector.details(),
        backlog_max_during_fault=controller.backlog_max,
        drain=drain,
    )
    if fault.kind == "loadgen":
        lost = any("load-generator worker" in reason for reason in incomplete_reasons)
        gate = _gate("run_marked_incomplete", 1, 1 if lost else 0, lost)
        return replace(section, run_marked_incomplete=lost), [gate]
    if (
        controller.injected_at is None
        or controller.healed_at is None
        or controller.error is not None
    ):
        note = controller.error or "the fault was never injected (the load ended first)"
        section = replace(section, note=note)
        gates = [
            _gate("chaos_error_rate", fault.error_budget, None, False),
            _gate("chaos_recovery_s", fault.recovery_s, None, False),
        ]
    else:
        points = windows(live, load_started_wall) if load_started_wall is not None else []
        figures, gates = _healed(controller, points)
        section = replace(section, figures=figures)
    if drain is not None:
        gates.append(_gate("outbox_pending", 0, drain.outbox_pending, drain.outbox_pending == 0))
        gates.append(
            _gate("payments_pending", 0, drain.payments_pending, drain.payments_pending == 0)
        )
    return section, gates
