"""Chaos scenarios: inject the scenario's fault while the load runs, then judge the recovery.

A ``chaos-*`` scenario is an ordinary load shape plus a ``[scenarios.<name>.fault]`` table
(models/profile.py ``Fault``). While ``harness run`` watches the load, a :class:`ChaosController`
is ticked twice a second with the seconds since the load started::

    start_s                    start_s + duration_s                         + recovery_s
       │ inject ─────── fault ─────── │ heal ── recovering ── recovered? ──────┤
       └──────────── error budget: failed / requests over this whole span ─────┘

What each kind does (the injectors below)::

    db        PostgreSQL through the TCP fault proxy: +latency for the first half of the
              fault, then every connection reset (RST) for the second half
    payments  /admin/faults/payments: every call fails (the breaker opens, awards go
              payment-pending, the settler retries them after)
    notify    /admin/faults/sms and /email: every call fails (the outbox keeps everything)
    worker    SIGKILL one uvicorn worker process (the supervisor starts a new one)
    loadgen   SIGKILL one local Locust worker: the run must end marked incomplete

After the load, :func:`wait_drained` waits (up to ``drain_s``) until every outbox message is
delivered and every payment hold settled, reading the database directly. :func:`assess` turns
all of it into the ``chaos`` section of ``run.json`` and the gate rows (``chaos_error_rate``,
``chaos_recovery_s``, ``outbox_pending``, ``payments_pending``; ``run_marked_incomplete``
for ``loadgen``), which breach like any objective (exit 1).

"Errors back to normal" means every live window after the heal has an error rate at most
:data:`NORMAL_ERROR_RATE` or twice the rate before the fault, whichever is higher.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from sqlalchemy import create_engine, text

from models.profile import Fault

#: An error rate at or under this counts as normal after a fault (1%, the default SLO's).
NORMAL_ERROR_RATE = 0.01
#: Which fake dependencies each admin-API fault takes down.
ADMIN_DEPENDENCIES: Mapping[str, tuple[str, ...]] = {
    "payments": ("payments",),
    "notify": ("sms", "email"),
}
#: Extra latency per chunk on the database path during the first half of a ``db`` fault.
DB_FAULT_LATENCY_S = 0.2


def scaled(fault: Fault, duration_scale: float) -> Fault:
    """The fault's load-relative times shrunk like the stages (``--duration-scale``)."""
    return fault.model_copy(
        update={
            "start_s": fault.start_s * duration_scale,
            "duration_s": fault.duration_s * duration_scale,
        }
    )


class Injector(Protocol):
    """One kind of fault: how to cause it, end it, and tell that the service is whole again."""

    def inject(self) -> str: ...
    def midpoint(self) -> str | None: ...
    def heal(self) -> str: ...
    def recovered(self) -> bool: ...
    def observe(self) -> None: ...
    def details(self) -> dict[str, Any]: ...


@dataclass
class AdminFaults:
    """Fake dependencies taken down through the service's ``/admin/faults`` API."""

    base_url: str
    admin_token: str
    dependencies: tuple[str, ...]
    breaker_states: dict[str, set[str]] = field(default_factory=dict)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.request(
            method,
            f"{self.base_url}/admin/faults{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=5.0,
        )
        response.raise_for_status()
        return response.json()

    def inject(self) -> str:
        for dependency in self.dependencies:
            self._call("PUT", f"/{dependency}", {"error_rate": 1.0})
        return f"{', '.join(self.dependencies)}: every call fails"

    def midpoint(self) -> str | None:
        return None

    def heal(self) -> str:
        for dependency in self.dependencies:
            self._call("DELETE", f"/{dependency}")
        return f"{', '.join(self.dependencies)}: healthy"

    def _breakers(self) -> dict[str, str]:
        breakers = self._call("GET", "")["breakers"]
        return {name: str(breakers[name]["state"]) for name in self.dependencies}

    def observe(self) -> None:
        with contextlib.suppress(httpx.HTTPError):
            for name, state in self._breakers().items():
                self.breaker_states.setdefault(name, set()).add(state)

    def recovered(self) -> bool:
        try:
            return all(state == "closed" for state in self._breakers().values())
        except httpx.HTTPError:
            return False

    def details(self) -> dict[str, Any]:
        return {
            "dependencies": list(self.dependencies),
            "breaker_states_seen": {k: sorted(v) for k, v in self.breaker_states.items()},
            "breaker_opened": any("open" in states for states in self.breaker_states.values()),
        }


class DatabaseProxy:
    """The TCP fault proxy (target_app.resilience.fault_proxy) on a thread of its own."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        from target_app.resilience.fault_proxy import FaultProxy

        self.proxy = FaultProxy(upstream_host, upstream_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy")
        self._thread.daemon = True

    def start(self) -> int:
        """Start listening; returns the loopback port to connect to instead of the upstream."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(timeout=10.0)
        return int(self.proxy.port)

    def run(self, action: Callable[[], object]) -> object:
        """Run ``action`` on the proxy's loop (its state is not thread-safe)."""

        async def call() -> object:
            return action()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=10.0)

    def stop(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.proxy.stop(), self._loop).result(10.0)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10.0)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()


@dataclass
class DatabaseFaults:
    """Latency, then connection resets, on the service's path to PostgreSQL."""

    proxy: DatabaseProxy
    admin: AdminFaults
    """Reads the database breaker's state (no fake dependency is touched)."""

    def inject(self) -> str:
        self.proxy.run(lambda: self.proxy.proxy.set_latency(DB_FAULT_LATENCY_S))
        return f"database path: +{DB_FAULT_LATENCY_S * 1000:g} ms per chunk"

    def midpoint(self) -> str | None:
        def resets() -> int:
            proxy = self.proxy.proxy
            proxy.set_latency(0.0)
            open_now = int(proxy.open_connections)
            proxy.set_reset_peer(True)  # resets the open ones, then every new one
            return open_now

        reset = self.proxy.run(resets)
        return f"database path: {reset} connections reset, every new one refused with RST"

    def heal(self) -> str:
        self.proxy.run(self.proxy.proxy.clear)
        return "database path: healthy"

    def observe(self) -> None:
        self.admin.observe()

    def recovered(self) -> bool:
        return self.admin.recovered()

    def details(self) -> dict[str, Any]:
        return {
            "latency_s": DB_FAULT_LATENCY_S,
            "breaker_states_seen": {k: sorted(v) for k, v in self.admin.breaker_states.items()},
            "breaker_opened": any("open" in s for s in self.admin.breaker_states.values()),
        }


def worker_pids(supervisor_pid: int) -> list[int]:
    """The uvicorn supervisor's worker processes (spawned children; not its resource tracker)."""
    import psutil

    found = []
    try:
        children = psutil.Process(supervisor_pid).children()
    except psutil.Error:
        return []
    for child in children:
        try:
            if child.is_running() and "--multiprocessing-fork" in child.cmdline():
                found.append(child.pid)
        except psutil.Error:
            continue
    return found


@dataclass
class ServiceWorkerKill:
    """SIGKILL one of the service's worker processes; whole again when a new one runs."""

    supervisor_pid: int
    workers: int
    killed: int | None = None
    replaced_by: list[int] = field(default_factory=list)

    def inject(self) -> str:
        children = worker_pids(self.supervisor_pid)
        if not children:
            raise RuntimeError(
                f"the service (pid {self.supervisor_pid}) has no worker process to kill"
            )
        self.killed = children[0]
        os.kill(self.killed, signal.SIGKILL)
        return f"service worker pid {self.killed} killed (SIGKILL)"

    def midpoint(self) -> str | None:
        return None

    def heal(self) -> str:
        return ""  # nothing to undo: the supervisor replaces the worker

    def observe(self) -> None:
        return None

    def recovered(self) -> bool:
        alive = [pid for pid in worker_pids(self.supervisor_pid) if pid != self.killed]
        self.replaced_by = alive
        return len(alive) >= self.workers

    def details(self) -> dict[str, Any]:
        return {"killed_pid": self.killed, "workers_after": self.replaced_by}


@dataclass
class LoadgenWorkerKill:
    """SIGKILL one local Locust worker; the run must say it is incomplete."""

    kill: Callable[[], int]
    killed: int | None = None

    def inject(self) -> str:
        self.killed = self.kill()
        return f"Locust worker pid {self.killed} killed (SIGKILL)"

    def midpoint(self) -> str | None:
        return None

    def heal(self) -> str:
        return ""  # a lost load generator is not replaced mid-run

    def observe(self) -> None:
        return None

    def recovered(self) -> bool:
        return False  # nothing recovers: the run must end incomplete

    def details(self) -> dict[str, Any]:
        return {"killed_pid": self.killed}


@dataclass
class ChaosEvent:
    at_s: float
    """Seconds since the load started."""
    action: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"at_s": round(self.at_s, 2), "action": self.action, "detail": self.detail}


@dataclass
class ChaosController:
    """Drives one fault through its timeline; tick it with seconds since the load started."""

    fault: Fault
    injector: Injector
    events: list[ChaosEvent] = field(default_factory=list)
    injected_at: float | None = None
    midpoint_at: float | None = None
    healed_at: float | None = None
    dependency_recovered_at: float | None = None
    error: str | None = None
    backlog: Callable[[], tuple[int, int]] | None = None
    """Reads (outbox pending, payments pending) once a second while the fault lasts."""
    backlog_max: tuple[int, int] = (0, 0)
    _last_check: float = -1.0
    _last_backlog: float = -1.0

    def tick(self, load_s: float) -> None:
        """Do what is due at ``load_s``; a failing action is recorded, never raised."""
        try:
            self._tick(load_s)
        except Exception as exc:  # the run goes on; the assessment fails with the reason
            if self.error is None:
                self.error = f"{type(exc).__name__}: {exc}"
                self.events.append(ChaosEvent(load_s, "error", self.error))

    def _tick(self, load_s: float) -> None:
        fault = self.fault
        if self.injected_at is None:
            if load_s >= fault.start_s:
                self.injected_at = load_s
                self.events.append(ChaosEvent(load_s, "inject", self.injector.inject()))
            return
        if self.healed_at is None:
            half = fault.start_s + fault.duration_s / 2
            if self.midpoint_at is None and fault.duration_s > 0 and load_s >= half:
                self.midpoint_at = load_s
                detail = self.injector.midpoint()
                if detail:
                    self.events.append(ChaosEvent(load_s, "escalate", detail))
            if load_s - self._last_check >= 1.0:  # once a second is enough to see a breaker
                self._last_check = load_s
                self.injector.observe()
                self._sample_backlog(load_s)
            if load_s >= fault.start_s + fault.duration_s:
                self._heal(load_s)
            return
        if self.dependency_recovered_at is None and load_s - self._last_check >= 1.0:
            self._last_check = load_s
            self.injector.observe()
            if self.injector.recovered():
                self.dependency_recovered_at = load_s
                self.events.append(ChaosEvent(load_s, "recovered", "dependency whole again"))

    def _sample_backlog(self, load_s: float) -> None:
        if self.backlog is None or load_s - self._last_backlog < 1.0:
            return
        self._last_backlog = load_s
        with contextlib.suppress(Exception):  # a busy database only costs one sample
            outbox, payments = self.backlog()
            self.backlog_max = (
                max(self.backlog_max[0], outbox),
                max(self.backlog_max[1], payments),
            )

    def _heal(self, load_s: float) -> None:
        """End the fault; a failed attempt is recorded and tried again on the next tick."""
        try:
            detail = self.injector.heal()
        except Exception as exc:  # never leave the service broken: retried next tick
            self.events.append(
                ChaosEvent(load_s, "heal failed", f"{type(exc).__name__}: {exc}; trying again")
            )
            return
        self.healed_at = load_s
        if detail:  # an instant fault (a kill) has nothing to undo
            self.events.append(ChaosEvent(load_s, "heal", detail))

    def close(self, load_s: float) -> None:
        """Heal a fault the load outran (never leave the service broken)."""
        if self.injected_at is not None and self.healed_at is None:
            self._heal(load_s)
            if self.healed_at is None and self.error is None:
                self.error = "the fault could not be healed; the service stayed broken"


@dataclass(frozen=True, slots=True)
class Drain:
    """Notifications and payment holds still owed after the load."""

    outbox_pending: int | None
    payments_pending: int | None
    waited_s: float
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "outbox_pending": self.outbox_pending,
            "payments_pending": self.payments_pending,
            "waited_s": round(self.waited_s, 2),
            "note": self.note,
        }


def pending(database_url: str) -> tuple[int, int]:
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
        return int(outbox), int(payments)
    finally:
        engine.dispose()


def wait_drained(database_url: str, drain_s: float, poll_s: float = 1.0) -> Drain:
    """Poll :func:`pending` until both are 0 or ``drain_s`` has passed."""
    started = time.monotonic()
    outbox = payments = None
    note = ""
    while True:
        try:
            outbox, payments = pending(database_url)
        except Exception as exc:  # reported; the gates then fail as "not measured"
            note = f"could not read the outbox: {type(exc).__name__}: {exc}"
        waited = time.monotonic() - started
        if (outbox == 0 and payments == 0) or waited >= drain_s:
            return Drain(outbox, payments, waited, note)
        time.sleep(poll_s)


@dataclass(frozen=True, slots=True)
class Window:
    """Cumulative request and failure counts of the live feed at one moment."""

    load_s: float
    requests: int
    failures: int


def windows(live: Sequence[Mapping[str, Any]], load_started_wall: float) -> list[Window]:
    """The live feed's cumulative counts, timed in seconds since the load started."""
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


def assess(
    controller: ChaosController,
    live: Sequence[Mapping[str, Any]],
    load_started_wall: float | None,
    drain: Drain | None,
    incomplete_reasons: Sequence[str],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``chaos`` section of ``run.json`` and its gate rows (as ``slo`` rows)."""
    fault = controller.fault
    points = windows(live, load_started_wall) if load_started_wall is not None else []
    section: dict[str, Any] = {
        "kind": fault.kind,
        "planned": {"start_s": fault.start_s, "duration_s": fault.duration_s},
        "events": [event.as_dict() for event in controller.events],
        "error": controller.error,
        "details": controller.injector.details(),
        "backlog_max_during_fault": {
            "outbox_pending": controller.backlog_max[0],
            "payments_pending": controller.backlog_max[1],
        },
        "drain": drain.as_dict() if drain is not None else None,
    }
    rows: list[dict[str, Any]] = []

    def row(name: str, target: float, measured: float | None, passed: bool) -> None:
        rows.append(
            {"name": name, "target": target, "measured": measured, "passed": passed, "stage": None}
        )

    if fault.kind == "loadgen":
        lost = any("load-generator worker" in reason for reason in incomplete_reasons)
        section["run_marked_incomplete"] = lost
        row("run_marked_incomplete", 1, 1 if lost else 0, lost)
        return section, rows

    injected, healed = controller.injected_at, controller.healed_at
    if injected is None or healed is None or controller.error is not None:
        section["note"] = controller.error or "the fault was never injected (the load ended first)"
        row("chaos_error_rate", fault.error_budget, None, False)
        row("chaos_recovery_s", fault.recovery_s, None, False)
    else:
        base_requests, base_failures = _between(points, 0.0, injected)
        baseline = _rate(base_requests, base_failures)
        normal = max(NORMAL_ERROR_RATE, 2.0 * baseline)
        # the budget runs until recovery_s after the heal, or the load's end if sooner
        budget_end = min(healed + fault.recovery_s, points[-1].load_s if points else healed)
        requests, failures = _between(points, injected, budget_end)
        during = _rate(requests, failures)
        errors_ok = errors_normal_at(points, healed, normal)
        whole = controller.dependency_recovered_at
        recovered = None if errors_ok is None or whole is None else max(errors_ok, whole)
        recovery_s = None if recovered is None else max(0.0, recovered - healed)
        section.update(
            {
                "baseline_error_rate": round(baseline, 6),
                "normal_error_rate": round(normal, 6),
                "window": {"start_s": round(injected, 2), "end_s": round(budget_end, 2)},
                "requests": requests,
                "failures": failures,
                "error_rate": round(during, 6),
                "recovery_s": None if recovery_s is None else round(recovery_s, 2),
            }
        )
        row("chaos_error_rate", fault.error_budget, round(during, 6), during <= fault.error_budget)
        row(
            "chaos_recovery_s",
            fault.recovery_s,
            section["recovery_s"],
            recovery_s is not None and recovery_s <= fault.recovery_s,
        )
    if drain is not None:
        for name, value in (
            ("outbox_pending", drain.outbox_pending),
            ("payments_pending", drain.payments_pending),
        ):
            row(name, 0, value, value == 0)
    return section, rows


def describe(fault: Fault) -> str:
    """One line for the terminal: what will happen when."""
    span = f"for {fault.duration_s:g} s" if fault.duration_s else "once"
    return f"chaos: {fault.kind} fault at t+{fault.start_s:g} s {span}"


__all__ = [
    "ADMIN_DEPENDENCIES",
    "AdminFaults",
    "ChaosController",
    "ChaosEvent",
    "DatabaseFaults",
    "DatabaseProxy",
    "Drain",
    "Injector",
    "LoadgenWorkerKill",
    "ServiceWorkerKill",
    "assess",
    "describe",
    "errors_normal_at",
    "pending",
    "scaled",
    "wait_drained",
    "windows",
]
