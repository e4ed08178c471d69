"""Following a run's load until the Locust master exits, and stopping it early when needed.

Twice a second the watch reads the plugin's live feed (progress, the time series, lost
workers, a sustained breach under ``--abort-on-breach``), ticks a chaos scenario's fault,
samples the load generator's CPU, and checks that everything the run depends on is still
there::

    a load-generator process exited mid-test   noted (the conclusion judges when it happened)
    the bundled service died                   incomplete; the load is stopped
    an external target stopped answering       incomplete after DOWN_AFTER_PROBES failed probes
    the load ran past its deadline             incomplete; the load is stopped
    Ctrl-C (or SIGTERM)                        incomplete; the load is stopped gracefully, and
                                               a second one stops waiting (INTERRUPTS)
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from harness.run import gates, summary
from harness.run.chaos import ChaosSession
from harness.run.locust_runner import Swarm
from harness.run.probe import Prober
from harness.run.progress import Progress
from harness.run.run_request import LiveLine, RunRequest, RunState
from harness.run.service import BundledService
from models.profile import Stage

#: Consecutive failed probes (one a second) after which an external target counts as down.
DOWN_AFTER_PROBES = 5
#: Seconds the master gets to stop gracefully after a stop request before it is signalled.
STOP_GRACE_S = 45.0
#: Seconds between two looks at the run.
POLL_S = 0.5


class _Interrupts:
    """Ctrl-C (SIGINT) and SIGTERM during a run: the first asks for a graceful stop (the watch
    loop sees ``count``), the second raises KeyboardInterrupt. Artifacts are written either way.
    """

    def __init__(self) -> None:
        self.count = 0
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt

    def __enter__(self) -> _Interrupts:
        self.count = 0
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


INTERRUPTS = _Interrupts()


def load_seconds(state: RunState) -> float | None:
    """Seconds since the load started, from the live feed (None before it started)."""
    started = state.load_started_wall()
    return None if started is None else time.time() - started


@dataclass
class Watch:
    """One run's watch: :meth:`follow` returns when the master has exited."""

    request: RunRequest
    stages: tuple[Stage, ...]
    swarm: Swarm
    service: BundledService | None
    """The bundled service (None: an external target, watched through its probe)."""
    prober: Prober
    state: RunState
    progress: Progress
    t0: float
    chaos: ChaosSession | None = None
    _series: summary.TimeseriesBuilder = field(init=False)
    _breach: gates.BreachWatch = field(init=False)
    _deadline: float = field(init=False)

    def __post_init__(self) -> None:
        request, plan = self.request, self.swarm.plan
        self._series = summary.TimeseriesBuilder(self.t0, len(self.stages))
        self._breach = gates.BreachWatch(request.profile.slo, request.profile.gates.abort_window_s)
        total_s = sum(s.duration_s for s in self.stages)
        waiting_s = request.expect_workers_max_wait_s if plan.distributed else 0.0
        self._deadline = time.monotonic() + total_s + waiting_s + STOP_GRACE_S + 60.0

    def follow(self) -> None:
        """Look at the run every POLL_S seconds until the master exits; then keep the time
        series in the state."""
        swarm = self.swarm
        while not swarm.master_exited():
            try:
                time.sleep(POLL_S)
                self._look(time.time() - self.t0)
            except KeyboardInterrupt:  # a second Ctrl-C: stop waiting for graceful ends
                self.state.incomplete("interrupted twice: the load generator was killed")
                swarm.kill()
                break
        for line in swarm.read_live():
            self.state.live.append(line)
            self._series.add(line, self.prober.snapshot())
        self.state.timeseries = self._series.records

    def _look(self, now_s: float) -> None:
        """One look at the run ``now_s`` seconds after its start."""
        for line in self.swarm.read_live():
            self._take(line)
        state = self.state
        finishing = bool(state.live and state.live[-1].get("finishing"))
        load_s = load_seconds(state)
        if self.chaos is not None and load_s is not None and not finishing:
            for message in self.chaos.tick(load_s):
                self.progress.note(message)
        if state.live and not finishing:  # not while Locust imports or winds down
            self.swarm.sample_cpu()
        for role, pid, code, _wall in self.swarm.check_workers():
            if not finishing:
                self.progress.note(
                    f"! load-generator {role} (pid {pid}) exited with code {code} "
                    f"at t={now_s:.1f} s while the test ran"
                )
        self._check_target(now_s)
        if time.monotonic() > self._deadline:
            state.incomplete("the load generator did not finish in time and was stopped")
            self.swarm.request_stop("deadline")
            self._deadline = float("inf")
        self.swarm.escalate_if_stuck(STOP_GRACE_S)
        self._check_interrupt()

    def _take(self, line: LiveLine) -> None:
        """One line of the live feed: the time series, the display, lost workers, a breach."""
        state, progress = self.state, self.progress
        state.live.append(line)
        record = self._series.add(line, self.prober.snapshot())
        distributed = self.swarm.plan.distributed
        progress.update(record, len(line.get("workers", [])) if distributed else None)
        for worker_id, how in line.get("lost_workers", {}).items():
            reason = f"load-generator worker {worker_id} {how.split(' at ')[0]}"
            if reason not in state.reasons:
                state.incomplete(reason)
                progress.note(f"! {reason}")
        if self.request.abort_on_breach and state.aborted_on_breach is None:
            breach = self._breach.observe(record)
            if breach:
                state.aborted_on_breach = breach
                progress.note(f"! aborting on a sustained breach: {breach}")
                self.swarm.request_stop(f"abort on breach: {breach}")

    def _check_target(self, now_s: float) -> None:
        """Stop the load when the bundled service died or an external target went silent."""
        state, service = self.state, self.service
        if service is not None and not service.alive() and not state.has_reason("the service"):
            died_with = service.process.returncode if service.process is not None else "unknown"
            state.incomplete(f"the service exited with code {died_with} at t={now_s:.1f} s")
            self.progress.note(f"! {state.reasons[-1]}; stopping the load")
            self.swarm.request_stop("the service died")
        down = service is None and self.prober.consecutive_failures() >= DOWN_AFTER_PROBES
        if down and not state.has_reason("stopped answering"):
            state.incomplete(f"the target stopped answering /health at t={now_s:.1f} s")
            self.progress.note(f"! {state.reasons[-1]}; stopping the load")
            self.swarm.request_stop("the target stopped answering")

    def _check_interrupt(self) -> None:
        """The first Ctrl-C: stop the load gracefully, keeping what was measured."""
        state, swarm = self.state, self.swarm
        if not INTERRUPTS.count or state.interrupted:
            return
        state.interrupted = True
        state.incomplete(f"interrupted (Ctrl-C) at t={time.time() - self.t0:.1f} s")
        self.progress.note(
            "! interrupted: stopping the load and writing what was measured "
            "(Ctrl-C again to stop waiting)"
        )
        swarm.request_stop("interrupted")
        if not state.live and swarm.master is not None:  # not started: nothing to save
            swarm.master.signal(signal.SIGTERM)
