"""The model's errors: one root, the built-in base each had before, and the API's messages
(the argument, the value, what is accepted) the same for every function."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest

from models import errors
from models.calibration import CalibrationError
from models.catalogue import step
from models.erlang import erlang_c, mmc
from models.errors import ModelError, ParameterError, UnknownNameError, UnstableError
from models.multiserver import multiserver_mva, seidmann_mva
from models.mva import ConvergenceError, mva, mva_multiclass, schweitzer_mva
from models.profile import ProfileError, load_profile
from models.response_time import StationDelay
from models.validation_records import Spread

TWO_CLASSES = [[0.1, 0.2], [0.3, 0.1]]


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (ParameterError, ValueError),
        (UnstableError, ValueError),
        (UnknownNameError, KeyError),
        (ProfileError, ValueError),
        (CalibrationError, ValueError),
        (ConvergenceError, RuntimeError),
    ],
)
def test_every_model_error_has_the_root_and_keeps_its_builtin_base(
    error: type[Exception], builtin: type[Exception]
) -> None:
    assert issubclass(error, ModelError)
    assert issubclass(error, builtin)


def test_the_modules_export_the_one_definition() -> None:
    assert ProfileError is errors.ProfileError
    assert CalibrationError is errors.CalibrationError
    assert ConvergenceError is errors.ConvergenceError


def test_the_docstring_tree_names_every_error() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        assert name in doc, name


def test_an_unknown_name_reads_as_a_sentence_not_a_repr() -> None:
    with pytest.raises(UnknownNameError) as caught:
        load_profile().scenario_stages("nope")
    assert str(caught.value).startswith("unknown scenario 'nope' (known: ")
    with pytest.raises(KeyError, match="operator has no step 'post_job'"):
        step("operator", "post_job")


def test_think_times_of_the_wrong_length_name_the_argument() -> None:
    # Without the check numpy's broadcasting error surfaced, naming no argument.
    shown = r"think_times has 3 entries for 2 classes"
    with pytest.raises(ParameterError, match=shown):
        mva_multiclass(TWO_CLASSES, [2, 3], think_times=[1.0, 2.0, 3.0])
    with pytest.raises(ParameterError, match=shown):
        schweitzer_mva(TWO_CLASSES, [2, 3], think_times=[1.0, 2.0, 3.0])


@pytest.mark.parametrize("solve", [mva_multiclass, schweitzer_mva])
def test_a_class_with_users_but_no_demand_nor_think_time_is_refused(
    solve: Callable[..., object],
) -> None:
    # Exact MVA divided by zero here (NaN and a RuntimeWarning); both solvers now say why.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ParameterError, match="class 0 has 2 users but its demands and think"):
            solve([[0.0, 0.0], [0.3, 0.1]], [2, 3])


def test_a_class_with_no_users_and_no_demand_is_fine() -> None:
    r = mva_multiclass([[0.0, 0.0], [0.3, 0.1]], [0, 3], [0.0, 1.0])
    assert r.throughput[0] == 0.0 and r.throughput[1] > 0


@pytest.mark.parametrize(
    "solve",
    [
        lambda n: mva([0.1, 0.2], n, 1.0),
        lambda n: multiserver_mva([0.1, 0.2], [1, 2], n, 1.0),
        lambda n: seidmann_mva([0.1, 0.2], [1, 2], n, 1.0),
    ],
)
def test_numpy_integers_are_populations_everywhere(solve: Callable[[object], object]) -> None:
    assert solve(np.int64(5)) is not None
    assert solve(np.int32(5)) is not None


@pytest.mark.parametrize("population", [0, -3, 2.5, True, "5"])
@pytest.mark.parametrize(
    "solve",
    [
        lambda n: mva([0.1], n),
        lambda n: multiserver_mva([0.1], [2], n),
        lambda n: seidmann_mva([0.1], [2], n),
    ],
)
def test_a_bad_population_gets_one_message(
    solve: Callable[[object], object], population: object
) -> None:
    expected = f"population must be an integer >= 1, got {population!r}"
    with pytest.raises(ParameterError) as caught:
        solve(population)
    assert str(caught.value) == expected


@pytest.mark.parametrize("think_time", [-1.0, math.nan, math.inf, "1"])
def test_a_bad_think_time_gets_one_message(think_time: object) -> None:
    solvers: list[Callable[..., object]] = [mva, lambda d, n, z: multiserver_mva(d, [1], n, z)]
    for solve in solvers:
        with pytest.raises(ParameterError) as caught:
            solve([0.1], 3, think_time)
        assert str(caught.value) == f"think_time must be a finite number >= 0, got {think_time!r}"


def test_erlang_takes_numpy_integers_and_refuses_fractional_servers() -> None:
    via_numpy = erlang_c(np.int64(14), 10.0)  # type: ignore[arg-type]
    assert via_numpy == pytest.approx(erlang_c(14, 10.0))
    assert mmc(2.0, 1.0, np.int64(3)).servers == 3  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"servers must be an integer >= 1, got 3\.0"):
        erlang_c(3.0, 1.0)  # type: ignore[arg-type]


def test_an_unstable_queue_is_its_own_error() -> None:
    with pytest.raises(UnstableError, match="offered load 3.0 erlangs >= 3 servers"):
        mmc(3.0, 1.0, 3)
    with pytest.raises(UnstableError, match="unstable station"):
        StationDelay.mmc(3.0, 1.0, 3)


def test_an_empty_spread_is_a_model_error() -> None:
    with pytest.raises(ParameterError, match="values must hold at least one value"):
        Spread.of([])
