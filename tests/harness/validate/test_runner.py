"""The whole validation in-process, on scripted runs: the pilot, the light calibration, the
trials in order, the capacity probe as a diagnostic, the document, the reanalysis, and what a
failure or Ctrl-C leaves."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest

from harness.validate import runner
from harness.validate.duration import Budget
from harness.validate.reanalyse import reanalyse
from harness.validate.settings import ValidationSettings
from harness.validate.table import format_document
from models.profile import load_profile
from tests.harness.validate.helpers import (
    LIGHT,
    LOADS,
    FakeRuns,
    synthetic_service,
    with_lab_samples,
)

#: The pilot: 10 users at 4% CPU, so 0.004 cores per user (write_run reports 20 users; the
#: pilot's own count is the settings').
PILOT = [(13.0, 0.04, 3.4, 3.1, 6.5)]

#: Fast settings: two judged trials on scripted runs (the think-time trial left out), each
#: decision count run once (the interleaved replications have a test of their own).
QUICK = ValidationSettings(
    holdout_think=False, replications=2, max_replications=2, decision_replications=1
)


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


def test_pilot_light_calibration_and_the_trials_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = (PILOT, LIGHT, synthetic_service, synthetic_service, synthetic_service)
    outcome, runs, log = validate(tmp_path, monkeypatch, QUICK, *script)
    pilot, calibration, burst, deep, far, again, mix = runs.profiles
    assert [s.users for s in pilot.scenario_stages("step")] == [10, 10]
    # 0.004 cores per user: the calibration's CPU targets at 30, 67 and 105 users.
    assert [s.users for s in calibration.scenario_stages("step")][1::2] == [30, 67, 105]
    # The burst stage: every persona on the one 1 s clock, sized for 42% CPU at the pilot's
    # cost (0.772 screens a second per pilot user: 0.42 / (0.004 / 0.772) = 81 users).
    assert runs.thinks == ["profile", "profile", "tick", "tick", "profile", "profile", "profile"]
    assert {p.think_time_s for _, p in burst.personas.items()} == {1.0}
    assert [s.users for s in burst.scenario_stages("step")] == [81, 81]
    # Then the deep burst: four times the users on a 4 s clock, the same average CPU.
    assert {p.think_time_s for _, p in deep.personas.items()} == {4.0}
    assert [s.users for s in deep.scenario_stages("step")] == [324, 324]
    assert deep.scenario_stages("step")[1].duration_s == QUICK.deep_burst_s
    assert far == again  # a replication runs the same load again
    assert mix.personas.get("operator").share == 0.30  # the held-out mix
    # The pilot and the calibration plan no launch; the trials plan it at the launch's real
    # think times with the measured demands, never at the compressed load.
    assert runs.plans[:4] == [None] * 4
    launch = runs.plans[4]
    assert launch is not None and all(plan is launch for plan in runs.plans[4:])
    assert (
        launch.personas.get("homeowner").think_time_s
        == load_profile().personas.get("homeowner").think_time_s
    )
    assert launch.service_demands != load_profile().service_demands
    document = written(outcome)
    assert document["complete"] and outcome.exit_code == 0
    assert document["protocol"]["judged_by"] == "predicted CPU"
    assert document["protocol"]["calibration_cpu_limit"] == 0.5
    calibration_record = document["calibration"]
    assert calibration_record["pilot_cpu_per_user"] == pytest.approx(0.004)
    assert calibration_record["used_users"] == [20, 40, 60]  # write_run's users for LIGHT
    assert calibration_record["heaviest_cpu"] == pytest.approx(0.45)
    assert document["service_curve"] is not None and document["alternative_curve"] is not None
    # The burst stage measured 3 ms a request (helpers.BURST), and that is the busy cost: the
    # curve's capacity is the burst's, not the light line's extrapolation.
    assert calibration_record["burst"]["used"] and calibration_record["burst"]["users"] == 81
    assert calibration_record["burst"]["cpu_per_request_ms"] == pytest.approx(3.0)
    curve = document["service_curve"]
    assert curve["burst"]["period_s"] == 1.0
    assert curve["busy_cpu_ms"] == pytest.approx(3.0, abs=0.1)
    # The deep burst (helpers.DEEP_BURST) measured 3.3 ms a request with 121 requests in the
    # service against the burst's 13: the backlog's cost, recorded beside the judged curve
    # and in it on neither side of the burst's depth (shallow_fit and backlog_fit are off).
    deep_record = calibration_record["deep_burst"]
    assert deep_record["used"] and deep_record["users"] == 324
    assert deep_record["in_service"] == pytest.approx(121.2, abs=0.1)
    backlog = calibration_record["backlog"]
    assert backlog["from_in_service"] == pytest.approx(13.3, abs=0.1)
    assert backlog["deep_burst"]["in_service"] == pytest.approx(121.2, abs=0.1)
    assert backlog["cpu_ms_per_doubling"] > 0 and backlog["in_fit"] is False
    assert backlog["below_depth"] is False and backlog["past_depth"] is False
    assert curve["backlog"] is None
    assert document["protocol"]["backlog"] == "measured, not in the fit"
    far_trial, mix_trial = document["trials"]
    assert far_trial["name"] == "far beyond the calibration"
    assert far_trial["runs"] == [str(runs.made[4]), str(runs.made[5])]
    users = [level["users"] for level in far_trial["levels"]]
    assert max(users) >= 3 * 60  # three times the calibration's heaviest load
    assert far_trial["saturation"] is not None  # the far trial judges the capacity
    assert mix_trial["saturation"] is None and mix_trial["shares"]["operator"] == 0.3
    for level in far_trial["levels"]:
        assert level["baseline"]["throughput_rps"] > 0  # the zero-latency baseline
        assert "alternative" in level  # the other fit beside the judged one
    first = Path(far_trial["runs"][0])
    assert json.loads((first / "prediction.json").read_text())["calibrated"] is True
    assert json.loads((first / runner.TRIAL_FILE).read_text()) == far_trial
    assert outcome.report == first / "report.html"
    assert (outcome.directory / "calibration.toml").exists()
    assert "validate: calibration, [30, 67, 105] users (light load only)" in log
    assert "validate: burst stage, 81 users on a 1 s clock" in log
    assert "validate: deep burst, 324 users on a 4 s clock (the backlog's cost" in log
    text = format_document(document)
    assert "-- far beyond the calibration" in text and "-- held-out mix" in text
    assert text.splitlines()[0].startswith("calibration (light load only, limit 50% CPU)")


def test_a_calibration_stage_over_the_limit_is_left_out_of_the_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ValidationSettings(holdout_mix=False, holdout_think=False, replications=1)
    outcome, _, _ = validate(tmp_path, monkeypatch, settings, PILOT, LOADS, synthetic_service)
    document = written(outcome)
    assert document["calibration"]["used_users"] == [20]  # 54% and 82% CPU left out
    assert any("ran over 50% CPU" in text for text in document["warnings"])
    # One light stage cannot fit a curve: the prediction is the MVA's, and it says why.
    assert document["service_curve"] is None and document["service_curve_error"]


def test_the_capacity_probe_is_a_diagnostic_never_judged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ValidationSettings(
        capacity_probe=True, holdout_mix=False, holdout_think=False, replications=1
    )
    probe = [(740.0, 0.99, 150.0, 90.0, 400.0)]
    outcome, runs, log = validate(
        tmp_path, monkeypatch, settings, PILOT, LIGHT, probe, synthetic_service
    )
    document = written(outcome)
    record = document["probe"]
    assert record["saturated"] and record["throughput_rps"] == 740.0
    assert record["probe_informed_saturation_rps"] > 0
    assert document["protocol"]["probe"] == "diagnostic only, never judged"
    # The judged curve is the light one: the probe's point is in neither judged fit.
    assert document["service_curve"]["saturation"] is None
    assert "capacity probe (diagnostic, not judged)" in log
    assert "probe-informed capacity" in format_document(document)
    assert len(runs.profiles) == 6  # pilot, calibration, burst, deep burst, probe, far trial


def test_a_burst_stage_that_failed_or_ran_heavy_is_left_out_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ValidationSettings(holdout_mix=False, holdout_think=False, replications=1)
    for name, burst, reason in (
        ("failed", (None, 3, False), "the burst run did not complete"),
        ("heavy", [(200.0, 0.62, 90.0, 80.0, 200.0)], "ran at 62% CPU, over the calibration's"),
    ):
        runs = FakeRuns(tmp_path / name / "runs", PILOT, LIGHT, synthetic_service, burst=burst)
        monkeypatch.setattr(runner, "Runs", lambda *_args, runs=runs: runs)
        outcome = runner.validate(
            load_profile(), settings, tmp_path / name / "out", pin=False, log=io.StringIO()
        )
        document = written(outcome)
        record = document["calibration"]["burst"]
        assert not record["used"] and reason in record["reason"]
        assert any(reason in w and "extrapolated" in w for w in document["warnings"])
        # the curve is the light stages' alone, and the validation goes on
        assert document["service_curve"]["burst"] is None and document["trials"]


def test_a_deep_burst_that_failed_leaves_the_curve_without_a_backlog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ValidationSettings(holdout_mix=False, holdout_think=False, replications=1)
    runs = FakeRuns(tmp_path / "runs", PILOT, LIGHT, synthetic_service, deep_burst=(None, 3, False))
    monkeypatch.setattr(runner, "Runs", lambda *_args: runs)
    outcome = runner.validate(
        load_profile(), settings, tmp_path / "out", pin=False, log=io.StringIO()
    )
    document = written(outcome)
    record = document["calibration"]["deep_burst"]
    assert not record["used"] and record["reason"] == "the deep burst run did not complete"
    assert (
        "the deep burst run did not complete: the backlog's cost is not measured"
        in (document["warnings"])
    )
    curve = document["service_curve"]  # the burst's busy cost stays, the trials go on
    assert "backlog" not in document["calibration"]
    assert curve["backlog"] is None and curve["burst"] is not None and document["trials"]
    # Asked for none: one burst stage, no deep one.
    no_deep = dataclasses.replace(settings, deep_burst_period_s=0.0)
    outcome, runs, _ = validate(
        tmp_path / "b", monkeypatch, no_deep, PILOT, LIGHT, synthetic_service
    )
    assert runs.thinks.count("tick") == 1 and "deep_burst" not in written(outcome)["calibration"]


def test_no_burst_stage_when_its_period_is_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ValidationSettings(
        holdout_mix=False, holdout_think=False, replications=1, burst_period_s=0.0
    )
    outcome, runs, log = validate(tmp_path, monkeypatch, settings, PILOT, LIGHT, synthetic_service)
    document = written(outcome)
    assert "tick" not in runs.thinks and "burst" not in document["calibration"]
    assert "burst stage" not in log and document["service_curve"]["burst"] is None


def test_a_pilot_or_calibration_that_did_not_complete_ends_the_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome, runs, _ = validate(tmp_path / "a", monkeypatch, QUICK, (None, 3, False))
    document = written(outcome)
    assert len(runs.profiles) == 1 and document["trials"] == []
    assert document["incomplete_reasons"] == ["the pilot run did not complete"]
    assert not document["complete"] and outcome.exit_code == 3 and outcome.report is None
    outcome, _, _ = validate(tmp_path / "b", monkeypatch, QUICK, PILOT, (None, 3, False))
    assert written(outcome)["incomplete_reasons"] == ["the calibration run did not complete"]


def test_an_incomplete_replication_leaves_a_document_marked_incomplete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ValidationSettings(holdout_mix=False, holdout_think=False, replications=2)
    script = (PILOT, LIGHT, synthetic_service, (synthetic_service, 3, False))
    outcome, _, _ = validate(tmp_path, monkeypatch, settings, *script)
    document = written(outcome)
    assert document["incomplete_reasons"] == [
        "replication 2 of the far beyond the calibration was incomplete (see its run.json)"
    ]
    assert len(document["trials"][0]["runs"]) == 2 and outcome.exit_code == 3
    assert any("incomplete" in miss for miss in document["summary"]["misses"])


def test_ctrl_c_during_a_run_stops_the_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome, runs, _ = validate(tmp_path, monkeypatch, QUICK, PILOT, LIGHT, KeyboardInterrupt())
    assert len(runs.profiles) == 5  # pilot, calibration, two bursts, the interrupted trial run
    document = written(outcome)
    assert document["incomplete_reasons"] == ["interrupted (Ctrl-C); the runs so far are kept"]
    assert document["complete"] is False and outcome.exit_code == 3


def test_a_reanalysis_refits_the_same_runs_the_other_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = (PILOT, LIGHT, synthetic_service, synthetic_service, synthetic_service)
    outcome, _, _ = validate(tmp_path, monkeypatch, QUICK, *script)
    original = written(outcome)
    again = reanalyse(outcome.directory, speed_normalised_fit=True)
    assert again["protocol"]["judged_fit"] == "speed-normalised"
    # the burst stage is read back and fitted again, not dropped
    assert again["calibration"]["burst"] == original["calibration"]["burst"]
    assert again["service_curve"]["burst"] == original["service_curve"]["burst"]
    assert again["reanalysed_from"] == str(outcome.directory / "validation.json")
    assert [t["name"] for t in again["trials"]] == [t["name"] for t in original["trials"]]
    for before, after in zip(original["trials"], again["trials"], strict=True):
        assert after["runs"] == before["runs"]  # the same runs, nothing run again
        assert [lv["users"] for lv in after["levels"]] == [lv["users"] for lv in before["levels"]]
        assert [lv["measured"] for lv in after["levels"]] == [
            lv["measured"] for lv in before["levels"]
        ]
    # The same choice again reproduces the original's predictions exactly.
    same = reanalyse(outcome.directory, speed_normalised_fit=False)
    assert [t["levels"] for t in same["trials"]] == [t["levels"] for t in original["trials"]]
    # With the law below the burst's depth (--shallow-fit): the backlog measured beside the
    # judged curve now in it there, and the levels predicted on another curve.
    assert original["service_curve"]["backlog"] is None
    assert original["calibration"]["backlog"]["in_fit"] is False
    shallow = reanalyse(outcome.directory, speed_normalised_fit=False, shallow_fit=True)
    recorded = shallow["calibration"]["backlog"]
    assert recorded["in_fit"] is True and recorded["below_depth"] and not recorded["past_depth"]
    assert shallow["service_curve"]["backlog"] == {
        k: v for k, v in recorded.items() if k != "in_fit"
    }
    assert shallow["protocol"]["backlog"] == "in the judged fit, below the burst's depth"
    light_with, light_without = (d["trials"][0]["levels"][1] for d in (shallow, original))
    assert light_with["predicted"]["cpu_utilization"] != pytest.approx(
        light_without["predicted"]["cpu_utilization"], rel=1e-3
    )
    assert shallow["service_curve"]["wake_cpu_ms"] != original["service_curve"]["wake_cpu_ms"]
    # Past the depth (--backlog-fit): the same bursts and busy cost at the burst's depth, and
    # the saturated level's capacity lower for it; with both flags, both sides.
    backlogged = reanalyse(outcome.directory, speed_normalised_fit=False, backlog_fit=True)
    assert backlogged["calibration"]["backlog"]["past_depth"] is True
    assert backlogged["protocol"]["backlog"] == "in the judged fit, past it"
    both = reanalyse(
        outcome.directory, speed_normalised_fit=False, backlog_fit=True, shallow_fit=True
    )
    assert both["protocol"]["backlog"] == "in the judged fit, below the burst's depth and past it"
    assert backlogged["service_curve"]["busy_cpu_ms"] == original["service_curve"]["busy_cpu_ms"]
    top_before, top_after = (d["trials"][0]["levels"][-1] for d in (original, backlogged))
    assert top_after["predicted"]["throughput_rps"] < top_before["predicted"]["throughput_rps"]


#: The lab's pilot and light calibration: one instance under its 0.25-core limit, each stage
#: at or under 12.5% CPU (half the limit).
LAB_PILOT = [(13.0, 0.02, 5.0, 4.0, 9.0)]
LAB_LIGHT = [(27.0, 0.03, 5.0, 4.0, 9.0), (60.0, 0.07, 5.2, 4.1, 9.5), (95.0, 0.11, 5.5, 4.3, 10.0)]


def _count(cpu_cores: float, p95_ms: float) -> list[tuple[float, float, float, float, float]]:
    """One measured count: its instances' CPU summed (cores) and the p95."""
    return [(300.0, cpu_cores, p95_ms / 3, p95_ms / 4, p95_ms)]


#: The decision alone on the lab (the topology trial has a test of its own).
DECISION_ONLY = dataclasses.replace(QUICK, topology_trial=False)


def lab_validate(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *script: Any,
    settings: ValidationSettings = DECISION_ONLY,
) -> tuple[runner.ValidationOutcome, FakeRuns, str]:
    runs = FakeRuns(tmp_path / "runs", *script)
    monkeypatch.setattr(runner, "Runs", lambda *_args: runs)
    log = io.StringIO()
    lab = runner.LabMode("postgresql+psycopg://postgres:secret@127.0.0.1:5432/test", only=True)
    outcome = runner.validate(
        load_profile(), settings, tmp_path / "out", pin=False, log=log, lab=lab
    )
    return outcome, runs, log.getvalue()


def test_the_instance_decision_calibrates_one_lab_instance_then_measures_k_around_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 0.45 cores over 2 and 3 instances of 0.25: 90% and 60% of the limit each; K+1 is not
    # measured by default
    script = (LAB_PILOT, LAB_LIGHT, _count(0.45, 120.0), _count(0.45, 60.0))
    outcome, runs, log = lab_validate(tmp_path, monkeypatch, *script)
    assert [lab.instances for lab in runs.labs] == [1, 1, 2, 3]
    assert all(lab.cpu_limit == load_profile().lab.cpu_limit for lab in runs.labs)
    document = written(outcome)
    decision = document["decision"]
    assert decision["calibration"]["cpu_limit"] == pytest.approx(0.125)  # half of 0.25 cores
    assert "secret" not in json.dumps(document)  # a committed document holds no password
    assert (
        decision["lab"]["database_url"] == "postgresql+psycopg://postgres:***@127.0.0.1:5432/test"
    )
    assert decision["calibration"]["used_users"]  # the light stages informed the demands
    # the lab calibration ends idle, measured for lab_idle_s (this fake run did not record it:
    # its line's intercept is the fitted one, and the table says which)
    idle_settle, idle = runs.profiles[1].scenario_stages("step")[-2:]
    assert (idle_settle.users, idle.users, idle.duration_s) == (0, 0, DECISION_ONLY.lab_idle_s)
    assert decision["calibration"]["lab_demands"]["idle_measured"] is False
    planned = decision["planned"]
    assert planned["instances"] == 3
    # every measured count ran the planned load
    users = {
        stage.users for profile in runs.profiles[2:] for stage in profile.scenario_stages("step")
    }
    assert users == {planned["users"]}
    below, at = decision["measured"]
    assert below["cpu_per_instance"] == pytest.approx(0.9) and not below["holds"]
    assert at["cpu_per_instance"] == pytest.approx(0.6) and at["holds"]
    # the planner's figures at K+1 are kept beside the measured counts
    assert [p["instances"] for p in planned["predicted"]] == [2, 3, 4]
    assert decision["right"] is True and document["summary"]["goals_met"]
    assert document["complete"] and outcome.exit_code == 0
    assert (outcome.directory / "lab" / "calibration.toml").exists()
    assert "validate: lab calibration" in log and "the planner names 3 instances" in log
    text = format_document(document)
    assert "-- instance decision on the lab" in text and ": RIGHT" in text


def test_each_count_runs_twice_interleaved_and_is_judged_on_its_mean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2, 3, 4, then 4, 3, 2 (K+1 asked for): a drift through the runs weighs on every count's
    mean alike. K's first run holds (66%) and its second breaks (78%): their mean, 72%, breaks
    the target (no third run: at most two here)."""
    settings = dataclasses.replace(
        DECISION_ONLY,
        decision_replications=2,
        decision_max_replications=2,
        decision_k_plus_one=True,
    )
    counts = (
        _count(0.45, 120.0),  # 2: 90%
        _count(0.495, 60.0),  # 3: 66%
        _count(0.45, 50.0),  # 4: 45%
        _count(0.5, 55.0),  # 4: 50%
        _count(0.585, 70.0),  # 3: 78%
        _count(0.47, 130.0),  # 2: 94%
    )
    outcome, runs, log = lab_validate(
        tmp_path, monkeypatch, LAB_PILOT, LAB_LIGHT, *counts, settings=settings
    )
    assert [lab.instances for lab in runs.labs] == [1, 1, 2, 3, 4, 4, 3, 2]
    assert "measuring 2, 3, 4, 4, 3, 2 instances in that order" in log
    measure_stages = [p.scenario_stages("step")[-1] for p in runs.profiles[2:]]
    assert {stage.duration_s for stage in measure_stages} == {settings.decision_measure_s}
    document = written(outcome)
    below, at, above = document["decision"]["measured"]
    assert [one["order"] for one in at["replications"]] == [2, 5]
    assert [one["cpu_per_instance"] for one in at["replications"]] == [0.66, 0.78]
    assert at["cpu_per_instance"] == pytest.approx(0.72) and at["holds"] is False
    assert at["p95_ms"] == pytest.approx(65.0)
    assert at["run"] == at["replications"][0]["run"]
    assert below["cpu_per_instance"] == pytest.approx(0.92) and above["holds"] is True
    assert document["decision"]["right"] is False
    assert document["complete"] and outcome.exit_code == 0


def test_a_count_whose_runs_disagree_runs_once_more_within_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2, 3, 3, 2: K's runs at 66% and 78% sit either side of the 70% target, so K runs a third
    time (60%), and its mean over three, 68%, holds; K-1's runs agree and run no more."""
    settings = dataclasses.replace(DECISION_ONLY, decision_replications=2)
    counts = (
        _count(0.45, 120.0),  # 2: 90%
        _count(0.495, 60.0),  # 3: 66%
        _count(0.585, 70.0),  # 3: 78%
        _count(0.47, 130.0),  # 2: 94%
        _count(0.45, 55.0),  # 3 again: 60%
    )
    outcome, runs, log = lab_validate(
        tmp_path, monkeypatch, LAB_PILOT, LAB_LIGHT, *counts, settings=settings
    )
    assert [lab.instances for lab in runs.labs] == [1, 1, 2, 3, 3, 2, 3]
    assert "the runs of 3 instances disagree on whether they hold; one more" in log
    decision = written(outcome)["decision"]
    below, at = decision["measured"]
    assert [one["order"] for one in at["replications"]] == [2, 3, 5]
    assert at["cpu_per_instance"] == pytest.approx(0.68) and at["holds"] is True
    assert len(below["replications"]) == 2 and decision["right"] is True


def test_a_disagreeing_count_past_the_budget_stays_as_it_is_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = dataclasses.replace(DECISION_ONLY, decision_replications=2)
    monkeypatch.setattr(Budget, "fits", lambda *_args, **_kwargs: False)
    counts = (_count(0.45, 120.0), _count(0.495, 60.0), _count(0.585, 70.0), _count(0.47, 130.0))
    outcome, runs, _ = lab_validate(
        tmp_path, monkeypatch, LAB_PILOT, LAB_LIGHT, *counts, settings=settings
    )
    assert [lab.instances for lab in runs.labs] == [1, 1, 2, 3, 3, 2]
    document = written(outcome)
    assert document["decision"]["measured"][1]["holds"] is False  # 72% on the mean of two
    assert any("disagree on whether it holds" in w for w in document["warnings"])


def test_a_decision_whose_k_minus_one_already_holds_is_wrong_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 0.3 cores: 60% per instance on two instances, p95 well within 800 ms
    script = (LAB_PILOT, LAB_LIGHT, _count(0.3, 60.0), _count(0.3, 50.0))
    outcome, _, _ = lab_validate(tmp_path, monkeypatch, *script)
    document = written(outcome)
    assert document["decision"]["right"] is False
    assert not document["summary"]["goals_met"]
    assert any(
        "2 instances already held the load" in miss for miss in document["summary"]["misses"]
    )
    assert document["complete"]  # a wrong decision is a judged miss, not an incomplete run


def test_a_lab_calibration_that_failed_leaves_the_decision_unjudged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome, runs, _ = lab_validate(tmp_path, monkeypatch, LAB_PILOT, (None, 3, False))
    document = written(outcome)
    assert document["decision"]["right"] is None and len(runs.profiles) == 2
    assert "the lab calibration run did not complete" in document["decision"]["reason"]
    assert not document["complete"] and outcome.exit_code == 3


def test_an_incomplete_count_run_gives_no_verdict_and_says_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run whose counts disagree (or that lost load) is a lower bound, never a verdict."""
    incomplete = (_count(0.45, 120.0), 3, False)
    script = (LAB_PILOT, LAB_LIGHT, incomplete, _count(0.45, 60.0))
    outcome, _, _ = lab_validate(tmp_path, monkeypatch, *script)
    decision = written(outcome)["decision"]
    assert decision["right"] is None and decision["measured"][0]["holds"] is None
    assert decision["reason"].startswith("2 instances: the run is incomplete")
    assert decision["measured"][1]["holds"] is True  # the other counts are still measured
    assert outcome.exit_code == 3


def lab_service(users: int) -> tuple[float, float, float, float, float]:
    """What the 3 quarter-core instances measure at ``users``: the process CPU summed (cores)
    at 2.5 ms a request, latency rising with it."""
    x = users / 1.7
    u = x * 0.0025
    mean = 9.0 / (1.0 - min(u / 0.75, 0.95))
    return (x, u, mean, mean * 0.8, mean * 2.5)


def test_the_lab_topology_trial_predicts_levels_then_judges_cpu_latency_and_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline and its arithmetic, not the model's accuracy: levels at the CPU targets,
    one run on the whole lab, CPU per instance from the CPU groups, PgBouncer's connections
    sampled and judged, the goals in the summary."""
    decision = (_count(0.45, 120.0), _count(0.45, 60.0))
    topology = (lab_service, 0, True, with_lab_samples(3, lambda users: [0, 1, 1, 2]))
    outcome, runs, log = lab_validate(
        tmp_path, monkeypatch, LAB_PILOT, LAB_LIGHT, *decision, topology, settings=QUICK
    )
    lab = load_profile().lab
    assert [one.instances for one in runs.labs] == [1, 1, 2, 3, lab.instances]
    document = written(outcome)
    assert document["decision"]["right"] is True
    (trial,) = document["trials"]
    assert trial["name"] == "lab topology" and trial["complete"]
    assert trial["lab"]["instances"] == 3 and trial["lab"]["pooler"] is True
    assert "3 instances of 0.25 cores behind HAProxy, PgBouncer" in trial["what_differs"]
    levels = trial["levels"]
    # one level per CPU target, each predicted there (CPU per instance of its limit)
    assert len(levels) == len(QUICK.topology_cpu_targets)
    for level, target in zip(levels, QUICK.topology_cpu_targets, strict=True):
        assert level["predicted"]["cpu_utilization"] == pytest.approx(target, abs=0.02)
    heaviest = document["decision"]["calibration"]["heaviest_users"]
    assert levels[-1]["users"] > 3 * heaviest  # far beyond the one-instance calibration
    for level in levels:
        _, u, *_ = lab_service(level["users"])
        measured = level["measured"]
        # each instance a third of the process CPU, over its 0.25-core limit
        assert measured["cpu_per_instance"] == pytest.approx([u / 3 / 0.25] * 3, rel=1e-3)
        assert measured["cpu_utilization"] == pytest.approx(u / 3 / 0.25, rel=1e-3)
        pooler = level["pooler"]
        assert pooler["measured"]["samples"] >= 30
        assert pooler["measured"]["busy_mean"] == pytest.approx(1.0, abs=0.05)  # 0, 1, 1, 2
        assert pooler["measured"]["busy_p95"] == 2
        assert pooler["measured"]["waiting_mean"] == 0 and pooler["measured"]["wait_mean_ms"] == 0
        assert pooler["measured"]["transactions_rps"] == pytest.approx(40.0)
        predicted = pooler["predicted"]
        assert predicted["busy_mean"] >= 0 and predicted["servers"] >= 1
        assert level["judged"] and pooler["meets_goal"] is not None
        # the CPU baseline is per instance too: the lab calibration's cost over K x limit
        assert level["baseline"]["cpu_utilization"] < 1.5
    summary = trial["summary"]
    assert summary["goals"]["connections_busy"] == 0.2
    assert document["summary"]["trials"]["lab topology"] == summary["goals_met"]
    assert "validate: lab topology (3 instances of 0.25 cores" in log
    text = format_document(document)
    assert "-- lab topology:" in text and "connections busy pred" in text
    assert "CPU per instance" in text


def test_the_topology_trial_s_connection_miss_fails_strict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight connections busy where the model says a fraction of one: a judged miss, named,
    and the validation's goals are not met (``--strict`` exits 1 on them)."""
    decision = (_count(0.45, 120.0), _count(0.45, 60.0))
    topology = (lab_service, 0, True, with_lab_samples(3, lambda users: [8]))
    outcome, _, _ = lab_validate(
        tmp_path, monkeypatch, LAB_PILOT, LAB_LIGHT, *decision, topology, settings=QUICK
    )
    document = written(outcome)
    (trial,) = document["trials"]
    assert all(level["pooler"]["meets_goal"] is False for level in trial["levels"])
    assert all(level["meets_goals"] is False for level in trial["levels"])
    assert not document["summary"]["goals_met"]
    assert any("connections busy predicted" in miss for miss in document["summary"]["misses"])
    assert document["complete"]  # a miss is a verdict, not an incomplete run


def test_an_optional_replication_is_not_run_past_the_time_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replications that disagree would ask for a third; the budget, spent, refuses it and
    the document says so. The planned duration is printed first and kept."""

    def noisier(users: int) -> tuple[float, float, float, float, float]:
        x, u, mean, p50, p95 = synthetic_service(users)
        return (x, u * 1.3, mean * 1.3, p50, p95)

    monkeypatch.setattr(runner, "Budget", lambda plan: Budget(plan, budget_s=0.0))
    settings = ValidationSettings(
        holdout_mix=False, holdout_think=False, replications=2, max_replications=3
    )
    outcome, runs, log = validate(
        tmp_path, monkeypatch, settings, PILOT, LIGHT, synthetic_service, noisier
    )
    assert len(runs.profiles) == 6  # pilot, calibration, two bursts, two replications: no third
    document = written(outcome)
    assert log.startswith("validate: planned duration about ")
    assert document["protocol"]["planned_duration_s"]["expected"] > 0
    assert "replication 3 would pass the time budget; not run" in log
    assert any("to keep within the 0-minute budget" in text for text in document["warnings"])
    assert len(document["trials"][0]["runs"]) == 2


def test_a_reanalysis_keeps_the_lab_topology_trial_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--lab after the single-instance trials: the reanalysis refits the single instance's
    calibration, which the lab's trial was never predicted from, so that trial is kept."""
    runs = FakeRuns(
        tmp_path / "runs",
        PILOT, LIGHT, synthetic_service, synthetic_service, synthetic_service,
        LAB_PILOT, LAB_LIGHT, _count(0.45, 120.0), _count(0.45, 60.0), _count(0.45, 50.0),
        (lab_service, 0, True, with_lab_samples(3, lambda users: [1])),
    )  # fmt: skip
    monkeypatch.setattr(runner, "Runs", lambda *_args: runs)
    lab = runner.LabMode("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    outcome = runner.validate(
        load_profile(), QUICK, tmp_path / "out", pin=False, log=io.StringIO(), lab=lab
    )
    original = written(outcome)
    names = [trial["name"] for trial in original["trials"]]
    assert names == ["far beyond the calibration", "held-out mix", "lab topology"]
    again = reanalyse(outcome.directory, speed_normalised_fit=True)
    assert [trial["name"] for trial in again["trials"]] == names
    assert again["trials"][-1] == original["trials"][-1]
