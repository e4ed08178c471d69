"""Background work (outbox deliveries, payment retries, photo uploads): its arithmetic in the
sizing, zero rates leaving today's plan exactly, its own stream in the simulation, and the
profile's ranges."""

from __future__ import annotations

from typing import Any

import pytest

from models.background import NOTIFYING_WRITES, background_streams
from models.errors import ProfileError
from models.fastpath import fast_day
from models.profile import Profile, load_profile
from models.simulation.runner import SimulationOptions, run_once
from models.sizing import size
from models.workload import visit_ratios

ZERO = {
    "deliveries_per_notification": 0.0,
    "payment_retries_per_award": 0.0,
    "photos_per_job": 0.0,
}
HEAVY = {
    "deliveries_per_notification": 2.0,
    "outbox_cpu_ms": 4.0,
    "outbox_db_ms": 3.0,
    "payment_retries_per_award": 3.0,
    "photos_per_job": 4.0,
    "upload_cpu_ms": 30.0,
    "upload_db_ms": 2.0,
}


def _profile(background: dict[str, float], **more: Any) -> Profile:
    return load_profile(overrides={"background": background, **more})


def _shares(profile: Profile) -> dict[str, float]:
    visits = visit_ratios(profile)
    total = sum(visits.values())
    return {e: v / total for e, v in visits.items()}


# The plan before background work existed (commit 23aab52), as `harness model --json` rounds
# it: the default profile, and 3M users on half-core instances with two replicas.
BEFORE = [
    ({}, {"peak_rps": 1333.236, "instances": {"required": 3, "min": 8, "max": 50, "fits": True},
          "db_connections": {"required": 2, "pool_min": 20, "pool_max": 100, "fits": True},
          "latency": {"p50_ms": 2.88, "p95_ms": 8.7},
          "utilization": {"app_cpu": 0.1998, "db_connections": 0.0755},
          "limits": {"max_users_by_instances": 8757805, "max_users_by_db_pool": 21204577}}),
    ({"infrastructure": {"database": {"read_replicas": 2}, "instance_vcpus": 0.5,
                         "workers_per_instance": 1}, "population": {"users": 3_000_000}},
     {"peak_rps": 9999.271, "instances": {"required": 69, "min": 8, "max": 50, "fits": False},
      "db_connections": {"required": 7, "pool_min": 20, "pool_max": 100, "fits": True},
      "latency": {"p50_ms": 5.93, "p95_ms": 17.62},
      "utilization": {"app_cpu": 0.9591, "db_connections": 0.2601, "db_replica": 0.1529},
      "limits": {"max_users_by_instances": 2189451, "max_users_by_db_pool": 46141988}}),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "before"), BEFORE)
def test_zero_rates_give_todays_plan_exactly(
    overrides: dict[str, Any], before: dict[str, Any]
) -> None:
    plan = size(load_profile(overrides={**overrides, "background": ZERO})).to_json()
    assert {key: plan[key] for key in before} == before
    assert all(s["background_rps"] == 0.0 for s in plan["stations"])
    shipped = load_profile().background
    assert shipped.payment_retries_per_award == 0.0 and shipped.photos_per_job == 0.0


def test_streams_follow_the_writes_they_come_with() -> None:
    profile = _profile(HEAVY)
    shares = _shares(profile)
    outbox, retries, uploads = background_streams(profile, shares)
    assert outbox.per_call == pytest.approx(2.0 * sum(shares[e] for e in NOTIFYING_WRITES))
    assert retries.per_call == pytest.approx(3.0 * shares["POST /jobs/{job_id}/award"])
    assert uploads.per_call == pytest.approx(4.0 * shares["POST /jobs"])
    assert (uploads.cpu_s, uploads.db_s) == (0.030, 0.002)


def test_background_raises_utilization_by_its_arithmetic() -> None:
    base = size(_profile(ZERO), compare_costs=False)
    heavy_profile = _profile(HEAVY)
    heavy = size(heavy_profile, compare_costs=False)
    streams = background_streams(heavy_profile, _shares(heavy_profile))
    rps = base.peak_rps
    cpu = rps * sum(b.per_call * b.cpu_s for b in streams)  # cores (the default: no limit)
    db = rps * sum(b.per_call * b.db_s for b in streams)
    app, primary = heavy.stations[0], heavy.stations[1]
    assert app.busy - base.stations[0].busy == pytest.approx(cpu, rel=1e-9)
    assert primary.busy - base.stations[1].busy == pytest.approx(db, rel=1e-9)
    assert heavy.utilization["app_cpu"] - base.utilization["app_cpu"] == pytest.approx(
        cpu / app.servers, rel=1e-9
    )
    assert heavy.db_connections.busy - base.db_connections.busy == pytest.approx(db, rel=1e-9)
    # The user's own request does not carry the background's service, only its queueing.
    assert app.service_s == base.stations[0].service_s
    assert heavy.latency.p95_ms is not None and base.latency.p95_ms is not None
    assert heavy.latency.p95_ms >= base.latency.p95_ms


def test_the_simulation_runs_background_as_its_own_stream() -> None:
    # One quiet instance; the background's CPU shows in the instance's CPU, not in requests.
    options = SimulationOptions(hours=5 / 60, seed=3, users=400.0, autoscale=False, logins=False)
    lone = {"autoscaling": {"min_instances": 1, "max_instances": 1}}
    base = run_once(_profile(ZERO, infrastructure=lone), options)
    heavy_profile = _profile(HEAVY, infrastructure=lone)
    heavy = run_once(heavy_profile, options)
    # The same users' requests (the background's draws move the later windows' own).
    assert heavy.totals.requests == pytest.approx(base.totals.requests, rel=0.03)
    cpu = sum(m.cpu for m in heavy.minutes) / len(heavy.minutes)
    cpu0 = sum(m.cpu for m in base.minutes) / len(base.minutes)
    rps = base.totals.requests / options.seconds
    streams = background_streams(heavy_profile, _shares(heavy_profile))
    expected = rps * sum(b.per_call * (b.cpu_s + b.db_s) for b in streams) / 2  # 2 workers
    assert cpu - cpu0 == pytest.approx(expected, rel=0.15)
    fast = fast_day(heavy_profile, options)
    fast0 = fast_day(_profile(ZERO, infrastructure=lone), options)
    fast_cpu = sum(m.cpu for m in fast.minutes) / len(fast.minutes)
    fast_cpu0 = sum(m.cpu for m in fast0.minutes) / len(fast0.minutes)
    assert fast_cpu - fast_cpu0 == pytest.approx(expected, rel=0.1)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("photos_per_job", 80.0, "between 0 and 50 photos per job posted"),
        ("outbox_cpu_ms", -1.0, "between 0 and 10000 ms"),
        ("deliveries_per_notification", 11.0, "between 0 and 10 deliveries"),
    ],
)
def test_a_wrong_value_names_the_key_and_the_range(key: str, value: float, expected: str) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(overrides={"background": {key: value}})
    assert f"background.{key} = {value!r}" in str(caught.value)
    assert expected in str(caught.value)
