"""How far the lab's CPU per request moved from its light calibration, run by run, from the
committed ``harness validate --lab`` documents in docs/validation/.

    .venv/bin/python scripts/lab_cpu_drift.py            # a Markdown table on stdout

The lab's CPU model is the calibration's line per instance, ``idle + per_request·X/K``
(models/lab_calibration.py), measured on one instance at light load. Each row shows what the
same instances spent per request later in the same run, with the idle line taken off:

* **topology**: at each level of the topology trial (K instances), instance CPU per request
  ``(CPU per instance · limit - idle) · K / X`` in ms, beside the line's slope;
* **decision at K**: the CPU per instance measured against the planner's (both as the whole
  CPU group over the limit; documents written before 45b1720 recorded the planner's figure
  as its workers' share of what the idle line leaves, converted here; the first lab run,
  20261206T151444Z, planned on the profile's basis, not the calibration's, so its planned
  figure compares with nothing); where K ran more than once (interleaved, from 0656a35), its
  mean, then each run's CPU in brackets in the order they ran;
* **same load, same K**: the decision's K measured against the topology trial's CPU at the
  same users (interpolated between its levels): two measurements of one configuration at one
  load, minutes apart, so their ratio is the run's own noise, no model in it.

A figure the document does not hold is shown as "-".
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from models.lab_calibration import LabDemands
from models.lab_prediction import cpu_of_limit

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ROOT / "docs" / "validation"
TOPOLOGY = "lab topology"

Document = Mapping[str, Any]


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _interpolate(x: float, xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """``ys`` at ``x`` on the broken line through (xs, ys), xs rising; None outside them."""
    points = sorted(zip(xs, ys, strict=True))
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return None


def _group_cpu(predicted: Mapping[str, Any], line: LabDemands, limit: float) -> float:
    """The planner's CPU per instance as the whole group over the limit (module docstring)."""
    cpu = float(predicted["cpu_per_instance"])
    if "throughput_rps" in predicted:  # written by 45b1720 or later: already the group's
        return cpu
    return cpu_of_limit(cpu, limit, line)


def drift_row(name: str, document: Document) -> list[str] | None:
    """One run's row (module docstring); None when the run has no lab calibration line."""
    decision = document.get("decision") or {}
    line = (decision.get("calibration") or {}).get("lab_demands") or {}
    slope, idle = line.get("cpu_cores_per_rps"), line.get("idle_cpu_cores")
    topology = next((t for t in document.get("trials", []) if t.get("name") == TOPOLOGY), None)
    if slope is None or idle is None or topology is None:
        return None
    lab = topology["lab"]
    count, limit = int(lab["instances"]), float(lab["cpu_limit"])
    levels = [level for level in topology["levels"] if level["measured"].get("throughput_rps")]
    per_request = [
        (level["measured"]["cpu_utilization"] * limit - idle) * count
        / level["measured"]["throughput_rps"] * 1e3
        for level in levels
    ]  # fmt: skip
    planned, measured = decision.get("planned") or {}, decision.get("measured") or []
    k = planned.get("instances")
    at_k = next((m for m in measured if m.get("instances") == k), None)
    predicted = next((p for p in planned.get("predicted", []) if p.get("instances") == k), None)
    against_plan = same_load = "-"
    if at_k is not None and predicted is not None and at_k.get("cpu_per_instance") is not None:
        line_basis = LabDemands(stages=0, idle_cpu_cores=idle, cpu_cores_per_rps=slope)
        planned_cpu = _group_cpu(predicted, line_basis, limit)
        runs = at_k.get("replications") or []
        each = ""
        if len(runs) > 1:  # K's runs in the order they ran, beside their mean
            each = " (" + ", ".join(_percent(one.get("cpu_per_instance")) for one in runs) + ")"
        against_plan = f"{at_k['cpu_per_instance']:.0%}{each} / {planned_cpu:.0%}"
        if k == count:
            users = [level["users"] for level in levels]
            cpu = [level["measured"]["cpu_utilization"] for level in levels]
            there = _interpolate(float(planned["users"]), users, cpu)
            if there:
                same_load = f"{at_k['cpu_per_instance'] / there:.2f}"
    return [
        name,
        f"{idle:.3f} + {slope * 1e3:.2f} ms",
        " / ".join(f"{ms:.2f}" for ms in per_request),
        f"{planned.get('users', '-')}",
        against_plan,
        same_load,
        "right" if decision.get("right") else "wrong" if decision.get("right") is False else "-",
    ]


def rows(directory: Path = DOCUMENTS) -> Iterator[list[str]]:
    """Every committed run with a lab calibration, oldest first."""
    for path in sorted(directory.glob("*.json")):
        row = drift_row(path.stem, json.loads(path.read_text(encoding="utf-8")))
        if row is not None:
            yield row


def table(directory: Path = DOCUMENTS) -> str:
    header = [
        "run",
        "calibration line (idle cores + per request)",
        "topology: instance CPU per request by level, ms",
        "decision users",
        "CPU at K: measured / planned",
        "same load, same K: decision / topology",
        "decision",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(directory)]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    if argv:
        print("usage: scripts/lab_cpu_drift.py (no arguments)", file=sys.stderr)
        return 2
    sys.stdout.write(table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
