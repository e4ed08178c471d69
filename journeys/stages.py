"""Stage tables: which users a load shape wants at each moment, and which stage that is.

This is the logic of every load shape (:mod:`journeys.shapes`), kept free of Locust so that it
can be reasoned about and tested on its own. A table is a sequence of stages (``users``,
``duration_s``, ``spawn_rate``) from ``Profile.scenario_stages(name, scale)``; stage *i* runs
from the sum of the durations before it to the sum including it, and the table is over after
the last. Each ramp lies inside its stage (the profile refuses a stage shorter than its ramp,
because Locust's ``start()`` blocks while it ramps and would skip such a stage).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Sequence

from models.profile import Profile, Stage

StageListener = Callable[[int], None]


def scaled_stages(
    profile: Profile, scenario: str, scale: float = 1.0, time_scale: float = 1.0
) -> tuple[Stage, ...]:
    """The scenario's stages, users x ``scale``, durations x ``time_scale`` (spawn rates / it).

    ``time_scale`` compresses a scenario for a quick look (0.1 turns the one-minute smoke into
    six seconds) while keeping every ramp inside its stage.
    """
    if not time_scale > 0:
        raise ValueError(f"time_scale must be positive, got {time_scale}")
    stages = profile.scenario_stages(scenario, scale)
    if time_scale == 1.0:
        return stages
    return tuple(
        Stage(
            users=s.users,
            duration_s=s.duration_s * time_scale,
            spawn_rate=s.spawn_rate / time_scale,
        )
        for s in stages
    )


class StageTable:
    """A table of stages walked in time; tells listeners when the stage changes.

    >>> table = StageTable([Stage(users=5, duration_s=10, spawn_rate=1)])
    >>> table.tick(3.0), table.tick(10.0)
    ((5, 1.0), None)
    """

    def __init__(self, stages: Sequence[Stage], name: str = "") -> None:
        if not stages:
            raise ValueError(f"stage table {name!r}: needs at least one stage")
        self.name = name
        self.stages: tuple[Stage, ...] = tuple(stages)
        self._ends = list(itertools.accumulate(s.duration_s for s in self.stages))
        self.current_stage = -1
        self._label = -1
        """Index of the stage the last tick was in; -1 before the first, len(stages) after."""
        self.listeners: list[StageListener] = []
        """Called with the stage to label samples with whenever it changes."""

    @property
    def total_duration_s(self) -> float:
        return self._ends[-1]

    def stage_starts(self) -> list[float]:
        """Start time of each stage, seconds from the start."""
        return [0.0, *self._ends[:-1]]

    def stage_at(self, run_time_s: float) -> int:
        """Index of the stage running at ``run_time_s``; ``len(stages)`` once it is over."""
        return bisect.bisect_right(self._ends, max(run_time_s, 0.0))

    def tick(self, run_time_s: float) -> tuple[int, float] | None:
        """``(users, spawn_rate)`` wanted at ``run_time_s``, or None when the table is over."""
        index = self.stage_at(run_time_s)
        if index != self.current_stage:
            self.current_stage = index
            # Samples after the end (users finishing their last request) belong to the last stage.
            label = min(index, len(self.stages) - 1)
            if label != self._label:
                self._label = label
                for listener in self.listeners:
                    listener(label)
        if index >= len(self.stages):
            return None
        stage = self.stages[index]
        return stage.users, stage.spawn_rate
