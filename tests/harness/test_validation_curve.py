"""From a calibration run's files to the service curve, and the fallback when it cannot fit."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from harness import validate_run
from harness.commands.validate import format_levels
from harness.run.orchestrate import INTERRUPTS
from harness.validate_run import calibration_points, fit_curve, saturation_throughput
from harness.validation import ValidationSettings, overlay
from models.profile import Profile, load_profile

#: Three calibration loads: (throughput req/s, CPU cores busy, mean, p50, p95 in ms).
LOADS = [(27.0, 0.10, 3.4, 3.1, 6.5), (132.0, 0.54, 3.6, 2.7, 8.4), (262.0, 0.82, 3.8, 2.6, 9.5)]


def write_run(directory: Path, loads: list[tuple[float, float, float, float, float]]) -> Path:
    """A run directory whose stages alternate settle (10 s) and measure (30 s) per load."""
    stages: list[dict[str, Any]] = []
    scrapes: list[dict[str, Any]] = []
    t, cpu = 0.0, 0.0
    for i, (x, u, mean, p50, p95) in enumerate(loads):
        stages.append({"index": 2 * i, "users": 20 * (i + 1), "started_at_s": t, "elapsed_s": 10})
        t += 10.0
        cpu += 10.0 * u
        measure = {
            "index": 2 * i + 1,
            "users": 20 * (i + 1),
            "started_at_s": t,
            "elapsed_s": 30.0,
            "throughput_rps": x,
            "mean_ms": mean,
            "p50_ms": p50,
            "p95_ms": p95,
            "requests": int(30 * x),
            "error_rate": 0.0,
        }
        stages.append(measure)
        for _ in range(16):  # a scrape every 2 s across the measure stage
            scrapes.append({"t_s": t, "cpu_seconds": cpu})
            t += 2.0
            cpu += 2.0 * u
        t -= 2.0
        cpu -= 2.0 * u
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "run.json").write_text(json.dumps({"stages": stages}))
    (directory / "server.json").write_text(json.dumps({"scrapes": scrapes}))
    return directory


def routes_profile() -> Profile:
    """The default profile with route CPU a quarter of its assumption: about 0.9 ms per
    request, what the bundled service's routes measure on their own (thread clock)."""
    profile = load_profile()
    demands = {
        route: {"cpu_ms": demand.cpu_ms / 4, "db_ms": demand.db_ms}
        for route, demand in profile.service_demands.items()
    }
    return overlay(profile, {"service_demands": demands})


def test_points_come_from_the_measure_stages(tmp_path: Path) -> None:
    points = calibration_points(write_run(tmp_path / "run", LOADS))
    assert [p.throughput_rps for p in points] == [27.0, 132.0, 262.0]
    for point, (_, u, mean, _, p95) in zip(points, LOADS, strict=True):
        assert point.cpu_utilization == pytest.approx(u)
        assert point.latency_ms["mean_ms"] == mean and point.latency_ms["p95_ms"] == p95


def test_the_curve_is_fitted_and_recorded(tmp_path: Path) -> None:
    document: dict[str, Any] = {}
    curve = fit_curve(write_run(tmp_path / "run", LOADS), routes_profile(), document)
    assert curve is not None and "service_curve_error" not in document
    assert curve.reference_demand_s > 0
    # Two parameters for three loads: the CPU is reproduced within a few points, and the
    # saturation point lies beyond the highest load the calibration sustained.
    for x, u, *_ in LOADS:
        assert curve.utilization(x) == pytest.approx(u, abs=0.05)
    assert curve.max_throughput_rps > LOADS[-1][0]


def test_one_load_falls_back_with_the_reason(tmp_path: Path) -> None:
    document: dict[str, Any] = {}
    run = write_run(tmp_path / "run", LOADS[:1])
    assert fit_curve(run, load_profile(), document) is None
    assert "two or more loads" in document["service_curve_error"]


def test_a_fit_below_the_routes_own_cpu_is_held_and_warned_about(tmp_path: Path) -> None:
    # CPU per request falling from 3.7 ms to 1.5 ms over the loads: the free fit would call
    # it almost all wake-up cost, far below what the routes themselves spend per request.
    disturbed = [
        (27.0, 0.10, 3.4, 3.1, 6.5),
        (132.0, 0.30, 3.6, 2.7, 8.4),
        (262.0, 0.40, 3.8, 2.6, 9.5),
    ]
    document: dict[str, Any] = {}
    curve = fit_curve(write_run(tmp_path / "run", disturbed), routes_profile(), document)
    assert curve is not None and curve.busy_cpu_bounded
    assert curve.busy_cpu_s == pytest.approx(curve.reference_demand_s)
    assert "below the routes' own CPU" in document["warnings"][0]
    assert "warning: the calibration's CPU fit" in format_levels(document)


def level(users: int, predicted: float, measured: float, cpu: float) -> dict[str, Any]:
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


def test_the_top_level_is_called_saturated_only_when_the_cpu_says_so() -> None:
    below = saturation_throughput([level(100, 150, 151, 0.5), level(346, 380, 460, 0.92)])
    assert below is not None and below["users"] == 346
    assert below["relative_error"] == pytest.approx(-80 / 460)
    assert not below["saturated"]
    line = format_levels({"levels": [], "saturation_throughput": below})
    assert "predicted 380 req/s, measured 460 req/s at 346 users" in line
    assert "a lower bound" in line
    at = saturation_throughput([level(400, 470, 460, 0.99)])
    assert at is not None and at["saturated"]
    assert "lower bound" not in format_levels({"levels": [], "saturation_throughput": at})
    assert saturation_throughput([]) is None


def test_ctrl_c_during_a_run_stops_the_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run stopped by Ctrl-C returns normally (its artifacts written, marked incomplete);
    # the validation must not go on to the next run as if nothing happened.
    runs: list[object] = []

    def interrupted_run(request: object, progress_stream: object = None) -> tuple[int, Path]:
        runs.append(request)
        INTERRUPTS.count = 1
        return 3, write_run(tmp_path / "calibration", LOADS)

    monkeypatch.setattr(validate_run, "execute", interrupted_run)
    try:
        outcome = validate_run.validate(
            load_profile(), ValidationSettings(), tmp_path / "out", pin=False
        )
    finally:
        INTERRUPTS.count = 0
    assert len(runs) == 1
    assert outcome.exit_code == 3
    document = json.loads((outcome.directory / "validation.json").read_text())
    assert document["incomplete_reasons"] == ["interrupted (Ctrl-C); the runs so far are kept"]
    assert document["complete"] is False


@pytest.mark.parametrize(
    ("cpu", "code", "used", "warning"),
    [
        (0.99, 0, True, None),
        (0.60, 0, False, "ran at 60% CPU, not saturated"),
        (0.99, 3, False, "did not complete"),
    ],
)
def test_the_capacity_probe_is_used_only_when_it_saturated_the_service(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cpu: float,
    code: int,
    used: bool,
    warning: str | None,
) -> None:
    planned: list[Any] = []

    def probe_run(profile: Any, out: Path, settings: Any, pinning: Any) -> tuple[int, Path]:
        planned.append(profile.scenario_stages("step"))
        return code, write_run(tmp_path / "probe", [(740.0, cpu, 150.0, 90.0, 400.0)])

    monkeypatch.setattr(validate_run, "_run", probe_run)
    document: dict[str, Any] = {}
    settings = ValidationSettings(probe_factor=1.5, probe_s=20.0)
    point = validate_run.capacity_probe(
        load_profile(), 300.0, 49.0, tmp_path, settings, {}, document, io.StringIO()
    )
    # 1.5 x the light curve's saturation point, a settle stage for their logins, 20 s measured
    (stages,) = planned
    assert [s.users for s in stages] == [450, 450] and stages[1].duration_s == 20.0
    assert stages[0].duration_s >= 2 * 450 * 0.049
    assert document["capacity_probe"]["users"] == 450
    assert document["capacity_probe"]["used"] is used
    assert (point is not None) is used
    if used:
        assert point is not None and point.throughput_rps == 740.0
    else:
        assert warning is not None and warning in document["warnings"][0]


def test_the_saturation_and_the_table_show_the_prediction_at_the_measured_speed() -> None:
    top = level(400, 600, 470, 0.99)
    top["at_measured_speed"] = {
        "speed_reference_ms": 1.5,
        "speed_factor": 1.25,
        "predicted": {"throughput_rps": 480.0},
        "relative_error": {"throughput_rps": 10 / 470, "mean_ms": -0.15, "p95_ms": 0.2},
        "meets_goals": None,
    }
    saturation = saturation_throughput([level(100, 150, 151, 0.5), top])
    assert saturation is not None
    assert saturation["at_measured_speed"] == {
        "speed_factor": 1.25,
        "predicted_rps": 480.0,
        "relative_error": pytest.approx(10 / 470),
    }
    assert saturation_throughput([level(100, 150, 151, 0.5)])["at_measured_speed"] is None  # type: ignore[index]
    text = format_levels({"levels": [], "saturation_throughput": saturation})
    assert "predicted 600 req/s, measured 470 req/s at 400 users (+27.7%" in text
    assert "at the measured machine speed (x1.25): predicted 480 req/s (+2.1%)" in text
    table = format_levels(
        {"levels": [{**top, "measured": {**top["measured"], "mean_ms": 5.0}, "predicted":
                     {**top["predicted"], "mean_ms": 5.0}}]}
    )  # fmt: skip
    assert "+2.1%/-15.0%/+20.0% (x1.25)" in table
    unmeasured = format_levels({"levels": [level(100, 150, 151, 0.5)]})
    assert "speed not measured" in unmeasured
