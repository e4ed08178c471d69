"""The Universal Scalability Law: the published fit, the peak, and argument checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.usl import fit_usl, usl_peak, usl_throughput

LOADS = [1, 2, 4, 6, 8, 10]
THROUGHPUTS = [1, 1.8868, 3.0769, 3.5294, 3.5398, 3.3557]


def test_published_fit() -> None:
    fit = fit_usl(LOADS, THROUGHPUTS)
    assert round(fit.alpha, 2) == 0.02
    assert round(fit.beta, 2) == 0.02
    assert round(fit.gamma, 2) == 1.0
    # The data are the model rounded to 4 digits, so the fit is much closer than that.
    assert fit.alpha == pytest.approx(0.02, abs=1e-4)
    assert fit.beta == pytest.approx(0.02, abs=1e-5)
    assert fit.gamma == pytest.approx(1.0, abs=1e-4)
    assert fit.r_squared > 0.999999
    assert len(fit.residuals) == len(LOADS)
    assert max(abs(r) for r in fit.residuals) < 1e-4
    assert fit.peak_load == pytest.approx(7.0, abs=1e-3)


def test_throughput_formula() -> None:
    x = usl_throughput(np.array(LOADS), 0.02, 0.02, 1.0)
    assert np.round(x, 4).tolist() == THROUGHPUTS


def test_peak() -> None:
    assert usl_peak(0.02, 0.02) == pytest.approx(7.0)
    assert usl_peak(0.1, 0.0) == math.inf  # Amdahl: no retrograde region
    assert usl_peak(1.2, 0.01) == 1.0  # more contention than work: one user is best


def test_peak_is_the_maximum_of_the_curve() -> None:
    n_star = usl_peak(0.05, 0.001)
    grid = np.linspace(1, 100, 10_001)
    best = grid[np.argmax(usl_throughput(grid, 0.05, 0.001, 2.0))]
    assert best == pytest.approx(n_star, abs=0.01)


@settings(max_examples=30, derandomize=True, deadline=None)
@given(
    alpha=st.floats(0.0, 0.3),
    beta=st.floats(0.0, 0.01),
    gamma=st.floats(0.5, 500.0),
)
def test_fit_recovers_parameters_from_exact_data(alpha, beta, gamma) -> None:
    loads = np.array([1, 2, 4, 8, 16, 32, 64], dtype=float)
    fit = fit_usl(loads, usl_throughput(loads, alpha, beta, gamma))
    assert fit.gamma == pytest.approx(gamma, rel=1e-6)
    assert fit.alpha == pytest.approx(alpha, abs=1e-6)
    assert fit.beta == pytest.approx(beta, abs=1e-7)
    assert fit.rmse <= 1e-6 * gamma


def test_amdahl_data_fit_without_coherency() -> None:
    loads = [1, 2, 4, 8, 16, 32]
    fit = fit_usl(loads, usl_throughput(loads, 0.1, 0.0, 10.0))
    assert fit.beta < 1e-12
    assert fit.peak_load > 1e5  # effectively no peak
    assert fit.peak_throughput == pytest.approx(100.0, rel=1e-6)  # γ/α, Amdahl's ceiling


def test_fit_keeps_alpha_and_beta_non_negative() -> None:
    # Superlinear data would want a negative alpha; the bounds forbid it.
    fit = fit_usl([1, 2, 3, 4], [1.0, 2.2, 3.5, 4.9])
    assert fit.alpha >= 0 and fit.beta >= 0


@pytest.mark.parametrize(
    ("call", "shown"),
    [
        (lambda: fit_usl([1, 2], [1, 2]), "at least 3 points to fit 3 parameters, got 2"),
        (lambda: fit_usl([1, 2, 3], [1, 2]), "same length"),
        (lambda: fit_usl([0, 2, 3], [1, 2, 3]), r"loads must be finite numbers > 0, got \[0.0"),
        (lambda: fit_usl([1, 2, 3], [1, -2, 3]), "-2.0"),
        (lambda: fit_usl([1, 2, 3], [0, 0, 0]), "all zero"),
        (lambda: usl_throughput([1], -0.1, 0.0, 1.0), "alpha .* got -0.1"),
        (lambda: usl_peak(0.1, math.nan), "beta .* got nan"),
    ],
)
def test_errors_show_the_bad_value(call, shown) -> None:
    with pytest.raises(ValueError, match=shown):
        call()
