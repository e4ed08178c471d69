"""What the report says about how it knows: the profile's named assumptions, with values.

Anything the launch plan does not give (think times, provisioning delay, instance price,
service demands...) is an explicit assumption of the profile, and every report lists it.
``models/default_profile.toml`` marks each one ``ASSUMPTION``; a test checks that every key so
marked is listed here.
"""

from __future__ import annotations

from functools import cache

from models.profile import Profile, load_profile
from reports import formatting as fmt

STEADY_SCENARIOS = ("spike", "soak", "step")
"""Scenarios whose shape the launch plan does not give (smoke, load, stress and day1 it
does)."""


@cache
def _shipped() -> Profile:
    return load_profile()


def _dollars(value: float) -> str:
    """A price as the profile states it: ``$0.685``, ``$20``, ``$0.0025`` (no rounding away)."""
    return f"${value:,.0f}" if value == int(value) else f"${value:,.6g}"


def _demands(profile: Profile) -> str:
    shipped = _shipped().service_demands
    changed = sum(1 for e, d in profile.service_demands.items() if shipped.get(e) != d)
    count = len(profile.service_demands)
    if changed == 0:
        return (
            f"{count} endpoints' CPU and DB time: the shipped assumptions, not calibrated "
            "(`harness calibrate RUN_DIR` measures them)"
        )
    return (
        f"{count} endpoints' CPU and DB time: {changed} differ from the shipped assumptions "
        "(calibrated or overridden)"
    )


def profile_assumptions(profile: Profile) -> list[tuple[str, str]]:
    """The profile's named assumptions (what the launch plan does not give), with values:
    the workload's, the infrastructure's, the cost's, then the scenarios'."""
    return [
        *_workload_assumptions(profile),
        *_infrastructure_assumptions(profile),
        *_cost_assumptions(profile),
        *_scenario_assumptions(profile),
    ]


def _workload_assumptions(profile: Profile) -> list[tuple[str, str]]:
    think = ", ".join(
        f"{name} {p.think_time_s:g} s ({p.think_time_distribution})"
        for name, p in profile.personas.items()
    )
    return [
        ("personas.*.think_time_s", think),
        (
            "population.session_minutes",
            f"a user stays signed in {profile.population.session_minutes:g} minutes, then "
            "another logs in",
        ),
        ("business.write_fraction", fmt.pct(profile.business.write_fraction)),
        ("business.awards_per_job", f"{profile.business.awards_per_job:g}"),
        ("business.withdrawals_per_bid", f"{profile.business.withdrawals_per_bid:g}"),
    ]


def _infrastructure_assumptions(profile: Profile) -> list[tuple[str, str]]:
    infra = profile.infrastructure
    database, retries = infra.database, infra.retries
    return [
        (
            "infrastructure.instance_vcpus / workers_per_instance / instance_memory_gb",
            f"{infra.instance_vcpus:g} vCPU, {infra.workers_per_instance} workers, "
            f"{infra.instance_memory_gb:g} GB",
        ),
        (
            "infrastructure.autoscaling.provisioning_delay_s",
            fmt.seconds(infra.autoscaling.provisioning_delay_s),
        ),
        (
            "infrastructure.autoscaling.evaluation_period_s",
            fmt.seconds(infra.autoscaling.evaluation_period_s),
        ),
        ("infrastructure.database.acquire_timeout_s", fmt.seconds(database.acquire_timeout_s)),
        ("infrastructure.database.headroom", fmt.pct(database.headroom)),
        (
            "infrastructure.load_balancer / request_timeout_s",
            f"{infra.load_balancer}, requests time out after "
            f"{fmt.seconds(infra.request_timeout_s)}",
        ),
        (
            "infrastructure.database.pooler / worker_pool_size / max_client_connections",
            f"{'a pooler' if database.pooler else 'no pooler'}, "
            f"{database.worker_pool_size} connections per worker, "
            f"{database.max_client_connections} pooler clients at most",
        ),
        (
            "infrastructure.database.read_your_writes_s",
            f"reads from the primary for {fmt.seconds(database.read_your_writes_s)} after a write",
        ),
        (
            "infrastructure.cache.ttl_s / hit_ratio / hit_cpu_ratio",
            f"cached for {fmt.seconds(infra.cache.ttl_s)}, "
            f"{fmt.pct(infra.cache.hit_ratio)} of cacheable reads hit, a hit costing "
            f"{fmt.pct(infra.cache.hit_cpu_ratio)} of the endpoint's CPU",
        ),
        (
            "infrastructure.cpu_quota / cpu_period_ms",
            (
                f"{infra.instance_vcpus:g} cores a CFS quota over {infra.cpu_period_ms:g} ms"
                if infra.cpu_quota
                else "instance vCPUs are whole cores (no CFS quota)"
            ),
        ),
        (
            "infrastructure.cache.territories / categories / pages_per_board / page_kb / "
            "session_kb / memory_overhead",
            f"the cache holds {infra.cache.territories} territories x {infra.cache.categories} "
            f"categories x {infra.cache.pages_per_board} pages of {infra.cache.page_kb:g} KB "
            f"and {infra.cache.session_kb:g} KB per signed-in user, "
            f"+{fmt.pct(infra.cache.memory_overhead)}",
        ),
        (
            "infrastructure.database.cpu_share_of_db_time / cpu_target",
            f"{fmt.pct(database.cpu_share_of_db_time)} of a query's connection time is the "
            f"server's CPU; tiers keep the primary under {fmt.pct(database.cpu_target)}",
        ),
        _background_assumption(profile),
        (
            "infrastructure.retries.payment_retry_s / outbox_backoff_max_s",
            f"a pending payment retried every {fmt.seconds(retries.payment_retry_s)}, "
            f"notifications at most {fmt.seconds(retries.outbox_backoff_max_s)} apart",
        ),
    ]


def _background_assumption(profile: Profile) -> tuple[str, str]:
    b = profile.background
    return (
        "background.deliveries_per_notification / outbox_cpu_ms / outbox_db_ms / "
        "payment_retries_per_award / payment_retry_cpu_ms / payment_retry_db_ms / "
        "photos_per_job / upload_cpu_ms / upload_db_ms",
        f"{b.deliveries_per_notification:g} outbox deliveries per notifying write "
        f"({b.outbox_cpu_ms:g} ms CPU, {b.outbox_db_ms:g} ms database), "
        f"{b.payment_retries_per_award:g} payment retries per award "
        f"({b.payment_retry_cpu_ms:g} ms, {b.payment_retry_db_ms:g} ms), "
        f"{b.photos_per_job:g} photos per job ({b.upload_cpu_ms:g} ms, {b.upload_db_ms:g} ms)",
    )


def _cost_assumptions(profile: Profile) -> list[tuple[str, str]]:
    cost = profile.cost
    tiers = ", ".join(
        f"{t.name} {t.max_connections} connections"
        + (f", {t.vcpus:g} vCPU" if t.vcpus is not None else "")
        + f" {_dollars(t.monthly_usd)}"
        for t in cost.database_tiers
    )
    return [
        ("cost.instance_hourly_usd", _dollars(cost.instance_hourly_usd) + " an hour"),
        (
            "cost.monitoring_base_monthly_usd / monitoring_per_instance_monthly_usd",
            f"{_dollars(cost.monitoring_base_monthly_usd)} a month + "
            f"{_dollars(cost.monitoring_per_instance_monthly_usd)} per instance",
        ),
        (
            "cost.storage_cdn_per_user_monthly_usd",
            f"{_dollars(cost.storage_cdn_per_user_monthly_usd)} per user a month "
            "(the launch plan's figure at launch, assumed linear in users)",
        ),
        ("cost.database_tiers", tiers),
        (
            "cost.cache_tiers",
            ", ".join(
                f"{t.name} {t.memory_gb:g} GB {_dollars(t.monthly_usd)}" for t in cost.cache_tiers
            )
            or f"none: a flat {_dollars(cost.cache_monthly_usd)} a month",
        ),
    ]


def _scenario_assumptions(profile: Profile) -> list[tuple[str, str]]:
    rows = [
        ("alerts.for_s", fmt.seconds(profile.alerts.for_s)),
        ("service_demands", _demands(profile)),
        (
            "day_one.hourly_fraction_of_peak",
            f"launch at {profile.day_one.launch_hour:02d}:00, the rest of the curve assumed",
        ),
    ]
    shapes = ", ".join(
        f"{name} {fmt.seconds(sum(s.duration_s for s in profile.scenario_stages(name)))}"
        for name in STEADY_SCENARIOS
        if name in profile.scenarios
    )
    budgets = ", ".join(
        f"{name} {fmt.pct(scenario.fault.error_budget)}"
        for name, scenario in sorted(profile.scenarios.items())
        if scenario.fault is not None and scenario.fault.kind != "loadgen"
    )
    if shapes:
        rows.append(("scenarios.spike / soak / step (durations)", shapes))
    if budgets:
        rows.append(("scenarios.chaos-*.fault.error_budget", budgets))
    return rows
