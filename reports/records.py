"""The typed records a run directory is read into (docs/artifacts.md), one per artifact kind.

:mod:`reports.load` builds them, checking every key; everything else in the package reads only
these records. Optional keys are ``None`` when a run did not record them. The records of
``run.json`` are the harness's own (models/run_records.py, written and read by the same
classes); they are imported here so the package takes every record from this module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.profile import Profile
from models.run_records import (
    EndpointResult,
    FiredAlert,
    RequestFigures,
    Run,
    SloResult,
    StageResult,
)
from models.validation_records import ComparedLevel

__all__ = [
    "EndpointResult",
    "FiredAlert",
    "PredictedStage",
    "Prediction",
    "RequestFigures",
    "Run",
    "RunArtifacts",
    "Scrape",
    "SloResult",
    "StageResult",
    "TimePoint",
    "TimeSeries",
]


@dataclass(frozen=True, slots=True)
class TimePoint:
    t_s: float
    stage: int | str | None
    users: float
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    error_rate: float
    availability: float | None


@dataclass(frozen=True, slots=True)
class TimeSeries:
    window_s: float
    records: tuple[TimePoint, ...]


@dataclass(frozen=True, slots=True)
class Scrape:
    t_s: float
    cpu_seconds: float
    pool_in_use: float | None
    pool_waiting: float | None
    pool_size: float | None


@dataclass(frozen=True, slots=True)
class PredictedStage:
    users: float
    throughput_rps: float
    throughput_rps_low: float | None
    throughput_rps_high: float | None
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    cpu_utilization: float | None
    error_rate: float | None
    p95_ms_low: float | None = None
    p95_ms_high: float | None = None


@dataclass(frozen=True, slots=True)
class Prediction:
    model: str
    calibrated: bool
    stages: tuple[PredictedStage, ...]

    def at(self, users: float) -> PredictedStage | None:
        """The predicted stage for exactly ``users`` users, if the model predicted it."""
        return next((s for s in self.stages if math.isclose(s.users, users)), None)


@dataclass(frozen=True, slots=True)
class RunArtifacts:
    """Everything one run directory holds, checked."""

    directory: Path
    run: Run
    profile: Profile
    profile_toml: str
    timeseries: TimeSeries | None = None
    scrapes: tuple[Scrape, ...] = ()
    prediction: Prediction | None = None
    capacity: Mapping[str, Any] | None = None
    simulation: tuple[Mapping[str, Any], ...] = field(default=())
    replicated: tuple[ComparedLevel, ...] = ()
    """The levels ``harness validate`` measured more than once (none for other runs)."""
