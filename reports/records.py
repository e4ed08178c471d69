"""The typed records a run directory is read into (docs/artifacts.md), one per artifact kind.

:mod:`reports.load` builds them, checking every key; everything else in the package reads only
these records. Optional keys are ``None`` when a run did not record them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.profile import Profile


@dataclass(frozen=True, slots=True)
class StageResult:
    index: int
    name: str
    users: int
    duration_s: float
    started_at_s: float
    throughput_rps: float
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float | None
    error_rate: float
    page_p95_ms: float | None
    availability: float | None


@dataclass(frozen=True, slots=True)
class EndpointResult:
    endpoint: str
    method: str
    name: str
    requests: int
    failures: int
    failure_rate: float
    mean_ms: float | None
    p50_ms: float
    p90_ms: float | None
    p95_ms: float
    p99_ms: float
    max_ms: float | None

    @property
    def is_page(self) -> bool:
        return self.method == "PAGE"


@dataclass(frozen=True, slots=True)
class SloResult:
    name: str
    target: float
    measured: float | None
    passed: bool
    stage: int | str | None
    judged: bool = True
    """False for the steady-state objectives of a chaos run (its own gates decide)."""


@dataclass(frozen=True, slots=True)
class Alert:
    severity: str
    metric: str
    op: str
    threshold: float
    fired_at_s: float
    value: float


@dataclass(frozen=True, slots=True)
class Run:
    """``run.json``: the summary of one run."""

    scenario: str
    started_at: str
    finished_at: str
    complete: bool
    incomplete_reasons: tuple[str, ...]
    target: Mapping[str, Any]
    load_generator: Mapping[str, Any]
    stages: tuple[StageResult, ...]
    endpoints: tuple[EndpointResult, ...]
    persona_target: Mapping[str, float]
    persona_achieved: Mapping[str, float]
    slo: tuple[SloResult, ...]
    alerts: tuple[Alert, ...]
    integrity: Mapping[str, Any]
    server_vs_client: Mapping[str, Any]
    exit_code: int | None
    machine: Mapping[str, Any] | None
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Keys added after schema version 1 (``overall``, ``notes``, ``command``...), unchecked:
    templates read them with ``.get`` and show them only when present."""

    @property
    def loadgen_unreliable(self) -> bool:
        return bool(self.load_generator.get("unreliable", False))

    def stage_named(self, key: int | str | None) -> StageResult | None:
        """The stage an SLO record points at, by index or by name."""
        for stage in self.stages:
            if key in (stage.index, stage.name):
                return stage
        return None


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
class ReplicatedLevel:
    """One level of a replicated validation step load (``validation.json`` beside the run):
    its measured figures over every replication of the run, not this run's alone."""

    users: int
    replications: int
    mean: Mapping[str, float | None]
    """The mean over the replications, per metric (a stage record's names)."""
    range: Mapping[str, tuple[float, float]]
    """(lowest, highest) over the replications, per metric."""


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
    replicated: tuple[ReplicatedLevel, ...] = ()
    """The levels ``harness validate`` measured more than once (none for other runs)."""
