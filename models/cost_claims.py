"""The launch plan's cost claims explained line by line: which component differs, and why.

The plan gives a month-one breakdown at its launch population and bare totals at larger
ones (``cost.claims``). A total alone cannot say whether the claim or the model is wrong, so
each claim is set beside two bills for its population, component by component:

* **scaled**: every line of the month-one breakdown grown in proportion to the users, the
  reading of a claim that assumes the bill grows with the users;
* **model**: the bill of the system the model sizes for those users (:mod:`models.cost`).

The claim sits between them when it assumes some growth the model does not need. Each line
where the model and the scaled bill part says why: compute follows the instances the peak
needs (the autoscaler's minimum may cover it), the database its tier (connections and the
primary's CPU, not users), the cache its tier (the working set), monitoring its base and
per-instance prices; storage and CDN grow with users in both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models.cost import COMPONENTS, CostEstimate
from models.profile import Profile

__all__ = ["ClaimExplanation", "ClaimLine", "explain_claims"]


@dataclass(frozen=True, slots=True)
class ClaimLine:
    """One component of a claim's population: month one, scaled to the users, the model."""

    component: str
    month_one_usd: float
    scaled_usd: float
    model_usd: float
    why: str


@dataclass(frozen=True, slots=True)
class ClaimExplanation:
    users: int
    claimed_usd: float
    scaled_usd: float
    model_usd: float
    lines: tuple[ClaimLine, ...]

    @property
    def summary(self) -> str:
        """Where the claim sits between the two bills, and the lines that part them."""
        apart = sorted(self.lines, key=lambda line: line.model_usd - line.scaled_usd)
        named = [line for line in apart if abs(line.model_usd - line.scaled_usd) >= 1.0][:2]
        reasons = "; ".join(f"{line.component}: {line.why}" for line in named)
        return (
            f"{self.users:,} users: claimed ${self.claimed_usd:,.0f}, month one grown with "
            f"the users ${self.scaled_usd:,.0f}, the model ${self.model_usd:,.0f}"
            + (f". Apart most: {reasons}" if reasons else "")
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "claimed_usd": self.claimed_usd,
            "scaled_usd": round(self.scaled_usd, 2),
            "model_usd": round(self.model_usd, 2),
            "lines": [
                {
                    "component": line.component,
                    "month_one_usd": line.month_one_usd,
                    "scaled_usd": round(line.scaled_usd, 2),
                    "model_usd": round(line.model_usd, 2),
                    "why": line.why,
                }
                for line in self.lines
            ],
            "summary": self.summary,
        }


def _why(component: str, profile: Profile, estimate: CostEstimate, factor: float) -> str:
    """Why the model's line is what it is at ``factor`` times the launch population."""
    rates = profile.cost
    if component == "compute":
        return (
            f"{estimate.mean_instances:,.1f} instances on average (the peak's need, at least "
            f"the autoscaler's minimum of {profile.infrastructure.autoscaling.min_instances}), "
            f"not month one's fleet x {factor:.2f}"
        )
    if component == "database":
        replicas = profile.infrastructure.database.read_replicas
        return (
            f"the '{estimate.database_tier}' tier covers the {estimate.database_connections} "
            f"connections the primary must accept and the {estimate.database_cores:.2f} cores "
            "its queries need at the peak"
            + (f", plus {replicas} replica(s) at its price" if replicas else "")
            + "; a tier steps with connections and CPU, not with users"
        )
    if component == "cache":
        if not estimate.cache_tier:
            return f"a flat ${rates.cache_monthly_usd:,.0f} (the profile lists no cache tiers)"
        return (
            f"the '{estimate.cache_tier}' tier holds the {estimate.cache_gb * 1024:,.0f} MB "
            "working set (hot board pages, grown only by territories and categories, and an "
            "entry per signed-in user)"
        )
    if component == "monitoring":
        return (
            f"${rates.monitoring_base_monthly_usd:,.0f} + "
            f"${rates.monitoring_per_instance_monthly_usd:,.0f} per instance"
        )
    return "grows with the users in both"


def explain_claims(
    profile: Profile, estimate_for: Callable[[int], CostEstimate]
) -> tuple[ClaimExplanation, ...]:
    """Each claim above the launch population, line by line (module docstring)."""
    source = profile.cost.source_breakdown
    claims = profile.cost.claims
    if not claims or not source:
        return ()
    launch = min(c.users for c in claims)
    out = []
    for claim in claims:
        if claim.users == launch:
            continue
        factor = claim.users / launch
        estimate = estimate_for(claim.users)
        lines = tuple(
            ClaimLine(
                name,
                source.get(name, 0.0),
                source.get(name, 0.0) * factor,
                estimate.components[name],
                _why(name, profile, estimate, factor),
            )
            for name in COMPONENTS
        )
        out.append(
            ClaimExplanation(
                claim.users,
                claim.monthly_usd,
                sum(line.scaled_usd for line in lines),
                estimate.total,
                lines,
            )
        )
    return tuple(out)
