"""Stage, endpoint and time-series records from synthetic HDR histograms and probes."""

from __future__ import annotations

import pytest

from harness.run import summary
from harness.run.probe import ProbeResult, availability
from journeys.hdr import HistogramSet
from journeys.stages import scaled_stages
from models.profile import Stage, load_profile


def _histograms() -> HistogramSet:
    hs = HistogramSet()
    for ms in range(1, 101):  # stage 0: 1..100 ms on GET /jobs
        hs.record(0, "GET", "/jobs", float(ms))
    hs.record(0, "POST", "/jobs", 500.0, failed=True)
    hs.record(1, "GET", "/jobs", 10.0)
    hs.record(2, "GET", "/jobs", 20.0)  # labelled after the last stage: belongs to stage 1
    hs.record(0, "PAGE", "homeowner.dashboard", 1000.0)
    return hs


def test_stage_records_fold_late_samples_into_the_last_stage() -> None:
    stages = (
        Stage(users=5, duration_s=10.0, spawn_rate=5.0),
        Stage(users=10, duration_s=10.0, spawn_rate=5.0),
    )
    windows = summary.stage_windows(stages, load_start_s=1.0, load_end_s=22.0)
    assert [(w.start_s, w.end_s) for w in windows] == [(1.0, 11.0), (11.0, 22.0)]
    probes = [ProbeResult(float(t), t != 15, 1.0) for t in range(0, 23)]
    first, second = summary.stage_records(_histograms(), windows, probes)
    assert first.requests == 101 and first.failures == 1
    assert first.p50_ms == pytest.approx(51.0, rel=1e-3)  # HDR, 3 significant digits
    assert first.page_p95_ms == pytest.approx(1000.0, rel=1e-3)
    assert first.error_rate == pytest.approx(1 / 101, abs=1e-6)
    assert first.throughput_rps == pytest.approx(10.1)
    assert second.requests == 2 and second.page_p95_ms is None
    assert second.availability == pytest.approx(10 / 11, abs=1e-6)  # the probe at t=15 failed


def test_endpoint_records_and_client_counts_leave_pages_apart() -> None:
    hs = _histograms()
    records = summary.endpoint_records(hs)
    assert [r.endpoint for r in records] == [
        "GET /jobs",
        "POST /jobs",
        "PAGE homeowner.dashboard",
    ]
    get_jobs = records[0]
    assert get_jobs.requests == 102 and get_jobs.max_ms == pytest.approx(100.0, rel=1e-3)
    assert get_jobs.p90_ms == pytest.approx(90.0, rel=1e-3)
    assert records[1].failure_rate == 1.0
    assert summary.client_counts(hs) == {"GET /jobs": 102, "POST /jobs": 1}


def test_overall_record_and_stage_histogram_files() -> None:
    hs = _histograms()
    overall = summary.overall_record(hs, 2, [], 0.0, 20.0)
    assert overall.requests == 103 and overall.availability is None
    encoded = summary.stage_histograms(hs, 1, 2)
    assert sorted((e["stage"], e["method"]) for e in encoded["entries"]) == [(1, "GET"), (2, "GET")]
    assert HistogramSet.decode(encoded).total_count() == 2


def test_timeseries_builder_turns_counters_into_window_rates() -> None:
    builder = summary.TimeseriesBuilder(run_start_wall=1000.0, stage_count=1)
    probes = [ProbeResult(float(t), True, 1.0) for t in range(0, 6)]
    builder.add(
        {
            "wall": 1002.0,
            "elapsed_s": 2.0,
            "requests": 10,
            "failures": 0,
            "users": 5,
            "stage": 0,
            "p50_ms": 5.0,
            "p95_ms": 9.0,
        },
        probes,
    )
    record = builder.add(
        {
            "wall": 1004.0,
            "elapsed_s": 2.0,
            "requests": 30,
            "failures": 2,
            "users": 5,
            "stage": 1,
            "p50_ms": 6.0,
            "p95_ms": 11.0,
        },
        probes,
    )
    assert record["t_s"] == 4.0 and record["rps"] == 10.0 and record["error_rate"] == 0.1
    assert record["stage"] == 0 and record["availability"] == 1.0  # stage 1 of 1 folds to 0


def test_availability_of_a_window() -> None:
    probes = [
        ProbeResult(0.0, True, 1.0),
        ProbeResult(1.0, False, 1.0),
        ProbeResult(2.0, True, 1.0),
    ]
    assert availability(probes) == pytest.approx(2 / 3)
    assert availability(probes, 1.0, 2.0) == 0.0
    assert availability(probes, 5.0, 6.0) is None


def test_the_harness_runs_the_stage_table_the_journeys_shape_runs() -> None:
    profile = load_profile()
    stages = scaled_stages(profile, "stress", scale=0.1, time_scale=0.1)
    windows = summary.stage_windows(stages, 0.0, 60.0)
    assert [w.stage.users for w in windows] == [10, 20, 30, 40, 50]
    assert [w.end_s - w.start_s for w in windows][:4] == pytest.approx([12.0] * 4)
