"""From a calibration run's files to the service curve and the calibrated model, the fallback
when no curve can be fitted, and when the capacity probe is used."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.validate.fit import (
    CalibratedModel,
    calibrate,
    calibration_points,
    fit_curve,
    fit_models,
    light_stages,
    probe_point,
)
from harness.validate.plan import holdout_profile, validation_profile
from models.profile import load_profile
from tests.harness.validate.helpers import LIGHT, LOADS, routes_profile, write_run


def test_points_come_from_the_measure_stages(tmp_path: Path) -> None:
    points = calibration_points(write_run(tmp_path / "run", LOADS))
    assert [p.throughput_rps for p in points] == [27.0, 132.0, 262.0]
    for point, (_, u, mean, _, p95) in zip(points, LOADS, strict=True):
        assert point.cpu_utilization == pytest.approx(u)
        assert point.latency_ms["mean_ms"] == mean and point.latency_ms["p95_ms"] == p95


def test_the_curve_is_fitted(tmp_path: Path) -> None:
    fit = fit_curve(write_run(tmp_path / "run", LOADS), routes_profile())
    assert fit.curve is not None and fit.error is None and fit.warning is None
    assert fit.curve.reference_demand_s > 0
    # Two parameters for three loads: the CPU is reproduced within a few points, and the
    # saturation point lies beyond the highest load the calibration sustained.
    for x, u, *_ in LOADS:
        assert fit.curve.utilization(x) == pytest.approx(u, abs=0.05)
    assert fit.curve.max_throughput_rps > LOADS[-1][0]


def test_one_load_falls_back_with_the_reason(tmp_path: Path) -> None:
    fit = fit_curve(write_run(tmp_path / "run", LOADS[:1]), load_profile())
    assert fit.curve is None
    assert fit.error is not None and "two or more loads" in fit.error


def test_a_fit_below_the_routes_own_cpu_is_held_and_warned_about(tmp_path: Path) -> None:
    # CPU per request falling from 3.7 ms to 1.5 ms over the loads: the free fit would call
    # it almost all wake-up cost, far below what the routes themselves spend per request.
    disturbed = [
        (27.0, 0.10, 3.4, 3.1, 6.5),
        (132.0, 0.30, 3.6, 2.7, 8.4),
        (262.0, 0.40, 3.8, 2.6, 9.5),
    ]
    fit = fit_curve(write_run(tmp_path / "run", disturbed), routes_profile())
    assert fit.curve is not None and fit.curve.busy_cpu_bounded
    assert fit.curve.busy_cpu_s == pytest.approx(fit.curve.reference_demand_s)
    assert fit.warning is not None and "below the routes' own CPU" in fit.warning


@pytest.mark.parametrize(
    ("cpu", "completed", "warning"),
    [
        (0.99, True, None),
        (0.60, True, "ran at 60% CPU, not saturated"),
        (0.99, False, "did not complete"),
    ],
)
def test_the_probe_counts_only_when_it_saturated_the_service(
    tmp_path: Path, cpu: float, completed: bool, warning: str | None
) -> None:
    run = write_run(tmp_path / "probe", [(740.0, cpu, 150.0, 90.0, 400.0)])
    point, why = probe_point(run, completed)
    if warning is None:
        assert why is None and point is not None and point.throughput_rps == 740.0
    else:
        assert why is not None and warning in why


def test_a_run_without_usable_stages_is_no_probe(tmp_path: Path) -> None:
    point, why = probe_point(write_run(tmp_path / "empty", []), completed=True)
    assert point is None and why is not None and "measured nothing usable" in why
    point, why = probe_point(None, completed=False)  # the run never got a directory
    assert point is None and why is not None and "did not complete" in why


def test_the_calibrated_model_predicts_another_mix_on_the_same_curve(tmp_path: Path) -> None:
    fit = fit_curve(write_run(tmp_path / "run", LOADS), routes_profile())
    model = CalibratedModel(routes_profile(), routes_profile(), fit.curve, spawn_rate=20.0)
    assert model.cpu_at(20) < model.cpu_at(80) < 1.0
    (users,) = model.levels_at_cpu((0.5,))
    assert model.cpu_at(users) >= 0.5 > model.cpu_at(users - 1)
    mix = model.for_mix(holdout_profile)
    assert mix.curve is model.curve  # nothing recalibrated
    assert mix.shares != model.shares
    assert mix.saturation_users != pytest.approx(model.saturation_users)
    # Without a curve: the MVA on the calibrated demands, one worker.
    plain = CalibratedModel(routes_profile(), routes_profile(), None, spawn_rate=20.0)
    assert plain.predict([10]).curve is None and plain.saturation_users > 0


def test_only_the_light_stages_inform_the_fit(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", LOADS)  # 10%, 54% and 82% CPU
    assert len(calibration_points(run, max_cpu=0.5)) == 1
    stages, used = light_stages(run, 0.5)
    assert [s.users for s in stages] == [20, 40, 60] and used == [20]
    fit = fit_curve(run, routes_profile(), max_cpu=0.5)
    assert fit.curve is None and fit.error is not None  # one light stage cannot fit a curve


def test_plain_and_speed_normalised_fits_differ_only_by_the_speed(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", LIGHT)
    plain = calibration_points(run, normalised=False)
    assert all(point.reference_ms is None for point in plain)
    # write_run's stages carry no speed reference: both fits are the same curve.
    a, b = (fit_curve(run, routes_profile(), normalised=n).curve for n in (False, True))
    assert a is not None and b is not None and a.busy_cpu_s == pytest.approx(b.busy_cpu_s)


def test_the_models_of_a_calibration(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", LIGHT)
    profile = validation_profile(load_profile(), 0.05)
    calibration = calibrate(run, profile)
    assert calibration.calibrated.service_demands["GET /jobs"].cpu_ms > 0
    calibration.write(tmp_path)
    assert "[service_demands" in (tmp_path / "calibration.toml").read_text()
    assert (tmp_path / "calibration.json").exists()
    stages, used = light_stages(run, 0.5)
    assert used == [20, 40, 60]  # every stage of LIGHT is at or under 50% CPU
    heaviest = max(stages, key=lambda s: s.users)
    fitted = fit_models(
        run, calibration, heaviest, speed_normalised=False, spawn_rate=20.0, max_cpu=0.5
    )
    models = fitted.models
    assert models.judged is fitted.judged_model
    assert (
        fitted.judged_model.curve is fitted.judged_fit.curve and fitted.judged_fit.curve is not None
    )
    assert models.alternative is not None and models.alternative_fit == "speed-normalised"
    assert models.baseline is not None
    assert models.baseline.cpu_per_request_s == pytest.approx(0.45 / 132.0)
    assert models.baseline.capacity_rps == pytest.approx(132.0 / 0.45)
    normalised = fit_models(
        run, calibration, heaviest, speed_normalised=True, spawn_rate=20.0, max_cpu=0.5
    )
    assert normalised.models.alternative_fit == "plain"
