"""The autoscaling policy of the profile, as pure decision logic shared by the simulation and
the fast path (so the two can only disagree about the *system*, never about the policy).

Think of a thermostat with a lag: every ``evaluation_period_s`` the autoscaler reads the
fleet's mean CPU and the p95 response time over that period and decides

* **scale up** when CPU > ``scale_up_cpu`` *or* p95 > ``scale_up_p95_ms``;
* **scale down** when CPU < ``scale_down_cpu`` *and* p95 is within its objective;
* nothing during ``cooldown_s`` after the previous action, and nothing outside
  [``min_instances``, ``max_instances``].

How many instances? The profile gives thresholds but no step size, so the policy is *target
tracking* (as AWS and GCP autoscalers do): aim the fleet's CPU at the middle of the band,
``target = (scale_up_cpu + scale_down_cpu) / 2`` (0.5 by default), so that
``desired = ceil(serving · cpu / target)``; at least one instance per scale-up action (a
p95 trigger at low CPU still adds one) and one per scale-down action. This target is an
ASSUMPTION derived from the profile's two thresholds, listed by :func:`assumptions`.

A new instance is billed at once but takes traffic only ``provisioning_delay_s`` later; an
instance removed stops taking traffic at once (it drains). Pending instances count toward
the fleet when deciding, otherwise every evaluation during provisioning would add more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from models.errors import ParameterError
from models.profile import Autoscaling

__all__ = ["Autoscaler", "ScalingAction", "ScalingPolicy", "assumptions"]

Direction = Literal["up", "down"]


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    """The profile's ``[infrastructure.autoscaling]`` table, checked and in one place."""

    min_instances: int
    max_instances: int
    scale_up_cpu: float
    scale_down_cpu: float
    scale_up_p95_ms: float
    cooldown_s: float
    provisioning_delay_s: float
    evaluation_period_s: float

    def __post_init__(self) -> None:
        if not 1 <= self.min_instances <= self.max_instances:
            raise ParameterError(
                f"need 1 <= min_instances <= max_instances, got {self.min_instances} and "
                f"{self.max_instances}"
            )
        if not 0 <= self.scale_down_cpu < self.scale_up_cpu:
            raise ParameterError(
                f"need 0 <= scale_down_cpu < scale_up_cpu, got {self.scale_down_cpu} and "
                f"{self.scale_up_cpu}"
            )
        if self.evaluation_period_s <= 0:
            raise ParameterError(f"evaluation_period_s must be > 0, got {self.evaluation_period_s}")

    @classmethod
    def from_profile(cls, scaling: Autoscaling) -> ScalingPolicy:
        return cls(
            min_instances=scaling.min_instances,
            max_instances=scaling.max_instances,
            scale_up_cpu=scaling.scale_up_cpu,
            scale_down_cpu=scaling.scale_down_cpu,
            scale_up_p95_ms=scaling.scale_up_p95_ms,
            cooldown_s=scaling.cooldown_s,
            provisioning_delay_s=scaling.provisioning_delay_s,
            evaluation_period_s=scaling.evaluation_period_s,
        )

    @property
    def target_cpu(self) -> float:
        """The CPU a scaling action aims at: the middle of the [down, up] band."""
        return (self.scale_up_cpu + self.scale_down_cpu) / 2.0


@dataclass(frozen=True, slots=True)
class ScalingAction:
    """One decision: at ``time_s`` go from ``before`` to ``after`` instances, and why."""

    time_s: float
    direction: Direction
    before: int
    after: int
    cpu: float
    p95_ms: float
    reason: str


@dataclass(slots=True)
class Autoscaler:
    """The autoscaler's state: instances serving, instances provisioning, last action time.

    Call :meth:`evaluate` once per evaluation period with that period's measurements; ask
    :meth:`serving` and :meth:`billed` for the fleet at any time.
    """

    policy: ScalingPolicy
    initial: int
    ready_times: list[float] = field(default_factory=list)
    """Time at which each instance (serving or provisioning) takes traffic, oldest first."""
    last_action_s: float = -math.inf
    actions: list[ScalingAction] = field(default_factory=list)

    def __post_init__(self) -> None:
        p = self.policy
        if not p.min_instances <= self.initial <= p.max_instances:
            raise ParameterError(
                f"initial instances {self.initial} outside [{p.min_instances}, {p.max_instances}]"
            )
        self.ready_times = [-math.inf] * self.initial

    def billed(self) -> int:
        """Instances paid for now: serving plus provisioning."""
        return len(self.ready_times)

    def serving(self, now: float) -> int:
        """Instances taking traffic at ``now``."""
        return sum(1 for t in self.ready_times if t <= now)

    def evaluate(self, now: float, cpu: float, p95_ms: float) -> ScalingAction | None:
        """Decide at ``now`` from the last period's mean ``cpu`` (0..1) and ``p95_ms``.

        Returns the action taken (also appended to :attr:`actions`), or None.
        """
        p = self.policy
        if now - self.last_action_s < p.cooldown_s:
            return None
        fleet = self.billed()
        serving = max(self.serving(now), 1)
        # Load in "instances' worth" of CPU; pending instances will share it soon.
        wanted = math.ceil(serving * cpu / p.target_cpu - 1e-9)
        slow = p95_ms > p.scale_up_p95_ms
        if cpu > p.scale_up_cpu or slow:
            after = min(p.max_instances, max(fleet + 1, wanted))
            reason = (
                f"cpu {cpu:.0%} > {p.scale_up_cpu:.0%}"
                if cpu > p.scale_up_cpu
                else f"p95 {p95_ms:.0f} ms > {p.scale_up_p95_ms:.0f} ms"
            )
            direction: Direction = "up"
        elif cpu < p.scale_down_cpu and not slow:
            after = max(p.min_instances, min(fleet - 1, wanted))
            reason = f"cpu {cpu:.0%} < {p.scale_down_cpu:.0%}"
            direction = "down"
        else:
            return None
        if after == fleet:
            return None
        if after > fleet:
            self.ready_times.extend([now + p.provisioning_delay_s] * (after - fleet))
        else:
            # Remove the newest first: an instance still provisioning is cancelled before
            # a serving one is drained.
            del self.ready_times[after:]
        action = ScalingAction(now, direction, fleet, after, cpu, p95_ms, reason)
        self.actions.append(action)
        self.last_action_s = now
        return action


def assumptions(policy: ScalingPolicy) -> list[str]:
    """The policy choices the profile does not state, for reports."""
    return [
        f"autoscaler: target tracking towards CPU {policy.target_cpu:.0%} (the middle of the "
        f"{policy.scale_down_cpu:.0%}-{policy.scale_up_cpu:.0%} band), at least one instance "
        "per action",
        f"autoscaler: new instances billed at once, serving after "
        f"{policy.provisioning_delay_s:g} s; removed instances drain (newest removed first)",
    ]
