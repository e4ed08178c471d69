"""`harness demo`: its own steps, its time budget planned by the demo's real planning, and the
whole command end to end (which is also `harness validate`'s end-to-end test).

The end-to-end run is real: the bundled service, Locust, the calibration, the step load's two
replications, the held-out mix, the calibrated plan and the report. Only its durations are
shortened (``TINY``), so its figures say nothing about accuracy; that is `harness validate`
at full length, recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.commands import demo
from harness.commands.demo import DEMO_SETTINGS, calibrated_profile, plan_lines
from harness.run.speed_reference import SAMPLES_FILE, read_samples
from harness.validate.fit import CalibratedModel, fit_curve, login_cpu_ms
from harness.validate.plan import calibration_stages, validation_profile
from harness.validate.settings import ValidationSettings
from harness.validate.trial import step_load
from models.profile import load_profile
from models.sizing import size
from tests.harness.validate.helpers import LOADS, routes_profile, write_run


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


def test_the_demo_step_load_fits_in_its_time_budget(tmp_path: Path) -> None:
    """The levels the demo really plans (its settings, a curve fitted on a calibration of the
    bundled service, the validation's own planning), each settled and measured, in about two
    minutes."""
    routes = validation_profile(routes_profile(), DEMO_SETTINGS.think_scale)
    fit = fit_curve(write_run(tmp_path / "calibration", LOADS), routes)
    model = CalibratedModel(routes, routes, fit.curve, DEMO_SETTINGS.spawn_rate)
    trial = step_load(model, DEMO_SETTINGS)
    assert len(trial.levels) == DEMO_SETTINGS.levels
    assert max(trial.levels) > model.saturation_users  # past saturation, as planned
    assert trial.planned_s <= 180


def test_the_demo_calibration_fits_in_its_time_budget() -> None:
    """Three calibration loads (the service curve needs them), in about a minute."""
    stages = calibration_stages(DEMO_SETTINGS, login_cpu_ms(load_profile()))
    assert len({stage.users for stage in stages}) == 3
    assert sum(stage.duration_s for stage in stages) <= 75


def test_the_demo_makes_one_step_run() -> None:
    """A second replication would cost the demo's step load again: it would not fit in 5 min."""
    assert (DEMO_SETTINGS.replications, DEMO_SETTINGS.max_replications) == (1, 1)


#: As short as the pipeline allows: two calibration loads (the fewest the curve fits on),
#: one light level run twice (the replications) and one held-out level, seconds each. Each
#: arriving user's login is a deliberate password hash, so the levels stay at a few dozen.
TINY = ValidationSettings(
    think_scale=0.05,
    calibration_users=5,
    calibration_s=4.0,
    # 5 and 40 users: far enough apart in CPU for the curve to fit.
    calibration_factors=(1.0, 8.0),
    levels=1,
    lowest_fraction=0.05,
    highest_fraction=0.15,
    # 3 s measured: one or two of the service's 2 s metric scrapes, so a level's CPU may be
    # missing; these tests do not judge it (the calibration's 4 s stages need theirs).
    min_measure_s=3.0,
    max_measure_s=3.0,
    min_settle_s=2.0,
    max_settle_s=2.0,
    # The probe is one more run like the others; its decisions are tested in-process
    # (tests/harness/validate/test_runner.py), its fit in tests/models/test_service_curve.py.
    capacity_probe=False,
    holdout=True,
    holdout_levels=1,
    holdout_fractions=(0.1,),
    holdout_cpu_targets=(),
    replications=2,
    max_replications=2,
)


@dataclass(frozen=True)
class DemoRun:
    code: int
    output: str
    directory: Path
    document: dict[str, Any]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """`harness demo` once, on the TINY settings."""
    out = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo, "DEMO_SETTINGS", TINY)
        log = out / "stdout.txt"
        with log.open("w", encoding="utf-8") as stream, contextlib.redirect_stdout(stream):
            code = main(["demo", "--out", str(out)])
    (directory,) = out.glob("*-validate")
    document = json.loads((directory / "validation.json").read_text())
    yield DemoRun(code, log.read_text(encoding="utf-8"), directory, document)


@pytest.mark.slow
def test_the_demo_plans_calibrates_measures_compares_and_reports(demo_run: DemoRun) -> None:
    document = demo_run.document
    assert document["complete"], document.get("incomplete_reasons")
    assert demo_run.code == 0
    assert not (demo_run.directory / "logs").exists()  # it holds runs; it is not one itself
    assert document["settings"]["levels"] == TINY.levels
    (level,) = document["levels"]
    assert level["measured"]["requests"] > 0 and level["predicted"]["throughput_rps"] > 0
    measured = level["measured"]["throughput_rps"]
    error = (level["predicted"]["throughput_rps"] - measured) / measured
    assert level["relative_error"]["throughput_rps"] == pytest.approx(error, abs=1e-3)
    # Two replications, each on its own service: measured is their mean.
    assert level["replications"] == 2
    runs = [run["throughput_rps"] for run in level["per_replication"]]
    assert measured == pytest.approx(sum(runs) / 2, abs=1e-3)
    spread = level["spread"]["throughput_rps"]
    assert (spread["min"], spread["max"]) == (min(runs), max(runs))
    assert document["summary"]["levels_compared"] == 1 and document["summary"]["replications"] == 2
    first, second = document["step_runs"]
    assert first == document["step_run"] and second != first
    assert (Path(second) / "run.json").exists()
    curve = document["service_curve"]
    assert curve is not None, document.get("service_curve_error")
    assert curve["saturation"] is None and "capacity_probe" not in document
    assert document["holdout"]["complete"] and len(document["holdout"]["levels"]) == 1
    assert "[service_demands" in (demo_run.directory / "calibration.toml").read_text()
    step_report = Path(first) / "report.html"
    assert json.loads((Path(first) / "prediction.json").read_text())["calibrated"] is True
    assert ", 2 runs)" in step_report.read_text()  # the spread over both runs
    # The demo's own steps: the plan before and after, the report, the verdict.
    output = demo_run.output
    assert "1/4 capacity plan (assumed service demands)" in output
    assert "4/4 capacity plan (measured service demands)" in output
    assert f"measurement report: {step_report}" in output
    report = demo_run.directory / "report.html"
    assert f"report: {report} -- verdict: " in output and report.exists()


@pytest.mark.slow
def test_the_machine_speed_reference_ran_beside_every_pinned_run(demo_run: DemoRun) -> None:
    document = demo_run.document
    if not document["cpu_pinning"]["pinned"]:
        pytest.skip(f"the service was not pinned: {document['cpu_pinning']['reason']}")
    curve = document["service_curve"]
    for run_dir in (document["calibration_run"], *document["step_runs"]):
        samples = read_samples(Path(run_dir) / SAMPLES_FILE)
        assert len(samples) > 10 and all(ms > 0 for _, ms in samples)
    assert curve["speed_reference_ms"] > 0
    assert all(point["speed_reference_ms"] > 0 for point in curve["points"])
    levels = [*document["levels"], *document["holdout"]["levels"]]
    for level in levels:
        block = level["at_measured_speed"]
        speed = level["measured"]["speed_reference_ms"]
        assert block["speed_factor"] == pytest.approx(speed / curve["speed_reference_ms"], 1e-3)
        moved, measured = block["predicted"]["throughput_rps"], level["measured"]["throughput_rps"]
        error = (moved - measured) / measured
        assert block["relative_error"]["throughput_rps"] == pytest.approx(error, abs=1e-3)
    # The summary at the measured speed judges exactly the levels inside the goals' range.
    judged = [lv for lv in document["levels"] if lv["within_goal_range"]]
    at_speed = document["summary"]["at_measured_speed"]
    if not judged:
        assert at_speed is None  # nothing inside the goals' range to judge
    else:
        expected = all(lv["at_measured_speed"]["meets_goals"] for lv in judged)
        assert at_speed["goals_met"] is expected
