"""Replicating the step load: how many runs, what a failed one leaves, what the table shows."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from harness.commands.validate import format_levels
from harness.errors import TargetUnreachable
from harness.validate_run import record_replication, replicate
from harness.validation import ValidationSettings, validation_profile
from models.prediction import Prediction, predict
from models.profile import load_profile
from tests.harness.test_validation_curve import LOADS, write_run

#: The same loads 15% faster: against LOADS, throughput spreads ±7% (over half its 10% goal).
FASTER = [(x * 1.15, u, mean, p50, p95) for x, u, mean, p50, p95 in LOADS]

RunStep = Callable[[], tuple[int, Path | None]]


@pytest.fixture(scope="module")
def prediction() -> Prediction:
    """A prediction for the three levels write_run records (20, 40 and 60 users)."""
    return predict(validation_profile(load_profile(), 0.05), [20, 40, 60], servers=1)


def finished_run(directory: Path, loads: list[Any], complete: bool = True) -> Path:
    run_dir = write_run(directory, loads)
    run = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**run, "complete": complete}))
    return run_dir


def runs_of(tmp_path: Path, *loads: list[Any]) -> tuple[RunStep, list[Path]]:
    """A step-run stand-in returning a run directory of ``loads`` per call, in turn."""
    made: list[Path] = []
    queue: Iterator[list[Any]] = iter(loads)

    def run_step() -> tuple[int, Path | None]:
        made.append(finished_run(tmp_path / f"step-{len(made) + 2}", next(queue)))
        return 0, made[-1]

    return run_step, made


def first_run(
    tmp_path: Path, prediction: Prediction, settings: ValidationSettings, log: io.StringIO
) -> tuple[dict[str, Any], Callable[[Path], None]]:
    """The document after the first step run, and the recorder for the replications."""
    document: dict[str, Any] = {"levels": []}
    record = partial(
        record_replication,
        replications=[],
        prediction=prediction,
        loadgen_warning=0.8,
        document=document,
        settings=settings,
        log=log,
    )
    record(finished_run(tmp_path / "step-1", LOADS))
    return document, record


def test_quiet_runs_stop_at_the_minimum(tmp_path: Path, prediction: Prediction) -> None:
    settings = ValidationSettings(replications=2, max_replications=4)
    log = io.StringIO()
    document, record = first_run(tmp_path, prediction, settings, log)
    run_step, made = runs_of(tmp_path, LOADS, LOADS, LOADS)
    replicate(run_step, record, settings, document)
    assert len(made) == 1
    assert document["step_runs"] == [str(tmp_path / "step-1"), str(made[0])]
    assert all(level["replications"] == 2 for level in document["levels"])
    assert document["summary"]["widest_spread"] == {"throughput_rps": 0.0, "mean_ms": 0.0}
    assert "incomplete_reasons" not in document
    lines = log.getvalue().splitlines()
    assert lines[0] == "validate: step load replication 1: step-1"
    assert lines[1].startswith("validate: step load replication 2: step-2; widest spread")
    assert "another run" not in lines[1]


def test_noisy_runs_go_on_to_the_maximum(tmp_path: Path, prediction: Prediction) -> None:
    settings = ValidationSettings(replications=2, max_replications=4)
    log = io.StringIO()
    document, record = first_run(tmp_path, prediction, settings, log)
    run_step, made = runs_of(tmp_path, FASTER, LOADS, FASTER, LOADS)
    replicate(run_step, record, settings, document)
    assert len(made) == 3  # 4 runs in all, never a fifth
    level = document["levels"][0]
    assert level["replications"] == 4
    measured = [run["throughput_rps"] for run in level["per_replication"]]
    assert measured == pytest.approx([27.0, 31.05, 27.0, 31.05])
    assert level["measured"]["throughput_rps"] == pytest.approx(29.025)
    assert level["spread"]["throughput_rps"]["min"] == 27.0
    assert level["spread"]["throughput_rps"]["relative_half_range"] == pytest.approx(0.0698, 1e-3)
    lines = log.getvalue().splitlines()
    assert "widest spread up to 85% CPU: throughput ±7.0%, mean ±0.0%" in lines[1]
    assert lines[1].endswith("so another run") and lines[2].endswith("so another run")
    assert not lines[3].endswith("so another run")  # the maximum: no more, however noisy
    table = format_levels(document)
    assert "±7.0%/±0.0% (4)" in table.splitlines()[1]
    assert "mean of up to 4 runs, widest spread: throughput ±7.0%" in table


def test_a_failed_replication_keeps_what_finished(tmp_path: Path, prediction: Prediction) -> None:
    settings = ValidationSettings(replications=3, max_replications=4)
    document, record = first_run(tmp_path, prediction, settings, io.StringIO())
    before = json.dumps(document["levels"])

    def unreachable() -> tuple[int, Path | None]:
        raise TargetUnreachable("http://127.0.0.1:1", "not ready after 60 s")

    replicate(unreachable, record, settings, document)
    assert document["incomplete_reasons"] == [
        "replication 2 of the step load failed: cannot reach http://127.0.0.1:1: not ready "
        "after 60 s"
    ]
    assert json.dumps(document["levels"]) == before  # the first run's comparison stands
    assert len(document["step_runs"]) == 1

    document, record = first_run(tmp_path, prediction, settings, io.StringIO())
    replicate(lambda: (3, None), record, settings, document)
    assert document["incomplete_reasons"] == ["replication 2 of the step load wrote no run.json"]


def test_an_incomplete_replication_counts_and_stops_the_rest(
    tmp_path: Path, prediction: Prediction
) -> None:
    settings = ValidationSettings(replications=3, max_replications=4)
    document, record = first_run(tmp_path, prediction, settings, io.StringIO())
    lost = finished_run(tmp_path / "lost", FASTER, complete=False)
    replicate(lambda: (3, lost), record, settings, document)
    assert document["step_runs"][-1] == str(lost)
    assert document["levels"][0]["replications"] == 2  # its data is kept, as the first run's is
    assert document["incomplete_reasons"] == ["replication 2 was incomplete (see its run.json)"]


def test_ctrl_c_during_a_replication_reaches_the_caller(
    tmp_path: Path, prediction: Prediction
) -> None:
    # validate() turns it into an incomplete document (test_validation_curve.py); the
    # replications must not swallow it as a failed run and go on.
    settings = ValidationSettings(replications=2, max_replications=2)
    document, record = first_run(tmp_path, prediction, settings, io.StringIO())

    def interrupted() -> tuple[int, Path | None]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replicate(interrupted, record, settings, document)
    assert document["levels"][0]["replications"] == 1
