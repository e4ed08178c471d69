"""Exact, mergeable latency histograms: one HDR histogram per (stage, method, name).

Locust's own statistics round response times to about two significant digits before computing
percentiles (10 ms steps between 100 ms and 1 s), which is too coarse to validate a queueing
model against. Every sample is therefore also recorded here, in an HdrHistogram with three
significant digits: any percentile read back is within 0.1% of the true sample value.

HDR histograms of the same layout add bucket by bucket, so merging is exact: the histograms of
several Locust workers, merged on the master, give the same percentiles as one histogram that
had seen every sample. That is how a distributed run reports exact percentiles::

    worker:  HistogramSet.record(...) per sample --encode()--> report_to_master (every ~3 s)
    master:  worker_report --decode()--> merge() into the run's HistogramSet

Values are recorded in microseconds (1 us .. 120 s, clamped above) and read back in
milliseconds. A key is ``(stage, method, name)``: ``stage`` is the load shape's stage index
(0 without a shape), ``method`` is the HTTP method or ``"PAGE"``, ``name`` the route template
(``/jobs/{job_id}``) or the page (``homeowner.dashboard``).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 120_000_000
"""Samples above two minutes are clamped: no client waits that long (Locust times out first)."""
SIGNIFICANT_DIGITS = 3
FLUSH_AT = 4096
"""Samples buffered per key before they are added to its histogram in one numpy pass."""
ENCODING_VERSION = 1

Key = tuple[int, str, str]
"""``(stage, method, name)``, e.g. ``(2, "GET", "/jobs/{job_id}")``."""

PAGE = "PAGE"
"""The request type of page samples: one per screen, timed over all the screen's calls."""


def new_histogram() -> HdrHistogram:
    """An empty histogram with the layout every histogram here shares (so they merge)."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts and percentiles of one key (or of a selection of keys merged), in milliseconds."""

    count: int
    failures: int
    rate_limited: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    p999_ms: float = 0.0

    @property
    def error_rate(self) -> float:
        return self.failures / self.count if self.count else 0.0


class HistogramSet:
    """HDR histograms keyed by (stage, method, name), with failure and 429 counts per key.

    Failed samples are recorded in the histogram too (as Locust does), and also counted in
    ``failures``; a 429 is a failure and is counted in ``rate_limited`` as well.

    >>> hs = HistogramSet()
    >>> hs.record(0, "GET", "/jobs", 12.5)
    >>> hs.summary(0, "GET", "/jobs").count
    1
    """

    def __init__(self) -> None:
        self._histograms: dict[Key, HdrHistogram] = {}
        self._pending: dict[Key, list[int]] = {}
        self._failures: dict[Key, int] = {}
        self._rate_limited: dict[Key, int] = {}

    # --- recording ----------------------------------------------------------------------

    def record(
        self,
        stage: int,
        method: str,
        name: str,
        response_time_ms: float,
        *,
        failed: bool = False,
        rate_limited: bool = False,
    ) -> None:
        """Add one sample. Negative times (clock steps) count as 0; huge ones are clamped."""
        key = (stage, method, name)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = []
        # Buffered, then added in bulk (see _flush): hdrh's record_value runs pure Python for
        # every sample, a list append does not (docs/benchmarks.md, "Journeys").
        pending.append(int(response_time_ms * 1000.0 + 0.5))
        if len(pending) >= FLUSH_AT:
            self._flush_key(key)
        if failed or rate_limited:
            self._failures[key] = self._failures.get(key, 0) + 1
        if rate_limited:
            self._rate_limited[key] = self._rate_limited.get(key, 0) + 1

    def _flush_key(self, key: Key) -> None:
        """Add the buffered samples of ``key`` to its histogram, vectorised.

        The bucket arithmetic is hdrh's ``_counts_index_for`` on a numpy array; a test checks
        that the result encodes identically to ``record_value`` one sample at a time.
        """
        values = self._pending.pop(key, None)
        if not values:
            return
        histogram = self._histograms.get(key)
        if histogram is None:
            histogram = self._histograms[key] = new_histogram()
        micros = np.clip(np.asarray(values, dtype=np.int64), LOWEST_US, HIGHEST_US)
        unit = histogram.unit_magnitude
        half_magnitude = histogram.sub_bucket_half_count_magnitude
        # bit_length(v | mask): exact through float64 log2 for values below 2**27.
        pow2ceiling = np.floor(np.log2(micros | histogram.sub_bucket_mask)).astype(np.int64) + 1
        bucket = pow2ceiling - unit - (half_magnitude + 1)
        sub_bucket = micros >> (bucket + unit)
        index = ((bucket + 1) << half_magnitude) + (sub_bucket - histogram.sub_bucket_half_count)
        counts = np.ctypeslib.as_array(histogram.counts)
        counts += np.bincount(index, minlength=histogram.counts_len).astype(counts.dtype)
        histogram.total_count += len(values)
        histogram.min_value = min(histogram.min_value, int(micros.min()))
        histogram.max_value = max(histogram.max_value, int(micros.max()))

    def _flush(self) -> None:
        for key in list(self._pending):
            self._flush_key(key)

    def merge(self, other: HistogramSet) -> None:
        """Add every histogram and count of ``other`` into this set (exact)."""
        other._flush()
        self._flush()
        for key, histogram in other._histograms.items():
            mine = self._histograms.get(key)
            if mine is None:
                mine = self._histograms[key] = new_histogram()
            mine.add(histogram)
        for key, n in other._failures.items():
            self._failures[key] = self._failures.get(key, 0) + n
        for key, n in other._rate_limited.items():
            self._rate_limited[key] = self._rate_limited.get(key, 0) + n

    def clear(self) -> None:
        self._pending.clear()
        self._histograms.clear()
        self._failures.clear()
        self._rate_limited.clear()

    # --- reading ------------------------------------------------------------------------

    def keys(self) -> list[Key]:
        """Every key with at least one sample, sorted (stage, then method, then name)."""
        self._flush()
        return sorted(self._histograms)

    def __iter__(self) -> Iterator[Key]:
        return iter(self.keys())

    def __len__(self) -> int:
        self._flush()
        return len(self._histograms)

    def __contains__(self, key: object) -> bool:
        self._flush()
        return key in self._histograms

    def total_count(self) -> int:
        self._flush()
        return sum(int(h.get_total_count()) for h in self._histograms.values())

    def stages(self) -> list[int]:
        self._flush()
        return sorted({stage for stage, _, _ in self._histograms})

    def histogram(self, stage: int, method: str, name: str) -> HdrHistogram:
        """The histogram of one key; KeyError names the key and what is present."""
        self._flush()
        key = (stage, method, name)
        try:
            return self._histograms[key]
        except KeyError:
            raise KeyError(f"no samples for {key!r} (have {len(self._histograms)} keys)") from None

    def select(self, predicate: Callable[[Key], bool]) -> list[Key]:
        return [key for key in self.keys() if predicate(key)]

    def combined(self, keys: Iterable[Key]) -> HdrHistogram:
        """One histogram holding the samples of all ``keys`` (e.g. all API calls of a stage)."""
        self._flush()
        merged = new_histogram()
        for key in keys:
            merged.add(self._histograms[key])
        return merged

    def summary(self, stage: int, method: str, name: str) -> Summary:
        return self.summarize([(stage, method, name)])

    def summarize(self, keys: Iterable[Key]) -> Summary:
        """Counts and p50/p95/p99/p99.9/max/mean over the samples of ``keys`` merged."""
        keys = list(keys)
        histogram = self.combined(keys)
        return Summary(
            count=int(histogram.get_total_count()),
            failures=sum(self._failures.get(k, 0) for k in keys),
            rate_limited=sum(self._rate_limited.get(k, 0) for k in keys),
            p50_ms=percentile_ms(histogram, 50.0),
            p95_ms=percentile_ms(histogram, 95.0),
            p99_ms=percentile_ms(histogram, 99.0),
            p999_ms=percentile_ms(histogram, 99.9),
            max_ms=histogram.get_max_value() / 1000.0 if histogram.get_total_count() else 0.0,
            mean_ms=mean_ms(histogram),
        )

    def percentiles(self, stage: int, method: str, name: str, ps: Iterable[float]) -> list[float]:
        """Percentiles ``ps`` (0..100) of one key, in milliseconds."""
        histogram = self.histogram(stage, method, name)
        return [percentile_ms(histogram, p) for p in ps]

    def failures(self, stage: int, method: str, name: str) -> int:
        return self._failures.get((stage, method, name), 0)

    def rate_limited(self, stage: int, method: str, name: str) -> int:
        return self._rate_limited.get((stage, method, name), 0)

    def rows(self) -> Iterator[dict[str, Any]]:
        """One flat record per key (pandas reads these directly)."""
        for key in self.keys():
            stage, method, name = key
            s = self.summary(*key)
            yield {"stage": stage, "method": method, "name": name, **_asdict(s)}

    # --- transport ----------------------------------------------------------------------

    def encode(self) -> dict[str, Any]:
        """A JSON-able form (compressed HDR payloads) for Locust messages and artifact files."""
        self._flush()
        entries = []
        for key in self.keys():
            stage, method, name = key
            payload = self._histograms[key].encode()
            entries.append(
                {
                    "stage": stage,
                    "method": method,
                    "name": name,
                    "hdr": payload.decode("ascii") if isinstance(payload, bytes) else payload,
                    "failures": self._failures.get(key, 0),
                    "rate_limited": self._rate_limited.get(key, 0),
                }
            )
        return {"version": ENCODING_VERSION, "significant_digits": SIGNIFICANT_DIGITS,
                "unit": "us", "entries": entries}  # fmt: skip

    @classmethod
    def decode(cls, data: Mapping[str, Any]) -> HistogramSet:
        """Inverse of :meth:`encode`; a wrong version or layout is a ValueError naming it."""
        version = data.get("version")
        if version != ENCODING_VERSION:
            raise ValueError(f"histogram set version {version!r}: expected {ENCODING_VERSION}")
        result = cls()
        for entry in data.get("entries", []):
            key = (int(entry["stage"]), str(entry["method"]), str(entry["name"]))
            payload = entry["hdr"]
            _check_base64(payload, key)
            histogram = HdrHistogram.decode(payload)
            if histogram.significant_figures != SIGNIFICANT_DIGITS:
                raise ValueError(
                    f"histogram {key!r}: {histogram.significant_figures} significant digits, "
                    f"expected {SIGNIFICANT_DIGITS}"
                )
            mine = result._histograms.get(key)
            if mine is None:
                result._histograms[key] = mine = new_histogram()
            mine.add(histogram)
            if entry.get("failures"):
                result._failures[key] = result._failures.get(key, 0) + int(entry["failures"])
            if entry.get("rate_limited"):
                result._rate_limited[key] = result._rate_limited.get(key, 0) + int(
                    entry["rate_limited"]
                )
        return result

    def dumps(self) -> str:
        return json.dumps(self.encode())

    @classmethod
    def loads(cls, text: str) -> HistogramSet:
        return cls.decode(json.loads(text))


def percentile_ms(histogram: HdrHistogram, p: float) -> float:
    """Value at percentile ``p`` in ms: the smallest recorded value with >= p% at or below it.

    This is the "inverted CDF" definition (numpy's ``method="inverted_cdf"``): the sample of
    rank ``ceil(p/100 x n)``, reported as the highest value its HDR bucket stands for. (hdrh's
    own ``get_value_at_percentile`` rounds the rank to the nearest instead, which is one sample
    low at ranks like 99.9% of 49,999.) 0.0 when the histogram is empty.
    """
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"percentile {p} is not between 0 and 100")
    total = int(histogram.get_total_count())
    if total == 0:
        return 0.0
    # The epsilon keeps p x n that is whole in exact arithmetic from rounding up one rank.
    rank = max(1, math.ceil(p * total / 100.0 - 1e-9))
    # The first bucket whose running count reaches the rank: what hdrh's recorded iterator
    # would stop at, found with numpy (the iterator walks the buckets in pure Python, and a
    # run's summary makes hundreds of these calls; docs/benchmarks.md, "Journeys").
    cumulative = np.cumsum(_counts(histogram), dtype=np.int64)
    index = int(np.searchsorted(cumulative, rank, side="left"))
    if index >= len(cumulative):
        return float(histogram.get_max_value()) / 1000.0
    value = histogram.get_highest_equivalent_value(histogram.get_value_from_index(index))
    return float(value) / 1000.0


def mean_ms(histogram: HdrHistogram) -> float:
    """Mean in ms, exactly as hdrh's ``get_mean_value`` (each sample at its bucket's middle).

    Summed over the non-empty buckets only, instead of hdrh's walk over every bucket.
    """
    total = int(histogram.get_total_count())
    if total == 0:
        return 0.0
    counts = _counts(histogram)
    weighted = 0
    for index in np.flatnonzero(counts).tolist():
        value = histogram.get_highest_equivalent_value(histogram.get_value_from_index(index))
        median = (
            histogram.get_lowest_equivalent_value(value)
            + (
                histogram.get_highest_equivalent_value(value)
                - histogram.get_lowest_equivalent_value(value)
                + 1
            )
            // 2
        )
        weighted += int(counts[index]) * median
    return float(weighted) / total / 1000.0


def _counts(histogram: HdrHistogram) -> np.ndarray:
    """The bucket counts as a numpy view (a decoded histogram's array may be shorter)."""
    return np.ctypeslib.as_array(histogram.counts)[: histogram.counts_len]


def _check_base64(payload: object, key: Key) -> None:
    if not isinstance(payload, str | bytes):
        raise ValueError(f"histogram {key!r}: payload {type(payload).__name__} is not base64 text")
    try:
        base64.b64decode(payload, validate=True)
    except ValueError:
        raise ValueError(f"histogram {key!r}: payload is not valid base64") from None


def _asdict(summary: Summary) -> dict[str, Any]:
    return {
        "count": summary.count,
        "failures": summary.failures,
        "rate_limited": summary.rate_limited,
        "error_rate": summary.error_rate,
        "p50_ms": summary.p50_ms,
        "p95_ms": summary.p95_ms,
        "p99_ms": summary.p99_ms,
        "p999_ms": summary.p999_ms,
        "max_ms": summary.max_ms,
        "mean_ms": summary.mean_ms,
    }
