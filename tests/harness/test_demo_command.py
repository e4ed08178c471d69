"""`harness demo`'s own steps (the measuring part is `harness validate`, tested on its own)."""

from __future__ import annotations

from pathlib import Path

from harness.commands.demo import DEMO_SETTINGS, calibrated_profile, plan_lines
from harness.validation import calibration_stages, paired_stages, validation_profile
from models.prediction import predict
from models.profile import load_profile
from models.sizing import size


def test_plan_lines_say_what_a_planner_needs() -> None:
    text = "\n".join(plan_lines(size(load_profile()), "plan"))
    assert "400,000 users" in text
    assert "20,000 concurrent at peak" in text
    assert "app instances" in text and "fits" in text
    assert "$8,500" in text


def test_the_calibration_overlay_replaces_the_assumed_demands(tmp_path: Path) -> None:
    assert calibrated_profile(load_profile(), tmp_path) is None
    (tmp_path / "calibration.toml").write_text(
        '[service_demands."GET /jobs"]\ncpu_ms = 0.5\ndb_ms = 0.1\n', encoding="utf-8"
    )
    calibrated = calibrated_profile(load_profile(), tmp_path)
    assert calibrated is not None
    assert calibrated.service_demands["GET /jobs"].cpu_ms == 0.5
    # the launch profile's own think times stay: only the demands are measured
    assert calibrated.personas.homeowner.think_time_s == 30.0


def test_the_demo_step_load_fits_in_its_time_budget() -> None:
    """Four levels up to 120% of saturation, each settle + measure, in about two minutes."""
    profile = validation_profile(load_profile(), DEMO_SETTINGS.think_scale)
    saturation = predict(profile, [1], servers=1).saturation_users
    levels = [round(f * saturation) for f in (0.15, 0.5, 0.85, 1.2)]
    prediction = predict(profile, levels, servers=1)
    stages = paired_stages(prediction.levels, DEMO_SETTINGS, login_cpu_ms=40.0)
    assert sum(stage.duration_s for stage in stages) <= 180


def test_the_demo_calibration_fits_in_its_time_budget() -> None:
    """Three calibration loads (the service curve needs them), in about a minute."""
    stages = calibration_stages(DEMO_SETTINGS, login_cpu_ms=40.0)
    assert len({stage.users for stage in stages}) == 3
    assert sum(stage.duration_s for stage in stages) <= 75
