"""The burst stage's plan: how many users, on which clock, and how Locust is told."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.run.locust_runner import SwarmPlan
from harness.validate.burst import BURST_THINK, burst_profile, burst_users
from harness.validate.plan import validation_profile
from harness.validate.settings import ValidationSettings
from harness.validate.table import format_document
from models.profile import load_profile

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


def test_the_table_says_what_the_burst_measured_and_what_the_curve_took() -> None:
    burst = {
        "users": 81, "period_s": 1.0, "throughput_rps": 140.0, "cpu_utilization": 0.24,
        "cpu_per_request_ms": 1.714, "used": True, "reason": None,
    }  # fmt: skip
    document = {
        "calibration": {"pilot_run": "p", "stages": [], "burst": burst},
        "service_curve": {"busy_cpu_ms": 1.70, "max_throughput_rps": 588.2},
    }
    text = format_document(document)
    assert (
        "burst stage: 81 users on a 1 s clock, 140 req/s at 24% CPU, 1.71 ms CPU per request; "
        "busy cost 1.70 ms, capacity 588 req/s"
    ) in text
    unused = {**burst, "used": False, "reason": "the burst run did not complete"}
    text = format_document({**document, "calibration": {"pilot_run": "p", "burst": unused}})
    assert "not used: the burst run did not complete" in text
