"""Mean value analysis (MVA) of closed product-form queueing networks.

A closed network is a fixed population of users who cycle forever: think for Z seconds, send
a request that visits a set of *stations* (CPU, database, disks), get the response, think
again. Each station is either

* a **queue** (``"queue"``): one server, processor sharing or FCFS with exponential service,
  so requests wait for each other; or
* a **delay** (``"delay"``): infinitely many servers, so every request just spends its
  demand there (network latency, an external call, think time itself).

Every station is described by its *service demand* D_k = V_k·S_k, the total time one request
spends in service there (see :mod:`models.laws`). Stations with several servers (a tier of
``instances × workers`` or a database pool) are in :mod:`models.multiserver`.

MVA rests on the arrival theorem (Reiser & Lavenberg 1980; Sevcik & Mitrani 1981): in a
product-form network, a request arriving at station k sees the queue the network would have
in steady state *with itself removed*. For one class of users that gives the recursion, from
Q_k(0) = 0, for n = 1, 2, ..., N (Lazowska et al. 1984, QSP §6.4, Algorithm 6.1):

    R_k(n) = D_k·(1 + Q_k(n − 1))        (queue)        R_k(n) = D_k        (delay)
    X(n)   = n / (Z + Σ_k R_k(n))                                   (Little on the loop)
    Q_k(n) = X(n)·R_k(n)                                            (Little at station k)

With several classes (personas) the population is a vector and exact MVA visits every
vector below it: Π_c (N_c + 1) states, fine for tens of users per class, hopeless for
thousands. Bard (1979) and Schweitzer (1979) replaced "the queue with one of my class
removed" by a proportional estimate, Q_k(N − e_c) ≈ Q_k(N) − Q_{c,k}(N)/N_c, which turns the
recursion into a fixed point in N that is solved by iteration in a few milliseconds for any
population. Its error is typically within a few percent of exact MVA (QSP §7.4.2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

from models import arguments
from models.errors import ConvergenceError, ParameterError

__all__ = [
    "DEFAULT_MAX_STATES",
    "ConvergenceError",
    "FloatArray",
    "IntArray",
    "MVAResult",
    "MultiClassResult",
    "StationKind",
    "mva",
    "mva_multiclass",
    "schweitzer_mva",
]

StationKind = Literal["queue", "delay"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_MAX_STATES = 250_000
"""Largest Π_c (N_c + 1) that :func:`mva_multiclass` accepts: the recursion visits every one
of these population vectors, so its time grows with their number (docs/benchmarks.md)."""


_Array = TypeVar("_Array", bound=npt.NDArray[np.generic])


def _frozen(array: _Array) -> _Array:
    """Mark a result array read-only, so a frozen result cannot be changed through it."""
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class MVAResult:
    """The solution of a single-class network for every population n = 1..N.

    Row i of every array is population n = i + 1, so a caller can plot throughput or
    response time against users directly. The arrays are read-only.

    Attributes:
        population: (N,) the populations 1..N.
        throughput: (N,) X(n), requests per second.
        response_time: (N,) R(n) = Σ_k R_k(n), excluding think time.
        residence_time: (N, K) R_k(n), time per request at station k (waiting + service).
        queue_length: (N, K) Q_k(n), mean number of requests at station k.
        utilization: (N, K) U_k(n) = X(n)·D_k / c_k, the busy fraction of each server
            (for a delay station, X·D_k: its mean number of requests in service).
        think_time: Z.
    """

    population: IntArray
    throughput: FloatArray
    response_time: FloatArray
    residence_time: FloatArray
    queue_length: FloatArray
    utilization: FloatArray
    think_time: float


@dataclass(frozen=True)
class MultiClassResult:
    """The solution of a multi-class network at one population vector (read-only arrays).

    Attributes:
        populations: (C,) N_c, users per class.
        throughput: (C,) X_c, requests per second per class.
        response_time: (C,) R_c = Σ_k R_{c,k}, excluding think time.
        residence_time: (C, K) R_{c,k}. For a class with no users: what one arriving
            request of that class would see.
        queue_length: (C, K) Q_{c,k}, requests of class c at station k.
        utilization: (C, K) U_{c,k} = X_c·D_{c,k} / c_k; sum over classes for a station's.
        think_times: (C,) Z_c.
        iterations: fixed-point iterations used (0 for exact MVA).
    """

    populations: IntArray
    throughput: FloatArray
    response_time: FloatArray
    residence_time: FloatArray
    queue_length: FloatArray
    utilization: FloatArray
    think_times: FloatArray
    iterations: int


def _demand_vector(demands: Sequence[float] | FloatArray) -> FloatArray:
    d = np.asarray(demands, dtype=np.float64)
    if d.ndim != 1 or d.size == 0:
        raise ParameterError(f"demands must be a non-empty 1-D sequence, got shape {d.shape}")
    bad = ~np.isfinite(d) | (d < 0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ParameterError(f"demands[{k}] must be a finite number >= 0, got {float(d[k])!r}")
    return d


def _demand_matrix(demands: Sequence[Sequence[float]] | FloatArray) -> FloatArray:
    d = np.asarray(demands, dtype=np.float64)
    if d.ndim != 2 or d.size == 0:
        raise ParameterError(
            f"demands must be a non-empty (classes × stations) matrix, got shape {d.shape}"
        )
    bad = ~np.isfinite(d) | (d < 0)
    if bad.any():
        c, k = (int(i) for i in np.argwhere(bad)[0])
        raise ParameterError(
            f"demands[{c}][{k}] must be a finite number >= 0, got {float(d[c, k])!r}"
        )
    return d


def _single_class_arguments(
    demands: Sequence[float] | FloatArray, population: int, think_time: float
) -> tuple[FloatArray, int, float]:
    """The checked demands, population (>= 1) and think time of a single-class network."""
    d = _demand_vector(demands)
    n_max = arguments.integer("population", population, minimum=1)
    z = arguments.non_negative("think_time", think_time)
    if z + d.sum() == 0:
        raise ParameterError(
            f"demands {d.tolist()!r} and think_time {z!r} are all zero: throughput is unbounded"
        )
    return d, n_max, z


def _delay_mask(kinds: Sequence[StationKind] | None, stations: int) -> npt.NDArray[np.bool_]:
    if kinds is None:
        return np.zeros(stations, dtype=bool)
    if len(kinds) != stations:
        raise ParameterError(f"kinds has {len(kinds)} entries for {stations} stations: {kinds!r}")
    for k, kind in enumerate(kinds):
        if kind not in ("queue", "delay"):
            raise ParameterError(f"kinds[{k}] must be 'queue' or 'delay', got {kind!r}")
    return np.array([kind == "delay" for kind in kinds], dtype=bool)


def _class_vector(name: str, values: Sequence[float] | float, classes: int) -> FloatArray:
    """One value per class: a sequence of exactly ``classes`` values, or one for all."""
    given = np.asarray(values, dtype=np.float64)
    if given.ndim > 1 or (given.ndim == 1 and given.size != classes):
        raise ParameterError(
            f"{name} has {given.size} entries for {classes} classes (give one per class, "
            f"or one value for all): {values!r}"
        )
    v = np.broadcast_to(given, (classes,)).copy()
    bad = ~np.isfinite(v) | (v < 0)
    if bad.any():
        c = int(np.flatnonzero(bad)[0])
        raise ParameterError(f"{name}[{c}] must be a finite number >= 0, got {float(v[c])!r}")
    return v


def _populations(populations: Sequence[int], classes: int) -> IntArray:
    if len(populations) != classes:
        raise ParameterError(
            f"populations has {len(populations)} entries for {classes} classes: {populations!r}"
        )
    return np.array(
        [arguments.integer(f"populations[{c}]", n) for c, n in enumerate(populations)],
        dtype=np.int64,
    )


def _check_cycles(n_vec: IntArray, d: FloatArray, z: FloatArray) -> None:
    """A class with users needs some demand or think time: else its throughput is unbounded."""
    for c in np.flatnonzero((n_vec > 0) & (z + d.sum(axis=1) == 0)):
        raise ParameterError(
            f"class {c} has {n_vec[c]} users but its demands and think time are all zero: "
            "its throughput is unbounded"
        )


def mva(
    demands: Sequence[float] | FloatArray,
    population: int,
    think_time: float = 0.0,
    kinds: Sequence[StationKind] | None = None,
) -> MVAResult:
    """Exact single-class MVA for populations 1..``population`` (QSP Algorithm 6.1).

    Args:
        demands: D_k, seconds of service per request at each station.
        population: N >= 1 users.
        think_time: Z, seconds each user waits between a response and its next request.
        kinds: ``"queue"`` or ``"delay"`` per station; all queues when omitted.

    Cost O(N·K), one vector update per population step (timings: docs/benchmarks.md).

    >>> r = mva([0.605, 2.1, 1.35], population=3, think_time=15.0)
    >>> round(float(r.throughput[-1]), 6), round(float(r.response_time[-1]), 4)
    (0.151516, 4.7998)
    """
    d, n_max, z = _single_class_arguments(demands, population, think_time)
    delay = _delay_mask(kinds, d.size)
    queue = ~delay

    x = np.empty(n_max)
    residence = np.empty((n_max, d.size))
    # R_k(n) = D_k + D_k·Q_k(n−1) for queues, D_k for delays: one fused update per step.
    d_queue = np.where(queue, d, 0.0)
    q = np.zeros(d.size)
    for i in range(n_max):
        r = d + d_queue * q
        x_n = (i + 1) / (z + r.sum())
        q = x_n * r
        x[i] = x_n
        residence[i] = r
    queue_length = x[:, None] * residence
    return MVAResult(
        population=_frozen(np.arange(1, n_max + 1, dtype=np.int64)),
        throughput=_frozen(x),
        response_time=_frozen(residence.sum(axis=1)),
        residence_time=_frozen(residence),
        queue_length=_frozen(queue_length),
        utilization=_frozen(x[:, None] * d[None, :]),
        think_time=z,
    )


def _multiclass_result(
    n: IntArray, x: FloatArray, r: FloatArray, d: FloatArray, z: FloatArray, iterations: int
) -> MultiClassResult:
    return MultiClassResult(
        populations=_frozen(n.copy()),
        throughput=_frozen(x),
        response_time=_frozen(r.sum(axis=1)),
        residence_time=_frozen(r),
        queue_length=_frozen(x[:, None] * r),
        utilization=_frozen(x[:, None] * d),
        think_times=_frozen(z),
        iterations=iterations,
    )


def mva_multiclass(
    demands: Sequence[Sequence[float]] | FloatArray,
    populations: Sequence[int],
    think_times: Sequence[float] | float = 0.0,
    kinds: Sequence[StationKind] | None = None,
    max_states: int = DEFAULT_MAX_STATES,
) -> MultiClassResult:
    """Exact multi-class MVA (QSP §7.3, Algorithm 7.1) at the population vector given.

    Args:
        demands: (C, K) matrix, D_{c,k} of class c at station k.
        populations: N_c per class.
        think_times: Z_c per class, or one value for all.
        kinds: ``"queue"`` or ``"delay"`` per station.
        max_states: refuse networks with more than this many population vectors.

    The recursion visits every vector n ≤ N, Π_c (N_c + 1) of them. Above ``max_states``
    it raises :class:`~models.errors.ParameterError` and points to :func:`schweitzer_mva`.
    """
    d = _demand_matrix(demands)
    classes, stations = d.shape
    n_vec = _populations(populations, classes)
    z = _class_vector("think_times", think_times, classes)
    delay = _delay_mask(kinds, stations)
    _check_cycles(n_vec, d, z)
    states = math.prod(int(n) + 1 for n in n_vec)
    if states > max_states:
        raise ParameterError(
            f"exact multi-class MVA for populations {n_vec.tolist()} needs {states:,} "
            f"population vectors (the product of N_c + 1), above max_states = {max_states:,}; "
            "use schweitzer_mva, the Bard-Schweitzer approximation, at this size"
        )
    shape = tuple(int(n) + 1 for n in n_vec)
    # total[n] is Σ_c Q_{c,k}(n): all the arrival theorem needs from smaller populations.
    total = np.zeros((*shape, stations))
    x = np.zeros(classes)
    r = d.copy()
    for state in np.ndindex(*shape):
        if not any(state):
            continue
        x = np.zeros(classes)
        r = d.copy()
        for c in range(classes):
            if state[c] == 0:
                continue
            below = list(state)
            below[c] -= 1
            r[c] = np.where(delay, d[c], d[c] * (1.0 + total[tuple(below)]))
            x[c] = state[c] / (z[c] + r[c].sum())
        total[state] = (x[:, None] * r).sum(axis=0)
    full = tuple(int(n) for n in n_vec)
    # Classes with no users: the residence one of their requests would see on arrival.
    idle = n_vec == 0
    r[idle] = np.where(delay, d[idle], d[idle] * (1.0 + total[full]))
    return _multiclass_result(n_vec, x, r, d, z, iterations=0)


def schweitzer_mva(
    demands: Sequence[Sequence[float]] | FloatArray,
    populations: Sequence[int],
    think_times: Sequence[float] | float = 0.0,
    kinds: Sequence[StationKind] | None = None,
    tolerance: float = 1e-8,
    max_iterations: int = 100_000,
) -> MultiClassResult:
    """Bard-Schweitzer approximate MVA for multi-class networks of any population.

    Replaces the exact recursion's Q_k(N − e_c) by Q_k(N) − Q_{c,k}(N)/N_c and iterates

        R_{c,k} = D_{c,k}·(1 + Q_k − Q_{c,k}/N_c)      (queue; D_{c,k} for a delay)
        X_c     = N_c / (Z_c + Σ_k R_{c,k})
        Q_{c,k} = X_c·R_{c,k}

    from queue lengths proportional to demand, until no Q_{c,k}/N_c moves by more than
    ``tolerance`` in one iteration (Schweitzer 1979; Bard 1979; QSP §7.4.2). Each iteration
    is a handful of (C × K) array operations, so cost does not grow with the population.
    Raises :class:`ConvergenceError` after ``max_iterations``.

    Accuracy against :func:`mva_multiclass`, as tests/models/test_mva.py holds it: while the
    bottleneck is below about 70 % busy (where sizing operates), per-class throughput within
    1 % and response time within 4 %; around and past the knee with tens of users per class,
    per-class throughput within 5 % and response time within 11 % (the classes' shares of the
    bottleneck are misjudged). Total throughput of a saturated network still tends to
    1/D_max, and errors shrink as populations grow.
    """
    d = _demand_matrix(demands)
    classes, stations = d.shape
    n_vec = _populations(populations, classes)
    z = _class_vector("think_times", think_times, classes)
    delay = _delay_mask(kinds, stations)
    if not tolerance > 0:
        raise ParameterError(f"tolerance must be > 0, got {tolerance!r}")
    if max_iterations < 1:
        raise ParameterError(f"max_iterations must be >= 1, got {max_iterations!r}")
    _check_cycles(n_vec, d, z)

    n = n_vec.astype(np.float64)
    active = n > 0
    inv_n = np.divide(1.0, n, out=np.zeros(classes), where=active)
    queue = ~delay
    # Start from each class's population spread over its stations in proportion to demand.
    cycle = d.sum(axis=1) + z
    q = d * np.divide(n, cycle, out=np.zeros(classes), where=cycle > 0)[:, None]
    r = d.copy()
    x = np.zeros(classes)
    residual = math.inf
    for iteration in range(1, max_iterations + 1):
        seen = q.sum(axis=0)[None, :] - q * inv_n[:, None]
        r = np.where(queue, d * (1.0 + seen), d)
        x = n / (z + r.sum(axis=1))
        q_new = x[:, None] * r
        residual = float(np.max(np.abs(q_new - q) * inv_n[:, None]))
        q = q_new
        if residual <= tolerance:
            return _multiclass_result(n_vec, x, r, d, z, iterations=iteration)
    raise ConvergenceError(max_iterations, residual, tolerance)
