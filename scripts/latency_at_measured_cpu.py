"""Where the judged latency misses come from: the CPU the model predicted, or the latency form.

    .venv/bin/python scripts/latency_at_measured_cpu.py     # Markdown tables on stdout

The service curve predicts a level's response time from its predicted CPU U through the
processor-sharing stretch, ``T_s(U) = A_s + w_s·(1 − U) + q_s(U)·B_s / (1 − U)``
(models/service_curve.py, "latency"). Near capacity the stretch multiplies every error of U:
at U = 0.85 a CPU two points high makes the stretch 15% longer. So each replication of each
judged level is predicted twice here, from the run's own recorded curve (nothing refitted):

* **as judged**: at the CPU the model predicted (what the validation recorded);
* **at the measured CPU**: the same curve evaluated at the CPU the replication measured.

Where the second is close and the first is not, the latency form holds and the miss is the
CPU's; where both miss alike, the form itself is wrong at that load. The rows are grouped by
the CPU measured. Only the trials on the calibration's own mix (far beyond it, the held-out
think time) are used: the curve applies to them unscaled. The documents are those of runs
with a burst stage (from 20261207T044930Z), each curve evaluated in the form it recorded.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.service_curve import ps_stretch_multiple

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ROOT / "docs" / "validation"
STATISTICS = ("mean_ms", "p95_ms")
SAME_MIX_TRIALS = ("far beyond the calibration", "held-out think time")
#: The measured-CPU bands of the summary (upper bounds, inclusive).
BANDS = (0.5, 0.75, 0.85, 1.0)
#: Levels judged by predicted CPU up to this (the goals' limit), with a little slack for the
#: bisection that placed them.
JUDGED_CPU = 0.86


@dataclass(frozen=True)
class Replication:
    """One replication of a judged level: the CPU predicted and measured, and per statistic
    the relative error of the curve at each."""

    run: str
    trial: str
    users: int
    predicted_cpu: float
    measured_cpu: float
    as_judged: Mapping[str, float]
    at_measured: Mapping[str, float]


def curve_latency_ms(curve: Mapping[str, Any], statistic: str, load: float) -> float:
    """The recorded curve's ``statistic`` at ``load`` (its to_json form; the exponent is 1
    and the ceiling 1 for every curve this script reads)."""
    line = curve["latency"][statistic]
    u = min(max(load, 0.0), 0.999)
    q = ps_stretch_multiple(statistic, u) if curve.get("ps_stretch") else 1.0
    return float(
        line["floor_ms"] + line["wake_on_path_ms"] * (1.0 - u) + q * line["stretched_ms"] / (1 - u)
    )


def replications(name: str, document: Mapping[str, Any]) -> Iterator[Replication]:
    """A document's replications of judged levels on the calibration's mix (module docstring);
    nothing from a document whose curve had no burst stage."""
    curve = document.get("service_curve")
    if not curve or not curve.get("burst"):
        return
    for trial in document.get("trials", []):
        if trial.get("name") not in SAME_MIX_TRIALS:
            continue
        for level in trial.get("levels", []):
            predicted = level.get("predicted") or {}
            cpu = predicted.get("cpu_utilization")
            if cpu is None or cpu > JUDGED_CPU:
                continue
            for one in level.get("per_replication") or []:
                measured_cpu = one.get("cpu_utilization")
                if measured_cpu is None or any(not one.get(s) for s in STATISTICS):
                    continue
                yield Replication(
                    run=name,
                    trial=trial["name"],
                    users=int(level["users"]),
                    predicted_cpu=float(cpu),
                    measured_cpu=float(measured_cpu),
                    as_judged={s: float(predicted[s]) / float(one[s]) - 1 for s in STATISTICS},
                    at_measured={
                        s: curve_latency_ms(curve, s, float(measured_cpu)) / float(one[s]) - 1
                        for s in STATISTICS
                    },
                )


def _band(cpu: float) -> str:
    """The band of a measured CPU; the last one holds anything above it too (the kernel's
    count can read a hair over one core)."""
    low = 0.0
    for high in BANDS[:-1]:
        if cpu <= high:
            return f"{low:.0%}-{high:.0%}"
        low = high
    return f"{low:.0%}-{BANDS[-1]:.0%}"


def summary(found: Sequence[Replication]) -> str:
    """Markdown: per band of measured CPU, the median absolute error and the share within the
    goal (mean 15%, p95 25%), as judged and at the measured CPU."""
    goals = {"mean_ms": 0.15, "p95_ms": 0.25}
    lines = [
        "| measured CPU | replications | mean: as judged | mean: at measured CPU "
        "| p95: as judged | p95: at measured CPU |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    bands = sorted({_band(r.measured_cpu) for r in found}, key=lambda b: float(b.split("%")[0]))
    for band in bands:
        rows = [r for r in found if _band(r.measured_cpu) == band]
        cells = []
        for statistic in STATISTICS:
            for errors in (
                [r.as_judged[statistic] for r in rows],
                [r.at_measured[statistic] for r in rows],
            ):
                within = sum(abs(e) <= goals[statistic] for e in errors)
                median = statistics.median(abs(e) for e in errors)
                cells.append(f"{median:.0%} ({within}/{len(errors)} within)")
        lines.append(f"| {band} | {len(rows)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def detail(found: Sequence[Replication]) -> str:
    """Markdown: every replication measured over 85% CPU, the band where the misses are."""
    lines = [
        "| run | trial | users | CPU predicted | CPU measured | mean: as judged "
        "| mean: at measured CPU | p95: as judged | p95: at measured CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in found:
        if r.measured_cpu <= 0.85:
            continue
        lines.append(
            f"| {r.run} | {r.trial} | {r.users} | {r.predicted_cpu:.1%} | {r.measured_cpu:.1%} "
            f"| {r.as_judged['mean_ms']:+.0%} | {r.at_measured['mean_ms']:+.0%} "
            f"| {r.as_judged['p95_ms']:+.0%} | {r.at_measured['p95_ms']:+.0%} |"
        )
    return "\n".join(lines)


def main(directory: Path = DOCUMENTS) -> int:
    found: list[Replication] = []
    for path in sorted(directory.glob("*.json")):
        found += replications(path.stem, json.loads(path.read_text(encoding="utf-8")))
    if not found:
        print(f"no document in {directory} has a service curve with a burst stage")
        return 1
    runs = len({r.run for r in found})
    print(f"{len(found)} replications of judged levels in {runs} runs\n")
    print(summary(found))
    print("\nMeasured over 85% CPU:\n")
    print(detail(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
