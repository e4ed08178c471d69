"""What the report says about how it knows: the profile's named assumptions, with values.

Anything the source document does not give (think times, provisioning delay, instance price,
service demands...) is an explicit assumption of the profile, and every report lists it.
"""

from __future__ import annotations

from models.profile import Profile
from reports import formatting as fmt


def profile_assumptions(profile: Profile) -> list[tuple[str, str]]:
    """The profile's named assumptions (what the source document does not give), with values."""
    infra = profile.infrastructure
    think = ", ".join(
        f"{name} {p.think_time_s:g} s ({p.think_time_distribution})"
        for name, p in profile.personas.items()
    )
    return [
        ("personas.*.think_time_s", think),
        ("business.write_fraction", fmt.pct(profile.business.write_fraction)),
        ("business.awards_per_job", f"{profile.business.awards_per_job:g}"),
        ("business.withdrawals_per_bid", f"{profile.business.withdrawals_per_bid:g}"),
        (
            "infrastructure.instance_vcpus / workers_per_instance",
            f"{infra.instance_vcpus} vCPU, {infra.workers_per_instance} workers",
        ),
        (
            "infrastructure.autoscaling.provisioning_delay_s",
            fmt.seconds(infra.autoscaling.provisioning_delay_s),
        ),
        (
            "infrastructure.autoscaling.evaluation_period_s",
            fmt.seconds(infra.autoscaling.evaluation_period_s),
        ),
        (
            "infrastructure.database.acquire_timeout_s",
            fmt.seconds(infra.database.acquire_timeout_s),
        ),
        ("infrastructure.database.headroom", fmt.pct(infra.database.headroom)),
        ("cost.instance_hourly_usd", fmt.usd(profile.cost.instance_hourly_usd) + " an hour"),
        ("alerts.for_s", fmt.seconds(profile.alerts.for_s)),
        (
            "service_demands",
            f"{len(profile.service_demands)} endpoints' CPU and DB time "
            "(assumed until `harness calibrate` measures them)",
        ),
        (
            "day_one.hourly_fraction_of_peak",
            f"launch at {profile.day_one.launch_hour:02d}:00, the rest of the curve assumed",
        ),
    ]
