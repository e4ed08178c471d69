"""What ``harness validate`` does (:class:`ValidationSettings`) and what it judges (the goals).

Why shorter think times than the launch profile (``think_scale``): with the profile's 20-45 s
pauses a single service worker saturates only at thousands of users, more than one
load-generator core can drive. The closed-network model is exact about think time, so scaling
it changes the population needed, not what is being validated.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "GOALS",
    "GOAL_CPU_LIMIT",
    "HOLDOUT_SHARES",
    "REPLICATED",
    "SATURATED_CPU",
    "ValidationSettings",
]

#: Accuracy goals for the levels up to :data:`GOAL_CPU_LIMIT`: relative error bound per metric.
GOALS = {"throughput_rps": 0.10, "mean_ms": 0.20, "p95_ms": 0.30}
#: The CPU utilization (cores busy, one worker) up to which the accuracy goals apply.
GOAL_CPU_LIMIT = 0.85
#: Service CPU from which a level counts as saturated.
SATURATED_CPU = 0.97

#: The metrics whose spread between replications can demand another one: those with the
#: tightest goals (p95's 30% leaves room for far more noise).
REPLICATED = ("throughput_rps", "mean_ms")

#: The held-out mix: operators watch dashboards, whose queries are the heaviest reads.
HOLDOUT_SHARES = {"homeowner": 0.40, "contractor": 0.30, "operator": 0.30}


@dataclass(frozen=True)
class ValidationSettings:
    """What ``harness validate`` does. The defaults take 10-15 minutes on a 2-core machine
    with one step run; each further replication adds the step run's length again.

    ``think_scale`` 0.05 turns the profile's 30/20/45 s think times into 1.5/1/2.25 s, so
    one service worker saturates at a few hundred users, which one load-generator core drives.
    """

    think_scale: float = 0.05
    calibration_users: int = 20
    calibration_s: float = 30.0
    """Length of each calibration stage's measured part (a settle part precedes it)."""
    calibration_factors: tuple[float, ...] = (1.0, 5.0, 10.0)
    """Calibration stages at these multiples of ``calibration_users`` (20, 100, 200 users).
    Several, because one light load cannot tell the latency floor from the work that queues,
    nor the wake-up cost from the busy cost (models/service_curve.py)."""
    levels: int = 5
    lowest_fraction: float = 0.15
    highest_fraction: float = 1.2
    cpu_targets: tuple[float, ...] = (0.25, 0.5, 0.75)
    """Levels placed where the model predicts these CPU utilizations (the accuracy goals'
    range), then ``levels - len(cpu_targets)`` more evenly up to ``highest_fraction`` of the
    saturation point. Empty: all ``levels`` evenly from ``lowest_fraction``. Why: the curve
    knows that this service spends the last part of its CPU on a large part of its throughput
    range, so even spacing in users would put a single level inside the goals' range."""
    min_measure_s: float = 30.0
    max_measure_s: float = 60.0
    min_settle_s: float = 8.0
    max_settle_s: float = 60.0
    spawn_rate: float = 20.0
    capacity_probe: bool = True
    """After the calibration, drive the service into saturation once: its CPU per request
    keeps falling near saturation, later than light stages can show (models/service_curve.py)."""
    probe_factor: float = 1.5
    """The probe's users: this times the saturation point the calibration alone predicts."""
    probe_think_scale: float = 0.5
    """The probe's think times relative to the validation's: shorter, so fewer users (and
    fewer password hashes) saturate the service, yet each user stays under its rate limit."""
    probe_s: float = 20.0
    holdout: bool = True
    holdout_levels: int = 2
    holdout_fractions: tuple[float, ...] = (0.4, 0.8)
    """The held-out levels as fractions of that mix's predicted saturation point (the first
    ``holdout_levels`` of them), when there is no curve or no ``holdout_cpu_targets``."""
    holdout_cpu_targets: tuple[float, ...] = (0.5, 0.75)
    """The held-out levels where the curve predicts these CPU utilizations for that mix."""
    seed_scale: float = 0.01
    replications: int = 2
    """Step runs always made, each on a freshly started service: one run is one sample of it."""
    max_replications: int = 4
    """Step runs at most; those past ``replications`` only while the noise demands them."""
    replication_spread: float = 0.5
    """Another replication while a level inside the goals' range spreads more than this
    fraction of the accuracy goal of throughput or mean response time (half: 5% and 10%)."""

    def __post_init__(self) -> None:
        if not 0 < self.think_scale <= 1:
            raise ValueError(f"think_scale must be in (0, 1], got {self.think_scale}")
        if self.levels < 1 or self.calibration_users < 1:
            raise ValueError("levels and calibration_users must be >= 1")
        if not self.calibration_factors or min(self.calibration_factors) <= 0:
            raise ValueError(f"calibration_factors must be > 0, got {self.calibration_factors}")
        if not 0 < self.lowest_fraction < self.highest_fraction:
            raise ValueError(
                f"need 0 < lowest_fraction < highest_fraction, got "
                f"{self.lowest_fraction} and {self.highest_fraction}"
            )
        if not 0 < self.min_measure_s <= self.max_measure_s:
            raise ValueError("need 0 < min_measure_s <= max_measure_s")
        if not self.probe_factor > 0 or not 0 < self.probe_think_scale <= 1 or self.probe_s <= 0:
            raise ValueError("need probe_factor > 0, 0 < probe_think_scale <= 1, probe_s > 0")
        if not self.holdout_fractions or min(self.holdout_fractions) <= 0:
            raise ValueError(f"holdout_fractions must be > 0, got {self.holdout_fractions}")
        if not 0 < self.min_settle_s <= self.max_settle_s:
            raise ValueError("need 0 < min_settle_s <= max_settle_s")
        if not 1 <= self.replications <= self.max_replications:
            raise ValueError(
                f"need 1 <= replications <= max_replications, got replications = "
                f"{self.replications} and max_replications = {self.max_replications}"
            )
        if not self.replication_spread > 0:
            raise ValueError(f"replication_spread must be > 0, got {self.replication_spread}")
