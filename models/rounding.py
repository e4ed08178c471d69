"""How a figure is rounded when it is written to an artifact.

The figures of a run (latencies, rates, shares) come out of float arithmetic with fifteen
digits, most of them noise; an artifact keeps the digits a reader can use. One helper, so every
writer rounds the same way and an undefined figure (None) stays undefined.
"""

from __future__ import annotations

from typing import Any, overload

__all__ = ["rounded", "rounded_if_float"]


@overload
def rounded(value: float, digits: int = 3) -> float: ...
@overload
def rounded(value: None, digits: int = 3) -> None: ...
@overload
def rounded(value: float | None, digits: int = 3) -> float | None: ...


def rounded(value: float | None, digits: int = 3) -> float | None:
    """``value`` as a float rounded to ``digits`` decimals; None stays None."""
    return None if value is None else round(float(value), digits)


def rounded_if_float(value: Any, digits: int = 4) -> Any:
    """``value`` rounded to ``digits`` decimals when it is a float, anything else unchanged
    (a count stays an int, a flag a bool, an undefined figure None)."""
    return round(value, digits) if isinstance(value, float) else value
