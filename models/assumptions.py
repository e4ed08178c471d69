"""The assumptions a capacity plan rests on, in words, with the values used.

Every number the launch plan does not give (docs/source-figures.md) is an assumption of the
profile (think times, service demands, instance price, provisioning delay, ...), and the
analytic model adds its own (Poisson arrivals, exponential service, FCFS tiers). Reports list
them all, so a reader can see what the verdict depends on and which inputs a measurement could
replace.
"""

from __future__ import annotations

from functools import cache

from models.profile import Profile, load_profile

__all__ = ["profile_assumptions"]


@cache
def _shipped_profile() -> Profile:
    return load_profile()


def profile_assumptions(profile: Profile) -> tuple[str, ...]:
    """Every assumption the plan rests on, with the values used, for every report.

    Values the launch plan does not give (think times, demands, instance price, ...) and
    the modelling assumptions of this module. Demands equal to the shipped ones are reported
    as not calibrated.
    """
    infra = profile.infrastructure
    cost = profile.cost
    personas = ", ".join(
        f"{name} {p.think_time_s:g} s ({p.think_time_distribution})"
        for name, p in profile.personas.items()
    )
    shipped = _shipped_profile()
    calibrated = sum(
        1 for e, d in profile.service_demands.items() if shipped.service_demands.get(e) != d
    )
    demands = (
        "service demands (CPU and database ms per endpoint) are the shipped assumptions, "
        "not calibrated: run `harness calibrate RUN_DIR` and pass the overlay with --profile"
        if calibrated == 0
        else f"service demands: {calibrated} of {len(profile.service_demands)} endpoints "
        "differ from the shipped assumptions (calibrated or overridden)"
    )
    tiers = ", ".join(
        f"{t.name} {t.max_connections} conn ${t.monthly_usd:,.0f}" for t in cost.database_tiers
    )
    return (
        f"think times between screens: {personas}",
        demands,
        f"write fraction of screens: {profile.business.write_fraction:.1%} "
        f"(awards per job {profile.business.awards_per_job:g}, withdrawals per bid "
        f"{profile.business.withdrawals_per_bid:g})",
        f"app instance: {infra.instance_vcpus} vCPU, {infra.instance_memory_gb:g} GB, "
        f"{infra.workers_per_instance} workers, each worker one CPU server",
        f"instance price ${cost.instance_hourly_usd:g}/hour, {cost.hours_per_month:g} hours/month",
        f"provisioning delay of a new instance {infra.autoscaling.provisioning_delay_s:g} s and "
        f"autoscaler evaluation period {infra.autoscaling.evaluation_period_s:g} s "
        "(not in this steady-state sizing; the simulation models them)",
        f"database connections sized {infra.database.headroom:.0%} above Little's law; the pool "
        f"({infra.database.pool_min}-{infra.database.pool_max}) is shared by all instances; "
        f"acquire timeout {infra.database.acquire_timeout_s:g} s",
        f"database tiers (cheapest covering pool_max or the need): {tiers}",
        f"monitoring ${cost.monitoring_base_monthly_usd:,.0f}/month + "
        f"${cost.monitoring_per_instance_monthly_usd:,.0f} per instance; storage and CDN "
        f"${cost.storage_cdn_per_user_monthly_usd:g} per user per month",
        "instance-hours: every day of the month follows the day-one curve "
        "(day_one.hourly_fraction_of_peak), each hour sized like the peak (a steady "
        "estimate; `harness simulate --hours 24` prices the day the autoscaler bills)",
        "arrivals at the peak are Poisson (many users with long think times); service times "
        "exponential with the mean demand; each tier an M/M/c FCFS queue (Erlang C)",
        "latency is the API request inside the service (app + database); network, TLS and "
        "page rendering are not included",
    )
