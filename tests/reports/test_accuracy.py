"""A plan's verdict opens with what the validation of its model found (reports/accuracy.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.profile import Profile, load_profile
from models.sizing import Sizing, size
from models.validation_records import (
    ComparedLevel,
    CountMeasurement,
    DecisionRecord,
    MeasuredLevel,
    SaturationCheck,
    TrialResult,
    TrialSummary,
    ValidationDocument,
)
from reports.accuracy import accuracy_of
from reports.planner import capacity_verdict, render_capacity_report

GOALS = {"cpu_utilization": 0.10, "mean_ms": 0.15, "p95_ms": 0.25, "saturation_rps": 0.10}


def _level(users: int, errors: dict[str, float], *, judged: bool = True) -> ComparedLevel:
    met = all(abs(error) <= GOALS[key] for key, error in errors.items())
    return ComparedLevel(
        users=users,
        predicted={"cpu_utilization": 0.5},
        measured=MeasuredLevel(users=users, cpu_utilization=0.5),
        relative_error=dict(errors),
        loadgen_trustworthy=True,
        judged=judged,
        meets_goals=met if judged else None,
        excluded_because=None if judged else "predicted CPU above 85%",
    )


def _saturation(error: float | None) -> SaturationCheck:
    judged = error is not None
    return SaturationCheck(
        users=(300,),
        predicted_rps=None if error is None else 100 * (1 + error),
        measured_rps=100.0,
        relative_error=error,
        measured_cpu_utilization=0.98 if judged else 0.9,
        judged=judged,
        meets_goal=None if error is None else abs(error) <= GOALS["saturation_rps"],
        reason=None if judged else "no level reached 97% CPU",
    )


def _document(*levels: ComparedLevel, saturation_error: float | None = 0.02) -> ValidationDocument:
    saturation = _saturation(saturation_error)
    met = all(level.meets_goals is not False for level in levels) and bool(saturation.meets_goal)
    summary = TrialSummary(
        levels_compared=len(levels),
        levels_judged=sum(1 for level in levels if level.judged),
        worst_abs_relative_error={},
        baseline_worst_abs_relative_error={},
        goals=GOALS,
        goals_met=met,
        replications=1,
        widest_spread={},
        misses=() if met else ("a miss",),
    )
    trial = TrialResult(
        name="far beyond the calibration",
        levels=levels,
        summary=summary,
        saturation=saturation,
        complete=True,
    )
    return ValidationDocument(
        started_at="2026-12-06T00:00:00Z",
        settings={},
        machine={},
        complete=True,
        trials=[trial],
    )


@pytest.fixture(scope="module")
def launch() -> tuple[Sizing, Profile]:
    profile = load_profile()
    return size(profile), profile


def test_a_model_that_met_its_goals_backs_a_plain_ready(launch: tuple[Sizing, Profile]) -> None:
    accuracy = accuracy_of(_document(_level(40, {"mean_ms": 0.05}), _level(90, {"p95_ms": -0.1})))
    assert accuracy.goals_met and accuracy.qualifier is None
    verdict = capacity_verdict(*launch, accuracy=accuracy)
    assert verdict.ready and verdict.headline.startswith("Ready for launch-day-400k (")
    assert verdict.headline.endswith("concurrent at peak)")
    assert verdict.reasons[0].severity == "info"
    assert "met its accuracy goals at all 2 judged levels" in verdict.reasons[0].text


def test_an_optimistic_miss_makes_the_plan_not_ready(launch: tuple[Sizing, Profile]) -> None:
    """Measured p95 far above the prediction: the plan may size too little."""
    document = _document(_level(40, {"mean_ms": 0.05}), _level(120, {"p95_ms": -0.45}))
    accuracy = accuracy_of(document)
    (miss,) = accuracy.misses
    assert (miss.figure, miss.direction, miss.where) == ("p95 latency", "optimistic", "120 users")
    verdict = capacity_verdict(*launch, accuracy=accuracy)
    assert not verdict.ready and verdict.headline.startswith("Not ready")
    first = verdict.reasons[0]
    assert first.severity == "fail" and "under-predicted" in first.text
    assert "p95 latency -45% at 120 users" in first.text


def test_a_pessimistic_miss_qualifies_the_ready(launch: tuple[Sizing, Profile]) -> None:
    """The model predicted more than was measured: the plan errs on the safe side, but the
    headline still says the model missed its goals."""
    accuracy = accuracy_of(_document(_level(60, {"mean_ms": 0.54, "p95_ms": 1.08})))
    assert {miss.direction for miss in accuracy.misses} == {"pessimistic"}
    verdict = capacity_verdict(*launch, accuracy=accuracy)
    assert verdict.ready
    assert verdict.headline.endswith(", by a model that missed its accuracy goals")
    assert verdict.reasons[0].severity == "warn"
    assert verdict.reasons[0] in verdict.top  # in the verdict box, not only in the details


def test_an_over_predicted_capacity_is_an_optimistic_miss() -> None:
    accuracy = accuracy_of(_document(_level(60, {"mean_ms": 0.0}), saturation_error=0.17))
    (miss,) = accuracy.misses
    assert (miss.where, miss.direction) == ("saturation", "optimistic")


def test_a_validation_that_judged_nothing_proves_nothing(launch: tuple[Sizing, Profile]) -> None:
    document = _document(_level(300, {}, judged=False), saturation_error=None)
    document.complete = False
    document.incomplete("interrupted (Ctrl-C); the runs so far are kept")
    accuracy = accuracy_of(document)
    assert not accuracy.misses
    assert any("did not finish" in why for why in accuracy.unproven)
    assert any("no level was judged" in why for why in accuracy.unproven)
    assert any("capacity was not judged" in why for why in accuracy.unproven)
    verdict = capacity_verdict(*launch, accuracy=accuracy)
    assert verdict.headline.endswith(", by a model this validation could not judge")
    assert verdict.reasons[0].text.startswith("The model's accuracy is unproven")


def test_the_report_opens_its_verdict_with_the_accuracy(
    launch: tuple[Sizing, Profile], tmp_path: Path
) -> None:
    accuracy = accuracy_of(_document(_level(120, {"p95_ms": -0.45})))
    path = render_capacity_report(*launch, tmp_path / "plan.html", accuracy=accuracy)
    box = path.read_text(encoding="utf-8").split('id="verdict"', 1)[1].split("</section>", 1)[0]
    assert "Not ready" in box and "under-predicted loads it was judged on" in box
    assert box.index("under-predicted") < box.index("</ul>")  # first in the box


def _decision(planned: int, holds: dict[int, bool | None]) -> DecisionRecord:
    """The planner's K and the counts measured at the decision's load (which held)."""
    return DecisionRecord(
        lab={"instances": planned, "cpu_limit": 0.25},
        planned={"instances": planned},
        measured=[
            CountMeasurement(count, f"run-{count}", 50.0, 0.6, 0.0, held)
            for count, held in holds.items()
        ],
    )


def test_a_right_instance_decision_is_named_beside_the_met_goals(
    launch: tuple[Sizing, Profile],
) -> None:
    document = _document(_level(40, {"mean_ms": 0.05}))
    document.decision = _decision(3, {2: False, 3: True, 4: True})
    accuracy = accuracy_of(document)
    assert accuracy.goals_met and accuracy.decision_right is True
    verdict = capacity_verdict(*launch, accuracy=accuracy)
    assert verdict.ready and "its instance count held on the lab" in verdict.reasons[0].text


def test_too_few_instances_planned_is_an_optimistic_miss(launch: tuple[Sizing, Profile]) -> None:
    """K did not hold the load the plan gave it: the headline number was too small."""
    document = _document(_level(40, {"mean_ms": 0.05}))
    document.decision = _decision(3, {2: False, 3: False, 4: True})
    accuracy = accuracy_of(document)
    (miss,) = accuracy.misses
    assert (miss.trial, miss.direction) == ("instance decision", "optimistic")
    assert miss.relative_error == pytest.approx(-0.25)  # 3 planned, 4 needed
    assert str(miss) == "3 instances did not hold the load, 4 needed (optimistic)"
    verdict = capacity_verdict(*launch, accuracy=accuracy)
    assert not verdict.ready and "3 instances did not hold the load" in verdict.reasons[0].text


def test_when_no_measured_count_held_the_need_is_a_lower_bound() -> None:
    document = _document(_level(40, {"mean_ms": 0.05}))
    document.decision = _decision(3, {2: False, 3: False, 4: False})
    (miss,) = accuracy_of(document).misses
    assert str(miss) == "3 instances did not hold the load, 5+ needed (optimistic)"


def test_a_count_below_the_plan_that_held_is_a_pessimistic_miss(
    launch: tuple[Sizing, Profile],
) -> None:
    document = _document(_level(40, {"mean_ms": 0.05}))
    document.decision = _decision(3, {2: True, 3: True, 4: True})
    accuracy = accuracy_of(document)
    (miss,) = accuracy.misses
    assert miss.direction == "pessimistic"
    assert miss.relative_error == pytest.approx(0.5)  # 3 planned, 2 held
    verdict = capacity_verdict(*launch, accuracy=accuracy)
    assert verdict.ready
    assert verdict.headline.endswith(", by a model that missed its accuracy goals")


def test_an_unmeasured_decision_leaves_the_model_unproven(launch: tuple[Sizing, Profile]) -> None:
    """A lab-only validation whose K run failed: nothing judged, never a plain Ready."""
    document = _document()
    document.trials = []
    document.decision = _decision(3, {2: False, 3: None})
    document.decision.reason = "the run at 3 instances did not finish"
    accuracy = accuracy_of(document)
    assert not accuracy.misses
    assert accuracy.unproven == (
        "instance decision: not judged (the run at 3 instances did not finish)",
    )
    verdict = capacity_verdict(*launch, accuracy=accuracy)
    assert verdict.headline.endswith(", by a model this validation could not judge")
