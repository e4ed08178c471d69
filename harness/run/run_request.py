"""What ``harness run`` is asked to do (:class:`RunRequest`) and what it learns while running
(:class:`RunState`), shared by the orchestration (harness/run/orchestrate.py) and the write-up of
the outcome (harness/run/outcome.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.profile import Profile


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
    report: bool = True
    """Render ``report.html`` at the end; False (``--no-report``) leaves the 2 to 3 s that
    takes to a later ``harness report RUN_DIR``, which renders the same from the artifacts."""


@dataclass
class RunState:
    """What the watch loop learns; turned into ``run.json`` at the end."""

    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    live: list[dict[str, Any]] = field(default_factory=list)
    timeseries: list[dict[str, Any]] = field(default_factory=list)
    aborted_on_breach: str | None = None
    interrupted: bool = False
    chaos: dict[str, Any] | None = None
    """The ``chaos`` section of a chaos scenario (harness/chaos.py ``assess``)."""
    chaos_rows: list[dict[str, Any]] = field(default_factory=list)
    """Its gates, judged like objectives (``slo`` rows)."""

    def incomplete(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)
