"""How long a validation will take, from its settings alone: printed before the first run.

Every run is a settle and a measure stage per level (harness/validate/plan.py), plus the time
to start the service (or the lab) and write the run's artifacts. The stage lengths of a level
a model planned are only known once the model has predicted its settling time, after the
calibration; before it, each such level is counted at a typical settling time
(:data:`TYPICAL_SETTLING_S`) held within the settings' bounds, and the bounds give the most
it can take. The calibration's stages have fixed lengths.

    expected  = Σ runs (start-up + Σ levels (settle + measure)), replications at their minimum
    at most   = the same with every settle and measure stage at its maximum and every optional
                replication run

The validation keeps to :data:`TIME_BUDGET_S`: an optional replication (past
``replications``) is run only when it, and the expected rest of the validation, still fit
(:class:`Budget`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.validate.plan import IDLE_SETTLE_S
from harness.validate.settings import ValidationSettings

__all__ = [
    "LAB_RUN_START_S",
    "RUN_START_S",
    "TIME_BUDGET_S",
    "TYPICAL_SETTLING_S",
    "Budget",
    "Part",
    "PlannedDuration",
    "planned_duration",
]

#: ``harness validate --lab`` with the default settings stays within this.
TIME_BUDGET_S = 30 * 60.0
#: A model's settling time of a level at the validation's think times (1 to 2.25 s): the ramp,
#: three user cycles and three relaxation times of the busiest station, mostly 10 to 30 s.
TYPICAL_SETTLING_S = 20.0
#: Starting the pinned service, the run's own checks and writing its artifacts.
RUN_START_S = 10.0
#: The same on the lab: its PostgreSQL and replica, PgBouncer, the instances, HAProxy (the
#: committed lab-only run spent 76 s beyond its stages over 5 runs).
LAB_RUN_START_S = 15.0


@dataclass(frozen=True)
class Part:
    """One run, or a trial's runs: its expected and longest seconds."""

    name: str
    expected_s: float
    at_most_s: float


@dataclass(frozen=True)
class PlannedDuration:
    """A validation's parts in the order they run."""

    parts: tuple[Part, ...]

    @property
    def expected_s(self) -> float:
        return sum(part.expected_s for part in self.parts)

    @property
    def at_most_s(self) -> float:
        return sum(part.at_most_s for part in self.parts)

    def after(self, name: str) -> float:
        """The expected seconds of the parts after the one named ``name``."""
        names = [part.name for part in self.parts]
        if name not in names:
            return 0.0
        return sum(part.expected_s for part in self.parts[names.index(name) + 1 :])

    def line(self) -> str:
        """The sentence printed at the start of a run."""
        over = (
            f"; over the {TIME_BUDGET_S / 60:.0f}-minute budget, the optional replications give way"
            if self.at_most_s > TIME_BUDGET_S
            else ""
        )
        return (
            f"validate: planned duration about {self.expected_s / 60:.0f} min "
            f"(at most {self.at_most_s / 60:.0f} min if every stage ran to its longest and "
            f"every optional replication ran{over}): "
            + ", ".join(f"{part.name} {part.expected_s / 60:.1f}" for part in self.parts)
            + " min"
        )


def _level(settings: ValidationSettings, measure_s: float | None = None) -> tuple[float, float]:
    """A level's (expected, longest) seconds: settle and measure; ``measure_s`` fixed (the
    pilot's, the calibration's), else the model's settling time within the bounds."""
    settle = min(settings.max_settle_s, max(settings.min_settle_s, TYPICAL_SETTLING_S))
    if measure_s is None:
        measure = min(settings.max_measure_s, max(settings.min_measure_s, TYPICAL_SETTLING_S))
        return settle + measure, settings.max_settle_s + settings.max_measure_s
    return settings.min_settle_s + measure_s, settings.max_settle_s + measure_s


def _part(
    name: str, levels: int, level: tuple[float, float], start_s: float, runs: tuple[int, int]
) -> Part:
    expected, longest = level
    low, high = runs
    return Part(name, low * (start_s + levels * expected), high * (start_s + levels * longest))


def _calibration(
    settings: ValidationSettings, label: str, start_s: float, idle_s: float = 0.0
) -> list[Part]:
    pilot = _level(settings, settings.pilot_s)
    stages = len(settings.calibration_cpu_targets)
    light = _level(settings, settings.calibration_s)
    calibration = _part(f"{label}calibration", stages, light, start_s, (1, 1))
    if idle_s > 0:  # the idle stage: the users stopped, then measured
        idle = IDLE_SETTLE_S + idle_s
        calibration = Part(
            calibration.name, calibration.expected_s + idle, calibration.at_most_s + idle
        )
    return [_part(f"{label}pilot", 1, pilot, start_s, (1, 1)), calibration]


def planned_duration(
    settings: ValidationSettings, *, single: bool = True, lab: bool = False
) -> PlannedDuration:
    """The parts a validation with ``settings`` runs: the single-instance protocol when
    ``single``, the lab's (the decision's runs, the topology trial) when ``lab``."""
    parts: list[Part] = []
    model = _level(settings)
    if single:
        parts += _calibration(settings, "", RUN_START_S)
        if settings.burst_period_s > 0:
            burst = _level(settings, settings.burst_s)
            parts.append(_part("burst stage", 1, burst, RUN_START_S, (1, 1)))
            if settings.deep_burst_period_s > 0:
                deep = _level(settings, settings.deep_burst_s)
                parts.append(_part("deep burst", 1, deep, RUN_START_S, (1, 1)))
        if settings.capacity_probe:
            parts.append(_part("probe", 1, _level(settings, settings.probe_s), RUN_START_S, (1, 1)))
        # The beyond factors' levels mostly fall under the top CPU target's and are left out
        # when a level past the capacity is planned: expected without them, at most with.
        past = int(settings.saturation_factor is not None)
        most = len(settings.extrapolation_cpu_targets) + past + len(settings.beyond_factors)
        expected = most - len(settings.beyond_factors) if past else most
        runs = (settings.replications, settings.max_replications)
        name = "far beyond the calibration"
        typical = _part(name, expected, model, RUN_START_S, runs)
        parts.append(
            Part(name, typical.expected_s, _part(name, most, model, RUN_START_S, runs).at_most_s)
        )
        held = len(settings.holdout_cpu_targets)
        if settings.holdout_mix:
            parts.append(_part("held-out mix", held, model, RUN_START_S, (1, 1)))
        if settings.holdout_think:
            parts.append(_part("held-out think time", held, model, RUN_START_S, (1, 1)))
    if lab:
        parts += _calibration(settings, "lab ", LAB_RUN_START_S, settings.lab_idle_s)
        held_load = _level(settings, settings.decision_measure_s)
        if settings.instance_decision:
            counts = 3 if settings.decision_k_plus_one else 2  # K-1, K (and K+1)
            decided = counts * settings.decision_replications
            at_most = counts * settings.decision_max_replications  # runs that disagreed, again
            parts.append(
                _part("instance decision", 1, held_load, LAB_RUN_START_S, (decided, at_most))
            )
        if settings.topology_trial:
            levels = len(settings.topology_cpu_targets)
            parts.append(_part("lab topology", levels, model, LAB_RUN_START_S, (1, 1)))
    return PlannedDuration(tuple(parts))


@dataclass
class Budget:
    """The validation's time budget: whether one more optional run fits, given what is left
    to run after it (the plan's expected seconds after the part ``name``)."""

    plan: PlannedDuration
    budget_s: float = TIME_BUDGET_S
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=-1.0)

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock()

    def fits(self, name: str, run_s: float, lab: bool = False) -> bool:
        """Whether a run of ``run_s`` seconds of stages, then the rest after ``name``, ends
        within the budget."""
        start = LAB_RUN_START_S if lab else RUN_START_S
        elapsed = self.clock() - self.started
        return elapsed + start + run_s + self.plan.after(name) <= self.budget_s
