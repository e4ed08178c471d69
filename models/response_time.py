"""The response-time distribution of one request that passes through stations in series.

An API request first queues for an app worker's CPU and is served, then queues for a database
connection and holds it. Its end-to-end time is the *sum* of its times at the stations, and the
service-level objective is a percentile of that sum, not the sum of the stations' percentiles.

Each station is described the way an M/M/c queue behaves (:mod:`models.erlang`): with
probability ``p`` the request waits, for an exponential time of mean ``w`` (the conditional
wait), then it is served for an exponential time of mean ``s``::

    T_k = [Exp(1/w_k) with probability p_k, else 0] + Exp(1/s_k)

For an open M/M/c station, ``p`` is Erlang C and ``1/w = cμ − λ`` exactly. For a station of a
closed network solved by MVA, where no closed form exists, :meth:`StationDelay.matched` keeps
that shape but chooses ``w`` so that the mean wait equals the MVA's (an assumption, stated in
the prediction's docstring).

A sum of such stages is a *phase-type* distribution: a continuous-time Markov chain on the
phases (wait of station 1, service of station 1, wait of station 2, ...) that starts in phase
``i`` with probability ``α_i`` and moves forward until it leaves the last service phase. With
``T`` its sub-generator (phase rates on the diagonal, negated; forward moves off it),

    P(R > t) = α · exp(T·t) · 1                 (Neuts 1981, *Matrix-Geometric Solutions*)

The phases only move forward, so ``T`` is triangular and its eigenvalues are the phase rates.
When they are distinct ``exp(T·t) = V·diag(e^(−r·t))·V⁻¹`` and the survival function is a
short sum ``Σ_i c_i·e^(−r_i·t)``, computed once and then evaluated at the cost of one
exponential per phase (a general ``expm`` per call is too slow for the sizing's bisections,
which evaluate the survival function hundreds of times; docs/benchmarks.md). Two stations
may share a rate (or nearly), where this form, like the closed-form hypoexponential, divides
by zero or cancels catastrophically: then the general ``expm`` is used, exact but slower.
Percentiles come from Brent's method on the survival function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.linalg import expm
from scipy.optimize import brentq

from models.arguments import non_negative, unit_interval
from models.erlang import erlang_c
from models.errors import UnstableError

__all__ = ["ResponseTime", "StationDelay"]

_QUANTILE_TOLERANCE = 1e-9  # seconds: far below the 0.1 ms the reports print
_MIN_RATE_GAP = 1e-2  # below this relative gap between two rates, use expm (see _spectral)
FloatArray = npt.NDArray[np.float64]


def _spectral(alpha: FloatArray, generator: FloatArray) -> tuple[FloatArray, FloatArray] | None:
    """Rates r_i and weights c_i with α·exp(T·t)·1 = Σ_i c_i·e^(−r_i·t), or None.

    None when two phase rates are closer than ``_MIN_RATE_GAP`` (relative): the weights then
    grow like 1/gap^(n−1) and cancel catastrophically, and the caller falls back to ``expm``.
    """
    if alpha.size == 0:
        return np.zeros(0), np.zeros(0)
    rates = np.sort(-np.diag(generator))
    if rates.size > 1 and np.min(np.diff(rates) / rates[1:]) < _MIN_RATE_GAP:
        return None
    eigenvalues, vectors = np.linalg.eig(generator)
    left = alpha @ vectors
    right = np.linalg.solve(vectors, np.ones(alpha.size))
    return -eigenvalues.real, (left * right).real


@dataclass(frozen=True)
class StationDelay:
    """One station's share of a request's time: an optional wait, then the service.

    Attributes:
        service_s: mean service time s (seconds); 0 for a station the request does not use.
        wait_probability: p, the chance the request has to wait.
        conditional_wait_s: mean wait given that it waits, w (seconds).
    """

    service_s: float
    wait_probability: float = 0.0
    conditional_wait_s: float = 0.0

    def __post_init__(self) -> None:
        non_negative("service_s", self.service_s)
        unit_interval("wait_probability", self.wait_probability)
        non_negative("conditional_wait_s", self.conditional_wait_s)

    @property
    def mean_s(self) -> float:
        """E[T_k] = p·w + s."""
        return self.wait_probability * self.conditional_wait_s + self.service_s

    @classmethod
    def mmc(cls, arrival_rate: float, service_s: float, servers: int) -> StationDelay:
        """The exact M/M/c sojourn: p = Erlang C(c, λs), w = 1/(c/s − λ).

        Raises :class:`~models.errors.UnstableError` when λ·s >= c (no steady state),
        naming the load.
        """
        if service_s == 0 or arrival_rate == 0:
            return cls(service_s=service_s)
        load = arrival_rate * service_s
        if load >= servers:
            raise UnstableError(
                f"unstable station: offered load {load:.6g} erlangs >= {servers} servers"
            )
        return cls(
            service_s=service_s,
            wait_probability=erlang_c(servers, load),
            conditional_wait_s=1.0 / (servers / service_s - arrival_rate),
        )

    @classmethod
    def matched(cls, service_s: float, mean_wait_s: float, wait_probability: float) -> StationDelay:
        """A station whose mean wait is ``mean_wait_s`` (from MVA), split as p and w = W/p."""
        if mean_wait_s <= 0 or wait_probability <= 0:
            return cls(service_s=service_s)
        p = min(1.0, wait_probability)
        return cls(service_s=service_s, wait_probability=p, conditional_wait_s=mean_wait_s / p)


class ResponseTime:
    """The phase-type distribution of the time through ``stations`` in series.

    >>> r = ResponseTime([StationDelay.mmc(2.0, 1.0, 3)])
    >>> round(r.quantile(0.95), 4)  # the M/M/3 sojourn p95 of models.erlang
    4.0207
    """

    def __init__(self, stations: Sequence[StationDelay]) -> None:
        self.stations = tuple(stations)
        rates: list[float] = []
        # Each phase: (rate, probability of moving to the next *station*'s entry on leaving).
        # A wait phase always moves to its own station's service phase.
        entries: list[list[tuple[int, float]]] = []  # per station: [(phase index, probability)]
        exits: list[int] = []  # per station: its service phase (or -1 when it has none)
        for station in self.stations:
            entry: list[tuple[int, float]] = []
            service_phase = -1
            if station.service_s > 0:
                service_phase = len(rates) + (1 if self._waits(station) else 0)
            if self._waits(station):
                entry.append((len(rates), station.wait_probability))
                rates.append(1.0 / station.conditional_wait_s)
                if service_phase >= 0:
                    entry.append((service_phase, 1.0 - station.wait_probability))
            elif service_phase >= 0:
                entry.append((service_phase, 1.0))
            if service_phase >= 0:
                rates.append(1.0 / station.service_s)
            entries.append(entry)
            exits.append(service_phase)
        n = len(rates)
        self._generator: FloatArray = np.diag(-np.array(rates, dtype=np.float64))
        self._alpha: FloatArray = np.zeros(n)
        # Entering the chain from "before station 0" and from each station's exit, skipping
        # stations with no phase at all (the request passes straight through them).
        self._fill_entry(source=None, rate=1.0, start=0, entries=entries)
        for k, station in enumerate(self.stations):
            last = exits[k]
            if self._waits(station):
                wait_phase = entries[k][0][0]
                if last >= 0:
                    self._generator[wait_phase, last] += rates[wait_phase]
                else:  # a wait with no service after it leaves the station directly
                    last = wait_phase
            if last >= 0:
                self._fill_entry(last, rates[last], k + 1, entries)
        self._spectrum = _spectral(self._alpha, self._generator)
        self._ones = np.ones(n)

    @staticmethod
    def _waits(station: StationDelay) -> bool:
        return station.wait_probability > 0 and station.conditional_wait_s > 0

    def _fill_entry(
        self, source: int | None, rate: float, start: int, entries: list[list[tuple[int, float]]]
    ) -> None:
        for entry in entries[start:]:
            if not entry:
                continue  # a station with no phases: look at the next one
            for phase, probability in entry:
                if source is None:
                    self._alpha[phase] += probability
                else:
                    self._generator[source, phase] += rate * probability
            return

    @property
    def mean_s(self) -> float:
        return sum(s.mean_s for s in self.stations)

    def survival(self, t: float) -> float:
        """P(R > t) = Σ_i c_i·e^(−r_i·t), the matrix exponential in spectral form."""
        if self._alpha.size == 0:
            return 0.0
        if t <= 0:
            return 1.0
        if self._spectrum is None:
            value = float(self._alpha @ expm(self._generator * t) @ self._ones)
        else:
            rates, weights = self._spectrum
            value = float(weights @ np.exp(-rates * t))
        return min(1.0, max(0.0, value))

    def cdf(self, t: float) -> float:
        """P(R <= t)."""
        return 1.0 - self.survival(t)

    def quantile(self, q: float) -> float:
        """The q-quantile of R in seconds (Brent's method, bracketed by doubling the mean)."""
        q = unit_interval("quantile", q, high_open=True)
        if q == 0.0 or self._alpha.size == 0:
            return 0.0
        target = 1.0 - q

        def excess(t: float) -> float:
            return self.survival(t) - target

        high = max(self.mean_s, 1e-12)
        while excess(high) > 0:
            high *= 2.0
        return float(brentq(excess, 0.0, high, xtol=_QUANTILE_TOLERANCE, maxiter=200))
