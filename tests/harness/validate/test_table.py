"""The plain-text validation ``harness validate`` and ``harness demo`` print from a document."""

from __future__ import annotations

from typing import Any

from harness.validate.table import format_decision, format_document, format_trial


def level(users: int, judged: bool = True, meets: bool | None = True) -> dict[str, Any]:
    """A validation.json level with the figures the table reads."""
    return {
        "users": users,
        "predicted": {"throughput_rps": 100.0, "cpu_utilization": 0.40, "mean_ms": 5.0,
                      "p95_ms": 12.0},
        "measured": {"throughput_rps": 101.0, "cpu_utilization": 0.42, "mean_ms": 5.5,
                     "p95_ms": 11.0},
        "relative_error": {"cpu_utilization": -0.0476, "mean_ms": -0.0909, "p95_ms": 0.0909},
        "baseline": {"throughput_rps": 102.0},
        "baseline_error": {"cpu_utilization": 0.2, "mean_ms": -0.4, "p95_ms": -0.5},
        "judged": judged,
        "excluded_because": None if judged else "predicted CPU 95% is above the goals' 85%",
        "meets_goals": meets,
        "replications": 2,
    }  # fmt: skip


def trial(**more: Any) -> dict[str, Any]:
    return {
        "name": "far beyond the calibration",
        "what_differs": "the same mix at up to 3.0 times the calibration's heaviest load",
        "levels": [level(40), level(200, judged=False, meets=None)],
        "complete": True,
        "summary": {
            "levels_judged": 1,
            "worst_abs_relative_error": {"cpu_utilization": 0.0476, "mean_ms": 0.0909,
                                         "p95_ms": 0.0909},
            "baseline_worst_abs_relative_error": {"cpu_utilization": 0.2, "mean_ms": 0.4,
                                                  "p95_ms": 0.5},
            "goals_met": True,
            "misses": [],
        },
        **more,
    }  # fmt: skip


def test_a_trial_shows_each_level_beside_the_baseline_and_why_one_is_not_judged() -> None:
    text = format_trial(trial())
    lines = text.splitlines()
    assert lines[0].startswith("-- far beyond the calibration: the same mix")
    assert "40% " in lines[2] and "-4.8%" in lines[2] and "+20.0%)" in lines[2]
    assert lines[2].endswith("| yes (2 runs)")
    assert "no: predicted CPU 95% is above the goals' 85%" in lines[3]
    assert "CPU 4.8% (baseline 20.0%), mean 9.1% (baseline 40.0%)" in text
    assert "every judged goal met" in text
    # Each run's CPU and its error beside the mean's, where the runs are recorded.
    runs = [{"cpu_utilization": 0.44}, {"cpu_utilization": 0.40}]
    split = format_trial(trial(levels=[{**level(40), "per_replication": runs}]))
    assert split.splitlines()[2].endswith("| yes (2 runs: CPU 44% / 40%, -9.1% / +0.0%)")


def test_the_saturation_line_says_judged_or_why_not() -> None:
    saturation = {
        "judged": True, "users": [300, 400], "predicted_rps": 540.0, "measured_rps": 510.0,
        "relative_error": 0.0588, "meets_goal": True, "baseline_rps": 300.0,
        "baseline_error": -0.4118, "alternative_rps": 560.0, "alternative_error": 0.098,
    }  # fmt: skip
    text = format_trial(trial(saturation=saturation))
    assert "saturation at [300, 400] users: predicted 540 req/s, measured 510 req/s (+5.9%" in text
    assert "naive baseline 300 req/s (-41.2%); the other fit 560 req/s (+9.8%)" in text
    unjudged = {"judged": False, "reason": "the service never saturated (highest: 300 users)"}
    assert "saturation: not judged: the service never saturated" in format_trial(
        trial(saturation=unjudged)
    )


def test_a_miss_is_named_and_the_verdict_counts_them() -> None:
    missed = trial(levels=[level(40, meets=False)])
    missed["summary"] = {**missed["summary"], "goals_met": False,
                         "misses": ["40 users: mean_ms -30.0% (goal ±15%)"]}  # fmt: skip
    document = {
        "calibration": {"cpu_limit": 0.5, "stages": [{"users": 30, "cpu_utilization": 0.11}],
                        "used_users": [30], "pilot_cpu_per_user": 0.004},
        "trials": [missed],
        "summary": {"goals_met": False, "misses": ["far beyond: 40 users: mean_ms -30.0%"]},
        "warnings": ["a warning"],
    }  # fmt: skip
    text = format_document(document)
    assert "30 users at 11% CPU; pilot 0.0040 cores per user" in text
    assert "| yes, MISSED" in text and "miss: 40 users: mean_ms -30.0% (goal ±15%)" in text
    assert "verdict: 1 miss(es)" in text
    assert text.splitlines()[-1] == "warning: a warning"


def test_a_lab_level_shows_each_instance_s_cpu_and_the_kernel_s_throttling() -> None:
    lab = level(60)
    lab["measured"]["cpu_per_instance"] = [0.6, 0.62]
    lab["measured"]["throttling"] = [
        {"throttled_share": 0.2, "throttled_time_share": 0.04},
        {"throttled_share": 0.1, "throttled_time_share": 0.02},
    ]
    text = format_trial(trial(levels=[lab]))
    line = next(one for one in text.splitlines() if "CPU per instance" in one)
    assert "CPU per instance 60% 62%; periods throttled 20% 10%, throttled time 4% 2%" in line


def test_the_decision_shows_the_lab_calibration_s_cpu_line_and_where_its_idle_came_from() -> None:
    planned = {"users": 60, "instances": 3, "cpu_limit": 0.25, "p95_objective_ms": 800.0,
               "cpu_target": 0.7, "predicted": []}  # fmt: skip
    line = {"idle_cpu_cores": 0.0123, "cpu_cores_per_rps": 0.00456, "idle_measured": True}
    decision = {"planned": planned, "calibration": {"lab_demands": line}}
    shown = "\n".join(format_decision(decision))
    assert (
        "CPU per instance from the lab calibration: 0.0123 cores (measured idle) + 4.56 ms" in shown
    )
    line["idle_measured"] = False
    assert "(fitted intercept)" in "\n".join(format_decision(decision))
    del line["cpu_cores_per_rps"]
    assert "CPU per instance" not in "\n".join(format_decision(decision))
