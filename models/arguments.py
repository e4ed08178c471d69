"""Checks of the arguments of the model's public functions, with one wording everywhere.

Every check raises :class:`~models.errors.ParameterError` naming the argument, the value given
and what is accepted, e.g. ``population must be an integer >= 1, got -3``. Numpy scalars
(``np.int64(5)``, ``np.float64(0.2)``) are accepted wherever the built-in type is; booleans
are not numbers here, and text is refused with the same message rather than a ``TypeError``.
"""

from __future__ import annotations

import math
from typing import TypeGuard

import numpy as np

from models.errors import ParameterError

__all__ = ["Number", "integer", "is_number", "non_negative", "positive", "unit_interval"]


Number = int | float | np.integer | np.floating
"""What the checks accept as a number: built-in and numpy integers and floats."""


def is_number(value: object) -> TypeGuard[Number]:
    """Whether ``value`` is a number (not a boolean, not text); NaN and infinities are."""
    return not isinstance(value, bool | np.bool_) and isinstance(
        value, int | float | np.integer | np.floating
    )


def integer(name: str, value: object, minimum: int = 0) -> int:
    """``value`` as an int if it is a whole number (int or numpy integer) >= ``minimum``."""
    if (
        isinstance(value, bool | np.bool_)
        or not isinstance(value, int | np.integer)
        or value < minimum
    ):
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def non_negative(name: str, value: object) -> float:
    """``value`` as a float if it is a finite number >= 0."""
    if not is_number(value) or not math.isfinite(value) or value < 0:
        raise ParameterError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def positive(name: str, value: object) -> float:
    """``value`` as a float if it is a finite number > 0."""
    if not is_number(value) or not math.isfinite(value) or value <= 0:
        raise ParameterError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def unit_interval(
    name: str, value: object, *, low_open: bool = False, high_open: bool = False
) -> float:
    """``value`` as a float if it lies in [0, 1], either end excluded when asked.

    Probabilities are ``[0, 1]``; quantiles ``[0, 1)`` (the 1-quantile of an unbounded time
    is infinite) or ``(0, 1)`` where the 0-quantile means nothing.
    """
    if is_number(value) and not math.isnan(value):
        number = float(value)
        above = number > 0.0 if low_open else number >= 0.0
        below = number < 1.0 if high_open else number <= 1.0
        if above and below:
            return number
    interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
    raise ParameterError(f"{name} must be in {interval}, got {value!r}")
