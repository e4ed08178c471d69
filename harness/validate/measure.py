"""What a validation run measured: its measure stages as :class:`MeasuredLevel` records, the
mean over replications with their spread, and when the noise asks for another replication.

Why replications: a freshly started service's CPU per request varies from one start to the
next (docs/benchmarks.md, "Validation"), so one step run is one sample of the service. A trial
runs its load at least ``min_runs`` times, each on a fresh service, and more, up to
``max_runs``, while the noise is as large as what the comparison tries to resolve
(:func:`needs_replication`); each level is compared on the mean over the replications and
reports their spread.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.run.process_cpu import SAMPLES_FILE as SERVICE_CPU_FILE
from harness.run.speed_reference import SAMPLES_FILE, read_samples
from harness.run.speed_reference import window_mean as speed_window_mean
from harness.validate.logins import login_cpu, window_logins
from harness.validate.settings import GOALS, REPLICATED
from models.pooler_records import PoolerMeasurement
from models.validation_records import (
    COMPARED,
    ComparedLevel,
    MeasuredLevel,
    Spread,
    Throttling,
)

__all__ = [
    "ReplicatedLevel",
    "aggregate_replications",
    "measured_levels",
    "needs_replication",
    "noisy_levels",
    "read_measured",
    "run_complete",
    "stage_cpu",
    "window_mean",
]


def _bounding_scrapes(
    scrapes: Sequence[Mapping[str, Any]], start_s: float, end_s: float
) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """The first and last scrapes inside a window, when they are two and apart in time."""
    inside = [s for s in scrapes if start_s - 1e-9 <= float(s["t_s"]) <= end_s + 1e-9]
    if len(inside) < 2 or float(inside[-1]["t_s"]) <= float(inside[0]["t_s"]):
        return None
    return inside[0], inside[-1]


def stage_cpu(scrapes: Sequence[Mapping[str, Any]], start_s: float, end_s: float) -> float | None:
    """Service CPU utilization (cores busy) between the scrapes nearest inside a window."""
    return _cpu_between(_bounding_scrapes(scrapes, start_s, end_s))


def _cpu_between(bounds: tuple[Mapping[str, Any], Mapping[str, Any]] | None) -> float | None:
    if bounds is None:
        return None
    first, last = bounds
    elapsed = float(last["t_s"]) - float(first["t_s"])
    return max(0.0, (float(last["cpu_seconds"]) - float(first["cpu_seconds"])) / elapsed)


def _window_cpu(
    cpu_samples: Sequence[tuple[float, float]],
    bounds: tuple[Mapping[str, Any], Mapping[str, Any]] | None,
    start_s: float,
    end_s: float,
) -> float | None:
    """A window's CPU: the kernel's samples when two fall inside it, else the scrapes'. Both
    are cumulative CPU seconds read over time: one window arithmetic for the two (a worker
    that ended unreaped between two samples takes its CPU out of the sum: never below 0)."""
    kernel = [{"t_s": t_s, "cpu_seconds": cpu_s} for t_s, cpu_s in cpu_samples]
    from_kernel = stage_cpu(kernel, start_s, end_s)
    return from_kernel if from_kernel is not None else _cpu_between(bounds)


def window_mean(
    records: Sequence[Mapping[str, Any]], key: str, start_s: float, end_s: float
) -> float | None:
    """Mean of ``key`` over time-series records inside a window (None when there are none)."""
    values = [
        float(r[key])
        for r in records
        if r.get(key) is not None and start_s <= float(r["t_s"]) <= end_s
    ]
    return sum(values) / len(values) if values else None


def _number(record: Mapping[str, Any], key: str) -> float | None:
    value = record.get(key)
    return None if value is None else float(value)


def measured_levels(
    run: Mapping[str, Any],
    scrapes: Sequence[Mapping[str, Any]],
    timeseries: Sequence[Mapping[str, Any]],
    speed_samples: Sequence[tuple[float, float]] = (),
    logins: Mapping[int, int] | None = None,
    cpu_samples: Sequence[tuple[float, float]] = (),
) -> list[MeasuredLevel]:
    """The measure stages (every second stage) of a paired step run.

    ``speed_samples`` are the run's machine-speed reference samples
    (harness/run/speed_reference.py); each level's ``speed_reference_ms`` is their mean over
    its window (None without them). ``logins`` are the client's login counts per stage index:
    a window that held some records them and their route's CPU (:mod:`harness.validate.logins`).
    ``cpu_samples`` are the kernel's count of the service's CPU (harness/run/process_cpu.py):
    a window's CPU comes from them when two fall inside it, else from the scrapes (a saturated
    service answers those late, so a short window can hold fewer than two).
    """
    measured = []
    for record in list(run.get("stages", []))[1::2]:
        start = float(record.get("started_at_s") or 0.0)
        end = start + float(record.get("elapsed_s") or record.get("duration_s") or 0.0)
        requests = record.get("requests")
        held = (logins or {}).get(int(record.get("index", -1))) or None
        bounds = _bounding_scrapes(scrapes, start, end)
        measured.append(
            MeasuredLevel(
                users=int(record["users"]),
                throughput_rps=_number(record, "throughput_rps"),
                mean_ms=_number(record, "mean_ms"),
                p50_ms=_number(record, "p50_ms"),
                p95_ms=_number(record, "p95_ms"),
                cpu_utilization=_window_cpu(cpu_samples, bounds, start, end),
                error_rate=_number(record, "error_rate"),
                requests=None if requests is None else int(requests),
                loadgen_cpu=window_mean(timeseries, "loadgen_cpu", start, end),
                speed_reference_ms=speed_window_mean(speed_samples, start, end)[0],
                logins=held,
                login_cpu=None if held is None or bounds is None else login_cpu(*bounds),
            )
        )
    return measured


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_measured(run_dir: Path) -> list[MeasuredLevel]:
    """:func:`measured_levels` of a run directory (run.json, server.json, the time series, the
    speed reference's and the service CPU's samples, and the client's histograms per stage, for
    the logins)."""
    run = _read(run_dir / "run.json")
    scrapes = _read(run_dir / "server.json").get("scrapes", [])
    series_path = run_dir / "stats" / "timeseries.json"
    series = _read(series_path).get("records", []) if series_path.exists() else []
    logins = {}
    for record in list(run.get("stages", []))[1::2]:
        index = int(record.get("index", -1))
        if (count := window_logins(run_dir, index)) is not None:
            logins[index] = count
    return measured_levels(
        run,
        scrapes,
        series,
        read_samples(run_dir / SAMPLES_FILE),
        logins,
        read_samples(run_dir / SERVICE_CPU_FILE),
    )


def incomplete_reasons(run_dir: Path) -> list[str]:
    """Why the run's own run.json says it is incomplete (empty when it says nothing)."""
    path = run_dir / "run.json"
    reasons = _read(path).get("incomplete_reasons", []) if path.exists() else []
    return [str(reason) for reason in reasons] or ["no reason recorded"]


def run_complete(run_dir: Path) -> bool:
    """Whether the run's own run.json says it is complete (False when there is none)."""
    path = run_dir / "run.json"
    return path.exists() and bool(_read(path).get("complete"))


@dataclass(frozen=True, slots=True)
class ReplicatedLevel:
    """One level measured by one or more replications: the mean over them, each metric's
    spread, and every replication's own figures in run order."""

    mean: MeasuredLevel
    spread: Mapping[str, Spread]
    runs: tuple[MeasuredLevel, ...]

    @property
    def users(self) -> int:
        return self.mean.users


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _present(levels: Sequence[MeasuredLevel], key: str) -> list[float]:
    return [value for one in levels if (value := one.figure(key)) is not None]


def _per_instance(levels: Sequence[MeasuredLevel]) -> tuple[float, ...]:
    """Each instance's CPU, averaged over the replications that measured every instance."""
    measured = [one.cpu_per_instance for one in levels if one.cpu_per_instance]
    if not measured or len({len(one) for one in measured}) > 1:
        return ()
    return tuple(sum(values) / len(values) for values in zip(*measured, strict=True))


def _throttling(levels: Sequence[MeasuredLevel]) -> tuple[Throttling, ...]:
    """Each instance's throttling, averaged over the replications that recorded every one."""
    measured = [one.throttling for one in levels if one.throttling]
    if not measured or len({len(one) for one in measured}) > 1:
        return ()
    return tuple(Throttling.mean_of(groups) for groups in zip(*measured, strict=True))


def aggregate_replications(
    replications: Sequence[Sequence[MeasuredLevel]],
) -> list[ReplicatedLevel]:
    """One level per user count from each replication's :func:`measured_levels`.

    Every figure is the mean over the replications that measured it (``requests`` rounded);
    ``loadgen_cpu`` is the highest, since one overloaded load generator is enough to distrust
    a level's latencies; the machine's speed is averaged as the figures measured in it are, and
    so are the lab's per-instance CPU and pooler figures.
    """
    by_users: dict[int, list[MeasuredLevel]] = {}
    for levels in replications:
        for one in levels:
            by_users.setdefault(one.users, []).append(one)
    aggregated = []
    for users, runs in sorted(by_users.items()):
        requests = _present(runs, "requests")
        loadgen = _present(runs, "loadgen_cpu")
        # A run whose window held no login took none out: it counts as zero in the mean.
        logins = [float(one.logins or 0) for one in runs]
        login_cpu = [one.login_cpu or 0.0 for one in runs]
        with_logins = any(one.logins is not None for one in runs)
        mean = MeasuredLevel(
            users=users,
            **{key: _mean(_present(runs, key)) for key in COMPARED},
            requests=round(sum(requests) / len(requests)) if requests else None,
            loadgen_cpu=max(loadgen) if loadgen else None,
            speed_reference_ms=_mean(_present(runs, "speed_reference_ms")),
            cpu_per_instance=_per_instance(runs),
            pooler=PoolerMeasurement.mean_of([one.pooler for one in runs if one.pooler]),
            throttling=_throttling(runs),
            logins=round(sum(logins) / len(runs)) if with_logins else None,
            login_cpu=_mean(login_cpu) if with_logins else None,
        )
        spread = {key: Spread.of(values) for key in COMPARED if (values := _present(runs, key))}
        aggregated.append(ReplicatedLevel(mean, spread, tuple(runs)))
    return aggregated


def noisy_levels(
    levels: Sequence[ComparedLevel], spread_fraction: float
) -> list[tuple[int, str, float]]:
    """(users, metric, relative half-range) wherever a judged level spreads more than
    ``spread_fraction`` times the goal of a :data:`REPLICATED` metric. Where the goals do not
    judge, neither does their noise."""
    noisy = []
    for level in levels:
        if not level.judged:
            continue
        for key in REPLICATED:
            spread = level.spread.get(key)
            half = None if spread is None else spread.relative_half_range
            if half is not None and half > spread_fraction * GOALS[key]:
                noisy.append((level.users, key, half))
    return noisy


def needs_replication(
    levels: Sequence[ComparedLevel],
    done: int,
    min_runs: int,
    max_runs: int,
    spread_fraction: float,
) -> bool:
    """Whether to run a trial's load again after ``done`` replications measured ``levels``:
    always below ``min_runs``, never from ``max_runs``, and in between while
    :func:`noisy_levels` finds a level whose noise is as large as what the goals resolve."""
    if done < min_runs:
        return True
    if done >= max_runs:
        return False
    return bool(noisy_levels(levels, spread_fraction))
