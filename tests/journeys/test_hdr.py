"""HDR recording and merging against numpy's exact percentiles on synthetic samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from journeys.hdr import HIGHEST_US, HistogramSet, mean_ms, new_histogram, percentile_ms

PERCENTILES = (1.0, 25.0, 50.0, 90.0, 95.0, 99.0, 99.9)
# Three significant digits: a value read back is within 1/1024 of the sample (sub-bucket width).
# Sample counts are chosen so that p x n is never a whole number: at a whole number, float
# rounding decides which of two neighbouring order statistics numpy returns.
RELATIVE_TOLERANCE = 1 / 1024


def _samples(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Latency-like: log-normal around 20 ms with a heavy tail, in whole microseconds.
    return np.round(rng.lognormal(mean=np.log(20.0), sigma=0.9, size=n) * 1000) / 1000


def _assert_close(hdr_ms: float, exact_ms: float) -> None:
    assert abs(hdr_ms - exact_ms) <= exact_ms * RELATIVE_TOLERANCE + 0.001, (hdr_ms, exact_ms)


def test_percentiles_match_numpy_inverted_cdf() -> None:
    samples = _samples(1, 49_999)
    hs = HistogramSet()
    for value in samples:
        hs.record(0, "GET", "/jobs", float(value))
    for p, got in zip(PERCENTILES, hs.percentiles(0, "GET", "/jobs", PERCENTILES), strict=True):
        _assert_close(got, float(np.percentile(samples, p, method="inverted_cdf")))
    summary = hs.summary(0, "GET", "/jobs")
    assert summary.count == len(samples)
    _assert_close(summary.max_ms, float(samples.max()))
    assert summary.mean_ms == pytest.approx(float(samples.mean()), rel=1e-3)


def test_merge_of_parts_equals_one_histogram_of_all() -> None:
    """Workers record parts; the master's merge gives the percentiles of the whole."""
    samples = _samples(2, 30_001)
    parts = np.array_split(samples, 3)
    whole = HistogramSet()
    for value in samples:
        whole.record(1, "GET", "/jobs/{job_id}", float(value))
    merged = HistogramSet()
    for part in parts:
        worker = HistogramSet()
        for value in part:
            worker.record(1, "GET", "/jobs/{job_id}", float(value))
        # Through the wire format, as a worker report travels.
        merged.merge(HistogramSet.loads(worker.dumps()))
    assert merged.percentiles(1, "GET", "/jobs/{job_id}", PERCENTILES) == whole.percentiles(
        1, "GET", "/jobs/{job_id}", PERCENTILES
    )
    for p, got in zip(PERCENTILES, merged.percentiles(1, "GET", "/jobs/{job_id}", PERCENTILES),
                      strict=True):  # fmt: skip
        _assert_close(got, float(np.percentile(samples, p, method="inverted_cdf")))


def test_keys_failures_and_rate_limits_are_kept_apart() -> None:
    hs = HistogramSet()
    hs.record(0, "GET", "/jobs", 5.0)
    hs.record(0, "GET", "/jobs", 7.0, failed=True)
    hs.record(0, "GET", "/jobs", 1.0, rate_limited=True)
    hs.record(1, "GET", "/jobs", 9.0)
    hs.record(1, "PAGE", "homeowner.dashboard", 30.0)
    assert hs.keys() == [
        (0, "GET", "/jobs"),
        (1, "GET", "/jobs"),
        (1, "PAGE", "homeowner.dashboard"),
    ]
    assert hs.stages() == [0, 1]
    stage0 = hs.summary(0, "GET", "/jobs")
    assert (stage0.count, stage0.failures, stage0.rate_limited) == (3, 2, 1)
    assert stage0.error_rate == pytest.approx(2 / 3)
    api_stage1 = hs.summarize(hs.select(lambda k: k[0] == 1 and k[1] != "PAGE"))
    assert api_stage1.count == 1
    decoded = HistogramSet.decode(hs.encode())
    assert decoded.keys() == hs.keys()
    assert decoded.failures(0, "GET", "/jobs") == 2
    assert decoded.rate_limited(0, "GET", "/jobs") == 1
    assert decoded.total_count() == 5


def test_out_of_range_values_are_clamped_not_lost() -> None:
    hs = HistogramSet()
    hs.record(0, "GET", "/slow", 10 * HIGHEST_US)  # ms: far beyond the range
    hs.record(0, "GET", "/slow", -3.0)
    assert hs.summary(0, "GET", "/slow").count == 2
    assert hs.summary(0, "GET", "/slow").max_ms == pytest.approx(HIGHEST_US / 1000, rel=1e-3)


def test_decode_refuses_a_wrong_version_and_garbage() -> None:
    with pytest.raises(ValueError, match="version 7"):
        HistogramSet.decode({"version": 7, "entries": []})
    bad = {"version": 1, "entries": [{"stage": 0, "method": "GET", "name": "/x", "hdr": "%%%"}]}
    with pytest.raises(ValueError, match="not valid base64"):
        HistogramSet.decode(bad)


def test_unknown_key_and_bad_percentile_name_the_value() -> None:
    hs = HistogramSet()
    with pytest.raises(KeyError, match="/nothing"):
        hs.histogram(0, "GET", "/nothing")
    hs.record(0, "GET", "/x", 1.0)
    with pytest.raises(ValueError, match="101"):
        percentile_ms(hs.histogram(0, "GET", "/x"), 101)


def test_bulk_recording_equals_hdrh_record_value_one_by_one() -> None:
    """The vectorised flush puts every sample in the bucket hdrh itself would."""
    from journeys.hdr import FLUSH_AT, new_histogram

    samples = _samples(3, FLUSH_AT * 2 + 17)  # two automatic flushes and a remainder
    reference = new_histogram()
    hs = HistogramSet()
    for value in [*samples, 0.0005, 1e9]:  # also the clamped ends of the range
        micros = int(float(value) * 1000.0 + 0.5)
        reference.record_value(min(max(micros, 1), HIGHEST_US))
        hs.record(0, "GET", "/jobs", float(value))
    ours = hs.histogram(0, "GET", "/jobs")
    assert ours.get_total_count() == reference.get_total_count()
    assert (ours.min_value, ours.max_value) == (reference.min_value, reference.max_value)
    assert list(ours.counts) == list(reference.counts)
    assert ours.encode() == reference.encode()


def test_numpy_percentiles_and_mean_equal_hdrh_own_iterators() -> None:
    """percentile_ms and mean_ms find buckets with numpy; the answers are hdrh's, exactly."""
    hs = HistogramSet()
    for value in _samples(4, 20_011):
        hs.record(0, "GET", "/jobs", float(value))
    histogram = hs.histogram(0, "GET", "/jobs")
    total = histogram.get_total_count()
    # One walk of hdrh's recorded iterator: (running count, highest value of the bucket).
    steps = [(s.total_count_to_this_value, s.value_iterated_to / 1000.0)
             for s in histogram.get_recorded_iterator()]  # fmt: skip

    def walked(p: float) -> float:
        rank = max(1, math.ceil(p * total / 100.0 - 1e-9))
        return float(next(value for running, value in steps if running >= rank))

    grid = [0.0, 0.001, *(float(p) for p in np.linspace(0.5, 99.5, 199)), 99.99, 100.0]
    decoded = HdrHistogram.decode(histogram.encode())  # a wire histogram, counts maybe short
    for p in grid:
        assert percentile_ms(histogram, p) == walked(p) == percentile_ms(decoded, p), p
    assert mean_ms(histogram) == histogram.get_mean_value() / 1000.0 == mean_ms(decoded)
    assert mean_ms(new_histogram()) == 0.0 and percentile_ms(new_histogram(), 50.0) == 0.0
