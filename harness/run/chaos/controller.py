"""The fault's timeline: when to inject, escalate and heal it, and when the service is whole.

While ``harness run`` watches the load, a :class:`ChaosController` is ticked twice a second with
the seconds since the load started::

    start_s                    start_s + duration_s                         + recovery_s
       │ inject ─────── fault ─────── │ heal ── recovering ── recovered? ──────┤
       └──────────── error budget: failed / requests over this whole span ─────┘

Half-way through the fault it asks the injector to escalate (the ``db`` fault turns its
latency into connection resets). Every action that fails is recorded as an event and never
raised: the load goes on, and the judgement (:mod:`harness.run.chaos.recovery`) fails with the
reason. The fault is always healed, at the latest when the load ends (:meth:`close`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.run.chaos.injectors import Injector
from models.profile import Fault
from models.run_records import Backlog, ChaosEvent

#: How often, in seconds of the load, the injector looks at the service and the backlog is read:
#: a breaker changes state in seconds, and each look is an HTTP call or a database query.
LOOK_EVERY_S = 1.0


def scaled(fault: Fault, duration_scale: float) -> Fault:
    """The fault's load-relative times shrunk like the stages (``--duration-scale``)."""
    return fault.model_copy(
        update={
            "start_s": fault.start_s * duration_scale,
            "duration_s": fault.duration_s * duration_scale,
        }
    )


def describe(fault: Fault) -> str:
    """One line for the terminal: what will happen when."""
    span = f"for {fault.duration_s:g} s" if fault.duration_s else "once"
    return f"chaos: {fault.kind} fault at t+{fault.start_s:g} s {span}"


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
    backlog: Callable[[], Backlog] | None = None
    """Reads the backlog (outbox and payments pending) while the fault lasts."""
    backlog_max: Backlog = field(default_factory=lambda: Backlog(0, 0))
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
            self._during_fault(load_s)
            return
        if self.dependency_recovered_at is None and load_s - self._last_check >= LOOK_EVERY_S:
            self._last_check = load_s
            self.injector.observe()
            if self.injector.recovered():
                self.dependency_recovered_at = load_s
                self.events.append(ChaosEvent(load_s, "recovered", "dependency whole again"))

    def _during_fault(self, load_s: float) -> None:
        """Escalate half-way, look at the service and the backlog, heal when the fault ends."""
        fault = self.fault
        half = fault.start_s + fault.duration_s / 2
        if self.midpoint_at is None and fault.duration_s > 0 and load_s >= half:
            self.midpoint_at = load_s
            detail = self.injector.midpoint()
            if detail:
                self.events.append(ChaosEvent(load_s, "escalate", detail))
        if load_s - self._last_check >= LOOK_EVERY_S:
            self._last_check = load_s
            self.injector.observe()
            self._sample_backlog(load_s)
        if load_s >= fault.start_s + fault.duration_s:
            self._heal(load_s)

    def _sample_backlog(self, load_s: float) -> None:
        if self.backlog is None or load_s - self._last_backlog < LOOK_EVERY_S:
            return
        self._last_backlog = load_s
        with contextlib.suppress(Exception):  # a busy database only costs one sample
            now = self.backlog()
            self.backlog_max = Backlog(
                max(self.backlog_max.outbox_pending, now.outbox_pending),
                max(self.backlog_max.payments_pending, now.payments_pending),
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
