"""The runs a validation makes: each a real ``harness run`` of the bundled service, with the
load generator kept off the service's core.

:class:`Runs` runs a profile's ``step`` scenario on a freshly started service and says how it
went; Ctrl-C during a run stops that run gracefully (its artifacts are written) and then the
whole validation, instead of going on to the next run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.exit_codes import ExitCode
from harness.run.lab_plan import LabRequest
from harness.run.orchestrate import INTERRUPTS, execute
from harness.run.run_request import RunRequest
from harness.validate.fit import SERVICE_WORKERS
from harness.validate.measure import run_complete
from models.profile import Profile

__all__ = ["NO_PLAN_YET", "CpuPinning", "RunResult", "Runs", "pinned_cpus"]


@dataclass(frozen=True)
class CpuPinning:
    """Where the service and the load generator run (``validation.json``, ``cpu_pinning``)."""

    pinned: bool
    reason: str | None = None
    service_cpus: tuple[int, ...] = ()
    load_generator_cpus: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        if not self.pinned:
            return {"pinned": False, "reason": self.reason}
        return {
            "pinned": True,
            "service_cpus": list(self.service_cpus),
            "load_generator_cpus": list(self.load_generator_cpus),
        }


@contextlib.contextmanager
def pinned_cpus(enabled: bool) -> Iterator[CpuPinning]:
    """Keep the load generator (this process and its children) off the service's core.

    On a machine with two or more cores the service gets the first core and everything this
    process starts afterwards (Locust) inherits the others; the affinity is restored on exit.
    """
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not enabled or len(cores) < 2:
        yield CpuPinning(False, "disabled" if not enabled else "fewer than 2 cores")
        return
    service, load = cores[:1], cores[1:]
    os.sched_setaffinity(0, set(load))
    try:
        yield CpuPinning(True, None, tuple(service), tuple(load))
    finally:
        os.sched_setaffinity(0, set(cores))


@dataclass(frozen=True)
class RunResult:
    """How one run went: its exit code and directory (None when it never got one)."""

    code: int
    directory: Path | None

    @property
    def wrote_run_json(self) -> bool:
        return self.directory is not None and (self.directory / "run.json").exists()

    @property
    def complete(self) -> bool:
        """Whether the run finished with nothing lost (its own run.json says so)."""
        return (
            self.code != ExitCode.UNREACHABLE
            and self.directory is not None
            and run_complete(self.directory)
        )


#: Why a validation run before the calibration has no launch plan in its report.
NO_PLAN_YET = (
    "no launch plan: this run's think times are compressed (harness validate), and no "
    "demand was measured yet; the validation's trial runs plan the launch at the real think "
    "times with the measured demands"
)


@dataclass(frozen=True)
class Runs:
    """Makes a validation's runs, each into ``directory`` on a freshly started service.

    ``plan`` is the launch profile each run's report plans the launch for (the launch's real
    think times, the demands measured by the calibration); None until the calibration, when a
    run plans no launch at all: its compressed think times would plan one twenty times too
    busy.
    """

    directory: Path
    pinning: CpuPinning
    seed_scale: float
    plan: Profile | None = None
    lab: LabRequest | None = None
    """Run the service as the lab (docs/lab.md) instead of one pinned process."""
    database_url: str | None = None
    """The runs' database (None: a fresh SQLite file each)."""

    def planning(self, launch: Profile) -> Runs:
        """These runs, each planning the launch for ``launch`` from now on."""
        return dataclasses.replace(self, plan=launch)

    def on_lab(self, lab: LabRequest, database_url: str | None) -> Runs:
        """These runs on the lab ``lab`` describes, on ``database_url``. The lab places its
        instances on the service's cores itself, so the pinning stays out of its way."""
        return dataclasses.replace(self, lab=lab, database_url=database_url)

    @contextlib.contextmanager
    def _lab_places_itself(self) -> Iterator[None]:
        """On the lab, every core for the run: the lab pins each part it starts (instances and
        PostgreSQL on the service's cores, the rest on the others), while a process still
        pinned to the load generator's cores would hand that pinning down to all of them."""
        if self.lab is None or not self.pinning.pinned:
            yield
            return
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {*self.pinning.service_cpus, *self.pinning.load_generator_cpus})
        try:
            yield
        finally:
            os.sched_setaffinity(0, before)

    def step(self, profile: Profile, think: str = "profile") -> RunResult:
        """Run ``profile``'s ``step`` scenario, the journeys thinking as ``think`` says
        (journeys/settings.py); raise KeyboardInterrupt after a Ctrl-C."""
        request = RunRequest(
            scenario="step",
            profile=profile,
            out=self.directory,
            service_workers=SERVICE_WORKERS,
            seed_scale=self.seed_scale,
            service_cpus=(
                frozenset(self.pinning.service_cpus)
                if self.pinning.pinned and self.lab is None
                else None
            ),
            lab=self.lab,
            database_url=self.database_url,
            plan_profile=self.plan,
            no_plan_reason=None if self.plan is not None else NO_PLAN_YET,
            think=think,
        )
        with self._lab_places_itself():
            code, run_dir = execute(request, progress_stream=sys.stderr)
        if INTERRUPTS.count:
            raise KeyboardInterrupt
        return RunResult(code, run_dir)
