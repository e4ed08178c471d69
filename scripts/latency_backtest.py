"""The latency form of the service curve, refitted on the committed validation documents.

    .venv/bin/python scripts/latency_backtest.py         # a Markdown table on stdout

Each document in docs/validation/ holds its calibration's service curve (its busy cost
``a``, wake-up ``k`` and the light stages it was fitted on) and every judged level's
predicted CPU and measured response time. Here each run's response time is predicted again
with the processor-sharing form (models/service_curve.py, "latency"): the floor is the mean
over the run's own light stages of what the stretch leaves, the stretch ``q(U) · a / (1 − U)``
(``q`` 1 for the mean, the M/M/1-PS sojourn's p95 over its mean for the p95) at the CPU the
run's model predicted for the level.
Nothing of any trial enters the refit. Beside it stands the error the run recorded with the
form it ran: the fitted lines ``A_s + k·(1 − U) + B_s / (1 − U)`` up to 20261207T044930Z,
this form after it (where the two then agree).

The lab topology trial is left out: its latency comes from the topology model, not the curve.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.service_curve import ps_floor, ps_stretch_multiple

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ROOT / "docs" / "validation"
STATISTICS = ("mean_ms", "p95_ms")
GOALS = {"mean_ms": 0.15, "p95_ms": 0.25}
LAB_TRIAL = "lab topology"


@dataclass(frozen=True)
class Level:
    """One judged level: the run, the trial, the users, and per statistic the recorded error
    and the refitted one."""

    run: str
    trial: str
    users: int
    recorded: Mapping[str, float]
    refitted: Mapping[str, float]


def _floors(curve: Mapping[str, Any]) -> dict[str, float]:
    """Per statistic, the floor (ms) the processor-sharing form fits on the light stages."""
    a = float(curve["busy_cpu_ms"])
    points = curve["points"]
    loads = [float(p["cpu_utilization"]) for p in points]
    return {s: ps_floor(s, [float(p[s]) for p in points], loads, a) for s in STATISTICS}


def refitted_levels(name: str, document: Mapping[str, Any]) -> Iterator[Level]:
    """The judged levels of one document, each with both errors (none without a curve)."""
    curve = document.get("service_curve")
    if not curve or not curve.get("points"):
        return
    a, k, floors = float(curve["busy_cpu_ms"]), float(curve["wake_cpu_ms"]), _floors(curve)
    for trial in document.get("trials", []):
        if trial["name"] == LAB_TRIAL:
            continue
        for level in trial["levels"]:
            predicted, measured = level["predicted"], level["measured"]
            load = predicted.get("cpu_utilization")
            if not level.get("judged") or load is None or load >= 1.0:
                continue
            # another mix scales the work: the model's CPU per request against the curve's
            scale = _work_scale(predicted, a, k)
            refit = {}
            for s in STATISTICS:
                multiple = ps_stretch_multiple(s, float(load))
                value = floors[s] + multiple * a * scale / (1.0 - float(load))
                refit[s] = value / float(measured[s]) - 1.0
            recorded = {s: float(level["relative_error"][s]) for s in STATISTICS}
            yield Level(name, trial["name"], int(level["users"]), recorded, refit)


def _work_scale(predicted: Mapping[str, Any], a: float, k: float) -> float:
    """How much heavier a request of the level's mix is than the calibration's: its CPU per
    request against what the curve charges at that load (1 for the calibration's mix)."""
    x, u = predicted.get("throughput_rps"), predicted.get("cpu_utilization")
    if not x or u is None:
        return 1.0
    curve_cost = a + k * (1.0 - float(u))
    return (float(u) / float(x) * 1e3) / curve_cost if curve_cost > 0 else 1.0


def summary(levels: Sequence[Level]) -> str:
    """The Markdown table: per statistic and form, the median error, the median absolute
    error and how many levels are within the goal."""
    lines = [
        "| statistic | form | levels | median error | median absolute error | within the goal |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for s in STATISTICS:
        for form, errors in (
            ("as run", [lv.recorded[s] for lv in levels]),
            ("processor sharing", [lv.refitted[s] for lv in levels]),
        ):
            if not errors:
                continue
            within = sum(abs(e) <= GOALS[s] for e in errors)
            lines.append(
                f"| {s} | {form} | {len(errors)} | {statistics.median(errors):+.1%} | "
                f"{statistics.median(abs(e) for e in errors):.1%} | "
                f"{within} (±{GOALS[s]:.0%}) |"
            )
    return "\n".join(lines)


def main(directory: Path = DOCUMENTS) -> int:
    levels: list[Level] = []
    for path in sorted(directory.glob("2*.json")):
        levels += refitted_levels(path.stem, json.loads(path.read_text(encoding="utf-8")))
    print(summary(levels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
