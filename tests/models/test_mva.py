"""Mean value analysis: the published vector, the laws it must obey, multi-class exact and
Bard-Schweitzer approximate solutions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.mva import ConvergenceError, StationKind, mva, mva_multiclass, schweitzer_mva

LAZOWSKA_DEMANDS = [0.605, 2.1, 1.35]
TWO_CLASSES = np.array([[0.1, 0.2, 0.05], [0.3, 0.1, 0.1]])
THREE_CLASSES = np.array(
    [[0.02, 0.05, 0.01, 0.03], [0.04, 0.01, 0.02, 0.02], [0.01, 0.01, 0.06, 0.01]]
)

demand_lists = st.lists(st.floats(0.001, 2.0), min_size=1, max_size=6)


def test_lazowska_published_vector() -> None:
    # QSP ch. 6: N = 3, Z = 15, D = (0.605, 2.1, 1.35).
    r = mva(LAZOWSKA_DEMANDS, population=3, think_time=15.0)
    assert [round(float(q), 4) for q in r.queue_length[-1]] == [0.0976, 0.3947, 0.2350]
    assert round(float(r.throughput[-1]), 6) == 0.151516
    assert round(float(r.response_time[-1]), 4) == 4.7998


def test_curves_cover_every_population() -> None:
    r = mva(LAZOWSKA_DEMANDS, population=3, think_time=15.0)
    assert r.population.tolist() == [1, 2, 3]
    # One user never queues: R(1) = D.
    assert r.response_time[0] == pytest.approx(sum(LAZOWSKA_DEMANDS))
    assert r.throughput[0] == pytest.approx(1 / (sum(LAZOWSKA_DEMANDS) + 15))


def test_results_are_read_only() -> None:
    r = mva(LAZOWSKA_DEMANDS, population=3)
    with pytest.raises(ValueError, match="read-only"):
        r.throughput[0] = 1.0


def test_delay_stations_never_queue() -> None:
    r = mva([0.5, 1.5], population=50, think_time=2.0, kinds=["delay", "delay"])
    n = r.population
    assert np.allclose(r.throughput, n / 4.0)
    assert np.allclose(r.response_time, 2.0)


def test_saturated_bottleneck_caps_throughput() -> None:
    r = mva(LAZOWSKA_DEMANDS, population=500, think_time=15.0)
    assert r.throughput[-1] == pytest.approx(1 / 2.1, rel=1e-9)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(demands=demand_lists, think_time=st.floats(0.0, 30.0), population=st.integers(1, 80))
def test_mva_obeys_the_operational_laws(demands, think_time, population) -> None:
    r = mva(demands, population, think_time)
    # Little's law on the whole loop: N = X·(R + Z).
    assert np.allclose(r.queue_length.sum(axis=1) + r.throughput * think_time, r.population)
    # Little's law per station and the utilization law.
    assert np.allclose(r.queue_length, r.throughput[:, None] * r.residence_time)
    assert np.allclose(r.utilization, r.throughput[:, None] * np.asarray(demands)[None, :])
    assert (r.utilization <= 1 + 1e-12).all()
    # More users never lower throughput nor response time.
    assert (np.diff(r.throughput) >= -1e-12).all()
    assert (np.diff(r.response_time) >= -1e-12).all()


# --- exact multi-class -------------------------------------------------------------------------


def test_one_class_multiclass_equals_single_class() -> None:
    single = mva(LAZOWSKA_DEMANDS, 3, 15.0)
    multi = mva_multiclass([LAZOWSKA_DEMANDS], [3], 15.0)
    assert multi.throughput[0] == pytest.approx(single.throughput[-1], rel=1e-12)
    assert np.allclose(multi.queue_length[0], single.queue_length[-1], rtol=1e-12)
    assert multi.iterations == 0


def test_identical_classes_behave_as_one() -> None:
    # Splitting one class into two identical ones changes nothing in total.
    single = mva([0.1, 0.2, 0.05], 12, 1.0)
    split = mva_multiclass([[0.1, 0.2, 0.05]] * 2, [7, 5], 1.0)
    assert split.throughput.sum() == pytest.approx(single.throughput[-1], rel=1e-12)
    assert np.allclose(split.queue_length.sum(axis=0), single.queue_length[-1], rtol=1e-12)
    assert split.throughput[0] / split.throughput[1] == pytest.approx(7 / 5)


def test_multiclass_obeys_littles_law_per_class() -> None:
    kinds: list[StationKind] = ["queue", "queue", "queue", "delay"]
    r = mva_multiclass(THREE_CLASSES, [6, 4, 3], [1.0, 1.5, 2.0], kinds=kinds)
    assert np.allclose(r.queue_length.sum(axis=1) + r.throughput * r.think_times, [6, 4, 3])
    assert (r.utilization[:, :3].sum(axis=0) <= 1).all()


def test_class_without_users_sees_the_others() -> None:
    r = mva_multiclass(TWO_CLASSES, [5, 0], [1.0, 1.0])
    assert r.throughput[1] == 0.0
    assert np.allclose(r.residence_time[1], TWO_CLASSES[1] * (1 + r.queue_length[0]))


def test_exact_multiclass_refuses_large_populations_politely() -> None:
    with pytest.raises(ValueError, match=r"20,001 × 20,001|400,040,001") as info:
        mva_multiclass(TWO_CLASSES, [20_000, 20_000], [10.0, 10.0])
    assert "schweitzer_mva" in str(info.value)


# --- Bard-Schweitzer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("demands", "populations", "think_times"),
    [
        (TWO_CLASSES, [60, 40], [20.0, 30.0]),  # bottleneck 70 % busy
        (THREE_CLASSES, [40, 30, 20], [5.0, 5.0, 5.0]),  # bottleneck 48 % busy
    ],
)
def test_schweitzer_within_one_percent_of_exact_below_the_knee(
    demands, populations, think_times
) -> None:
    exact = mva_multiclass(demands, populations, think_times)
    approx = schweitzer_mva(demands, populations, think_times)
    assert np.allclose(approx.throughput, exact.throughput, rtol=0.01)
    assert np.allclose(approx.response_time, exact.response_time, rtol=0.04)


def test_schweitzer_error_near_the_knee_is_as_documented() -> None:
    # The docstring promises per-class throughput within 5 %, response time within 10 %.
    for demands, populations, think_times in [
        (TWO_CLASSES, [10, 8], [2.0, 3.0]),
        (TWO_CLASSES, [100, 80], [5.0, 8.0]),
        (THREE_CLASSES, [30, 20, 10], [1.0, 1.5, 2.0]),
    ]:
        exact = mva_multiclass(demands, populations, think_times)
        approx = schweitzer_mva(demands, populations, think_times)
        assert np.allclose(approx.throughput, exact.throughput, rtol=0.05)
        assert np.allclose(approx.response_time, exact.response_time, rtol=0.11)


def test_schweitzer_single_class_matches_exact_at_large_population() -> None:
    exact = mva(LAZOWSKA_DEMANDS, 2_000, 15.0)
    approx = schweitzer_mva([LAZOWSKA_DEMANDS], [2_000], 15.0)
    assert approx.throughput[0] == pytest.approx(exact.throughput[-1], rel=1e-3)


def test_schweitzer_at_realistic_population() -> None:
    rng = np.random.default_rng(7)
    demands = rng.uniform(0.0005, 0.004, size=(3, 15))
    demands[:, 0] *= 5  # a clear bottleneck
    populations = [12_000, 7_000, 1_000]
    r = schweitzer_mva(demands, populations, [30.0, 40.0, 60.0])
    assert np.allclose(r.queue_length.sum(axis=1) + r.throughput * r.think_times, populations)
    assert (r.utilization.sum(axis=0) <= 1 + 1e-9).all()
    assert r.utilization.sum(axis=0)[0] == pytest.approx(1.0, abs=1e-3)


@settings(max_examples=40, derandomize=True, deadline=None)
@given(
    demands=st.lists(st.lists(st.floats(0.001, 1.0), min_size=3, max_size=3), min_size=2,
                     max_size=3),
    populations=st.lists(st.integers(0, 3_000), min_size=3, max_size=3),
    think_time=st.floats(0.0, 20.0),
)  # fmt: skip
def test_schweitzer_obeys_the_operational_laws(demands, populations, think_time) -> None:
    populations = populations[: len(demands)]
    r = schweitzer_mva(demands, populations, think_time)
    assert np.allclose(r.queue_length.sum(axis=1) + r.throughput * think_time, populations)
    assert (r.utilization.sum(axis=0) <= 1 + 1e-6).all()


def test_schweitzer_reports_non_convergence() -> None:
    with pytest.raises(ConvergenceError, match="no convergence after 2 iterations"):
        schweitzer_mva(TWO_CLASSES, [50, 50], 1.0, max_iterations=2)


@pytest.mark.parametrize(
    ("call", "shown"),
    [
        (lambda: mva([0.1, -0.2], 3), r"demands\[1\] must be a finite number >= 0, got -0.2"),
        (lambda: mva([0.1], 0), "got 0"),
        (lambda: mva([0.1], 3, think_time=-1.0), "got -1.0"),
        (lambda: mva([0.1], 3, kinds=["queue", "delay"]), "2 entries for 1 stations"),
        (lambda: mva([0.1], 3, kinds=["disk"]), "'disk'"),  # type: ignore[list-item]
        (lambda: mva_multiclass([[0.1]], [-1]), r"populations\[0\] .* got -1"),
        (lambda: schweitzer_mva([[0.1], [0.2]], [1]), "1 entries for 2 classes"),
        (lambda: schweitzer_mva([[0.1]], [1], tolerance=0.0), "got 0.0"),
        (lambda: mva([0.0], 3), "all zero"),
    ],
)
def test_errors_show_the_bad_value(call, shown) -> None:
    with pytest.raises(ValueError, match=shown):
        call()
