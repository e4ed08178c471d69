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
        f"{t.name} {t.max_connections} conn"
        + (f" {t.vcpus:g} vCPU" if t.vcpus is not None else "")
        + f" ${t.monthly_usd:,.0f}"
        for t in cost.database_tiers
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
        f"database tiers (cheapest covering pool_max or the need, and the primary's cores: "
        f"{infra.database.cpu_share_of_db_time:.0%} of connection time is CPU, kept under "
        f"{infra.database.cpu_target:.0%}): {tiers}",
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
        *_what_runs(profile),
    )


def _what_runs(profile: Profile) -> tuple[str, ...]:
    """The assumptions of the model of what runs: cache and database tiers' sizing, work no
    user waits for, the CPU quota and the load balancer's policy."""
    infra = profile.infrastructure
    cost = profile.cost
    cache = infra.cache
    caches = ", ".join(
        f"{t.name} {t.memory_gb:g} GB ${t.monthly_usd:,.0f}" for t in cost.cache_tiers
    )
    b = profile.background
    return (
        (
            f"cache tiers (cheapest holding the working set: {cache.territories} territories x "
            f"{cache.categories} categories x {cache.pages_per_board} pages of "
            f"{cache.page_kb:g} KB, {cache.session_kb:g} KB per signed-in user, "
            f"+{cache.memory_overhead:.0%}): {caches}"
            if cost.cache_tiers
            else f"cache: a flat ${cost.cache_monthly_usd:,.0f} a month (no cache tiers listed)"
        ),
        f"background work: {b.deliveries_per_notification:g} outbox deliveries per notifying "
        f"write ({b.outbox_cpu_ms:g} ms CPU, {b.outbox_db_ms:g} ms primary), "
        f"{b.payment_retries_per_award:g} payment retries per award, {b.photos_per_job:g} "
        f"photos per job ({b.upload_cpu_ms:g} ms CPU each)",
        (
            f"instances are held to a CFS quota of {infra.instance_vcpus:g} cores per "
            f"{infra.cpu_period_ms:g} ms (full speed until the budget is spent; "
            "models/cpu_quota.py)"
            + (
                f", every instance on the same {infra.shared_cores:g} core(s)"
                if infra.shared_cores is not None
                else ""
            )
            if infra.cpu_quota
            else "instance vCPUs are whole cores (no CFS quota: a worker slowed to "
            "min(1, vCPU/workers) of a core)"
        ),
        f"load balancer {infra.load_balancer}: "
        + (
            "one shared queue over every worker"
            if infra.load_balancer == "leastconn"
            else "each instance its own queue at 1/n of the calls"
        ),
    )
