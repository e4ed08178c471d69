"""The burst stage's plan: how many users, on which clock, and how Locust is told."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.run.locust_runner import SwarmPlan
from harness.validate.burst import BURST_THINK, burst_profile, burst_users, deep_burst_users
from harness.validate.plan import validation_profile
from harness.validate.settings import ValidationSettings
from harness.validate.table import format_document
from models.profile import load_profile
from models.validation_records import BurstRecord, CalibrationRecord

#: The validation's profile: think times 1.5, 1.0 and 2.25 s for shares 60/35/5, so a user
#: opens 0.6/1.5 + 0.35/1.0 + 0.05/2.25 = 0.772 screens a second.
COMPRESSED = validation_profile(load_profile(), 0.05)


def test_the_burst_is_sized_for_its_cpu_target_at_the_pilot_s_cost() -> None:
    settings = ValidationSettings()
    # 0.004 cores per pilot user is 0.00518 per user opening one screen a second.
    assert burst_users(0.004, COMPRESSED, settings) == 81
    # A clock twice as slow carries twice the users for the same CPU.
    slower = ValidationSettings(burst_period_s=2.0)
    assert burst_users(0.004, COMPRESSED, slower) == 162
    assert burst_users(10.0, COMPRESSED, settings) == 2  # a burst of one queues behind nobody
    with pytest.raises(ValueError, match="cpu_per_user"):
        burst_users(0.0, COMPRESSED, settings)


def test_the_burst_profile_puts_every_persona_on_the_one_clock() -> None:
    settings = ValidationSettings(burst_s=20.0)
    profile = burst_profile(COMPRESSED, 81, settings, login_cpu_ms=30.0)
    assert {p.think_time_s for _, p in profile.personas.items()} == {1.0}
    assert [p.share for _, p in profile.personas.items()] == [
        p.share for _, p in COMPRESSED.personas.items()
    ]
    settle, measure = profile.scenario_stages("step")
    assert settle.users == measure.users == 81 and measure.duration_s == 20.0
    assert settle.duration_s >= 81 / settle.spawn_rate  # the logins arrive before it is measured


def test_the_deep_burst_has_as_many_times_the_users_as_its_clock_is_slower() -> None:
    settings = ValidationSettings()  # 1 s and 4 s
    assert deep_burst_users(81, settings) == 324
    assert deep_burst_users(2, ValidationSettings(deep_burst_period_s=1.2)) == 3  # deeper
    profile = burst_profile(COMPRESSED, 324, settings, 30.0, period_s=4.0, measure_s=24.0)
    assert {p.think_time_s for _, p in profile.personas.items()} == {4.0}
    settle, measure = profile.scenario_stages("step")
    assert measure.users == 324 and measure.duration_s == 24.0
    assert settle.duration_s >= 324 / settle.spawn_rate


def test_a_burst_record_knows_how_deep_its_queue_was_and_keeps_it() -> None:
    record = BurstRecord(324, 4.0, "run", 150.0, 0.25, 0.9, True, None, mean_ms=300.0)
    assert record.in_service == pytest.approx(150.0 * 0.3 / 0.25)  # X·R / U: 180
    point = record.point()
    assert point is not None and point.in_service == pytest.approx(180.0)
    data = record.to_json()
    assert data["mean_ms"] == 300.0 and data["in_service"] == 180.0
    assert BurstRecord.from_json(data, "calibration.deep_burst") == record
    # A record written before the depth was kept reads back without it.
    older = {k: v for k, v in data.items() if k not in ("mean_ms", "in_service")}
    assert BurstRecord.from_json(older).in_service is None
    calibration = CalibrationRecord(burst=record, deep_burst=record).to_json()
    assert calibration["deep_burst"] == data
    assert "deep_burst" not in CalibrationRecord(burst=record).to_json()


def test_locust_is_told_to_think_on_the_clock_only_when_asked(tmp_path: Path) -> None:
    def plan(think: str) -> SwarmPlan:
        return SwarmPlan("step", "http://127.0.0.1:1", tmp_path, tmp_path / "p.toml", think=think)

    command = plan(BURST_THINK).master_command()
    assert command[command.index("--journeys-think") + 1] == "tick"
    assert "--journeys-think" not in plan("profile").master_command()


def test_the_burst_settings_are_checked() -> None:
    for bad in ({"burst_period_s": -1.0}, {"burst_s": 0.0}):
        with pytest.raises(ValueError, match="burst_period_s >= 0 and burst_s > 0"):
            ValidationSettings(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="burst_cpu_target"):
        ValidationSettings(burst_cpu_target=0.6)
    deep = "need deep_burst_period_s 0 \\(no deep burst\\) or longer than burst_period_s"
    for bad in (
        {"deep_burst_period_s": 1.0},  # no deeper than the burst's
        {"deep_burst_s": 0.0},
        {"deep_burst_period_s": -4.0},
    ):
        with pytest.raises(ValueError, match=deep):
            ValidationSettings(**bad)  # type: ignore[arg-type]
    ValidationSettings(burst_period_s=0.0)  # no burst stage: no deep burst, whatever its clock


def test_the_table_says_what_the_burst_measured_and_what_the_curve_took() -> None:
    burst = {
        "users": 81, "period_s": 1.0, "throughput_rps": 140.0, "cpu_utilization": 0.24,
        "cpu_per_request_ms": 1.714, "used": True, "reason": None,
    }  # fmt: skip
    curve = {"busy_cpu_ms": 1.70, "max_throughput_rps": 588.2}
    document = {
        "calibration": {"pilot_run": "p", "stages": [], "burst": burst},
        "service_curve": curve,
    }
    text = format_document(document)
    assert (
        "burst stage: 81 users on a 1 s clock, 140 req/s at 24% CPU, 1.71 ms CPU per request; "
        "busy cost 1.70 ms, capacity 588 req/s"
    ) in text
    deep = {
        "users": 324, "period_s": 4.0, "cpu_per_request_ms": 1.85, "in_service": 180.0,
        "used": True, "reason": None,
    }  # fmt: skip
    backlog = {"cpu_ms_per_doubling": 0.0693, "from_in_service": 45.0, "in_fit": False}
    bursts = {"pilot_run": "p", "stages": [], "burst": burst, "deep_burst": deep}
    with_deep = {"calibration": {**bursts, "backlog": backlog}, "service_curve": curve}
    assert (
        "deep burst: 324 users on a 4 s clock, 1.85 ms CPU per request with 180 requests in "
        "the service; backlog 0.069 ms a request per doubling of the requests in the "
        "service from 45 (measured, not in the judged fit)"
    ) in format_document(with_deep)
    # an older document says only that the fit took it: then past the depth, its one side
    with_deep["calibration"] = {**bursts, "backlog": {**backlog, "in_fit": True}}
    assert "from 45 (in the judged fit, past the burst's depth)" in format_document(with_deep)
    below = {**backlog, "in_fit": True, "below_depth": True, "past_depth": False}
    with_deep["calibration"] = {**bursts, "backlog": below}
    assert "from 45 (in the judged fit, below the burst's depth)" in format_document(with_deep)
    both = {**below, "past_depth": True}
    with_deep["calibration"] = {**bursts, "backlog": both}
    assert "(in the judged fit, below and past the burst's depth)" in format_document(with_deep)
    with_deep["calibration"] = bursts  # the deep burst's queue was no deeper
    assert "no backlog's cost (its queue was no deeper" in format_document(with_deep)
    failed = {**deep, "used": False, "reason": "the deep burst run did not complete"}
    with_deep["calibration"] = {"pilot_run": "p", "burst": burst, "deep_burst": failed}
    assert "not used: the deep burst run did not complete" in format_document(with_deep)
    unused = {**burst, "used": False, "reason": "the burst run did not complete"}
    text = format_document({**document, "calibration": {"pilot_run": "p", "burst": unused}})
    assert "not used: the burst run did not complete" in text
