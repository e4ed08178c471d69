"""The busy cost's depth law below the burst's depth, refitted on each committed run that
measured it and judged on that run's far and held-out think-time trials (nothing run).

    .venv/bin/python scripts/shallow_backtest.py            # a Markdown table on stdout
    .venv/bin/python scripts/shallow_backtest.py DOC.json ...

Two bursts measure the busy cost ``a`` at two depths (requests in the service while its core
is busy, X·R / U): the burst's thirty or so and the deep burst's hundred and more, and the
law a(n) = a + g·ln(n / n₁) between them (models/service_curve.py, "below the burst's
depth"). The levels the goals judge hold two or three requests, far fewer than the burst. This
script refits each run's calibration twice with the model's own code
(``fit_service_curve``, the plain fit the validation judges, no speed references): without
the law (every request on a busy core at the burst's ``a``, the default) and with it below the
burst's depth (each light stage's busy cost at its own depth, the CPU law refitted). Each
judged level of the two trials on the calibration's mix is then predicted at the throughput
it measured (in a closed loop the think time sets it), its depth the model's own (X·R / U,
R and U the curve's at that depth, a few rounds), against the CPU, mean and p95 response
time it measured.

Every figure comes from the run's own calibration; the law's use below the depth is one
choice over these runs, so a gain here is what made it the default, and the runs after them
judge it.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.service_curve import BurstPoint, LoadPoint, ServiceCurve, fit_service_curve

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ROOT / "docs" / "validation"
#: The trials on the calibration's own mix, whose levels the curve predicts as it is.
TRIALS = ("far beyond the calibration", "held-out think time")
#: The goals a level's CPU, mean and p95 response time are judged by.
CPU_GOAL, MEAN_GOAL, P95_GOAL = 0.10, 0.15, 0.25
#: Rounds of a level's depth and its busy cost (as models/prediction.py settles them).
DEPTH_ROUNDS = 4
#: The two fits compared, by the name the table gives them.
FITS = ("without the law", "below the depth")

Document = Mapping[str, Any]


@dataclass(frozen=True)
class LevelErrors:
    """One judged level under one fit: predicted / measured - 1 of its CPU, mean and p95."""

    run: str
    fit: str
    trial: str
    users: int
    cpu: float
    mean: float
    p95: float
    placed_cpu: float = 0.0
    """The CPU the validation had placed the level at (its predicted CPU)."""


def burst_point(record: Mapping[str, Any]) -> BurstPoint:
    return BurstPoint(
        record["throughput_rps"],
        record["cpu_utilization"],
        record["period_s"],
        None,
        record.get("in_service"),
    )


def calibration_points(curve: Mapping[str, Any]) -> list[LoadPoint]:
    return [
        LoadPoint(
            p["throughput_rps"],
            p["cpu_utilization"],
            {s: p[s] for s in ("mean_ms", "p50_ms", "p95_ms")},
        )
        for p in curve["points"]
    ]


def at_throughput(curve: ServiceCurve, throughput_rps: float) -> tuple[float, float, float]:
    """(CPU, mean and p95 response in ms) at ``throughput_rps``, the busy cost (and the work
    the latency stretches) at the depth the curve itself puts there (module docstring)."""
    here = curve
    for _ in range(DEPTH_ROUNDS):
        load = here.load(throughput_rps)
        depth = throughput_rps * here.latency_s("mean_ms", load) / max(load * here.ceiling, 1e-9)
        here = curve.with_backlog(depth)
    load = here.load(throughput_rps)
    mean, p95 = (here.latency_s(s, load) * 1e3 for s in ("mean_ms", "p95_ms"))
    return here.utilization(throughput_rps), mean, p95


def fits(document: Document) -> dict[str, ServiceCurve] | None:
    """Both fits of a run's calibration (None: no burst and deep burst with their depths)."""
    calibration = document.get("calibration") or {}
    burst, deep = calibration.get("burst"), calibration.get("deep_burst")
    curve = document.get("service_curve")
    if not curve or not burst or not deep or not burst.get("used") or not deep.get("used"):
        return None
    if burst.get("in_service") is None or deep.get("in_service") is None:
        return None
    points, shallow, deep_point = calibration_points(curve), burst_point(burst), burst_point(deep)
    return {
        FITS[0]: fit_service_curve(points, burst=shallow),
        FITS[1]: fit_service_curve(
            points, burst=shallow, deep_burst=deep_point, past=False, shallow=True
        ),
    }


def backtest(name: str, document: Document) -> Iterator[LevelErrors]:
    """Every judged level of the run's trials on its own mix, under both fits."""
    curves = fits(document)
    if curves is None:
        return
    yield from judged_errors(name, document, curves)


def judged_errors(
    name: str, document: Document, curves: Mapping[str, ServiceCurve]
) -> Iterator[LevelErrors]:
    """Each judged level of the run's trials on its own mix (:data:`TRIALS`) predicted by each
    curve at the throughput it measured, against what it measured."""
    for trial in document.get("trials", []):
        if trial.get("name") not in TRIALS:
            continue
        for level in trial.get("levels", []):
            measured = level.get("measured") or {}
            x, u, r, p95 = (
                measured.get(k) for k in ("throughput_rps", "cpu_utilization", "mean_ms", "p95_ms")
            )
            if not level.get("judged") or not x or not u or not r or not p95:
                continue
            placed = float((level.get("predicted") or {}).get("cpu_utilization") or 0.0)
            for fit, curve in curves.items():
                cpu, mean, tail = at_throughput(curve, x)
                yield LevelErrors(
                    name,
                    fit,
                    trial["name"],
                    level["users"],
                    cpu / u - 1,
                    mean / r - 1,
                    tail / p95 - 1,
                    placed,
                )


def goal_summary(errors: Sequence[LevelErrors], fits: Sequence[str]) -> list[str]:
    """Per fit, the levels within each goal and the median absolute errors (a Markdown
    table)."""
    lines = [
        "| fit | levels | CPU within 10% | median absolute CPU error | mean within 15% "
        "| median absolute mean error | p95 within 25% | median absolute p95 error |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for fit in fits:
        mine = [e for e in errors if e.fit == fit]
        if not mine:
            continue
        cpu_off, mean_off = [abs(e.cpu) for e in mine], [abs(e.mean) for e in mine]
        p95_off = [abs(e.p95) for e in mine]
        lines.append(
            f"| {fit} | {len(mine)} | {sum(c <= CPU_GOAL for c in cpu_off)} | "
            f"{statistics.median(cpu_off):.1%} | {sum(m <= MEAN_GOAL for m in mean_off)} | "
            f"{statistics.median(mean_off):.1%} | {sum(t <= P95_GOAL for t in p95_off)} | "
            f"{statistics.median(p95_off):.1%} |"
        )
    return lines


def table(errors: Sequence[LevelErrors]) -> list[str]:
    """Per run and fit, each level's CPU, mean and p95 errors; then per fit, the levels within
    each goal and the median absolute errors."""
    lines = [
        "| run | fit | CPU error by level | mean error by level | p95 error by level |",
        "|---|---|---|---|---|",
    ]
    for run in dict.fromkeys(e.run for e in errors):
        for fit in FITS:
            here = [e for e in errors if e.run == run and e.fit == fit]
            cpu = " / ".join(f"{e.cpu:+.1%}" for e in here)
            mean = " / ".join(f"{e.mean:+.1%}" for e in here)
            tail = " / ".join(f"{e.p95:+.1%}" for e in here)
            lines.append(f"| {run} | {fit} | {cpu} | {mean} | {tail} |")
    return [*lines, "", *goal_summary(errors, FITS)]


def main(argv: Sequence[str] | None = None) -> int:
    paths = [Path(a) for a in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        paths = sorted(DOCUMENTS.glob("*.json"))
    errors = [e for p in paths for e in backtest(p.stem, json.loads(p.read_text(encoding="utf-8")))]
    print("\n".join(table(errors)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
