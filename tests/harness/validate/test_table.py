"""The plain-text table ``harness validate`` and ``harness demo`` print from a document."""

from __future__ import annotations

from typing import Any

from harness.validate.table import format_levels


def level(users: int, predicted: float, measured: float, cpu: float) -> dict[str, Any]:
    """A validation.json level with the figures the table reads."""
    return {
        "users": users,
        "predicted": {"throughput_rps": predicted, "p95_ms": 9.0},
        "measured": {"throughput_rps": measured, "p95_ms": 9.0, "cpu_utilization": cpu},
        "relative_error": {
            "throughput_rps": (predicted - measured) / measured,
            "p95_ms": 0.0,
            "mean_ms": 0.0,
        },
    }


def saturation(top: dict[str, Any], saturated: bool) -> dict[str, Any]:
    return {
        "users": top["users"],
        "predicted_rps": top["predicted"]["throughput_rps"],
        "measured_rps": top["measured"]["throughput_rps"],
        "relative_error": top["relative_error"]["throughput_rps"],
        "measured_cpu_utilization": top["measured"]["cpu_utilization"],
        "saturated": saturated,
        "at_measured_speed": None,
    }


def test_an_unsaturated_top_level_is_called_a_lower_bound() -> None:
    below = saturation(level(346, 380, 460, 0.92), saturated=False)
    line = format_levels({"levels": [], "saturation_throughput": below})
    assert "predicted 380 req/s, measured 460 req/s at 346 users (-17.4%" in line
    assert "service CPU 92%" in line and "a lower bound" in line
    at = saturation(level(400, 470, 460, 0.99), saturated=True)
    assert "lower bound" not in format_levels({"levels": [], "saturation_throughput": at})


def test_the_table_shows_the_prediction_at_the_measured_speed() -> None:
    top = level(400, 600, 470, 0.99)
    top["at_measured_speed"] = {
        "speed_reference_ms": 1.5,
        "speed_factor": 1.25,
        "predicted": {"throughput_rps": 480.0},
        "relative_error": {"throughput_rps": 10 / 470, "mean_ms": -0.15, "p95_ms": 0.2},
        "meets_goals": None,
    }
    check = {
        **saturation(top, saturated=True),
        "at_measured_speed": {
            "speed_factor": 1.25, "predicted_rps": 480.0, "relative_error": 10 / 470,
        },
    }  # fmt: skip
    text = format_levels({"levels": [], "saturation_throughput": check})
    assert "predicted 600 req/s, measured 470 req/s at 400 users (+27.7%" in text
    assert "at the measured machine speed (x1.25): predicted 480 req/s (+2.1%)" in text
    table = format_levels({"levels": [{**top, "within_goal_range": False}]})
    assert "+2.1%/-15.0%/+20.0% (x1.25)" in table
    assert "above 85% CPU" in table
    unmeasured = format_levels({"levels": [level(100, 150, 151, 0.5)]})
    assert "speed not measured" in unmeasured


def test_warnings_end_the_table() -> None:
    text = format_levels({"levels": [], "warnings": ["the calibration's CPU fit was held"]})
    assert text.splitlines()[-1] == "warning: the calibration's CPU fit was held"
