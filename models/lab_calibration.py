"""What the light lab calibration measures beside the per-endpoint demands, for the topology
model (:mod:`models.lab_prediction`): the instance's CPU group and PgBouncer's traffic.

The per-endpoint demands come from the service's own CPU counter, averaged over whatever the
calibration's requests did: cache hits and misses at the hit ratio it met, autocommit reads
and multi-statement writes, the read-your-writes routing. Two figures the topology model
needs are not in them, so the calibration measures them on the lab directly, per measure
stage of its one instance:

* **CPU per instance** ``u(X) = idle + per_request·X`` (cores). The intercept is CPU that does
  not scale with requests (HAProxy's health check each second, the harness's scrapes, the
  service's background threads); the slope is the CPU of one request at the calibration's
  cache hit ratio, every process of the instance counted, as the CFS quota counts it. The
  calibration ends with an idle stage (no users) whose CPU-group usage *is* the intercept;
  the slope is then the least-squares line through it and the loaded stages. Without that
  stage (an older document) both come from the loaded stages alone, and three stages a few
  requests a second apart trade one against the other: over fifteen lab runs their fitted
  intercepts (0.017 to 0.034 cores) ran high with their slopes low, and the CPU at the
  decision's counts was under-predicted by a median 8.6% (28% at the 90th percentile),
  most in the runs whose decision came out wrong (docs/lab.md).
* **The pooler** (PgBouncer's ``SHOW STATS`` deltas): transactions per request
  ``Σ Δxact_count / Σ requests`` and the mean time a server connection is held per
  transaction ``Σ Δxact_time / Σ Δxact_count``. Autocommit reads are one transaction per
  statement, so the transactions per request are counted, not inferred from the profile's
  primary visits.
* **The response time at each stage** (mean, p50, p95, as the client measured it through
  HAProxy): the topology model's stations hold the CPU and the database, not the hops
  between them (the client to HAProxy to the instance, the instance to PgBouncer to
  PostgreSQL), so :mod:`models.lab_prediction` takes what its stations leave of these
  figures as a floor no station holds.

Calibrated at light load, used at heavier: both are per-request (or per-instance) constants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from models.json_fields import JsonFields
from models.rounding import rounded

__all__ = ["LabDemands", "StageLatency", "StageTraffic"]


@dataclass(frozen=True, slots=True)
class StageLatency:
    """The client's response times at one measure stage of the lab calibration."""

    throughput_rps: float
    mean_ms: float
    p50_ms: float
    p95_ms: float

    def to_json(self) -> dict[str, float]:
        return {
            "throughput_rps": round(self.throughput_rps, 4),
            "mean_ms": round(self.mean_ms, 4),
            "p50_ms": round(self.p50_ms, 4),
            "p95_ms": round(self.p95_ms, 4),
        }

    @classmethod
    def from_json(cls, f: JsonFields) -> StageLatency:
        return cls(
            throughput_rps=f.number("throughput_rps"),
            mean_ms=f.number("mean_ms"),
            p50_ms=f.number("p50_ms"),
            p95_ms=f.number("p95_ms"),
        )


@dataclass(frozen=True, slots=True)
class StageTraffic:
    """One measure stage of the lab calibration's one instance."""

    duration_s: float
    throughput_rps: float
    """The client's requests per second."""
    cpu_cores: float | None
    """The instance's CPU group over the stage, in cores (None: fewer than two scrapes)."""
    transactions: float | None = None
    """PgBouncer's transactions over the stage (None: no pooler, or one reading)."""
    transaction_s: float | None = None
    """Server-connection time summed over those transactions (None: not sampled)."""
    latency: StageLatency | None = None
    """The client's response times over the stage (None: not measured)."""


@dataclass(frozen=True, slots=True)
class LabDemands:
    """The calibration's CPU line and pooler figures (module docstring)."""

    stages: int
    idle_cpu_cores: float
    """CPU per instance with no requests: the idle stage's (``idle_measured``), else the
    fitted line's intercept (at least 0)."""
    cpu_cores_per_rps: float | None
    """The line's slope: cores per request per second (None: no stage had a CPU figure)."""
    transactions_per_request: float | None = None
    transaction_s: float | None = None
    """Mean server-connection hold per transaction."""
    stage_latency: tuple[StageLatency, ...] = ()
    """The client's response times at each stage (for the model's floor)."""
    idle_measured: bool = False
    """Whether the intercept is the idle stage's measured CPU (the slope fitted through it),
    not a fitted one."""

    @classmethod
    def of(cls, stages: Sequence[StageTraffic], idle_cpu_cores: float | None = None) -> LabDemands:
        """The figures from the loaded stages and, when measured, the idle stage's CPU
        (module docstring)."""
        points = [(s.throughput_rps, s.cpu_cores) for s in stages]
        through = None if idle_cpu_cores is None else _line_through(points, idle_cpu_cores)
        idle, slope = _cpu_line(points) if through is None else through
        counted_stages = [s for s in stages if s.transactions is not None]
        requests = sum(s.throughput_rps * s.duration_s for s in counted_stages)
        transactions = sum(s.transactions or 0.0 for s in stages)
        timed = [s for s in stages if s.transactions and s.transaction_s is not None]
        held = sum(s.transaction_s or 0.0 for s in timed)
        counted = sum(s.transactions or 0.0 for s in timed)
        return cls(
            stages=len(stages),
            idle_cpu_cores=idle,
            cpu_cores_per_rps=slope,
            transactions_per_request=transactions / requests if requests > 0 else None,
            transaction_s=held / counted if counted > 0 else None,
            stage_latency=tuple(s.latency for s in stages if s.latency is not None),
            idle_measured=through is not None,
        )

    def cpu_cores(self, rps: float) -> float | None:
        """CPU of one instance serving ``rps`` requests per second, in cores."""
        if self.cpu_cores_per_rps is None:
            return None
        return self.idle_cpu_cores + self.cpu_cores_per_rps * rps

    def to_json(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "stages": self.stages,
            "idle_cpu_cores": rounded(self.idle_cpu_cores, 6),
            "idle_measured": self.idle_measured,
            "cpu_cores_per_rps": rounded(self.cpu_cores_per_rps, 8),
            "transactions_per_request": rounded(self.transactions_per_request, 6),
            "transaction_ms": rounded(
                None if self.transaction_s is None else self.transaction_s * 1e3, 6
            ),
        }
        if self.stage_latency:
            fields["stage_latency"] = [stage.to_json() for stage in self.stage_latency]
        return fields

    @classmethod
    def from_json(cls, data: object, where: str = "") -> LabDemands:
        f = JsonFields(data, where)
        ms = f.opt_number("transaction_ms")
        return cls(
            stages=f.integer("stages"),
            idle_cpu_cores=f.number("idle_cpu_cores"),
            cpu_cores_per_rps=f.opt_number("cpu_cores_per_rps"),
            transactions_per_request=f.opt_number("transactions_per_request"),
            transaction_s=None if ms is None else ms / 1e3,
            stage_latency=tuple(
                StageLatency.from_json(stage) for stage in f.opt_items("stage_latency")
            ),
            idle_measured=f.flag("idle_measured") if f.has("idle_measured") else False,
        )


def _cpu_line(points: Sequence[tuple[float, float | None]]) -> tuple[float, float | None]:
    """(intercept, slope) of cores against requests per second, least squares.

    A negative intercept is noise around zero idle CPU: the line is then refitted through the
    origin. One point (or points at one throughput) gives the line through the origin.
    """
    xy = [(x, y) for x, y in points if y is not None and x > 0]
    if not xy:
        return 0.0, None
    n = len(xy)
    mx = sum(x for x, _ in xy) / n
    my = sum(y for _, y in xy) / n
    sxx = sum((x - mx) ** 2 for x, _ in xy)
    if n >= 2 and sxx > 0:
        slope = sum((x - mx) * (y - my) for x, y in xy) / sxx
        idle = my - slope * mx
        if idle >= 0 and slope > 0:
            return idle, slope
    return 0.0, sum(x * y for x, y in xy) / sum(x * x for x, _ in xy)


def _line_through(
    points: Sequence[tuple[float, float | None]], idle: float
) -> tuple[float, float] | None:
    """(idle, slope) of the least-squares line through the measured idle CPU; None when the
    idle reading is not a usable intercept (negative, or at or above the loaded stages' CPU,
    so that no positive slope fits) or no loaded stage has a CPU figure."""
    xy = [(x, y) for x, y in points if y is not None and x > 0]
    if not xy or not idle >= 0:
        return None
    slope = sum(x * (y - idle) for x, y in xy) / sum(x * x for x, _ in xy)
    return (idle, slope) if slope > 0 else None
