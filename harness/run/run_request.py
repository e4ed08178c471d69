"""What ``harness run`` is asked to do (:class:`RunRequest`) and what it learns while running
(:class:`RunState`), shared by the orchestration (harness/run/orchestrate.py) and the write-up of
the outcome (harness/run/outcome.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.run.lab_plan import LabRequest
from harness.run.own_locustfile import OwnLocustfile
from models.profile import Profile
from models.run_records import ChaosResult, SloResult

LiveLine = Mapping[str, Any]
"""One line of the Locust plugin's live feed: a JSON object (harness/run/locust_plugin.py
describes its keys)."""


@dataclass(frozen=True, slots=True)
class RunRequest:
    """The command line of ``harness run``, checked and typed (see harness/commands/run.py)."""

    scenario: str
    profile: Profile
    host: str | None = None
    workers: int = 0
    expect_workers: int = 0
    scale: float = 1.0
    out: Path = Path("runs")
    service_workers: int = 1
    database_url: str | None = None
    seed_scale: float = 0.01
    duration_scale: float = 1.0
    abort_on_breach: bool = False
    master_port: int | None = None
    seed: int | None = None
    ready_timeout_s: float = 10.0
    expect_workers_max_wait_s: float = 120.0
    service_cpus: frozenset[int] | None = None
    """Pin the bundled service to these CPUs (``harness validate`` keeps it off the load
    generator's core); None leaves scheduling to the OS."""
    plan_profile: Profile | None = None
    """The profile the launch is planned for (capacity.json, simulation.json); None: the run's
    own. A run whose load was compressed (``harness validate``'s think times are a twentieth
    of the launch's) plans the launch at the real think times with the demands it measured."""
    no_plan_reason: str | None = None
    """Set: no launch plan at all, and run.json's notes say why (a run before any demand was
    measured, whose compressed load would plan a launch twenty times too busy)."""
    lab: LabRequest | None = None
    """Run the service as the lab (K instances behind HAProxy, docs/lab.md); None: one
    process, as always."""
    own_users: OwnLocustfile | None = None
    """A user's own locustfile (checked) in place of the bundled journeys; what needs the
    journeys is then skipped with the reason (harness/run/own_locustfile.py, ``SKIPPED``)."""
    baseline: Path | None = None
    """An earlier run directory the report compares with (``--baseline``)."""
    think: str = "profile"
    """The journeys' think-time mode (journeys/settings.py, ``JOURNEYS_THINK``): "profile",
    each persona's distribution, or "tick" for ``harness validate``'s burst stage."""
    report: bool = True
    """Render ``report.html`` at the end; False (``--no-report``) leaves the rendering (seconds:
    docs/benchmarks.md, "Reports") to a later ``harness report RUN_DIR``, which renders the
    same from the artifacts."""


@dataclass
class RunState:
    """What the watch loop learns; turned into ``run.json`` at the end."""

    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    live: list[LiveLine] = field(default_factory=list)
    timeseries: list[dict[str, Any]] = field(default_factory=list)
    aborted_on_breach: str | None = None
    interrupted: bool = False
    chaos: ChaosResult | None = None
    """The ``chaos`` section of a chaos scenario (harness/run/chaos/recovery.py)."""
    chaos_rows: list[SloResult] = field(default_factory=list)
    """Its gates, judged like objectives (``slo`` rows)."""

    def incomplete(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)

    def has_reason(self, fragment: str) -> bool:
        """Whether some reason for incompleteness mentions ``fragment``."""
        return any(fragment in reason for reason in self.reasons)

    def load_started_wall(self) -> float | None:
        """When the load started (wall clock), from the live feed; None before it started."""
        return next(
            (float(line["test_started_at"]) for line in self.live if line.get("test_started_at")),
            None,
        )
