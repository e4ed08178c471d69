"""The Universal Scalability Law (USL): why throughput stops growing, and then falls.

Gunther's USL (Gunther 1993; *Guerrilla Capacity Planning*, 2007, ch. 4) describes the
throughput of N concurrent users (or N processors, or N instances) with three parameters:

    X(N) = γ·N / (1 + α·(N − 1) + β·N·(N − 1))

* γ, the *ideal* throughput of one user (the slope at the origin),
* α, **contention**: the fraction of work that is serialised (a lock, a single writer, a
  pool too small). Alone (β = 0) it is Amdahl's law: X approaches γ/α and stays there.
* β, **coherency**: the cost of keeping N workers consistent with each other (cache
  invalidation, lock hand-offs, chatty replicas), growing with the number of pairs. It makes
  throughput *retrograde*: beyond the peak, more load means less work done.

With α < 1 and β > 0 the throughput peaks at N* = √((1 − α)/β). Fit the three parameters to
measured (load, throughput) pairs from a step-load test and the model tells you where the
system peaks, and which kind of problem (α or β) stops it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import least_squares

from models.arguments import non_negative
from models.errors import ParameterError

__all__ = ["USLFit", "fit_usl", "usl_peak", "usl_throughput"]

FloatArray = npt.NDArray[np.float64]


def _check_parameters(alpha: float, beta: float, gamma: float) -> None:
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        non_negative(name, value)


def usl_throughput(
    load: float | Sequence[float] | FloatArray, alpha: float, beta: float, gamma: float
) -> FloatArray:
    """X(N) = γN / (1 + α(N − 1) + βN(N − 1)) at each load N (array in, array out).

    >>> usl_throughput([1, 2, 10], alpha=0.02, beta=0.02, gamma=1.0).round(4).tolist()
    [1.0, 1.8868, 3.3557]
    """
    _check_parameters(alpha, beta, gamma)
    n = np.asarray(load, dtype=np.float64)
    if not (np.isfinite(n) & (n > 0)).all():
        raise ParameterError(f"load must be finite numbers > 0, got {n.tolist()!r}")
    result: FloatArray = gamma * n / (1.0 + alpha * (n - 1.0) + beta * n * (n - 1.0))
    return result


def usl_peak(alpha: float, beta: float) -> float:
    """The load of peak throughput, N* = √((1 − α)/β).

    ``math.inf`` when β = 0 (no coherency cost: throughput rises for ever towards γ/α);
    1.0 when α >= 1 (contention so high that a second user already gains nothing).

    >>> round(usl_peak(0.02, 0.02), 4)
    7.0
    """
    _check_parameters(alpha, beta, 0.0)
    if alpha >= 1.0:
        return 1.0
    if beta == 0.0:
        return math.inf
    return math.sqrt((1.0 - alpha) / beta)


@dataclass(frozen=True)
class USLFit:
    """The least-squares USL fit to measured throughput.

    Attributes:
        alpha: contention α >= 0.
        beta: coherency β >= 0.
        gamma: throughput of one user, γ > 0.
        peak_load: N* = √((1 − α)/β) (see :func:`usl_peak`).
        peak_throughput: X(N*), the most this system delivers (γ/α when β = 0 and α > 0).
        r_squared: 1 − SS_res/SS_tot of the throughputs (1 is a perfect fit).
        rmse: root mean square residual, in throughput units.
        residuals: measured − fitted throughput, one per point, in input order.
    """

    alpha: float
    beta: float
    gamma: float
    peak_load: float
    peak_throughput: float
    r_squared: float
    rmse: float
    residuals: tuple[float, ...]


def fit_usl(
    loads: Sequence[float] | FloatArray, throughputs: Sequence[float] | FloatArray
) -> USLFit:
    """Fit α, β (both >= 0) and γ (> 0) to measured throughput by nonlinear least squares.

    Minimises Σ (X_i − X(N_i))² with scipy's trust-region reflective solver under the bounds,
    started from γ = the best per-user throughput measured and small α, β. At least three
    points (three parameters); include low loads, or γ is poorly determined.

    >>> f = fit_usl([1, 2, 4, 6, 8, 10], [1, 1.8868, 3.0769, 3.5294, 3.5398, 3.3557])
    >>> round(f.alpha, 3), round(f.beta, 3), round(f.gamma, 3)
    (0.02, 0.02, 1.0)
    """
    n = np.asarray(loads, dtype=np.float64)
    x = np.asarray(throughputs, dtype=np.float64)
    if n.ndim != 1 or x.shape != n.shape:
        raise ParameterError(
            f"loads and throughputs must be 1-D of the same length, got {n.shape} and {x.shape}"
        )
    if n.size < 3:
        raise ParameterError(f"need at least 3 points to fit 3 parameters, got {n.size}")
    if not (np.isfinite(n) & (n > 0)).all():
        raise ParameterError(f"loads must be finite numbers > 0, got {n.tolist()!r}")
    if not (np.isfinite(x) & (x >= 0)).all():
        raise ParameterError(f"throughputs must be finite numbers >= 0, got {x.tolist()!r}")
    if not (x > 0).any():
        raise ParameterError(f"throughputs are all zero: nothing to fit, got {x.tolist()!r}")

    def residual(p: FloatArray) -> FloatArray:
        alpha, beta, gamma = p
        fitted: FloatArray = gamma * n / (1.0 + alpha * (n - 1.0) + beta * n * (n - 1.0))
        return fitted - x

    gamma0 = float(np.max(x / n))
    solution = least_squares(
        residual,
        x0=np.array([0.01, 1e-4, gamma0]),
        bounds=([0.0, 0.0, 0.0], [np.inf, np.inf, np.inf]),
        method="trf",
        x_scale="jac",
        ftol=1e-15,
        xtol=1e-15,
        gtol=1e-15,
        max_nfev=10_000,
    )
    alpha, beta, gamma = (float(v) for v in solution.x)
    res = x - (gamma * n / (1.0 + alpha * (n - 1.0) + beta * n * (n - 1.0)))
    ss_res = float(res @ res)
    ss_tot = float(((x - x.mean()) ** 2).sum())
    peak = usl_peak(alpha, beta)
    if math.isinf(peak):
        peak_x = gamma / alpha if alpha > 0 else math.inf
    else:
        peak_x = float(usl_throughput(peak, alpha, beta, gamma))
    return USLFit(
        alpha=alpha,
        beta=beta,
        gamma=gamma,
        peak_load=peak,
        peak_throughput=peak_x,
        r_squared=1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0,
        rmse=math.sqrt(ss_res / n.size),
        residuals=tuple(float(r) for r in res),
    )
