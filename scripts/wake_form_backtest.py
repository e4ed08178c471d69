"""Which form of the wake-up term predicts the far trial's CPU best, refitted on each committed
run's own calibration (nothing run).

    .venv/bin/python scripts/wake_form_backtest.py            # a Markdown table on stdout
    .venv/bin/python scripts/wake_form_backtest.py DOC.json ...

The service curve's CPU law is U = b + X·(a + k·(1 - U)) (models/service_curve.py): a request
finds the core idle with probability 1 - U and then pays the wake-up k. This script refits each
run's light stages (``service_curve.points``) and its burst stage (its row weighted ten times,
one wake-up a tick, as the validation fits it; no background) with the wake-up's probability
taken as (1 - U)^m for each m of :data:`EXPONENTS`, and predicts the CPU at each judged level of
the run's far trial at the throughput that level measured (in a closed loop the think time sets
it), against the CPU it measured. m = 1 is the model as it is; a larger m makes the wake-up
fade faster as the core fills. Every run's parameters come from its own calibration; the form
is one choice over all runs, so a gain here is a hypothesis to judge on runs to come, not a
result.

Runs without a burst stage are left out.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import brentq, nnls

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ROOT / "docs" / "validation"
#: The wake-up probability's exponents compared: (1 - U)^m.
EXPONENTS = (1.0, 1.5, 2.0, 3.0)
#: The burst row's weight in the fit, as models/service_curve.py gives it.
BURST_WEIGHT = 10.0
#: The goal a level's CPU is judged by.
CPU_GOAL = 0.10

Document = Mapping[str, Any]


@dataclass(frozen=True)
class FormFit:
    """One run's curve under one exponent: the busy cost and wake-up (seconds) and the CPU
    errors (predicted / measured - 1) at its far trial's judged levels."""

    run: str
    exponent: float
    busy_s: float
    wake_s: float
    errors: tuple[float, ...]


def fit(
    points: Sequence[Mapping[str, Any]], burst: Mapping[str, Any], m: float
) -> tuple[float, float]:
    """(a, k) by weighted non-negative least squares (module docstring)."""
    rows = [
        [p["throughput_rps"], p["throughput_rps"] * (1 - p["cpu_utilization"]) ** m] for p in points
    ]
    targets = [p["cpu_utilization"] for p in points]
    weights = [1.0] * len(points)
    rows.append([burst["throughput_rps"], 1.0 / burst["period_s"]])
    targets.append(burst["cpu_utilization"])
    weights.append(BURST_WEIGHT)
    w = np.array(weights)
    (a, k), _ = nnls(np.array(rows) * w[:, None], np.array(targets) * w)
    return float(a), float(k)


def cpu_at(busy_s: float, wake_s: float, m: float, throughput_rps: float) -> float:
    """The U solving U = X·(a + k·(1 - U)^m), at most 1."""

    def excess(u: float) -> float:
        return float(u - throughput_rps * (busy_s + wake_s * (1.0 - u) ** m))

    top = 1.0 - 1e-9
    return 1.0 if excess(top) < 0 else float(brentq(excess, 0.0, top))


def backtest(name: str, document: Document) -> Iterator[FormFit]:
    """Each exponent's fit and errors for one run (nothing without a burst stage)."""
    curve = document.get("service_curve") or {}
    burst = (document.get("calibration") or {}).get("burst")
    if not curve.get("burst") or not burst or not burst.get("used"):
        return
    far = next((t for t in document.get("trials", []) if t["name"].startswith("far")), None)
    levels = [
        lv["measured"]
        for lv in (far or {}).get("levels", [])
        if lv.get("judged") and lv["measured"].get("cpu_utilization")
    ]
    for m in EXPONENTS:
        a, k = fit(curve["points"], burst, m)
        errors = tuple(
            cpu_at(a, k, m, lv["throughput_rps"]) / lv["cpu_utilization"] - 1.0 for lv in levels
        )
        yield FormFit(name, m, a, k, errors)


def table(fits: Sequence[FormFit]) -> list[str]:
    """Per exponent: the levels, the median absolute error, how many within the goal, and the
    median signed error."""
    lines = [
        "| wake-up probability | levels | median absolute CPU error | within 10% | median error |",
        "|---|---:|---:|---:|---:|",
    ]
    for m in EXPONENTS:
        errors = [e for f in fits if f.exponent == m for e in f.errors]
        if not errors:
            continue
        absolute = [abs(e) for e in errors]
        within = sum(e <= CPU_GOAL for e in absolute)
        lines.append(
            f"| (1 - U)^{m:g} | {len(errors)} | {statistics.median(absolute):.1%} | "
            f"{within} | {statistics.median(errors):+.1%} |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    paths = [Path(a) for a in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        paths = sorted(DOCUMENTS.glob("*.json"))
    fits = [f for p in paths for f in backtest(p.stem, json.loads(p.read_text(encoding="utf-8")))]
    print("\n".join(table(fits)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
