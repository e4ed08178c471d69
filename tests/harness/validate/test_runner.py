"""The whole validation in-process, on scripted runs: the order of its runs, the capacity
probe's part in the fit, the document it writes, and what a failure or Ctrl-C leaves."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from harness.validate import runner
from harness.validate.settings import ValidationSettings
from harness.validate.table import format_levels
from models.profile import load_profile
from tests.harness.validate.helpers import LOADS, FakeRuns

#: A bundled service saturating near 700 req/s: what a probe measures (X, U, mean, p50, p95).
SATURATED = [(700.0, 0.99, 150.0, 90.0, 400.0)]


def validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: ValidationSettings, *script: Any
) -> tuple[runner.ValidationOutcome, FakeRuns, str]:
    runs = FakeRuns(tmp_path / "runs", *script)
    monkeypatch.setattr(runner, "Runs", lambda *_args: runs)
    log = io.StringIO()
    outcome = runner.validate(load_profile(), settings, tmp_path / "out", pin=False, log=log)
    return outcome, runs, log.getvalue()


def written(outcome: runner.ValidationOutcome) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((outcome.directory / "validation.json").read_text())
    assert document == json.loads(json.dumps(outcome.document.to_json()))
    return document


def test_calibration_step_replications_and_held_out_mix_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ValidationSettings(capacity_probe=False, replications=2, max_replications=2)
    outcome, runs, log = validate(tmp_path, monkeypatch, settings, LOADS, LOADS, LOADS, LOADS)
    calibration, *step, holdout = runs.profiles
    assert [s.users for s in calibration.scenario_stages("step")] == [20, 20, 100, 100, 200, 200]
    assert step[0] == step[1]  # a replication runs the same load again
    assert holdout.personas.operator.share == 0.30  # the held-out mix
    document = written(outcome)
    assert document["complete"] and outcome.exit_code == 0
    assert document["calibration_run"] == str(runs.made[0])
    assert document["step_runs"] == [str(runs.made[1]), str(runs.made[2])]
    assert document["holdout"]["run"] == str(runs.made[3])
    assert document["holdout"]["shares"] == {"homeowner": 0.4, "contractor": 0.3, "operator": 0.3}
    assert document["service_curve"] is not None and "capacity_probe" not in document
    assert outcome.step_run == runs.made[1] and outcome.report == runs.made[1] / "report.html"
    # The step load's first run holds the calibrated prediction and the whole document.
    assert json.loads((runs.made[1] / "prediction.json").read_text())["calibrated"] is True
    assert json.loads((runs.made[1] / "validation.json").read_text()) == document
    assert (runs.made[3] / "prediction.json").exists()
    assert (outcome.directory / "calibration.toml").exists()
    assert "validate: calibration run, [20, 100, 200] users" in log
    assert "validate: held-out mix" in log
    assert "held-out mix" in format_levels(document)


@pytest.mark.parametrize(
    ("cpu", "code", "used", "warning"),
    [
        (0.99, 0, True, None),
        (0.60, 0, False, "ran at 60% CPU, not saturated"),
        (0.99, 3, False, "did not complete"),
    ],
)
def test_the_capacity_probe_joins_the_fit_only_when_it_saturated_the_service(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cpu: float,
    code: int,
    used: bool,
    warning: str | None,
) -> None:
    settings = ValidationSettings(probe_factor=1.5, probe_s=20.0, holdout=False, replications=1)
    probe = ([(740.0, cpu, 150.0, 90.0, 400.0)], code, code == 0)
    outcome, runs, log = validate(tmp_path, monkeypatch, settings, LOADS, probe, LOADS)
    document = written(outcome)
    record = document["capacity_probe"]
    # 1.5 x the light curve's saturation point, a settle stage for their logins, 20 s measured
    stages = runs.profiles[1].scenario_stages("step")
    assert [s.users for s in stages] == [record["users"]] * 2 and stages[1].duration_s == 20.0
    login_s = load_profile().service_demands["POST /auth/login"].cpu_ms / 1e3
    assert stages[0].duration_s >= 2 * record["users"] * login_s
    assert record["used"] is used
    assert record.get("throughput_rps") == (740.0 if code == 0 else None)  # what it measured
    assert (document["service_curve"]["saturation"] is not None) is used
    if warning is not None:
        assert any(warning in text for text in document["warnings"])
    assert f"validate: capacity probe, {record['users']} users at 0.5 x the think time" in log


def test_a_calibration_that_did_not_complete_ends_the_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome, runs, _ = validate(tmp_path, monkeypatch, ValidationSettings(), (None, 3, False))
    document = written(outcome)
    assert len(runs.profiles) == 1
    assert document["incomplete_reasons"] == ["the calibration run did not complete"]
    assert not document["complete"] and outcome.exit_code == 3 and outcome.report is None


def test_an_incomplete_replication_leaves_a_document_marked_incomplete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ValidationSettings(capacity_probe=False, holdout=False, replications=2)
    outcome, _, _ = validate(tmp_path, monkeypatch, settings, LOADS, LOADS, (LOADS, 3, False))
    document = written(outcome)
    assert document["incomplete_reasons"] == [
        "replication 2 of the step load was incomplete (see its run.json)"
    ]
    assert len(document["step_runs"]) == 2 and document["levels"][0]["replications"] == 2
    assert outcome.exit_code == 3


def test_ctrl_c_during_a_run_stops_the_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome, runs, _ = validate(
        tmp_path, monkeypatch, ValidationSettings(capacity_probe=False), LOADS, KeyboardInterrupt()
    )
    assert len(runs.profiles) == 2  # the calibration, then the step run that was interrupted
    document = written(outcome)
    assert document["incomplete_reasons"] == ["interrupted (Ctrl-C); the runs so far are kept"]
    assert document["complete"] is False and outcome.exit_code == 3
