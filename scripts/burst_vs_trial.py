"""What the burst stage measured against what the far trial's service spent on a busy core,
run by run, from the committed ``harness validate`` documents in docs/validation/.

    .venv/bin/python scripts/burst_vs_trial.py            # a Markdown table on stdout

The service curve's busy cost ``a`` is the burst stage's CPU per request with one wake-up a
tick deducted (models/service_curve.py, "the busy cost, measured"). Its CPU law says a level
at throughput X and CPU U spent ``(U - b - X·k·(1 - U)) / X`` per request on a busy core, ``k``
the fitted wake-up cost and ``b`` the background. Each row sets that, at every far-trial level
whose measured CPU lies in [50%, 95%] (busy enough for ``a`` to dominate, short of the
backlog past the capacity), against the burst's ``a``: a ratio under 1 is a burst that
measured a dearer request than the trial's service then paid, which over-predicts the CPU and,
through the stretch a / (1 - U), the latency. The speed references (the burst's, the trial
levels' mean) say how much of it the machine's speed explains.

A document without a burst stage is left out; a figure it does not hold is "-".
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ROOT / "docs" / "validation"
#: The far-trial levels compared: busy enough, short of the saturated backlog.
CPU_RANGE = (0.50, 0.95)

Document = Mapping[str, Any]


@dataclass(frozen=True)
class BurstAgainstTrial:
    """One run: the burst's busy cost and speed, and the trial levels' busy cost ratios."""

    run: str
    busy_ms: float
    burst_reference_ms: float | None
    ratios: tuple[float, ...]
    trial_reference_ms: float | None

    @property
    def median(self) -> float | None:
        return statistics.median(self.ratios) if self.ratios else None


def busy_ms(level: Mapping[str, Any], wake_ms: float, background: float) -> float | None:
    """What a measured level spent per request on a busy core (module docstring), in ms."""
    x, u = level.get("throughput_rps"), level.get("cpu_utilization")
    if not x or u is None:
        return None
    return float((u - background - x * wake_ms / 1e3 * (1.0 - u)) / x * 1e3)


def compare(name: str, document: Document) -> BurstAgainstTrial | None:
    """The run's row, or None without a burst-fitted curve or a far trial."""
    curve = document.get("service_curve") or {}
    burst = curve.get("burst")
    far = next((t for t in document.get("trials", []) if t.get("name", "").startswith("far")), None)
    if not burst or far is None:
        return None
    low, high = CPU_RANGE
    ratios: list[float] = []
    references: list[float] = []
    for level in far.get("levels", []):
        measured = level.get("measured") or {}
        u = measured.get("cpu_utilization")
        if u is None or not low <= u <= high:
            continue
        busy = busy_ms(measured, curve["wake_cpu_ms"], curve["background_cores"])
        if busy is not None:
            ratios.append(busy / curve["busy_cpu_ms"])
        if measured.get("speed_reference_ms"):
            references.append(measured["speed_reference_ms"])
    # The plain fit drops the speed references; the calibration's record keeps the burst's.
    recorded = (document.get("calibration") or {}).get("burst") or burst
    return BurstAgainstTrial(
        name,
        curve["busy_cpu_ms"],
        recorded.get("speed_reference_ms"),
        tuple(ratios),
        statistics.mean(references) if references else None,
    )


def rows(documents: Sequence[tuple[str, Document]]) -> Iterator[BurstAgainstTrial]:
    for name, document in documents:
        row = compare(name, document)
        if row is not None:
            yield row


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def table(found: Sequence[BurstAgainstTrial]) -> list[str]:
    lines = [
        "| run | burst's busy cost (ms) | its speed reference (ms) | trial's busy cost / "
        "burst's, at 50-95% CPU | median | trial's speed reference (ms) |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for row in found:
        ratios = ", ".join(f"{r:.2f}" for r in row.ratios) or "-"
        lines.append(
            f"| {row.run} | {row.busy_ms:.2f} | {_fmt(row.burst_reference_ms, '{:.3f}')} | "
            f"{ratios} | {_fmt(row.median, '{:.2f}')} | "
            f"{_fmt(row.trial_reference_ms, '{:.3f}')} |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    paths = [Path(a) for a in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        paths = sorted(DOCUMENTS.glob("*.json"))
    documents = [(p.stem, json.loads(p.read_text(encoding="utf-8"))) for p in paths]
    print("\n".join(table(list(rows(documents)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
