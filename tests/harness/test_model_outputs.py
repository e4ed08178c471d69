"""The model's files beside a run's measurements: sizing, the simulated day, the prediction."""

from __future__ import annotations

import json
from pathlib import Path

from harness.model_outputs import write_model_outputs
from models.profile import Stage, load_profile
from reports import render_run_report
from reports.load import simulation_records
from tests.reports.factory import write_run
from tests.reports.htmlcheck import parse

STAGES = [Stage(users=10, duration_s=30.0, spawn_rate=5.0)]


def test_a_run_gets_the_sizing_the_simulated_day_and_the_prediction(tmp_path: Path) -> None:
    write_model_outputs(tmp_path, load_profile(), STAGES, service_workers=1, bundled=True)
    assert json.loads((tmp_path / "capacity.json").read_text())["instances"]["required"] >= 1
    text = (tmp_path / "simulation.json").read_text()
    assert "NaN" not in text and "Infinity" not in text  # strict JSON for any reader
    records = simulation_records(tmp_path / "simulation.json", json.loads(text))
    assert len(records) == 24 * 60  # the whole launch day, minute by minute
    assert max(r["users"] for r in records) == load_profile().peak_concurrent()
    assert json.loads((tmp_path / "prediction.json").read_text())["stages"][0]["users"] == 10


def test_an_external_host_gets_no_prediction_and_files_already_there_are_kept(
    tmp_path: Path,
) -> None:
    (tmp_path / "simulation.json").write_text('{"minutes": []}')
    write_model_outputs(tmp_path, load_profile(), STAGES, service_workers=1, bundled=False)
    assert (tmp_path / "capacity.json").exists()
    assert not (tmp_path / "prediction.json").exists()  # the machine is unknown
    assert (tmp_path / "simulation.json").read_text() == '{"minutes": []}'


def test_the_run_report_draws_the_simulated_day(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    (run / "simulation.json").unlink(missing_ok=True)
    before = parse(render_run_report(run)).section_text("capacity")
    assert "estimated: the analytic peak sizing" in before
    write_model_outputs(run, load_profile(), STAGES, service_workers=1, bundled=False)
    after = parse(render_run_report(run)).section_text("capacity")
    assert "simulated minute by minute, with the autoscaler" in after
