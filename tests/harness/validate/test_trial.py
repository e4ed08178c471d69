"""A trial: its prediction and stages, how many replications it runs, what a failed one
leaves, and what the table shows."""

from __future__ import annotations

import io
from pathlib import Path
from typing import cast

import pytest

from harness.errors import TargetUnreachable
from harness.validate.fit import CalibratedModel, Models
from harness.validate.plan import validation_profile
from harness.validate.runs import Runs
from harness.validate.settings import ValidationSettings
from harness.validate.table import format_trial
from harness.validate.trial import Trial
from models.profile import load_profile
from models.validation_records import TrialResult
from tests.harness.validate.helpers import LOADS, FakeRuns

#: The same loads at 15% more CPU: against LOADS, CPU spreads ±7% (over half its 10% goal).
HOTTER = [(x, u * 1.15, mean, p50, p95) for x, u, mean, p50, p95 in LOADS]


def trial(min_runs: int, max_runs: int) -> Trial:
    """The three levels write_run records (20, 40 and 60 users), on the MVA (no curve)."""
    profile = validation_profile(load_profile(), 0.05)
    model = CalibratedModel(profile, profile, None, spawn_rate=20.0)
    models = Models(model, None, "speed-normalised", None)
    return Trial(
        "step load", "a test", models, (20, 40, 60), ValidationSettings(), 0.05, min_runs, max_runs
    )


def run(one: Trial, runs: FakeRuns, log: io.StringIO | None = None) -> list[TrialResult]:
    """Run ``one`` on ``runs``; every result it reported, in order (the last is returned)."""
    seen: list[TrialResult] = []
    final = one.run(cast(Runs, runs), 0.8, seen.append, log or io.StringIO())
    return [*seen, final]


def test_the_trial_runs_its_prediction_as_settle_and_measure_stages(tmp_path: Path) -> None:
    one = trial(1, 1)
    assert [level.users for level in one.prediction.levels] == [20, 40, 60]
    assert [stage.users for stage in one.stages] == [20, 20, 40, 40, 60, 60]
    assert one.planned_s == pytest.approx(sum(stage.duration_s for stage in one.stages))
    runs = FakeRuns(tmp_path, LOADS)
    *_, result = run(one, runs)
    (profile,) = runs.profiles
    assert profile.scenario_stages("step") == one.stages
    assert result.complete and result.runs == (str(runs.made[0]),)
    assert [level.users for level in result.levels] == [20, 40, 60]


def test_quiet_runs_stop_at_the_minimum(tmp_path: Path) -> None:
    log = io.StringIO()
    runs = FakeRuns(tmp_path, LOADS, LOADS, LOADS)
    results = run(trial(2, 4), runs, log)
    result = results[-1]
    assert len(runs.made) == 2 and len(results) == 3  # one report per run, then the last
    assert result.runs == tuple(str(made) for made in runs.made)
    assert all(level.replications == 2 for level in result.levels)
    assert result.summary is not None
    assert result.summary.widest_spread == {"cpu_utilization": 0.0, "mean_ms": 0.0}
    assert result.complete and not result.incomplete_reasons
    lines = log.getvalue().splitlines()
    assert lines[0] == "validate: step load replication 1: step-1"
    assert lines[1].startswith("validate: step load replication 2: step-2; widest spread")
    assert "another run" not in lines[1]


def test_noisy_runs_go_on_to_the_maximum(tmp_path: Path) -> None:
    log = io.StringIO()
    runs = FakeRuns(tmp_path, LOADS, HOTTER, LOADS, HOTTER, LOADS)
    result = run(trial(2, 4), runs, log)[-1]
    assert len(runs.made) == 4  # never a fifth
    level = result.levels[0]
    assert level.replications == 4
    measured = [one.cpu_utilization for one in level.per_replication]
    assert measured == pytest.approx([0.10, 0.115, 0.10, 0.115])
    assert level.measured.cpu_utilization == pytest.approx(0.1075)
    assert level.spread["cpu_utilization"].min == pytest.approx(0.10)
    assert level.spread["cpu_utilization"].relative_half_range == pytest.approx(0.0698, 1e-3)
    lines = log.getvalue().splitlines()
    assert "widest spread of the judged levels: CPU ±7.0%, mean ±0.0%" in lines[1]
    assert lines[1].endswith("so another run") and lines[2].endswith("so another run")
    assert not lines[3].endswith("so another run")  # the maximum: no more, however noisy
    table = format_trial(result.to_json())
    assert (
        "(4 runs: CPU 10% / 12% / 10% / 12%, -6.3% / -18.5% / -6.3% / -18.5%)"
        in (table.splitlines()[2])
    )


def test_a_failed_replication_keeps_what_finished(tmp_path: Path) -> None:
    unreachable = TargetUnreachable("http://127.0.0.1:1", "not ready after 60 s")
    results = run(trial(3, 4), FakeRuns(tmp_path / "a", LOADS, unreachable))
    first, result = results
    assert result.incomplete_reasons == (
        "replication 2 of the step load failed: cannot reach http://127.0.0.1:1: not ready "
        "after 60 s",
    )
    assert result.levels == first.levels  # the first run's comparison stands
    assert len(result.runs) == 1 and not result.complete

    result = run(trial(3, 4), FakeRuns(tmp_path / "b", LOADS, (None, 3, False)))[-1]
    assert result.incomplete_reasons == ("replication 2 of the step load wrote no run.json",)


def test_an_incomplete_replication_counts_and_stops_the_rest(tmp_path: Path) -> None:
    runs = FakeRuns(tmp_path, LOADS, (HOTTER, 3, False), LOADS)
    result = run(trial(3, 4), runs)[-1]
    assert len(runs.made) == 2 and result.runs[-1] == str(runs.made[-1])
    assert result.levels[0].replications == 2  # its data is kept, as the first run's is
    assert result.incomplete_reasons == (
        "replication 2 of the step load was incomplete (see its run.json)",
    )


def test_ctrl_c_during_a_replication_reaches_the_caller(tmp_path: Path) -> None:
    # validate() turns it into an incomplete document (test_runner.py); the replications
    # must not swallow it as a failed run and go on.
    seen: list[TrialResult] = []
    runs = FakeRuns(tmp_path, LOADS, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        trial(2, 2).run(cast(Runs, runs), 0.8, seen.append, io.StringIO())
    assert seen[-1].levels[0].replications == 1
