"""Monthly cost: what the instances, the database, the cache, storage and monitoring cost, and
how that compares with the launch plan's cost figures (docs/source-figures.md).

The components, each from the profile's ``[cost]`` table::

    compute     = instance-hours per month × instance_hourly_usd
    database    = the cheapest tier in database_tiers whose max_connections covers the
                  connections the database must accept and whose vcpus cover the primary's
                  CPU, once for the primary and once for each read replica (a replica is a
                  copy of the primary's instance)
    cache       = the cheapest tier in cache_tiers whose memory holds the working set
                  (cache_monthly_usd, flat, when the profile lists no tiers)
    storage_cdn = users × storage_cdn_per_user_monthly_usd
    monitoring  = monitoring_base_monthly_usd + mean instances × monitoring_per_instance_monthly_usd

Instance-hours come either from the sizing (a steady estimate: the instances the autoscaler
keeps at each hour of the day-one curve, every day of the month assumed like launch day) or
from a simulated day (:func:`simulated_cost`, which ``harness simulate --hours 24`` prints);
one day is scaled to a month by ``hours_per_month / 24``.

**The primary's CPU.** A query holds its connection for its ``db_ms``, of which the share
``database.cpu_share_of_db_time`` is the server's CPU; the busy connections at the peak
(Little's law) times that share are the cores the primary burns, and a tier must give
``cores / database.cpu_target`` of them.

**The cache's working set** (:func:`cache_working_set_gb`): every hot page of every job board,
``territories × categories × pages_per_board × page_kb``, and an entry of ``session_kb`` per
user signed in at the peak, times ``1 + memory_overhead``.

The launch plan claims a month-one breakdown (``cost.source_breakdown``) and totals at
larger user counts (``cost.claims``). :func:`compare_breakdown` and :func:`compare_claims` put
the model's figure beside each and flag a disagreement above :data:`DISAGREEMENT_THRESHOLD`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from models.errors import ParameterError
from models.profile import CacheTier, DatabaseTier, Profile

__all__ = [
    "COMPONENTS",
    "DISAGREEMENT_THRESHOLD",
    "CostComparison",
    "CostEstimate",
    "cache_tier",
    "cache_working_set_gb",
    "compare_breakdown",
    "compare_claims",
    "database_tier",
    "monthly_cost",
    "simulated_cost",
]

DISAGREEMENT_THRESHOLD = 0.15
"""A model figure more than 15% away from the source's claim is flagged."""

COMPONENTS = ("compute", "database", "cache", "storage_cdn", "monitoring")
"""Cost components, in the order of the launch plan's breakdown."""

HOURS_PER_DAY = 24.0


@dataclass(frozen=True)
class CostEstimate:
    """A monthly bill, by component.

    Attributes:
        users: the population the bill is for.
        instance_hours: app instance-hours per month.
        mean_instances: instance_hours / hours_per_month.
        database_tier: name of the tier chosen.
        database_connections: connections the tier had to accept.
        database_tier_covers: False when even the largest tier has too few connections (the
            largest is priced, and the bill is an underestimate).
        components: USD per month for each of :data:`COMPONENTS`.
        basis: ``"steady"`` (instances from the sizing) or ``"simulation"``.
    """

    users: int
    instance_hours: float
    mean_instances: float
    database_tier: str
    database_connections: int
    database_tier_covers: bool
    components: Mapping[str, float]
    basis: str = "steady"
    database_cores: float = 0.0
    """Cores the primary must have at the peak (its CPU over ``database.cpu_target``)."""
    cache_tier: str = ""
    """The cache tier priced ("" when the profile lists none: a flat price)."""
    cache_gb: float = 0.0
    """The working set the cache tier must hold."""
    cache_tier_covers: bool = True

    @property
    def total(self) -> float:
        return sum(self.components.values())

    def to_json(self) -> dict[str, float]:
        """``cost_monthly_usd`` of ``harness model --json``: every component and ``total``."""
        out = {name: round(self.components[name], 2) for name in COMPONENTS}
        out["total"] = round(self.total, 2)
        return out


@dataclass(frozen=True)
class CostComparison:
    """One of the source's figures beside the model's.

    Attributes:
        item: the component name, ``"total"``, or ``"claim at N users"``.
        users: the population of the figure.
        source_usd: what the launch plan says.
        model_usd: what the model says.
        relative_difference: (model − source) / source (inf when the source says 0).
        disagrees: |relative_difference| > :data:`DISAGREEMENT_THRESHOLD`.
    """

    item: str
    users: int
    source_usd: float
    model_usd: float
    relative_difference: float = field(init=False)
    disagrees: bool = field(init=False)

    def __post_init__(self) -> None:
        if self.source_usd > 0:
            difference = (self.model_usd - self.source_usd) / self.source_usd
        else:
            difference = 0.0 if self.model_usd == 0 else math.inf
        object.__setattr__(self, "relative_difference", difference)
        object.__setattr__(self, "disagrees", abs(difference) > DISAGREEMENT_THRESHOLD)

    def to_json(self) -> dict[str, object]:
        return {
            "item": self.item,
            "users": self.users,
            "source_usd": self.source_usd,
            "model_usd": round(self.model_usd, 2),
            "relative_difference": round(self.relative_difference, 4)
            if math.isfinite(self.relative_difference)
            else None,
            "disagrees": self.disagrees,
        }


def database_tier(
    profile: Profile, connections: int, cores: float = 0.0
) -> tuple[DatabaseTier, bool]:
    """The cheapest tier accepting ``connections`` with at least ``cores`` vCPUs (a tier
    without ``vcpus`` is not limited by them), and whether it does (else the largest).

    Tiers are listed by increasing ``max_connections`` (the profile validates that), and a tier
    with more connections is assumed to cost more, so the first that fits is the cheapest.
    """
    if connections < 0:
        raise ParameterError(f"connections must be >= 0, got {connections!r}")
    if not cores >= 0:
        raise ParameterError(f"cores must be >= 0, got {cores!r}")
    tiers = profile.cost.database_tiers
    for tier in tiers:
        if tier.max_connections >= connections and (tier.vcpus is None or tier.vcpus >= cores):
            return tier, True
    return tiers[-1], False


def cache_working_set_gb(profile: Profile, users: int) -> float:
    """The memory the cache must hold for ``users`` (module docstring)."""
    cache = profile.infrastructure.cache
    population = profile.population
    signed_in = users * population.dau_ratio * population.concurrency_ratio
    boards = cache.territories * cache.categories * cache.pages_per_board * cache.page_kb
    return (boards + signed_in * cache.session_kb) * (1.0 + cache.memory_overhead) / 1024**2


def cache_tier(profile: Profile, gigabytes: float) -> tuple[CacheTier | None, bool]:
    """The cheapest cache tier holding ``gigabytes`` and whether it does (else the largest);
    None when the profile lists no tiers."""
    tiers = profile.cost.cache_tiers
    if not tiers:
        return None, True
    for tier in tiers:
        if tier.memory_gb >= gigabytes:
            return tier, True
    return tiers[-1], False


def monthly_cost(
    profile: Profile,
    *,
    users: int,
    database_connections: int,
    instance_hours_per_day: float,
    basis: str = "steady",
    database_cores: float = 0.0,
) -> CostEstimate:
    """The monthly bill for ``users`` (module docstring gives each component's formula).

    Args:
        users: the population (storage and CDN scale with it).
        database_connections: the connections the database must accept; the tier is chosen
            for it.
        instance_hours_per_day: app instance-hours in one day (the sizing's day-curve estimate
            or a simulated day); a month is ``hours_per_month / 24`` such days.
        basis: where the instance-hours came from, shown in reports.
        database_cores: the cores the primary must have (0: the tier is chosen by
            connections alone).
    """
    if users < 0:
        raise ParameterError(f"users must be >= 0, got {users!r}")
    if not math.isfinite(instance_hours_per_day) or instance_hours_per_day < 0:
        raise ParameterError(
            f"instance_hours_per_day must be a finite number >= 0, got {instance_hours_per_day!r}"
        )
    rates = profile.cost
    instance_hours = instance_hours_per_day * rates.hours_per_month / HOURS_PER_DAY
    mean_instances = instance_hours / rates.hours_per_month
    tier, covers = database_tier(profile, database_connections, database_cores)
    cache_gb = cache_working_set_gb(profile, users)
    cache, cache_covers = cache_tier(profile, cache_gb)
    if cache is None:
        cache_usd = rates.cache_monthly_usd
    else:
        cache_usd = cache.monthly_usd if profile.infrastructure.cache.enabled else 0.0
    components = {
        "compute": instance_hours * rates.instance_hourly_usd,
        "database": tier.monthly_usd * (1 + profile.infrastructure.database.read_replicas),
        "cache": cache_usd,
        "storage_cdn": users * rates.storage_cdn_per_user_monthly_usd,
        "monitoring": rates.monitoring_base_monthly_usd
        + mean_instances * rates.monitoring_per_instance_monthly_usd,
    }
    return CostEstimate(
        users=users,
        instance_hours=instance_hours,
        mean_instances=mean_instances,
        database_tier=tier.name,
        database_connections=database_connections,
        database_tier_covers=covers,
        components=MappingProxyType(components),
        basis=basis,
        database_cores=database_cores,
        cache_tier="" if cache is None else cache.name,
        cache_gb=cache_gb,
        cache_tier_covers=cache_covers,
    )


def simulated_cost(
    profile: Profile,
    *,
    instance_minutes: float,
    hours: float,
    peak_connections_in_use: float = 0.0,
    basis: str = "simulation",
) -> CostEstimate:
    """The monthly bill with instance-hours from a simulated (or fast-path) run of whole days.

    ``instance_minutes`` are the run's *billed* instance-minutes (serving and provisioning,
    ``Totals.instance_minutes``) over ``hours`` simulated hours; their daily mean is scaled to
    a month like any day: ``instance_hours_per_day = instance_minutes / 60 · 24 / hours``.
    A run shorter than a day would price one part of the day-one curve as if it were all of
    it, so ``hours`` must be at least 24. The database tier is chosen for the pool the
    simulation ran with (``pool_max``; more if the run ever had more connections in use).

    >>> from models.profile import load_profile
    >>> bill = simulated_cost(load_profile(), instance_minutes=8 * 1440, hours=24)
    >>> round(bill.instance_hours), bill.basis
    (5840, 'simulation')
    """
    if not math.isfinite(hours) or hours < HOURS_PER_DAY:
        raise ParameterError(
            f"hours = {hours!r}: a monthly bill needs a simulated run of at least 24 hours "
            "(a shorter window is one part of the day-one curve, not a day)"
        )
    if not math.isfinite(instance_minutes) or instance_minutes < 0:
        raise ParameterError(
            f"instance_minutes must be a finite number >= 0, got {instance_minutes!r}"
        )
    connections = max(
        profile.infrastructure.database.pool_max, math.ceil(peak_connections_in_use - 1e-9)
    )
    return monthly_cost(
        profile,
        users=profile.population.users,
        database_connections=connections,
        instance_hours_per_day=instance_minutes / 60.0 * HOURS_PER_DAY / hours,
        basis=basis,
    )


def compare_breakdown(profile: Profile, estimate: CostEstimate) -> tuple[CostComparison, ...]:
    """Each component of the source's month-one breakdown, and its total, beside the model's.

    Components the source does not list are skipped; the total compares like with like (the
    sum of the components the source lists).
    """
    source = profile.cost.source_breakdown
    rows = [
        CostComparison(name, estimate.users, source[name], estimate.components[name])
        for name in COMPONENTS
        if name in source
    ]
    if rows:
        rows.append(
            CostComparison(
                "total",
                estimate.users,
                sum(r.source_usd for r in rows),
                sum(r.model_usd for r in rows),
            )
        )
    return tuple(rows)


def compare_claims(
    profile: Profile, estimate_for: Callable[[int], CostEstimate]
) -> tuple[CostComparison, ...]:
    """Each of the source's scaling claims beside the model's total at that user count.

    ``estimate_for(users)`` prices the system sized for ``users`` (the sizing module passes
    a function that re-sizes the profile with the population overridden).
    """
    return tuple(
        CostComparison(
            f"claim at {claim.users:,} users",
            claim.users,
            claim.monthly_usd,
            estimate_for(claim.users).total,
        )
        for claim in profile.cost.claims
    )
