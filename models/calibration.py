"""Calibration: per-endpoint service demands (CPU ms and database ms per request) measured from
a run's scraped server metrics, two independent ways, and a profile overlay that carries them.

Input is ``server.json`` (docs/artifacts.md): cumulative counters scraped every few seconds,
per route (``requests``, ``cpu_seconds``, ``db_seconds``) and for the whole service
(``cpu_seconds`` of every worker process). Differences between consecutive scrapes are the
*windows* both estimators work on.

1. **Service demand law** on per-route timings (Lazowska et al., QSP §3.2.4): the service
   measures each request's own CPU (thread CPU clock) and database time, so over the run
   ``D_e = Δcpu_seconds_e / Δrequests_e``. Exact for what it measures, but blind to CPU no
   route is charged for: HTTP parsing, routing, the event loop. That *overhead* is the process
   CPU minus the sum of route CPU, less a load-independent background (the regression's
   intercept, below), spread over all requests (``overhead_cpu_ms``).

2. **Non-negative least squares** of utilization on throughput across windows: in window w
   the service's CPU utilization (cores busy) is ``U_w = b + Σ_e X_{w,e}·D_e`` (utilization
   law summed over endpoints, plus a background b), solved for D ≥ 0, b ≥ 0 by
   :func:`scipy.optimize.nnls` (Lawson & Hanson 1974). It sees all the CPU the processes
   burn, overhead included, but can only separate endpoints whose throughputs vary
   *differently* across windows: a load test with a fixed mix makes the columns nearly
   proportional, and the split between endpoints is then not identifiable (``nnls_rank``
   below the number of unknowns says so). The same regression on the routes' summed database
   time estimates the database demands.

The overlay (``[service_demands]`` only, so ``--profile`` or ``load_profile(...,
extra_layers=[overlay])`` keeps every other key) holds, by default, the demand-law estimates
plus the per-request overhead, because the overhead is real CPU a capacity plan must pay for.
Endpoints seen in the run but not in the catalogue are reported and skipped; catalogue
endpoints the run did not exercise keep the profile's value (and are listed as such).

These demands are what a capacity plan needs (how much CPU the mix costs). They are not
enough to predict one measured machine's latency: its CPU per request falls with load and
most of a request's time does not queue, so ``harness validate`` predicts with a service
curve fitted on calibration stages at several loads (:mod:`models.service_curve`) and uses
these demands only to rescale it to another persona mix.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import tomli_w
from scipy.optimize import nnls

from models.catalogue import endpoints as catalogue_endpoints
from models.profile import Demand, Profile
from models.rounding import rounded
from models.scrapes import CalibrationError, RouteCounters, Scrape, endpoint_name, read_scrapes

__all__ = [
    "Calibration",
    "CalibrationError",
    "EndpointEstimate",
    "Method",
    "RouteCounters",
    "Scrape",
    "calibrate",
    "calibrate_run",
    "endpoint_name",
    "own_endpoints",
    "read_scrapes",
]

Method = Literal["law", "nnls"]
_NO_DEMAND = Demand(cpu_ms=0.0, db_ms=0.0)  # an endpoint of your own the profile has no figure for
FloatArray = npt.NDArray[np.float64]
_RANK_TOLERANCE = 1e-6  # relative singular value below which a window direction is "the same"


@dataclass(frozen=True)
class EndpointEstimate:
    """Both estimates of one endpoint's demands, in ms per request.

    ``agreement`` is |law − nnls| / law on CPU with the overhead added to the law estimate
    (both then describe process CPU); None when either is unavailable.
    """

    endpoint: str
    requests: int
    law_cpu_ms: float
    law_db_ms: float
    nnls_cpu_ms: float
    nnls_db_ms: float
    profile_cpu_ms: float
    profile_db_ms: float
    agreement: float | None


@dataclass(frozen=True)
class Calibration:
    """The result of :func:`calibrate`: estimates, diagnostics and the overlay's demands."""

    source: str
    method: Method
    duration_s: float
    windows: int
    estimates: tuple[EndpointEstimate, ...]
    demands: Mapping[str, tuple[float, float]]
    """Endpoint -> (cpu_ms, db_ms) written to the overlay."""
    unknown_endpoints: tuple[str, ...]
    """Seen in the run, not in the catalogue: skipped."""
    unseen_endpoints: tuple[str, ...]
    """In the catalogue, not exercised by the run: the profile's value is kept."""
    process_cpu_s: float
    attributed_cpu_s: float
    overhead_cpu_ms: float
    nnls_background_cores: float
    nnls_rank: int
    nnls_unknowns: int
    notes: tuple[str, ...]
    own_workload: Mapping[str, Any] | None = None
    """Personas of your own: their table and the measured ``endpoint_mix``, written into the
    overlay beside the demands so that ``harness model`` has the whole workload."""

    @property
    def nnls_identifiable(self) -> bool:
        """Whether the windows separate every endpoint (full column rank)."""
        return self.nnls_rank >= self.nnls_unknowns

    @property
    def total_agreement(self) -> float | None:
        """|process CPU predicted by NNLS − measured| / measured, over the whole run."""
        if self.process_cpu_s <= 0:
            return None
        predicted = self.nnls_background_cores * self.duration_s + sum(
            e.nnls_cpu_ms / 1e3 * e.requests for e in self.estimates
        )
        return abs(predicted - self.process_cpu_s) / self.process_cpu_s

    def overlay(self) -> dict[str, Any]:
        """The profile overlay as a mapping: ``{"service_demands": {endpoint: {...}}}``."""
        demands = {
            e: {"cpu_ms": round(cpu, 4), "db_ms": round(db, 4)}
            for e, (cpu, db) in sorted(self.demands.items())
        }
        return {**(self.own_workload or {}), "service_demands": demands}

    def overlay_toml(self) -> str:
        header = (
            f"# Service demands calibrated by `harness calibrate` from {self.source}\n"
            f"# method: {self.method}; {self.windows} scrape windows over "
            f"{self.duration_s:.0f} s. Endpoints not listed keep the profile's values.\n"
        )
        return header + tomli_w.dumps(self.overlay())

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "method": self.method,
            "duration_s": round(self.duration_s, 3),
            "windows": self.windows,
            "process_cpu_s": round(self.process_cpu_s, 4),
            "attributed_cpu_s": round(self.attributed_cpu_s, 4),
            "overhead_cpu_ms": round(self.overhead_cpu_ms, 4),
            "nnls": {
                "background_cores": round(self.nnls_background_cores, 4),
                "rank": self.nnls_rank,
                "unknowns": self.nnls_unknowns,
                "identifiable": self.nnls_identifiable,
                "total_agreement": rounded(self.total_agreement, 4),
            },
            "endpoints": [
                {
                    "endpoint": e.endpoint,
                    "requests": e.requests,
                    "law": {"cpu_ms": round(e.law_cpu_ms, 4), "db_ms": round(e.law_db_ms, 4)},
                    "nnls": {"cpu_ms": round(e.nnls_cpu_ms, 4), "db_ms": round(e.nnls_db_ms, 4)},
                    "profile": {"cpu_ms": e.profile_cpu_ms, "db_ms": e.profile_db_ms},
                    "agreement": rounded(e.agreement, 4),
                }
                for e in self.estimates
            ],
            "unknown_endpoints": list(self.unknown_endpoints),
            "unseen_endpoints": list(self.unseen_endpoints),
            "overlay": self.overlay()["service_demands"],
            "notes": list(self.notes),
        }


def calibrate_run(
    run_dir: Path, profile: Profile, method: Method = "law", include_overhead: bool = True
) -> Calibration:
    """Calibrate from ``run_dir/server.json`` (see :func:`calibrate`)."""
    if not run_dir.is_dir():
        raise CalibrationError(f"{run_dir}: not a directory (expected a run directory)")
    path = run_dir / "server.json"
    return calibrate(read_scrapes(path), profile, str(run_dir), method, include_overhead)


def own_endpoints(profile: Profile, scrapes: Sequence[Scrape]) -> frozenset[str]:
    """The workload's endpoints of a target of your own: every route its counter saw but the
    harness's requests (readiness, health, metrics)."""
    target = profile.target
    own = {target.ready_path, target.health_path, target.metrics.url, "/metrics"}
    seen = {name for scrape in scrapes for name in scrape.routes}
    return frozenset(name for name in seen if name.partition(" ")[2] not in own)


def calibrate(
    scrapes: Sequence[Scrape],
    profile: Profile,
    source: str = "scrapes",
    method: Method = "law",
    include_overhead: bool = True,
) -> Calibration:
    """Estimate demands from scrapes by the demand law and by NNLS (module docstring).

    Args:
        scrapes: cumulative counters in time order (at least two).
        profile: supplies the catalogue's demands for comparison and for unseen endpoints.
        source: named in messages and in the overlay's header.
        method: ``"law"`` (demand law + overhead) or ``"nnls"`` for the overlay's values.
        include_overhead: add the unattributed CPU per request to the law's CPU estimates.
    """
    if method not in ("law", "nnls"):
        raise CalibrationError(f"method = {method!r}: expected 'law' or 'nnls'")
    notes: list[str] = []
    marketplace = profile.personas.is_marketplace()
    known = frozenset(catalogue_endpoints()) if marketplace else own_endpoints(profile, scrapes)
    windows = _windows(scrapes, source, notes)
    columns = _columns(windows, source, notes, known)
    fit = _regression(windows, columns, notes)
    overhead_s = fit.overhead_per_request_s(windows, columns)
    estimates, demands = _estimates(
        windows, columns, fit, profile, overhead_s, method, include_overhead
    )
    unseen = tuple(sorted(known - set(demands)))
    if unseen:
        notes.append(
            f"{len(unseen)} catalogue endpoint(s) not exercised keep the profile's demands: "
            + ", ".join(unseen)
        )
    return Calibration(
        source=source,
        method=method,
        duration_s=float(windows.durations.sum()),
        windows=len(windows.durations),
        estimates=estimates,
        demands=demands,
        unknown_endpoints=columns.unknown,
        unseen_endpoints=unseen,
        process_cpu_s=columns.process_cpu_s,
        attributed_cpu_s=columns.attributed_cpu_s,
        overhead_cpu_ms=overhead_s * 1e3,
        nnls_background_cores=fit.background_cores,
        nnls_rank=fit.rank,
        nnls_unknowns=fit.unknowns,
        notes=tuple(notes),
        own_workload=None if marketplace else _own_workload(profile, estimates),
    )


def _own_workload(profile: Profile, estimates: Sequence[EndpointEstimate]) -> dict[str, Any]:
    """The personas of your own and each endpoint's measured share of the requests."""
    total = sum(e.requests for e in estimates)
    mix = {e.endpoint: round(e.requests / total, 6) for e in estimates} if total else {}
    personas = profile.model_dump(mode="json")["personas"]
    return {"personas": personas, "endpoint_mix": mix}


@dataclass(frozen=True)
class _Windows:
    """Differences of consecutive scrapes, one row per usable window, one column per route."""

    names: list[str]
    requests: FloatArray
    cpu_s: FloatArray
    db_s: FloatArray
    process_cpu_s: FloatArray
    durations: FloatArray


def _windows(scrapes: Sequence[Scrape], source: str, notes: list[str]) -> _Windows:
    """The scrape windows. A counter going down means the service restarted in between; that
    window cannot be measured and is dropped (and a note says so)."""
    ordered = sorted(scrapes, key=lambda s: s.t_s)
    if len(ordered) < 2:
        raise CalibrationError(
            f"{source}: {len(ordered)} scrape(s); at least 2 are needed to measure anything"
        )
    names = sorted({name for s in ordered for name in s.routes})
    zero = RouteCounters(0.0, 0.0, 0.0)
    rows: list[tuple[list[float], list[float], list[float], float, float]] = []
    dropped = 0
    for before, after in itertools.pairwise(ordered):
        old = [before.routes.get(n, zero) for n in names]
        new = [after.routes.get(n, zero) for n in names]
        d_req = [b.requests - a.requests for a, b in zip(old, new, strict=True)]
        d_cpu = [b.cpu_seconds - a.cpu_seconds for a, b in zip(old, new, strict=True)]
        d_db = [b.db_seconds - a.db_seconds for a, b in zip(old, new, strict=True)]
        dt = after.t_s - before.t_s
        d_process = after.cpu_seconds - before.cpu_seconds
        if dt <= 0 or d_process < 0 or min(d_req + d_cpu + d_db, default=0.0) < 0:
            dropped += 1
            continue
        rows.append((d_req, d_cpu, d_db, d_process, dt))
    if dropped:
        notes.append(f"{dropped} window(s) dropped: counters went backwards (a restart?)")
    if not rows:
        raise CalibrationError(f"{source}: no usable scrape window (counters never increase)")
    req, cpu, db, process, durations = zip(*rows, strict=True)
    return _Windows(
        names, np.array(req), np.array(cpu), np.array(db), np.array(process), np.array(durations)
    )


@dataclass(frozen=True)
class _Columns:
    """Which routes the windows saw, and which of those the catalogue knows."""

    seen: list[int]
    """Column indices of routes with requests (catalogue or not: all burn process CPU)."""
    known: list[int]
    """Those of them the catalogue names: the endpoints that get estimates."""
    unknown: tuple[str, ...]
    process_cpu_s: float
    attributed_cpu_s: float
    """CPU the routes were charged for, over the whole run."""
    requests: float


def _columns(
    windows: _Windows, source: str, notes: list[str], catalogue: frozenset[str]
) -> _Columns:
    names = windows.names
    total_req = windows.requests.sum(axis=0)
    seen = [i for i, n in enumerate(names) if total_req[i] > 0]
    unknown = tuple(names[i] for i in seen if names[i] not in catalogue)
    known = [i for i in seen if names[i] in catalogue]
    if not known:
        raise CalibrationError(
            f"{source}: no requests to any catalogue endpoint in {len(windows.durations)} "
            "window(s)" + (f" (seen only: {', '.join(unknown)})" if unknown else "")
        )
    if unknown:
        notes.append(f"skipped endpoints not in the catalogue: {', '.join(unknown)}")
    process_cpu = float(np.sum(windows.process_cpu_s))
    attributed = float(windows.cpu_s[:, seen].sum())
    if process_cpu < attributed:
        notes.append(
            f"process CPU {process_cpu:.3f} s is below the CPU charged to routes "
            f"{attributed:.3f} s: the process counter may be missing workers"
        )
    return _Columns(seen, known, unknown, process_cpu, attributed, float(total_req[seen].sum()))


@dataclass(frozen=True)
class _Regression:
    """NNLS of utilization on per-route throughput: per-column demands, then the background."""

    cpu: FloatArray
    db: FloatArray
    rank: int
    unknowns: int

    @property
    def background_cores(self) -> float:
        return float(self.cpu[-1])

    def overhead_per_request_s(self, windows: _Windows, columns: _Columns) -> float:
        """The unattributed CPU, less the background the regression found (load-independent
        work such as the scrapes' own bookkeeping), spread over every request."""
        background_s = self.background_cores * float(windows.durations.sum())
        unattributed = columns.process_cpu_s - columns.attributed_cpu_s - background_s
        return max(0.0, unattributed) / columns.requests


def _regression(windows: _Windows, columns: _Columns, notes: list[str]) -> _Regression:
    """NNLS on utilization (cores) against throughput (requests/s), per window, with a
    background column. Columns are scaled to unit norm so the solver treats them alike.
    Routes outside the catalogue (the /metrics scrape itself) burn process CPU too: they get
    columns of their own so that their CPU is not pinned on catalogue endpoints."""
    dt = windows.durations
    seen = columns.seen
    throughput = np.column_stack([windows.requests[:, seen] / dt[:, None], np.ones(len(dt))])
    scale = np.linalg.norm(throughput, axis=0)
    scale[scale == 0] = 1.0
    design = throughput / scale
    cpu_fit, _ = nnls(design, windows.process_cpu_s / dt)
    db_fit, _ = nnls(design, windows.db_s[:, seen].sum(axis=1) / dt)
    singular = np.linalg.svd(design, compute_uv=False)
    rank = int(np.sum(singular > singular[0] * _RANK_TOLERANCE)) if singular.size else 0
    if rank < design.shape[1]:
        notes.append(
            f"NNLS cannot separate the endpoints: the windows span {rank} of "
            f"{design.shape[1]} directions (a fixed request mix); its per-endpoint split is "
            "one of many that fit equally well, its total is still meaningful"
        )
    return _Regression(cpu_fit / scale, db_fit / scale, rank, design.shape[1])


def _estimates(
    windows: _Windows,
    columns: _Columns,
    fit: _Regression,
    profile: Profile,
    overhead_s: float,
    method: Method,
    include_overhead: bool,
) -> tuple[tuple[EndpointEstimate, ...], dict[str, tuple[float, float]]]:
    """Both estimates of every catalogue endpoint seen, and the demands the overlay holds."""
    estimates: list[EndpointEstimate] = []
    demands: dict[str, tuple[float, float]] = {}
    overhead_ms = overhead_s * 1e3 if include_overhead else 0.0
    for i in columns.known:
        column = columns.seen.index(i)
        name = windows.names[i]
        n = float(windows.requests[:, i].sum())
        law_cpu = float(windows.cpu_s[:, i].sum() / n) * 1e3
        law_db = float(windows.db_s[:, i].sum() / n) * 1e3
        nnls_cpu = float(fit.cpu[column]) * 1e3
        nnls_db = float(fit.db[column]) * 1e3
        reference = law_cpu + overhead_s * 1e3
        declared = profile.service_demands.get(name, _NO_DEMAND)
        estimates.append(
            EndpointEstimate(
                endpoint=name,
                requests=round(n),
                law_cpu_ms=law_cpu,
                law_db_ms=law_db,
                nnls_cpu_ms=nnls_cpu,
                nnls_db_ms=nnls_db,
                profile_cpu_ms=declared.cpu_ms,
                profile_db_ms=declared.db_ms,
                agreement=abs(nnls_cpu - reference) / reference if reference > 0 else None,
            )
        )
        demands[name] = (law_cpu + overhead_ms, law_db) if method == "law" else (nnls_cpu, nnls_db)
    return tuple(estimates), demands
