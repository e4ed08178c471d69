"""Multi-server stations: the stable exact method against exact rational arithmetic past
saturation, the textbook recursion's failure there, and Seidmann's approximation's error."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.multiserver import (
    multiserver_mva,
    seidmann_mva,
    seidmann_schweitzer_mva,
    seidmann_split,
)
from models.mva import StationKind, mva, schweitzer_mva

LAZOWSKA_DEMANDS = [0.605, 2.1, 1.35]


def reference(
    demands: Sequence[str], servers: Sequence[float], population: int, think_time: str
) -> tuple[list[Fraction], list[Fraction]]:
    """Brute force: normalising constants by convolution (Buzen 1973) in exact rationals.

    G(n) = Σ over all placements of n users of Π_k f_k(n_k), with the think time as an
    infinite-server station and f_k(j) = D_k^j / Π_{i≤j} min(i, c_k). Returns X(n) for
    n = 1..N and the mean queue length Q_k(N) of every station.
    """
    stations = [(Fraction(d), c) for d, c in zip(demands, servers, strict=True)]
    if Fraction(think_time):
        stations.append((Fraction(think_time), math.inf))
    factors = []
    for d, c in stations:
        f = [Fraction(1)]
        for j in range(1, population + 1):
            f.append(f[-1] * d / (j if c == math.inf else min(j, int(c))))
        factors.append(f)

    def convolve(a: list[Fraction], b: list[Fraction]) -> list[Fraction]:
        return [
            sum((a[j] * b[n - j] for j in range(n + 1)), Fraction(0)) for n in range(population + 1)
        ]

    def constant(skip: int | None) -> list[Fraction]:
        g = [Fraction(1)] + [Fraction(0)] * population
        for k, f in enumerate(factors):
            if k != skip:
                g = convolve(g, f)
        return g

    g = constant(None)
    throughput = [g[n - 1] / g[n] for n in range(1, population + 1)]
    queue = []
    for k in range(len(demands)):
        rest = constant(k)
        n = population
        queue.append(
            sum((j * factors[k][j] * rest[n - j] for j in range(n + 1)), Fraction(0)) / g[n]
        )
    return throughput, queue


def textbook_recursion(
    demands: list[float], servers: list[int], population: int, think_time: float
) -> float:
    """QSP §8.3 load-dependent MVA with p(0 | n) = 1 − Σ_{j≥1} p(j | n): the unstable one."""
    q = np.zeros(len(demands))
    marginals = [np.array([1.0]) for _ in demands]
    x = 0.0
    for n in range(1, population + 1):
        r = np.zeros(len(demands))
        for k, (d, c) in enumerate(zip(demands, servers, strict=True)):
            j = np.arange(marginals[k].size)
            r[k] = (
                d * (1 + q[k])
                if c == 1
                else d * np.sum((j + 1) / np.minimum(j + 1, c) * marginals[k])
            )
        x = n / (think_time + r.sum())
        q = x * r
        for k, (d, c) in enumerate(zip(demands, servers, strict=True)):
            if c > 1:
                j = np.arange(1, n + 1)
                p = np.empty(n + 1)
                p[1:] = d * x / np.minimum(j, c) * marginals[k]
                p[0] = 1.0 - p[1:].sum()
                marginals[k] = p
    return x  # fmt: skip


# --- the stable exact method ------------------------------------------------------------------


def test_single_servers_reduce_to_plain_mva() -> None:
    plain = mva(LAZOWSKA_DEMANDS, 40, 15.0)
    multi = multiserver_mva(LAZOWSKA_DEMANDS, [1, 1, 1], 40, 15.0)
    assert np.allclose(multi.throughput, plain.throughput, rtol=1e-13)
    assert np.allclose(multi.queue_length, plain.queue_length, rtol=1e-12)
    assert round(float(multi.throughput[2]), 6) == 0.151516


def test_infinite_servers_are_delay_stations() -> None:
    plain = mva([0.3, 0.9], 30, 2.0, kinds=["queue", "delay"])
    multi = multiserver_mva([0.3, 0.9], [1, math.inf], 30, 2.0)
    assert np.allclose(multi.throughput, plain.throughput, rtol=1e-13)


def test_matches_exact_rationals_with_two_multiserver_stations() -> None:
    demands, servers = ["0.05", "0.4", "0.6"], [1, 3, 4]
    x_ref, q_ref = reference(demands, servers, 30, "2")
    r = multiserver_mva([float(d) for d in demands], servers, 30, 2.0)
    assert np.allclose(r.throughput, [float(x) for x in x_ref], rtol=1e-12, atol=0)
    assert np.allclose(r.queue_length[-1], [float(q) for q in q_ref], rtol=1e-11, atol=0)


@pytest.mark.parametrize(("demand", "think_time"), [("0.83", "2"), ("0.8", "5")])
def test_stable_past_saturation_where_the_textbook_recursion_fails(demand, think_time) -> None:
    # A 10-server station behind a front end: N* ≈ 34, so N = 140 is far past the knee.
    demands, servers, n = ["0.05", demand], [1, 10], 140
    x_ref, q_ref = reference(demands, servers, n, think_time)
    exact = np.array([float(x) for x in x_ref])
    r = multiserver_mva([float(d) for d in demands], servers, n, float(think_time))
    assert np.allclose(r.throughput, exact, rtol=1e-12, atol=0)
    assert np.allclose(r.queue_length[-1], [float(q) for q in q_ref], rtol=1e-11, atol=0)
    naive = textbook_recursion([float(d) for d in demands], servers, n, float(think_time))
    assert abs(naive - exact[-1]) / exact[-1] > 0.05  # why this module exists


def test_lone_multiserver_station_without_think_time() -> None:
    # Its complement is empty: the station is never idle while users are present.
    r = multiserver_mva([1.0], [4], 12)
    assert np.allclose(r.throughput, np.minimum(np.arange(1, 13), 4))
    assert np.allclose(r.response_time, np.maximum(np.arange(1, 13) / 4, 1.0))


@settings(max_examples=40, derandomize=True, deadline=None)
@given(
    demand=st.floats(0.01, 2.0),
    servers=st.integers(1, 30),
    front=st.floats(0.001, 0.2),
    think_time=st.floats(0.0, 20.0),
    population=st.integers(1, 150),
)
def test_multiserver_obeys_the_operational_laws(demand, servers, front, think_time, population):
    r = multiserver_mva([front, demand], [1, servers], population, think_time)
    assert np.allclose(r.queue_length.sum(axis=1) + r.throughput * think_time, r.population)
    assert (r.utilization <= 1 + 1e-9).all()
    assert (np.diff(r.throughput) >= -1e-9 * r.throughput[1:]).all()
    assert r.throughput[-1] <= min(servers / demand, 1 / front) * (1 + 1e-9)


# --- Seidmann's approximation -----------------------------------------------------------------


def test_seidmann_split() -> None:
    queue, delay = seidmann_split([1.0, 2.0, 0.5], [4, 1, math.inf])
    assert queue.tolist() == [0.25, 2.0, 0.0]
    assert delay.tolist() == [0.75, 0.0, 0.5]


def test_seidmann_is_exact_for_single_servers() -> None:
    plain = mva(LAZOWSKA_DEMANDS, 20, 15.0)
    approx = seidmann_mva(LAZOWSKA_DEMANDS, [1, 1, 1], 20, 15.0)
    assert np.allclose(approx.throughput, plain.throughput, rtol=1e-13)


@pytest.mark.parametrize(
    ("servers", "think_time", "front"),
    [
        (2, 0.0, None), (2, 1.0, None), (2, 10.0, None), (2, 5.0, 0.05),
        (10, 0.0, None), (10, 10.0, None), (10, 30.0, 0.2),
        (100, 0.0, None), (100, 10.0, None), (100, 5.0, 0.05),
        (400, 0.0, None),
    ],
)  # fmt: skip
def test_seidmann_error_is_as_documented(servers, think_time, front) -> None:
    demands = [1.0] if front is None else [front, 1.0]
    counts = [servers] if front is None else [1, servers]
    knee = (sum(demands) + think_time) / max(d / c for d, c in zip(demands, counts, strict=True))
    n = int(max(3 * knee, 20))
    exact = multiserver_mva(demands, counts, n, think_time)
    approx = seidmann_mva(demands, counts, n, think_time)
    x_err = approx.throughput / exact.throughput - 1
    r_err = approx.response_time / exact.response_time - 1
    bound = 0.8 / math.sqrt(servers)
    # Pessimistic: never more throughput nor less response time than exact.
    assert (x_err <= 1e-12).all()
    assert (r_err >= -1e-12).all()
    assert r_err.max() <= bound
    assert -x_err.max() <= bound
    if think_time >= 10 * demands[-1]:
        assert -x_err.min() < 0.02
    # Exact at both ends: one user, and deep saturation.
    assert abs(r_err[0]) < 1e-12
    assert abs(x_err[-1]) < 0.01


def test_seidmann_schweitzer_at_sizing_scale() -> None:
    # 20,000 users in three personas, 15 stations, an app tier of 400 workers, a pool of 100.
    rng = np.random.default_rng(11)
    demands = rng.uniform(0.0002, 0.002, size=(3, 15))
    demands[:, 0] = [0.30, 0.25, 0.40]  # app tier CPU seconds per request
    demands[:, 1] = [0.08, 0.06, 0.12]  # database connection holding time
    servers = [400, 100] + [1] * 13
    populations = [12_000, 7_000, 1_000]
    r = seidmann_schweitzer_mva(demands, servers, populations, [30.0, 40.0, 60.0])
    assert np.allclose(r.queue_length.sum(axis=1) + r.throughput * r.think_times, populations)
    assert (r.utilization.sum(axis=0) <= 1 + 1e-9).all()
    # Same answer as Bard-Schweitzer on the split network done by hand.
    queue, delay = seidmann_split(demands, servers)
    kinds: list[StationKind] = [*(("queue",) * 15), *(("delay",) * 15)]
    by_hand = schweitzer_mva(
        np.concatenate([queue, delay], axis=1),
        populations,
        [30.0, 40.0, 60.0],
        kinds=kinds,
    )
    assert np.allclose(r.throughput, by_hand.throughput)


def test_seidmann_schweitzer_close_to_exact_for_one_class() -> None:
    exact = multiserver_mva([0.02, 1.0], [1, 100], 2_000, 10.0)
    approx = seidmann_schweitzer_mva([[0.02, 1.0]], [1, 100], [2_000], 10.0)
    assert approx.throughput[0] == pytest.approx(exact.throughput[-1], rel=0.02)
    assert approx.throughput[0] <= exact.throughput[-1]


@pytest.mark.parametrize(
    ("call", "shown"),
    [
        (lambda: multiserver_mva([1.0], [0], 5), r"servers\[0\] .* got 0"),
        (lambda: multiserver_mva([1.0], [2.5], 5), "got 2.5"),
        (lambda: multiserver_mva([1.0], [2, 2], 5), "2 entries for 1 stations"),
        (lambda: multiserver_mva([1.0], [2], 0), "got 0"),
        (lambda: multiserver_mva([-1.0], [2], 3), "got -1.0"),
        (lambda: multiserver_mva([1.0] * 11, [2] * 11, 3), "11 multi-server stations"),
        (lambda: seidmann_schweitzer_mva([1.0], [2], [3]), "matrix"),  # type: ignore[list-item]
    ],
)
def test_errors_show_the_bad_value(call, shown) -> None:
    with pytest.raises(ValueError, match=shown):
        call()
