"""Load shapes: the profile's scenarios as Locust ``LoadTestShape`` classes.

Each shape runs a :class:`~journeys.stages.StageTable` read from the profile with
``Profile.scenario_stages(name, scale)``. The stage table and the current stage are public, so
the harness and the model can predict per stage and every sample can be labelled with the stage
it was taken in::

    shape = SmokeShape(stages=profile.scenario_stages("smoke", scale=0.5))
    shape.stages          # (Stage(users=5, duration_s=60.0, spawn_rate=2.5),)
    shape.current_stage   # -1 before the first tick, then 0, 1, ...; len(stages) at the end

Locust calls :meth:`StagedShape.tick` on the master (or the single process) about once a second.
A shape built without ``stages`` reads them from the journeys' settings when the run is
installed (``journeys.install``), which is how ``JOURNEYS_SCENARIO=day1 locust -f
journeys/locustfile.py`` picks the profile's table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from locust import LoadTestShape

from journeys.stages import StageListener, StageTable, scaled_stages
from models.profile import Stage

__all__ = ["SHAPES", "StagedShape", "scaled_stages", "shape_class_for", "shape_for"]

Clock = Callable[[], float]

DRAIN_S = 4.0
"""After the last stage of a distributed run: users stopped, one worker report (3 s) to come."""
DRAIN_SPAWN_RATE = 10_000.0


class StagedShape(LoadTestShape):
    """A shape that walks through a table of stages; subclasses name the profile scenario."""

    abstract = True
    scenario: ClassVar[str] = ""
    """The profile scenario whose stages this shape runs, e.g. ``"smoke"``."""

    def __init__(self, stages: Sequence[Stage] | None = None, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or time.perf_counter
        super().__init__()  # type: ignore[no-untyped-call]
        self.start_time = self._clock()
        self.table: StageTable | None = None
        self._listeners: list[StageListener] = []
        if stages is not None:
            self.configure(stages)

    def configure(self, stages: Sequence[Stage]) -> None:
        """Set the stage table (before the test starts)."""
        self.table = StageTable(stages, self.scenario)
        self.table.listeners = self._listeners

    @property
    def configured(self) -> bool:
        return self.table is not None

    @property
    def _table(self) -> StageTable:
        if self.table is None:
            raise RuntimeError(
                f"{type(self).__name__} (scenario {self.scenario!r}) has no stage table: "
                "pass stages=... or install the journeys (journeys.install) first"
            )
        return self.table

    @property
    def stages(self) -> tuple[Stage, ...]:
        return self._table.stages

    @property
    def current_stage(self) -> int:
        return self.table.current_stage if self.table is not None else -1

    @property
    def listeners(self) -> list[StageListener]:
        """Called with the stage index whenever it changes (the journeys label samples)."""
        return self._listeners

    # Locust's own timing, on our clock (so a test can drive it).
    def reset_time(self) -> None:
        self.start_time = self._clock()

    def get_run_time(self) -> float:
        return float(self._clock() - self.start_time)

    def tick(self) -> tuple[int, float] | None:
        run_time = self.get_run_time()
        wanted = self._table.tick(run_time)
        if wanted is None and self._distributed() and run_time < self.total_duration_s + DRAIN_S:
            # Stop every user, then wait one report interval before ending: Locust's master
            # ends a shape with quit(), which waits only 0.5 s for the workers' last reports,
            # so the tail of the last stage would otherwise be lost (and the run incomplete).
            return 0, DRAIN_SPAWN_RATE
        return wanted

    @property
    def total_duration_s(self) -> float:
        """Length of the stage table (without the drain of a distributed run)."""
        return self._table.total_duration_s

    def _distributed(self) -> bool:
        return type(self.runner).__name__ == "MasterRunner"


class SmokeShape(StagedShape):
    """Does anything work? 10 users for a minute (profile ``scenarios.smoke``)."""

    scenario = "smoke"


class LoadShape(StagedShape):
    """Expected steady load: 100 users (profile ``scenarios.load``)."""

    scenario = "load"


class StressShape(StagedShape):
    """Steps up to 500 users to find where it breaks (profile ``scenarios.stress``)."""

    scenario = "stress"


class Day1Shape(StagedShape):
    """Launch day: the 24-hour curve compressed, 2,000 users at the peak (``scenarios.day1``)."""

    scenario = "day1"


class SpikeShape(StagedShape):
    """Baseline, a sudden jump of the profile's size, then back (``scenarios.spike``)."""

    scenario = "spike"


class SoakShape(StagedShape):
    """Steady and long: leaks, drift, pool exhaustion (``scenarios.soak``)."""

    scenario = "soak"


class StepShape(StagedShape):
    """Calibration and validation levels (``scenarios.step``)."""

    scenario = "step"


SHAPES: dict[str, type[StagedShape]] = {
    cls.scenario: cls
    for cls in (SmokeShape, LoadShape, StressShape, Day1Shape, SpikeShape, SoakShape, StepShape)
}


def shape_class_for(scenario: str) -> type[StagedShape]:
    """The shape class of ``scenario``; other scenarios with stages (chaos-*) get a generic one."""
    if scenario in SHAPES:
        return SHAPES[scenario]
    name = "".join(part.capitalize() for part in scenario.replace("_", "-").split("-")) + "Shape"
    return type(name, (StagedShape,), {"scenario": scenario, "abstract": False})


def shape_for(
    scenario: str, stages: Sequence[Stage] | None = None, clock: Clock | None = None
) -> StagedShape:
    """An instance of the scenario's shape, with its stage table if given."""
    return shape_class_for(scenario)(stages=stages, clock=clock)
