"""A replicated validation's spread in the step run's prediction table (validation.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.validate.compare import LevelExpectations, compare
from harness.validate.measure import aggregate_replications
from models.validation_records import MeasuredLevel, TrialResult
from reports import render_run_report
from reports.load import ArtifactError
from tests.harness.validate.helpers import level_prediction
from tests.reports.factory import RunSpec, write_run
from tests.reports.htmlcheck import parse


def trial(users: int, replications: int) -> dict[str, Any]:
    """A validation trial (trial.json) with one level, as harness validate writes it."""
    runs = [
        MeasuredLevel(users, throughput_rps=rps, p50_ms=p50, p95_ms=p95)
        for rps, p50, p95 in [(698.2, 29.81, 91.0), (725.4, 31.2, 104.0), (713.3, 30.49, 99.0)]
    ][:replications]
    level = aggregate_replications([[one] for one in runs])[0]
    expected = {users: LevelExpectations(level_prediction(users), None, "plain", {})}
    (compared,) = compare(expected, [level], loadgen_warning=0.8)
    return TrialResult("far beyond the calibration", levels=(compared,), complete=True).to_json()


def write(directory: Path, data: dict[str, Any]) -> None:
    (directory / "trial.json").write_text(json.dumps(data), "utf-8")


def test_the_measure_stage_shows_mean_and_range_over_the_runs(tmp_path: Path) -> None:
    # A validation's paired stages: a settle stage, then the measured one, per level.
    run = write_run(tmp_path / "step", RunSpec(stages=(100, 100, 300, 300)))
    write(run, trial(300, 3))
    report = parse(render_run_report(run))
    measured = report.row("error-table", "S4")
    assert measured[2].endswith("mean 712 req/s (698–725, 3 runs)")
    assert measured[4].endswith("mean 30.5 ms (29.8–31.2, 3 runs)")
    assert measured[6].endswith("mean 98.0 ms (91.0–104, 3 runs)")
    # The settle stage at the same users is not what the validation compared.
    assert "runs" not in " ".join(report.row("error-table", "S3"))
    assert "runs" not in " ".join(report.row("error-table", "S2"))
    assert "each on a freshly started service" in report.section_text("prediction")


@pytest.mark.parametrize(
    "data",
    [
        trial(300, 1),  # one run: there is no spread to show
        {"name": "a trial that measured nothing", "complete": False, "levels": []},
    ],
)
def test_no_spread_without_replications(tmp_path: Path, data: dict[str, Any]) -> None:
    run = write_run(tmp_path / "step", RunSpec(stages=(100, 300)))
    write(run, data)
    report = parse(render_run_report(run))
    assert "runs" not in " ".join(report.row("error-table", "S2"))
    assert "freshly started" not in report.section_text("prediction")


def test_a_malformed_spread_names_the_key(tmp_path: Path) -> None:
    run = write_run(tmp_path / "step", RunSpec(stages=(100, 300)))
    data = trial(300, 2)
    data["levels"][0]["spread"]["p95_ms"]["max"] = "high"
    write(run, data)
    with pytest.raises(ArtifactError, match=r"levels\[0\]\.spread\.p95_ms\.max = 'high'"):
        render_run_report(run)
