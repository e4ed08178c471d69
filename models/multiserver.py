"""Multi-server stations in closed networks: an app tier of ``instances × workers``, a
database pool of c connections.

A station with c identical servers serves min(j, c) of the j requests present at once: it is
*load dependent*, with service rate α(j) = min(j, c)/D. Mean value analysis still works
(Reiser & Lavenberg 1980), but the residence time now depends on how likely the station is to
have idle servers, so MVA must carry the station's marginal queue-length probabilities
p_k(j | n) (Menascé, Almeida & Dowdy 2004, *Performance by Design*, §14.2):

    R_k(n) = (D_k / c_k)·[1 + Q_k(n − 1) + Σ_{j=0}^{c_k−2} (c_k − 1 − j)·p_k(j | n − 1)]

**Why not the textbook recursion.** QSP §8.3 obtains p_k(j | n) for j ≥ 1 from
p_k(j − 1 | n − 1) and then p_k(0 | n) = 1 − Σ_{j≥1} p_k(j | n). Past the knee the sum is
within rounding of 1, p_k(0 | n) is mostly rounding error, and the recursion multiplies that
error by D·X(n)/j > 1 at every step, so the throughput it returns far past the knee is
visibly wrong and probabilities can even come out negative
(``test_stable_past_saturation_where_the_textbook_recursion_fails`` is such a network).

**What this module does instead (exact, stable).** Every marginal probability is a ratio of
normalising constants (Buzen 1973; Reiser & Lavenberg 1980):

    p_k(j | n) = f_k(j)·G_{−k}(n − j) / G(n),      f_k(j) = D_k^j / Π_{i=1}^{j} min(i, c_k),

where G is the constant of the whole network and G_{−k} that of the network without station
k. Neither needs a sum: MVA itself gives G(n) = G(n − 1)/X(n), so log G(n) = −Σ_{i≤n} log X(i),
and G_{−k} comes the same way from the MVA of the smaller network. Everything is kept in
log space, so nothing overflows, and no probability is ever obtained by subtraction, so no
cancellation can occur. A network with M multi-server stations solves 2^M sub-networks (the
complements, memoised), each in O(N·(K + Σ c_k)); with two such stations (app tier and
database pool) that is four single-class MVAs. Verified against exact rational arithmetic
past saturation (tests/models/test_multiserver.py).

**Fast approximation (Seidmann, Schweitzer & Shalev-Oren 1987).** Replace a c-server
station of demand D by a single-server queue of demand D/c followed by a delay of
D·(c − 1)/c. It turns any multi-server network into an ordinary one, so it also runs inside
Bard-Schweitzer for thousands of users per class, in O(N·K) or O(iterations·C·K), whatever c.
It is exact at both ends (one user sees D; the saturated station delivers c/D), worst at the
knee, and *pessimistic*: it never over-estimates throughput nor under-estimates response
time. Against the exact method over populations 1..3N*, tests/models/test_multiserver.py
holds the mean response time's over-estimate to at most 0.8/√c, the throughput's
under-estimate to the same, and the latter to under 2 % when users think for at least ten
times the station's demand (Z ≥ 10·D, the interactive web case).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from models.errors import ParameterError
from models.mva import (
    FloatArray,
    MultiClassResult,
    MVAResult,
    StationKind,
    _frozen,
    _single_class_arguments,
    mva,
    schweitzer_mva,
)

__all__ = [
    "MAX_MULTISERVER_STATIONS",
    "ServerCount",
    "multiserver_mva",
    "seidmann_mva",
    "seidmann_schweitzer_mva",
    "seidmann_split",
]

MAX_MULTISERVER_STATIONS = 10
"""Most stations with 2 <= c < ∞ that :func:`multiserver_mva` solves (2^M sub-networks)."""

ServerCount = int | float
"""Servers at a station: an integer >= 1, or ``math.inf`` for a delay (infinite-server)."""


def _server_vector(servers: Sequence[ServerCount], stations: int) -> FloatArray:
    if len(servers) != stations:
        raise ParameterError(
            f"servers has {len(servers)} entries for {stations} stations: {servers!r}"
        )
    for k, c in enumerate(servers):
        ok = c == math.inf or (float(c).is_integer() and c >= 1)
        if isinstance(c, bool) or not ok:
            raise ParameterError(f"servers[{k}] must be an integer >= 1 or math.inf, got {c!r}")
    return np.array(servers, dtype=np.float64)


def _frozen_result(
    x: FloatArray, residence: FloatArray, d: FloatArray, c: FloatArray, z: float
) -> MVAResult:
    per_server = np.where(np.isinf(c), 1.0, c)
    return MVAResult(
        population=_frozen(np.arange(1, x.size + 1, dtype=np.int64)),
        throughput=_frozen(x),
        response_time=_frozen(residence.sum(axis=1)),
        residence_time=_frozen(residence),
        queue_length=_frozen(x[:, None] * residence),
        utilization=_frozen(x[:, None] * d[None, :] / per_server[None, :]),
        think_time=z,
    )


def multiserver_mva(
    demands: Sequence[float] | FloatArray,
    servers: Sequence[ServerCount],
    population: int,
    think_time: float = 0.0,
) -> MVAResult:
    """Exact single-class MVA with multi-server stations, stable past saturation.

    Args:
        demands: D_k per station, seconds per request (total over its servers' visits).
        servers: c_k per station: 1 for an ordinary queue, c for c identical servers
            (an app tier of 8 instances × 4 workers is 32), ``math.inf`` for a delay.
        population: N >= 1 users.
        think_time: Z.

    Returns the same curves as :func:`models.mva.mva`, for n = 1..N; ``utilization`` is per
    server, X·D_k/c_k. Cost O(2^M · N · (K + Σ c_k)) for M stations with 2 <= c < ∞; for
    sizing sweeps at thousands of users :func:`seidmann_schweitzer_mva` is far cheaper
    (timings of both: docs/benchmarks.md).

    >>> r = multiserver_mva([0.05, 0.8], servers=[1, 10], population=140, think_time=1.0)
    >>> round(float(r.throughput[-1]), 4)
    12.5
    """
    d, n_max, z = _single_class_arguments(demands, population, think_time)
    c = _server_vector(servers, d.size)
    multi = [k for k in range(d.size) if 2 <= c[k] < math.inf and d[k] > 0]
    if len(multi) > MAX_MULTISERVER_STATIONS:
        raise ParameterError(
            f"{len(multi)} multi-server stations need 2^{len(multi)} sub-networks, above "
            f"MAX_MULTISERVER_STATIONS = {MAX_MULTISERVER_STATIONS}; use seidmann_mva"
        )
    _, x, residence = _Subnetworks(d, c, z, n_max, multi).solve(frozenset())
    return _frozen_result(x, residence, d, c, z)


_Solution = tuple[FloatArray, FloatArray, FloatArray]
"""(log G(0..N), X(1..N), R_k(1..N)) of one (sub-)network."""


class _Subnetworks:
    """The MVA of the network and of each network without some of its multi-server stations.

    The residence time at a multi-server station k needs G_{−k}, the normalising constants of
    the network without k; those come from the same recursion one level down, so every
    subset of removed stations is solved once and memoised (2^M solutions for M stations).
    """

    def __init__(
        self, d: FloatArray, c: FloatArray, z: float, n_max: int, multi: list[int]
    ) -> None:
        self.d, self.c, self.z, self.n_max, self.multi = d, c, z, n_max, multi
        # log f_k(j) = j·log D_k − log j! for j < c_k, the only j the residence formula needs.
        self.log_f: dict[int, FloatArray] = {}
        self.weight: dict[int, FloatArray] = {}
        for k in multi:
            j = np.arange(int(c[k]) - 1, dtype=np.float64)
            self.log_f[k] = j * math.log(d[k]) - np.array([math.lgamma(i + 1.0) for i in j])
            self.weight[k] = c[k] - 1.0 - j
        self.memo: dict[frozenset[int], _Solution] = {}

    def solve(self, removed: frozenset[int]) -> _Solution:
        """MVA of the network without the stations in ``removed``."""
        if removed not in self.memo:
            self.memo[removed] = self._recursion(removed)
        return self.memo[removed]

    def _recursion(self, removed: frozenset[int]) -> _Solution:
        d, c, z, n_max = self.d, self.c, self.z, self.n_max
        present = [k for k in self.multi if k not in removed]
        log_g_without = {k: self.solve(removed | {k})[0] for k in present}
        keep = np.ones(d.size, dtype=bool)
        keep[list(removed)] = False
        simple_queue = keep & (c == 1)
        fixed = keep & np.isinf(c)  # delays: residence is the demand, whatever n
        log_g = np.zeros(n_max + 1)
        x = np.empty(n_max)
        residence = np.zeros((n_max, d.size))
        if z + d[keep].sum() == 0:
            # Nothing left to hold users (a lone station removed, no think time): G(n) = 0
            # for n >= 1, so that station can never be idle with users in the network.
            log_g[1:] = -math.inf
            return log_g, x, residence
        r = np.where(fixed, d, 0.0)
        q = np.zeros(d.size)
        for n in range(1, n_max + 1):
            r[simple_queue] = d[simple_queue] * (1.0 + q[simple_queue])
            for k in present:
                idle = self._idle_servers(k, n, log_g_without[k], log_g[n - 1])
                r[k] = d[k] / c[k] * (1.0 + q[k] + idle)
            x_n = n / (z + r.sum())
            q = x_n * r
            x[n - 1] = x_n
            residence[n - 1] = r
            log_g[n] = log_g[n - 1] - math.log(x_n)
        return log_g, x, residence

    def _idle_servers(self, k: int, n: int, log_g_rest: FloatArray, log_g_prev: float) -> float:
        """Σ_{j=0}^{c_k−2} (c_k − 1 − j)·p_k(j | n − 1): station k's idle servers, weighted."""
        top = min(int(self.c[k]) - 2, n - 1)  # p_k(j | n − 1) is zero for j > n − 1
        # p_k(j | n−1) = f_k(j)·G_{−k}(n−1−j)/G(n−1), for j = 0..top, in log space.
        g_rest = log_g_rest[n - 1 - top : n][::-1]
        log_p = self.log_f[k][: top + 1] + g_rest - log_g_prev
        return float(self.weight[k][: top + 1] @ np.exp(log_p))


def seidmann_split(
    demands: Sequence[float] | Sequence[Sequence[float]] | FloatArray,
    servers: Sequence[ServerCount],
) -> tuple[FloatArray, FloatArray]:
    """Seidmann's transformation: a c-server station of demand D becomes a single-server
    queue of demand D/c plus a delay of D·(c − 1)/c (Seidmann et al. 1987).

    Works on a vector of K demands or a (classes × K) matrix; returns (queue part, delay
    part) of the same shape. A delay station (c = ∞) is all delay.
    """
    d = np.asarray(demands, dtype=np.float64)
    if d.ndim not in (1, 2) or d.size == 0:
        raise ParameterError(f"demands must be a non-empty vector or matrix, got shape {d.shape}")
    if not (np.isfinite(d) & (d >= 0)).all():
        raise ParameterError(f"demands must be finite numbers >= 0, got {d.tolist()!r}")
    c = _server_vector(servers, d.shape[-1])
    infinite = np.isinf(c)
    per_server = np.where(infinite, 1.0, c)
    queue_part = np.where(infinite, 0.0, d / per_server)
    return queue_part, d - queue_part


def _split_kinds(stations: int) -> list[StationKind]:
    """Station kinds of a Seidmann-split network: K queues, then K delays."""
    queue: StationKind = "queue"
    delay: StationKind = "delay"
    return [queue] * stations + [delay] * stations


def seidmann_mva(
    demands: Sequence[float] | FloatArray,
    servers: Sequence[ServerCount],
    population: int,
    think_time: float = 0.0,
) -> MVAResult:
    """Approximate single-class MVA with multi-server stations by Seidmann's transformation.

    Same arguments and result as :func:`multiserver_mva`, at the cost of plain MVA on 2K
    stations, O(N·K), independent of c. Approximate and pessimistic: throughput never above
    exact, response time never below it (the module docstring gives the bounds).
    """
    d, n_max, z = _single_class_arguments(demands, population, think_time)
    c = _server_vector(servers, d.size)
    queue_part, delay_part = seidmann_split(d, servers)
    kinds = _split_kinds(d.size)
    split = mva(np.concatenate([queue_part, delay_part]), n_max, z, kinds=kinds)
    k = d.size
    residence = split.residence_time[:, :k] + split.residence_time[:, k:]
    return _frozen_result(split.throughput.copy(), residence, d, c, z)


def seidmann_schweitzer_mva(
    demands: Sequence[Sequence[float]] | FloatArray,
    servers: Sequence[ServerCount],
    populations: Sequence[int],
    think_times: Sequence[float] | float = 0.0,
    tolerance: float = 1e-8,
    max_iterations: int = 100_000,
) -> MultiClassResult:
    """Multi-class approximate MVA with multi-server stations: Bard-Schweitzer on the
    Seidmann-transformed network, mapped back to the K stations given.

    This is the fast path for sizing: thousands of users per class, an app tier of hundreds
    of workers, a database pool of c connections, at a cost independent of the populations
    and of c.
    ``utilization`` is per server, X_c·D_{c,k}/c_k.
    """
    d = np.asarray(demands, dtype=np.float64)
    if d.ndim != 2:
        raise ParameterError(f"demands must be a (classes × stations) matrix, got shape {d.shape}")
    queue_part, delay_part = seidmann_split(d, servers)
    c = _server_vector(servers, d.shape[1])
    k = d.shape[1]
    kinds = _split_kinds(k)
    split = schweitzer_mva(
        np.concatenate([queue_part, delay_part], axis=1),
        populations,
        think_times,
        kinds=kinds,
        tolerance=tolerance,
        max_iterations=max_iterations,
    )
    residence = split.residence_time[:, :k] + split.residence_time[:, k:]
    x = split.throughput
    per_server = np.where(np.isinf(c), 1.0, c)
    return MultiClassResult(
        populations=split.populations,
        throughput=x,
        response_time=_frozen(residence.sum(axis=1)),
        residence_time=_frozen(residence),
        queue_length=_frozen(x[:, None] * residence),
        utilization=_frozen(x[:, None] * d / per_server[None, :]),
        think_times=split.think_times,
        iterations=split.iterations,
    )
