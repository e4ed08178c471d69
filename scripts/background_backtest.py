"""A load-independent background CPU, fitted on each committed run's calibration, judged on that
run's far and held-out think-time trials (nothing run).

    .venv/bin/python -m scripts.background_backtest            # a Markdown table on stdout
    .venv/bin/python -m scripts.background_backtest DOC.json ...

The validation fits the service's CPU as ``U = b + X·(a + k·(1 − U))`` with ``b = 0``: the
curve passes through the origin, and the wake-up cost ``k`` alone bends it
(models/service_curve.py). The far trial's lightest judged level (15% predicted CPU) is the one
under-predicted most often, and the calibration's own stages lie on a line with a positive
intercept of a few hundredths of a core: a background the service burns whatever its load
(scrapes, the outbox's polling) would do both. This script refits each run with a burst stage
twice with the model's own code (``fit_service_curve``, no speed references): ``b = 0`` (the
validation's fit) and ``b`` chosen from a grid of 0 to 0.05 cores by the calibration's own
CPU residual (the light stages and the burst row; nothing the trials measured). Each judged
level of the two trials on the calibration's mix is then predicted at the throughput it
measured (as ``scripts/shallow_backtest.py`` does), against the CPU, mean and p95 it measured.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from models.service_curve import ServiceCurve, fit_service_curve
from scripts.shallow_backtest import (
    CPU_GOAL,
    DOCUMENTS,
    Document,
    LevelErrors,
    burst_point,
    calibration_points,
    goal_summary,
    judged_errors,
)

#: The backgrounds tried, in cores: 0 to 0.05 in steps of 0.0025.
GRID = tuple(step * 0.0025 for step in range(21))
#: The two fits compared, by the name the table gives them.
FITS = ("b = 0", "b fitted")


def fits(document: Document) -> tuple[dict[str, ServiceCurve], float] | None:
    """Both fits of a run's calibration and the background chosen (None: no burst stage)."""
    burst = (document.get("calibration") or {}).get("burst")
    curve = document.get("service_curve")
    if not curve or not burst or not burst.get("used"):
        return None
    points, burst_at = calibration_points(curve), burst_point(burst)
    tried = [(fit_service_curve(points, background=b, burst=burst_at), b) for b in GRID]
    fitted, background = min(tried, key=lambda pair: pair[0].cpu_fit_rms)
    return {FITS[0]: tried[0][0], FITS[1]: fitted}, background


def backtest(name: str, document: Document) -> Iterator[LevelErrors]:
    """Every judged level of the run's trials on its own mix, under both fits."""
    fitted = fits(document)
    if fitted is None:
        return
    curves, _ = fitted
    yield from judged_errors(name, document, curves)


def table(errors: Sequence[LevelErrors]) -> list[str]:
    """Per fit: the levels within each goal and the median absolute errors; then per fit and
    the CPU the levels were placed at, the median signed CPU error."""
    lines = goal_summary(errors, FITS)
    placed = sorted({round(e.placed_cpu, 2) for e in errors})
    lines += [
        "",
        "| fit | " + " | ".join(f"placed at {p:.0%}" for p in placed) + " |",
        "|---|" + "---:|" * len(placed),
    ]
    for fit in FITS:
        cells = []
        for p in placed:
            here = [e.cpu for e in errors if e.fit == fit and round(e.placed_cpu, 2) == p]
            within = sum(abs(c) <= CPU_GOAL for c in here)
            cells.append(f"{statistics.median(here):+.1%} ({within}/{len(here)})" if here else "")
        lines.append(f"| {fit} | " + " | ".join(cells) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    paths = [Path(a) for a in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        paths = sorted(DOCUMENTS.glob("*.json"))
    errors = [e for p in paths for e in backtest(p.stem, json.loads(p.read_text(encoding="utf-8")))]
    print("\n".join(table(errors)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
