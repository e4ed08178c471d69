"""Session starts: the staged users' ramps, the login rate, and logins in both load modes."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from models.fastpath import fast_day
from models.profile import Profile, load_profile
from models.sessions import RUSH_S, StagedUsers, login_rate, rush_joining
from models.simulation.recorder import MinuteRecord
from models.simulation.runner import SimulationOptions, run_once


def test_staged_users_ramp_at_the_spawn_rate_and_join_only_while_rising() -> None:
    profile = load_profile()
    staged = StagedUsers.from_profile(profile, "stress")  # 100, 200, ... each 120 s, 20/s
    assert staged.users(0.0) == 0.0
    assert staged.users(2.5) == pytest.approx(50.0)
    assert staged.users(10.0) == 100.0 and staged.joining(10.0) == 0.0
    assert staged.joining(2.5) == 20.0
    assert staged.users(121.0) == pytest.approx(120.0) and staged.joining(121.0) == 20.0
    assert staged.users(10_000.0) == 500.0 and staged.joining(10_000.0) == 0.0
    assert staged.duration_s == 600.0


def test_the_login_rate_is_turnover_plus_joining() -> None:
    profile = load_profile()
    assert login_rate(profile, 12_000, 0.0) == pytest.approx(12_000 / 1_200)
    assert login_rate(profile, 12_000, 5.0) == pytest.approx(15.0)
    assert rush_joining(9_000, 20_000, 10.0) == pytest.approx(11_000 / RUSH_S)
    assert rush_joining(9_000, 20_000, RUSH_S) == 0.0
    assert rush_joining(20_000, 9_000, 10.0) == 0.0


def _login_profile() -> Profile:
    return load_profile(
        overrides={
            "infrastructure": {
                "instance_vcpus": 1,
                "workers_per_instance": 1,
                "autoscaling": {"min_instances": 1, "max_instances": 1},
                "cache": {"enabled": False},
            },
            "service_demands": {"POST /auth/login": {"cpu_ms": 49.0, "db_ms": 1.0}},
        }
    )


def test_a_login_burst_saturates_the_worker_in_both_modes_and_calm_stages_do_not() -> None:
    # The compressed day-1 scenario on one core with a 49 ms login: 1,500 users joining at
    # 100 a second need 73 s of hashing for 15 s of ramp, so the ramp's minute queues for
    # seconds, while the stages that add no users stay under 100 ms at the 95th percentile.
    profile = _login_profile()
    for mode in ("open", "closed"):
        options = SimulationOptions(hours=0.25, scenario="day1", mode=mode, seed=2)
        result = run_once(profile, options)
        worst = _worst(result.minutes)
        calm = [m.p95_ms for m in result.minutes[8:10]]
        assert worst > 5_000, mode
        assert max(calm) < 100, mode
    without = run_once(profile, SimulationOptions(hours=0.25, scenario="day1", logins=False))
    assert _worst(without.minutes) < 800


def test_the_fast_path_sees_the_rush() -> None:
    profile = _login_profile()
    options = SimulationOptions(hours=0.25, scenario="day1")
    with_logins = fast_day(profile, options)
    without = fast_day(profile, SimulationOptions(hours=0.25, scenario="day1", logins=False))
    assert with_logins.totals.requests > without.totals.requests
    assert _worst(with_logins.minutes) > 5_000
    assert _worst(without.minutes) < 800


def _worst(minutes: Sequence[MinuteRecord]) -> float:
    """The worst minute's p95 (a minute without requests has none)."""
    return max(m.p95_ms for m in minutes if not math.isnan(m.p95_ms))


def test_the_plan_says_what_the_launch_login_rush_needs() -> None:
    from models.sizing import size

    heavy_login = {"POST /auth/login": {"cpu_ms": 49.0, "db_ms": 1.0}}
    plan = size(load_profile(overrides={"service_demands": heavy_login}), compare_costs=False)
    rush = plan.login_rush
    assert rush is not None
    # 09:00 takes the curve from 45% to 100% of 20,000: 11,000 sign in within a minute, and
    # sessions turn over (20,000 / 1,200 s); each login's calls cost 49 + 1.5 + 0.4 ms
    # (GET /territories is a cache hit 80% of the time, at 20% of its 1.5 ms).
    assert rush.joining == pytest.approx(11_000)
    assert rush.logins_per_s == pytest.approx(11_000 / 60 + 20_000 / 1_200)
    assert rush.worker_s_per_login == pytest.approx((49 + 1.5 + 1.5 * (0.2 + 0.8 * 0.2)) / 1e3)
    assert rush.fits and rush.workers == 16
    bigger = load_profile(
        overrides={"service_demands": heavy_login, "population": {"users": 1_000_000}}
    )
    big = size(bigger, compare_costs=False)
    assert big.login_rush is not None and not big.login_rush.fits
    assert big.login_rush.instances_needed > 8
    assert any("new users signing in" in r for r in big.reasons)
