"""The report's charts, one function each, from the typed records of :mod:`reports.load`.

Each returns a :class:`reports.charts.Chart` whose data table is the chart's text alternative:
the same figures at the resolution a reader can use (per stage, per hour), not every point.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from reports import formatting as fmt
from reports.charts import OKABE_ITO, Chart, integer_axis, mark_stages, new_figure, style, to_svg
from reports.records import PredictedStage, Prediction, Scrape, StageResult, TimePoint, TimeSeries


def _nan(values: Sequence[float | None]) -> list[float]:
    """``None`` (no sample in a window) becomes NaN, which matplotlib draws as a gap."""
    return [math.nan if v is None else float(v) for v in values]


_MEASURED: dict[str, Any] = {
    "color": OKABE_ITO["vermillion"],
    "marker": "o",
    "linestyle": "none",
    "ms": 5,
}
_MODEL: dict[str, Any] = {
    "color": OKABE_ITO["blue"],
    "linestyle": "-",
    "marker": "",
    "linewidth": 1.6,
}


def _stage_starts(stages: Sequence[StageResult]) -> tuple[list[float], list[str]]:
    return [s.started_at_s for s in stages], [f"S{s.index + 1}" for s in stages]


def _with_gaps(points: Sequence[TimePoint], window_s: float) -> list[TimePoint]:
    """Insert an all-NaN point where windows are missing, so lines break instead of bridging
    a silence (a stalled load generator) with a straight, invented slope."""
    out: list[TimePoint] = []
    for point in points:
        if out and point.t_s - out[-1].t_s > 1.5 * window_s:
            gap = out[-1].t_s + window_s
            out.append(TimePoint(gap, None, math.nan, math.nan, None, None, math.nan, None))
        out.append(point)
    return out


def run_timeline(series: TimeSeries, stages: Sequence[StageResult]) -> Chart:
    """Users, requests/s, p50/p95 and errors/availability over the run, stages marked."""
    points = _with_gaps(series.records, series.window_s)
    t = [p.t_s for p in points]
    with style():
        fig, (users, rate, latency, errors) = new_figure(rows=4, height=6.4)
        users.plot(t, [p.users for p in points], color=OKABE_ITO["black"], drawstyle="steps-post")
        users.set_ylabel("users")
        integer_axis(users)
        rate.plot(t, [p.rps for p in points], color=OKABE_ITO["blue"])
        rate.set_ylabel("requests/s")
        latency.plot(t, _nan([p.p50_ms for p in points]), color=OKABE_ITO["green"], label="p50")
        latency.plot(
            t,
            _nan([p.p95_ms for p in points]),
            color=OKABE_ITO["orange"],
            linestyle="--",
            label="p95",
        )
        latency.set_ylabel("latency (ms)")
        latency.legend(loc="upper left", ncols=2)
        errors.plot(
            t,
            [p.error_rate * 100 for p in points],
            color=OKABE_ITO["vermillion"],
            label="error rate",
        )
        if any(p.availability is not None for p in points):
            unavailable = [
                None if p.availability is None else (1 - p.availability) * 100 for p in points
            ]
            errors.plot(
                t,
                _nan(unavailable),
                color=OKABE_ITO["purple"],
                linestyle=":",
                label="unavailability",
            )
        errors.set_ylabel("% of requests")
        errors.set_ylim(bottom=0)
        errors.legend(loc="upper left", ncols=2)
        errors.set_xlabel("seconds since the run started")
        mark_stages([users, rate, latency, errors], *_stage_starts(stages))
        for ax in (users, rate, latency):
            ax.set_ylim(bottom=0)
    rows = [
        (
            f"S{s.index + 1}",
            fmt.count(s.users),
            fmt.rps(s.throughput_rps),
            fmt.ms(s.p50_ms),
            fmt.ms(s.p95_ms),
            fmt.pct(s.error_rate),
            fmt.pct(s.availability),
        )
        for s in stages
    ]
    return to_svg(
        fig,
        "run-timeline",
        "The run over time",
        f"{len(series.records)} windows of {fmt.seconds(series.window_s)} over "
        f"{fmt.seconds(t[-1] if t else 0)}: users, requests per second, p50 and p95 latency, "
        "error rate and unavailability; dotted lines mark stage boundaries (S1, S2, ...). "
        "The table gives each stage's figures.",
        ("stage", "users", "throughput", "p50", "p95", "errors", "availability"),
        rows,
    )


def server_timeline(scrapes: Sequence[Scrape], stages: Sequence[StageResult]) -> Chart | None:
    """CPU (cores busy, from differences of the cumulative counter) and pool use over time."""
    if len(scrapes) < 2:
        return None
    mids, cores = [], []
    for before, after in itertools.pairwise(scrapes):
        dt = after.t_s - before.t_s
        if dt > 0:
            mids.append(after.t_s)
            cores.append(max(0.0, (after.cpu_seconds - before.cpu_seconds) / dt))
    t = [s.t_s for s in scrapes]
    with style():
        fig, (cpu, pool) = new_figure(rows=2, height=3.6)
        cpu.plot(mids, cores, color=OKABE_ITO["blue"])
        cpu.set_ylabel("CPU (cores busy)")
        cpu.set_ylim(bottom=0)
        pool.plot(
            t, _nan([s.pool_in_use for s in scrapes]), color=OKABE_ITO["orange"], label="in use"
        )
        pool.plot(
            t,
            _nan([s.pool_waiting for s in scrapes]),
            color=OKABE_ITO["vermillion"],
            linestyle="--",
            label="waiting",
        )
        pool.plot(
            t,
            _nan([s.pool_size for s in scrapes]),
            color=OKABE_ITO["black"],
            linestyle=":",
            label="pool size",
        )
        pool.set_ylabel("DB connections")
        pool.set_ylim(bottom=0)
        pool.legend(loc="upper left", ncols=3)
        pool.set_xlabel("seconds since the run started")
        mark_stages([cpu, pool], *_stage_starts(stages))
    in_use = [s.pool_in_use for s in scrapes if s.pool_in_use is not None]
    waiting = [s.pool_waiting for s in scrapes if s.pool_waiting is not None]
    rows = [
        (
            "CPU, cores busy",
            fmt.number(sum(cores) / len(cores)) if cores else fmt.MISSING,
            fmt.number(max(cores)) if cores else fmt.MISSING,
        ),
        (
            "pool connections in use",
            fmt.number(sum(in_use) / len(in_use)) if in_use else fmt.MISSING,
            fmt.number(max(in_use)) if in_use else fmt.MISSING,
        ),
        (
            "requests waiting for a connection",
            fmt.number(sum(waiting) / len(waiting)) if waiting else fmt.MISSING,
            fmt.number(max(waiting)) if waiting else fmt.MISSING,
        ),
    ]
    return to_svg(
        fig,
        "server-timeline",
        "The service during the run",
        f"{len(scrapes)} scrapes of the service's metrics: CPU in cores busy (from the "
        "cumulative process CPU counter) and database pool connections in use, waiting and "
        "available.",
        ("measure", "mean", "max"),
        rows,
    )


_PANELS: tuple[tuple[str, str, str], ...] = (
    ("throughput_rps", "Throughput", "requests/s"),
    ("p50_ms", "p50 latency", "ms"),
    ("p95_ms", "p95 latency", "ms"),
)


def _band(stage: PredictedStage, key: str) -> tuple[float | None, float | None]:
    low = getattr(stage, f"{key}_low", None)
    high = getattr(stage, f"{key}_high", None)
    return low, high


def prediction_panels(prediction: Prediction, stages: Sequence[StageResult]) -> list[Chart]:
    """Throughput, p50 and p95 against users: the model's curve and band, measured points."""
    predicted = sorted(prediction.stages, key=lambda s: s.users)
    charts = []
    for key, label, unit in _PANELS:
        x = [s.users for s in predicted]
        y = [getattr(s, key) for s in predicted]
        with style():
            fig, (ax,) = new_figure(rows=1, height=2.8, width=4.2)
            bands = [_band(s, key) for s in predicted]
            if all(lo is not None and hi is not None for lo, hi in bands) and bands:
                ax.fill_between(
                    x,
                    _nan([lo for lo, _ in bands]),
                    _nan([hi for _, hi in bands]),
                    color=OKABE_ITO["sky"],
                    alpha=0.35,
                    linewidth=0,
                    label="model band",
                )
            if any(v is not None for v in y):
                ax.plot(x, _nan(y), label=f"model ({prediction.model})", **_MODEL)
            ax.plot(
                [s.users for s in stages],
                _nan([getattr(s, key) for s in stages]),
                label="measured",
                **_MEASURED,
            )
            ax.set_xlabel("concurrent users")
            ax.set_ylabel(unit)
            ax.set_ylim(bottom=0)
            ax.set_xlim(left=0)
            ax.legend(loc="upper left")
        show = fmt.rps if key == "throughput_rps" else fmt.ms
        rows = []
        for stage in stages:
            model = prediction.at(stage.users)
            model_value = getattr(model, key) if model else None
            rows.append((fmt.count(stage.users), show(model_value), show(getattr(stage, key))))
        charts.append(
            to_svg(
                fig,
                f"predict-{key.replace('_', '-')}",
                f"{label} against users: model and measurement",
                f"{label} ({unit}) predicted by the {prediction.model} model for each user "
                "count (line, with its uncertainty band where the model gives one) and "
                "measured in each stage of the run (points).",
                ("users", "predicted", "measured"),
                rows,
            )
        )
    return charts


def capacity_timeline(
    records: Sequence[Mapping[str, Any]],
    max_instances: int,
    pool_max: int,
    source: str,
) -> Chart:
    """Users, instances and DB connections over launch day, with the configured caps."""
    minutes = [float(r["t_min"]) for r in records]
    hours = [m / 60 for m in minutes]
    with style():
        fig, (users, inst, conns) = new_figure(rows=3, height=5.0)
        users.plot(hours, [r["users"] for r in records], color=OKABE_ITO["black"])
        users.set_ylabel("concurrent users")
        inst.plot(
            hours,
            [r["instances"] for r in records],
            color=OKABE_ITO["blue"],
            drawstyle="steps-post",
            label="instances",
        )
        inst.axhline(
            max_instances,
            color=OKABE_ITO["vermillion"],
            linestyle="--",
            label=f"cap {max_instances}",
        )
        inst.set_ylabel("app instances")
        integer_axis(inst)
        inst.legend(loc="upper left", ncols=2)
        connections = [r.get("connections_in_use") for r in records]
        conns.plot(hours, _nan(connections), color=OKABE_ITO["orange"], label="connections in use")
        conns.axhline(
            pool_max, color=OKABE_ITO["vermillion"], linestyle="--", label=f"pool max {pool_max}"
        )
        conns.set_ylabel("DB connections")
        conns.legend(loc="upper left", ncols=2)
        conns.set_xlabel("hour of launch day")
        for ax in (users, inst, conns):
            ax.set_ylim(bottom=0)
    rows = []
    for hour in range(int(max(hours, default=0)) + 1):
        in_hour = [r for r, h in zip(records, hours, strict=True) if hour <= h < hour + 1]
        if not in_hour:
            continue
        conn_values = [
            r["connections_in_use"] for r in in_hour if r.get("connections_in_use") is not None
        ]
        rows.append(
            (
                f"{hour:02d}:00",
                fmt.count(max(r["users"] for r in in_hour)),
                fmt.count(max(r["instances"] for r in in_hour)),
                fmt.connections(max(conn_values)) if conn_values else fmt.MISSING,
            )
        )
    return to_svg(
        fig,
        "capacity-timeline",
        "Launch day: users, instances and database connections",
        f"Over launch day ({source}): concurrent users, app instances against the cap of "
        f"{max_instances}, and database connections in use against the pool maximum of "
        f"{pool_max}. The table gives each hour's maxima.",
        ("hour", "users (max)", "instances (max)", "connections (max)"),
        rows,
    )
