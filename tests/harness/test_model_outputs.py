"""The model's files beside a run's measurements: sizing, the simulated day, the prediction."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from harness.run import model_outputs
from harness.run.lab_plan import LabRequest
from harness.run.model_outputs import ModelOutputsAhead, write_model_outputs
from models.profile import Profile, Stage, load_profile
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


def test_computed_ahead_the_files_are_the_same_as_computed_at_the_end(tmp_path: Path) -> None:
    profile = load_profile()
    ahead = ModelOutputsAhead(profile, STAGES, service_workers=1, bundled=True)
    (tmp_path / "ahead").mkdir()
    (tmp_path / "at-end").mkdir()
    write_model_outputs(
        tmp_path / "ahead", profile, STAGES, service_workers=1, bundled=True, ahead=ahead
    )
    write_model_outputs(tmp_path / "at-end", profile, STAGES, service_workers=1, bundled=True)
    for name in ("capacity.json", "prediction.json"):
        assert (tmp_path / "ahead" / name).read_bytes() == (tmp_path / "at-end" / name).read_bytes()
    days = [json.loads((tmp_path / d / "simulation.json").read_text()) for d in ("ahead", "at-end")]
    for day in days:
        day.pop("wall_s")  # how long the fast path took: the one figure that differs
    assert days[0] == days[1]
    # Made for other stages (or another profile): not used, the files are computed afresh.
    other = [Stage(users=20, duration_s=30.0, spawn_rate=5.0)]
    (tmp_path / "other").mkdir()
    write_model_outputs(
        tmp_path / "other", profile, other, service_workers=1, bundled=True, ahead=ahead
    )
    prediction = json.loads((tmp_path / "other" / "prediction.json").read_text())
    assert prediction["stages"][0]["users"] == 20


def test_a_model_failure_computed_ahead_is_logged_where_it_would_have_been(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_profile: object) -> object:
        raise ArithmeticError("the day diverged")

    monkeypatch.setattr(model_outputs, "_simulated_day", broken)
    profile = load_profile()
    ahead = ModelOutputsAhead(profile, STAGES, service_workers=1, bundled=True)
    with caplog.at_level(logging.WARNING, logger="harness.run.model_outputs"):
        write_model_outputs(tmp_path, profile, STAGES, service_workers=1, bundled=True, ahead=ahead)
    assert "model outputs not written" in caplog.text and "the day diverged" in caplog.text
    # as computed at the end: the sizing before the failure is written, nothing after it
    assert (tmp_path / "capacity.json").exists()
    assert not (tmp_path / "simulation.json").exists()
    assert not (tmp_path / "prediction.json").exists()


def test_a_compressed_run_plans_the_launch_for_its_launch_profile(tmp_path: Path) -> None:
    from harness.validate.plan import validation_profile

    launch = load_profile()
    compressed = validation_profile(launch, 0.05)  # twenty times the request rate per user
    (tmp_path / "own").mkdir()
    (tmp_path / "launch").mkdir()
    write_model_outputs(tmp_path / "own", compressed, STAGES, service_workers=1, bundled=True)
    ahead = ModelOutputsAhead(
        compressed, STAGES, service_workers=1, bundled=True, plan_profile=launch
    )
    write_model_outputs(
        tmp_path / "launch", compressed, STAGES, service_workers=1, bundled=True,
        ahead=ahead, plan_profile=launch,
    )  # fmt: skip

    def instances(directory: str) -> int:
        plan = json.loads((tmp_path / directory / "capacity.json").read_text())
        return int(plan["instances"]["required"])

    # The compressed load sized the launch many times too big; the launch profile does not.
    assert instances("own") > 4 * instances("launch")
    assert instances("launch") == json.loads(json.dumps(size_of(launch)))
    # The prediction is still the run's own: the compressed stages on this machine.
    own = json.loads((tmp_path / "own" / "prediction.json").read_text())
    assert json.loads((tmp_path / "launch" / "prediction.json").read_text()) == own


def size_of(profile: Profile) -> int:
    from models.sizing import size

    return int(size(profile).to_json()["instances"]["required"])


def test_a_run_without_a_plan_writes_only_its_prediction(tmp_path: Path) -> None:
    write_model_outputs(
        tmp_path, load_profile(), STAGES, service_workers=1, bundled=True, plan=False
    )
    assert not (tmp_path / "capacity.json").exists()
    assert not (tmp_path / "simulation.json").exists()
    assert (tmp_path / "prediction.json").exists()


def test_the_report_of_a_run_without_a_plan_renders(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    for name in ("capacity.json", "simulation.json"):
        (run / name).unlink(missing_ok=True)
    assert render_run_report(run).exists()


def test_a_lab_run_is_predicted_by_the_topology_model_of_the_lab_it_asked_for(
    tmp_path: Path,
) -> None:
    """``--instances K --cpu-limit C ...``: the prediction is the lab's (K instances at their
    limit, the pooler, replicas and cache of the flags), not one machine's worker processes."""
    stages = [Stage(users=30, duration_s=30.0, spawn_rate=10.0)]
    profile = load_profile()
    predictions = {}
    for instances in (2, 4):
        lab = LabRequest(instances, 0.25, pooler=True, read_replicas=1, cache=True)
        run_dir = tmp_path / f"lab-{instances}"
        run_dir.mkdir()
        ahead = ModelOutputsAhead(profile, stages, service_workers=1, bundled=True, lab=lab)
        write_model_outputs(
            run_dir, profile, stages, service_workers=1, bundled=True, ahead=ahead, lab=lab
        )
        predictions[instances] = json.loads((run_dir / "prediction.json").read_text())
    two, four = predictions[2], predictions[4]
    assert (two["model"], two["servers"], four["servers"]) == ("topology", 2, 4)
    # the same users on twice the instances: about half the CPU per instance
    cpu_two, cpu_four = two["stages"][0]["cpu_utilization"], four["stages"][0]["cpu_utilization"]
    assert cpu_four == pytest.approx(cpu_two / 2, rel=0.1)
    # the flags win over the profile's [lab]: it names 3 instances
    assert profile.lab.instances == 3
    # computed at the end when nothing was computed ahead: the same file
    again = tmp_path / "at-end"
    again.mkdir()
    lab = LabRequest(2, 0.25, pooler=True, read_replicas=1, cache=True)
    write_model_outputs(again, profile, stages, service_workers=1, bundled=True, lab=lab)
    assert json.loads((again / "prediction.json").read_text()) == two
