"""The naive baseline every prediction must beat, from the same calibration.

A model earns its assumptions only where it predicts better than arithmetic a reader could do
on the back of an envelope:

* **throughput**: zero latency. In a closed loop the users' think time sets throughput below
  saturation, so ``X = Σ N_p · calls_p / Z_p`` (:func:`models.workload.request_rate`) is
  already close; a model's throughput error there is no evidence of accuracy.
* **CPU**: the utilization law at the light-load cost per request, ``U = X₀ · c``, ``c`` the
  CPU per request of the heaviest calibration stage.
* **latency** (mean, p50, p95): nothing queues, every level answers as fast as the heaviest
  calibration stage did.
* **capacity**: one core over that light-load cost per request.

On the lab's topology trial the capacity the CPU is measured against is the fleet's, K
instances of their CPU limit: the baseline's CPU is then per instance as a fraction of the
limit, ``X₀ · c / (K · limit)``, the unit the trial measures in (``cores``).
"""

from __future__ import annotations

from dataclasses import dataclass

from models.profile import Profile
from models.validation_records import MeasuredLevel
from models.workload import request_rate

__all__ = ["NaiveBaseline"]


@dataclass(frozen=True)
class NaiveBaseline:
    """The baseline of one calibration: its heaviest stage's cost per request and latency."""

    cpu_per_request_s: float
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    cores: float = 1.0
    """The cores CPU is measured against: 1 (the pinned service's cores busy), or the lab
    fleet's K x limit (CPU per instance as a fraction of its limit)."""

    @classmethod
    def of(cls, heaviest: MeasuredLevel, cores: float = 1.0) -> NaiveBaseline | None:
        """The baseline of a calibration whose heaviest used stage is ``heaviest`` (None
        when that stage has no throughput or CPU figure); its ``cpu_utilization`` in cores."""
        x, u = heaviest.throughput_rps, heaviest.cpu_utilization
        if not x or u is None:
            return None
        return cls(u / x, heaviest.mean_ms, heaviest.p50_ms, heaviest.p95_ms, cores)

    @property
    def capacity_rps(self) -> float:
        return self.cores / self.cpu_per_request_s

    def predict(self, profile: Profile, users: int) -> dict[str, float | None]:
        """The baseline's figures at ``users`` users of ``profile``'s workload."""
        throughput = request_rate(profile, users)
        return {
            "throughput_rps": throughput,
            "cpu_utilization": throughput * self.cpu_per_request_s / self.cores,
            "mean_ms": self.mean_ms,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "error_rate": 0.0,
        }
