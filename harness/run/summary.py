"""From raw measurements to the records of ``run.json``: stages, endpoints, time series.

Percentiles come only from the journeys' merged HDR histograms (3 significant digits), keyed
``(stage, method, name)``. API statistics leave PAGE samples out; ``page_p95_ms`` is over PAGE
samples only. Samples labelled after the last stage (a user finishing its screen while the
test stops) belong to the last stage, and samples labelled before the first (none, normally)
to the first: every counted request appears in exactly one stage, so stage totals add up to
the endpoint totals and to the client side of the reconciliation.

The live time series comes from Locust's own windows (see harness/run/locust_plugin.py); it is for
watching and for alert rules, and says so in ``stats/timeseries.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.run.probe import ProbeResult, availability
from journeys.hdr import PAGE, HistogramSet, Key, percentile_ms
from models.profile import Stage
from models.rounding import rounded
from models.run_records import EndpointResult, RequestFigures, StageResult


@dataclass(frozen=True, slots=True)
class StageWindow:
    """Where a stage sits on the run's clock (seconds since the run started)."""

    index: int
    name: str
    stage: Stage
    start_s: float
    end_s: float


def stage_windows(
    stages: Sequence[Stage], load_start_s: float, load_end_s: float
) -> list[StageWindow]:
    """The planned stages placed on the run's clock; the last one ends when the load ended."""
    windows = []
    start = load_start_s
    for index, stage in enumerate(stages):
        end = start + stage.duration_s
        if index == len(stages) - 1 or end > load_end_s:
            end = max(start, load_end_s) if index == len(stages) - 1 else end
        windows.append(StageWindow(index, f"stage {index + 1}", stage, start, end))
        start = end
    return windows


def fold_stage(label: int, stage_count: int) -> int:
    """The stage a sample labelled ``label`` belongs to (see the module docstring)."""
    return min(max(label, 0), max(stage_count - 1, 0))


def _keys(histograms: HistogramSet, stage: int | None, page: bool, stage_count: int) -> list[Key]:
    return histograms.select(
        lambda key: (
            (key[1] == PAGE) == page and (stage is None or fold_stage(key[0], stage_count) == stage)
        )
    )


def figures(
    histograms: HistogramSet,
    stage: int | None,
    stage_count: int,
    probes: list[ProbeResult],
    start_s: float,
    end_s: float,
) -> RequestFigures:
    """The figures of one stage (or of the run: ``stage`` None) between ``start_s`` and
    ``end_s``: API totals and percentiles, the page p95, throughput, availability.

    Without API requests the latencies and the error rate are 0.0, which the gates never take
    as evidence (harness/run/gates.py).
    """
    api = _keys(histograms, stage, page=False, stage_count=stage_count)
    pages = _keys(histograms, stage, page=True, stage_count=stage_count)
    s = histograms.summarize(api) if api else None
    requests = s.count if s is not None else 0
    elapsed = end_s - start_s
    return RequestFigures(
        requests=requests,
        failures=s.failures if s is not None else 0,
        p50_ms=rounded(s.p50_ms) if s is not None else 0.0,
        p95_ms=rounded(s.p95_ms) if s is not None else 0.0,
        p99_ms=rounded(s.p99_ms) if s is not None else 0.0,
        mean_ms=rounded(s.mean_ms) if s is not None else 0.0,
        error_rate=rounded(s.error_rate, 6) if s is not None else 0.0,
        page_p95_ms=rounded(histograms.summarize(pages).p95_ms) if pages else None,
        throughput_rps=rounded(requests / elapsed if elapsed > 0 else 0.0),
        availability=rounded(availability(probes, start_s, end_s), 6),
        p999_ms=rounded(s.p999_ms) if s is not None else 0.0,
    )


def stage_records(
    histograms: HistogramSet, windows: Sequence[StageWindow], probes: list[ProbeResult]
) -> list[StageResult]:
    """One ``run.json`` stage record per planned stage, in order."""
    return [
        StageResult.placed(
            figures(histograms, window.index, len(windows), probes, window.start_s, window.end_s),
            index=window.index,
            name=window.name,
            users=window.stage.users,
            duration_s=rounded(window.stage.duration_s),
            started_at_s=rounded(window.start_s),
            elapsed_s=rounded(window.end_s - window.start_s),
        )
        for window in windows
    ]


def overall_record(
    histograms: HistogramSet,
    stage_count: int,
    probes: list[ProbeResult],
    start_s: float,
    end_s: float,
) -> RequestFigures:
    """The whole load as one record (``overall``)."""
    return figures(histograms, None, stage_count, probes, start_s, end_s)


def endpoint_records(histograms: HistogramSet) -> list[EndpointResult]:
    """One record per (method, name) over the whole run; API endpoints first, then pages."""
    pairs = {(method, name) for _, method, name in histograms.keys()}  # noqa: SIM118
    names = sorted(pairs, key=lambda mn: (mn[0] == PAGE, mn[1], mn[0]))
    records = []
    for method, name in names:
        keys = [key for key in histograms.keys() if key[1] == method and key[2] == name]  # noqa: SIM118
        s = histograms.summarize(keys)
        merged = histograms.combined(keys)
        records.append(
            EndpointResult(
                endpoint=f"{method} {name}",
                method=method,
                name=name,
                requests=s.count,
                failures=s.failures,
                rate_limited=s.rate_limited,
                failure_rate=rounded(s.error_rate, 6),
                mean_ms=rounded(s.mean_ms),
                p50_ms=rounded(s.p50_ms),
                p90_ms=rounded(percentile_ms(merged, 90.0)),
                p95_ms=rounded(s.p95_ms),
                p99_ms=rounded(s.p99_ms),
                max_ms=rounded(s.max_ms),
                p999_ms=rounded(s.p999_ms),
            )
        )
    return records


def client_counts(histograms: HistogramSet) -> dict[str, int]:
    """API requests per ``"METHOD /route"`` as the load generator counted them."""
    counts: dict[str, int] = {}
    for stage, method, name in histograms.keys():  # noqa: SIM118  # a HistogramSet, not a dict
        if method == PAGE:
            continue
        key = f"{method} {name}"
        counts[key] = counts.get(key, 0) + int(
            histograms.histogram(stage, method, name).get_total_count()
        )
    return counts


def stage_histograms(histograms: HistogramSet, stage: int, stage_count: int) -> dict[str, Any]:
    """The encoded histograms of one (folded) stage, for ``stats/histograms/<stage>.json``."""
    encoded = histograms.encode()
    entries = [e for e in encoded["entries"] if fold_stage(int(e["stage"]), stage_count) == stage]
    return {**encoded, "entries": entries}


class TimeseriesBuilder:
    """``stats/timeseries.json`` records from the plugin's live windows, one at a time.

    Rates come from differences of Locust's cumulative API counters; ``p50_ms``/``p95_ms`` are
    of that window only (Locust's 2-digit buckets); ``availability`` is the probe's over the
    same window.
    """

    def __init__(self, run_start_wall: float, stage_count: int) -> None:
        self.run_start_wall = run_start_wall
        self.stage_count = stage_count
        self.records: list[dict[str, Any]] = []
        self._requests = 0
        self._failures = 0
        self._t: float | None = None

    def add(self, line: Mapping[str, Any], probes: list[ProbeResult]) -> dict[str, Any]:
        t_s = float(line["wall"]) - self.run_start_wall
        elapsed = float(line.get("elapsed_s") or 0.0)
        requests, failures = int(line["requests"]), int(line["failures"])
        delta, delta_failed = requests - self._requests, failures - self._failures
        self._requests, self._failures = requests, failures
        window_start = self._t if self._t is not None else t_s - elapsed
        self._t = t_s
        recent = [p for p in probes[-int(4 * max(elapsed, 1.0)) - 8 :]]
        avail = availability(recent, window_start, t_s)
        stage = line.get("stage")
        workers = line.get("workers", [])
        cpu = max(
            [float(line.get("master_cpu", 0.0))] + [float(w.get("cpu", 0.0)) for w in workers]
        )
        record = {
            "t_s": rounded(t_s),
            "stage": None if stage is None else fold_stage(int(stage), self.stage_count),
            "users": int(line.get("users", 0)),
            "rps": rounded(delta / elapsed if elapsed > 0 else 0.0),
            "p50_ms": line.get("p50_ms"),
            "p95_ms": line.get("p95_ms"),
            "error_rate": rounded(delta_failed / delta if delta > 0 else 0.0, 6),
            "availability": None if avail is None else rounded(avail, 6),
            "loadgen_cpu": rounded(cpu, 4),
            "workers": len(workers),
        }
        self.records.append(record)
        return record
