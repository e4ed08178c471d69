"""Running days: determinism, replications with confidence intervals, records pandas reads,
both load modes against the profile's rates, the rate limiter."""

from __future__ import annotations

import math

import pytest

import models.simulation as simulation
from models.profile import load_profile
from models.simulation import SimulationOptions, run_once, simulate_day
from models.workload import request_rate
from tests.models.sim_profiles import queue_profile

SHORT = SimulationOptions(hours=3 / 60, start_hour=9, seed=4)


def test_same_seed_gives_identical_series_and_another_seed_does_not() -> None:
    profile = load_profile()
    first = run_once(profile, SHORT)
    again = run_once(profile, SHORT)
    other = run_once(profile, SimulationOptions(hours=3 / 60, start_hour=9, seed=5))
    assert first.minutes == again.minutes
    assert first.totals == again.totals
    assert first.minutes != other.minutes


def test_open_mode_follows_the_profile_rate_and_curve() -> None:
    profile = load_profile()
    result = run_once(profile, SimulationOptions(hours=2 / 60, start_hour=9, seed=1))
    peak = profile.peak_concurrent()
    assert result.minutes[0].users == peak  # 09:00 is the launch peak (fraction 1.0)
    # Beside the screens, logins: each of the 11,000 users the 09:00 step adds signs in
    # during its first minute, and sessions of 20 minutes turn over; three calls a login.
    logins = (peak - 0.45 * peak) / 120 + peak / (20 * 60)
    expected = request_rate(profile, peak) + 3 * logins
    assert result.totals.requests / 120 == pytest.approx(expected, rel=0.01)
    early = run_once(profile, SimulationOptions(hours=1 / 60, start_hour=3, seed=1))
    assert early.minutes[0].users == pytest.approx(0.02 * peak)


def test_closed_mode_matches_interactive_response_time_law() -> None:
    # N users thinking Z: X = N / (Z + R) with R the (small) response time per screen.
    profile = load_profile()
    users = 600
    result = run_once(profile, SimulationOptions(hours=10 / 60, seed=2, users=users,
                                                 mode="closed"))  # fmt: skip
    late = result.minutes[3:]  # after everyone's first think time
    rps = sum(m.requests for m in late) / (60 * len(late))
    assert rps == pytest.approx(request_rate(profile, users), rel=0.04)


def test_replications_give_confidence_intervals_and_mean_series() -> None:
    summary = simulate_day(load_profile(), SimulationOptions(hours=2 / 60, start_hour=9,
                                                            seed=1, replications=3))  # fmt: skip
    p95 = summary.totals["p95_ms"]
    assert p95.replications == 3
    assert 0 < p95.half_width < 0.05 * p95.mean
    assert p95.low < p95.mean < p95.high
    assert [r.seed for r in summary.runs] == [1, 2, 3]
    assert len(summary.minutes) == 2
    mean_rps = sum(r.minutes[0].rps for r in summary.runs) / 3
    assert summary.minutes[0].rps == pytest.approx(mean_rps)
    document = summary.to_dict()
    assert document["totals"]["p95_ms"]["ci_low"] == pytest.approx(p95.low)
    assert document["replications"] == 3


def test_records_are_flat_for_pandas() -> None:
    result = run_once(load_profile(), SHORT)
    frame = result.to_frame()
    assert list(frame.columns[:4]) == ["minute", "time_s", "users", "requests"]
    assert len(frame) == 3
    assert frame["p95_ms"].iloc[0] == result.minutes[0].p95_ms
    assert result.to_dict()["totals"]["requests"] == result.totals.requests


def test_rate_limiter_rejects_what_exceeds_the_per_minute_limit() -> None:
    # Operators thinking 20 ms send 3,000 requests a minute against a limit of 1,000.
    profile = queue_profile(workers=50, demand_ms=1.0, think_s=0.02)
    closed = run_once(profile, SimulationOptions(hours=2 / 60, seed=1, users=4,
                                                 mode="closed", autoscale=False))  # fmt: skip
    accepted_per_user_minute = (closed.totals.requests - closed.totals.errors) / (4 * 2)
    assert accepted_per_user_minute == pytest.approx(1000, rel=0.01)
    opened = run_once(profile, SimulationOptions(hours=1 / 60, seed=1, users=40,
                                                 autoscale=False))  # fmt: skip
    assert opened.totals.error_rate == pytest.approx(1 - 1000 / 3000, rel=0.03)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hours", 0.0, "hours must be in"),
        ("start_hour", 24.0, "start_hour must be in"),
        ("replications", 0, "replications must be >= 1"),
        ("mode", "batch", "mode must be 'open' or 'closed'"),
        ("users", -1.0, "users must be >= 0"),
    ],
)
def test_bad_options_name_the_value(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulationOptions(**{field: value})  # type: ignore[arg-type]


def test_assumptions_are_listed_and_exports_match_docs() -> None:
    result = run_once(load_profile(), SHORT)
    text = " ".join(result.assumptions)
    assert "exponential" in text and "target tracking" in text and "Poisson" in text
    assert sorted(simulation.__all__) == simulation.__all__
    for name in simulation.__all__:
        assert hasattr(simulation, name)
    assert not math.isnan(result.totals.p95_ms)
