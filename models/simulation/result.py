"""Result types of a simulated (or fast-path) day, and confidence intervals over replications.

:class:`SimulationResult` is one run: its per-minute records, totals, scaling actions and the
assumptions it rests on. :class:`SimulationSummary` gathers replications (independent seeds)
and gives each total as a mean with a Student-t confidence interval, and the per-minute
series averaged across replications. Both turn into JSON-ready dicts and pandas frames.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from scipy.stats import t as student_t

from models.errors import ParameterError
from models.simulation.autoscaler import ScalingAction
from models.simulation.recorder import MinuteRecord, Totals

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Estimate", "SimulationResult", "SimulationSummary", "summarise"]

CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class Estimate:
    """A mean over replications with its 95% confidence half-width (nan for one run)."""

    mean: float
    half_width: float
    replications: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    @classmethod
    def of(cls, values: list[float]) -> Estimate:
        finite = [v for v in values if not math.isnan(v)]
        n = len(finite)
        if n == 0:
            return cls(math.nan, math.nan, 0)
        mean = sum(finite) / n
        if n == 1:
            return cls(mean, math.nan, 1)
        variance = sum((v - mean) ** 2 for v in finite) / (n - 1)
        half = float(student_t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * math.sqrt(variance / n)
        return cls(mean, half, n)


@dataclass(frozen=True)
class SimulationResult:
    """One run of the day (or part of it)."""

    method: str
    """``"simulation"`` or ``"fastpath"``."""
    profile: str
    seed: int | None
    mode: str
    start_s: float
    hours: float
    minutes: tuple[MinuteRecord, ...]
    totals: Totals
    actions: tuple[ScalingAction, ...]
    assumptions: tuple[str, ...]
    wall_s: float
    """Wall-clock seconds the run took (for the benchmarks)."""

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd  # imported here: only callers who want frames pay for pandas

        return pd.DataFrame([asdict(m) for m in self.minutes])

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "profile": self.profile,
            "seed": self.seed,
            "mode": self.mode,
            "start_s": self.start_s,
            "hours": self.hours,
            "wall_s": self.wall_s,
            "totals": self.totals.as_dict(),
            "actions": [asdict(a) for a in self.actions],
            "assumptions": list(self.assumptions),
            "minutes": [asdict(m) for m in self.minutes],
        }


@dataclass(frozen=True)
class SimulationSummary:
    """Replications of one configuration: totals with confidence intervals, mean series.

    ``minutes`` averages each field of each minute across replications (nan-aware), so a
    report can plot it directly; ``runs`` keeps every replication.
    """

    runs: tuple[SimulationResult, ...]
    totals: dict[str, Estimate]
    minutes: tuple[MinuteRecord, ...]

    @property
    def first(self) -> SimulationResult:
        return self.runs[0]

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([asdict(m) for m in self.minutes])

    def to_dict(self) -> dict[str, Any]:
        first = self.first
        return {
            "method": first.method,
            "profile": first.profile,
            "mode": first.mode,
            "start_s": first.start_s,
            "hours": first.hours,
            "replications": len(self.runs),
            "seeds": [r.seed for r in self.runs],
            "wall_s": sum(r.wall_s for r in self.runs),
            "totals": {
                name: {"mean": e.mean, "ci_low": e.low, "ci_high": e.high, "n": e.replications}
                for name, e in self.totals.items()
            },
            "actions": [asdict(a) for a in first.actions],
            "assumptions": list(first.assumptions),
            "minutes": [asdict(m) for m in self.minutes],
        }


def summarise(runs: list[SimulationResult]) -> SimulationSummary:
    """Combine replications: totals with 95% intervals, per-minute means."""
    if not runs:
        raise ParameterError("no runs to summarise")
    totals = {
        f.name: Estimate.of([float(getattr(r.totals, f.name)) for r in runs])
        for f in fields(Totals)
    }
    minutes = []
    for records in zip(*(r.minutes for r in runs), strict=True):
        values: dict[str, Any] = {}
        for f in fields(MinuteRecord):
            column = [float(getattr(m, f.name)) for m in records]
            finite = [v for v in column if not math.isnan(v)]
            values[f.name] = sum(finite) / len(finite) if finite else math.nan
        values["minute"] = records[0].minute
        minutes.append(MinuteRecord(**values))
    return SimulationSummary(tuple(runs), totals, tuple(minutes))
