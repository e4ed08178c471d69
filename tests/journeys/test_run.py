"""A run's derived workload, and the worker -> master report channel with its completeness."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest

from journeys.run import JourneyRun, read_histograms
from journeys.settings import JourneySettings
from journeys.steps import IMPLEMENTATIONS
from journeys.thinktime import ThinkTime
from journeys.writelog import WriteRecord, read_write_log
from models.catalogue import PERSONAS, STEPS, WriteKind
from models.profile import load_profile
from models.workload import step_probabilities

PROFILE = load_profile()


def _run(role: str, tmp_path: Path, **settings: object) -> JourneyRun:
    return JourneyRun(settings=JourneySettings(**settings), profile=PROFILE, role=role)  # type: ignore[arg-type]


def test_every_catalogue_step_has_exactly_one_implementation() -> None:
    for persona in PERSONAS:
        assert set(IMPLEMENTATIONS[persona]) == {s.name for s in STEPS[persona]}


def test_screens_are_drawn_with_the_workload_probabilities(tmp_path: Path) -> None:
    run = _run("local", tmp_path)
    for persona in PERSONAS:
        names, weights = run.steps[persona]
        expected = {k: v for k, v in step_probabilities(PROFILE, persona).items() if v > 0}
        assert dict(zip(names, weights, strict=True)) == expected
        assert sum(weights) == pytest.approx(1.0)


def test_think_time_follows_the_profile_or_the_override(tmp_path: Path) -> None:
    run = _run("local", tmp_path)
    assert run.think["homeowner"] == ThinkTime("exponential", 30.0)
    scaled = _run("local", tmp_path, think="uniform", think_scale=0.5)
    assert scaled.think["contractor"] == ThinkTime("uniform", 10.0)
    rng = random.Random(3)
    for think in (ThinkTime("exponential", 2.0), ThinkTime("uniform", 2.0)):
        draws = [think.sample(rng) for _ in range(40_000)]
        assert statistics.fmean(draws) == pytest.approx(think.mean_s, rel=0.03)
        assert statistics.pvariance(draws) == pytest.approx(think.variance, rel=0.06)
    assert ThinkTime("constant", 2.0).sample(rng) == 2.0
    assert ThinkTime("zero", 2.0).sample(rng) == 0.0


def test_a_tick_waits_for_the_next_multiple_of_its_period_on_the_wall_clock(
    tmp_path: Path,
) -> None:
    tick = ThinkTime("tick", 1.0)
    # Screens ending anywhere in a second all start the next one on the same tick.
    for now in (100.0, 100.25, 100.999):
        assert now + tick.sample(random.Random(1), now=now) == pytest.approx(101.0)
    assert 0 < tick.sample(random.Random(1)) <= 1.0  # the real clock
    assert tick.variance == pytest.approx(1.0 / 12.0)
    run = _run("local", tmp_path, think="tick", think_scale=0.05)
    assert run.think["homeowner"] == ThinkTime("tick", 1.5)
    with pytest.raises(ValueError, match="unknown think-time distribution"):
        ThinkTime("ticks", 1.0)  # type: ignore[arg-type]


def _record(i: int) -> WriteRecord:
    return WriteRecord(WriteKind.MESSAGE, i, "homeowner", f"homeowner{i}@seed.example", 7)


def test_worker_reports_merge_on_the_master(tmp_path: Path) -> None:
    log = tmp_path / "writes.jsonl"
    hdr = tmp_path / "hdr.json"
    master = _run("master", tmp_path, write_log_path=log, hdr_out_path=hdr)
    workers = [_run("worker", tmp_path, write_log_path=log) for _ in range(2)]
    for index, worker in enumerate(workers):
        worker.place_in_swarm(index, 2)
        for ms in range(1, 101):
            worker.record("GET", "/jobs", float(ms + 100 * index), failed=False, rate_limited=False)
        worker.log_write(_record(index))
        first = worker.report()
        assert worker.histograms.total_count() == 0  # shipped and cleared
        worker.set_stage(1)
        worker.record("GET", "/jobs", 5.0, failed=True, rate_limited=True)
        worker._reporter.stopped = True
        master.receive(f"w{index}", first)
        master.receive(f"w{index}", worker.report())

    summary = master.histograms.summary(0, "GET", "/jobs")
    assert summary.count == 200
    assert summary.p50_ms == pytest.approx(100.0, rel=1e-3)
    assert master.histograms.summary(1, "GET", "/jobs").rate_limited == 2
    assert [r.id for r in read_write_log(log)] == [0, 1]
    assert master.completeness()["complete"]
    master.save_histograms()
    histograms, meta = read_histograms(hdr)
    assert histograms.total_count() == 202 and meta["writes"] == 2


def test_a_lost_report_or_a_missing_final_one_makes_the_run_incomplete(tmp_path: Path) -> None:
    master = _run("master", tmp_path)
    worker = _run("worker", tmp_path)
    worker.pools["homeowner"].acquire()  # a user still running: its reports are not final
    worker.record("GET", "/jobs", 1.0, failed=False, rate_limited=False)
    master.receive("w0", worker.report())
    worker.report()  # lost on the way
    master.receive("w0", worker.report())
    completeness = master.completeness()
    assert not completeness["complete"]
    assert any("1 report(s) lost" in r for r in completeness["reasons"])
    assert any("no final report" in r for r in completeness["reasons"])
