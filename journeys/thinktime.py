"""Think time: how long a simulated person pauses between two screens.

The model treats the users as a closed system whose think times are exponential with the
persona's mean (``personas.<name>.think_time_s``), so that is the default. ``constant`` and
``uniform`` (between 0 and twice the mean, the same mean) are there to see how sensitive a
result is to that assumption; ``zero`` is for benchmarks that want the most requests per user.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

Distribution = Literal["exponential", "constant", "uniform", "zero"]


@dataclass(frozen=True, slots=True)
class ThinkTime:
    """A think-time distribution with a mean, sampled from a given random generator.

    >>> ThinkTime("constant", 2.0).sample(random.Random(1))
    2.0
    """

    distribution: Distribution
    mean_s: float

    def __post_init__(self) -> None:
        if not self.mean_s >= 0:
            raise ValueError(f"think time mean {self.mean_s!r} must be >= 0")
        if self.distribution not in ("exponential", "constant", "uniform", "zero"):
            raise ValueError(f"unknown think-time distribution {self.distribution!r}")

    def sample(self, rng: random.Random) -> float:
        if self.distribution == "zero" or self.mean_s == 0:
            return 0.0
        if self.distribution == "exponential":
            return rng.expovariate(1.0 / self.mean_s)
        if self.distribution == "uniform":
            return rng.uniform(0.0, 2.0 * self.mean_s)
        return self.mean_s

    @property
    def variance(self) -> float:
        if self.distribution == "exponential":
            return self.mean_s**2
        if self.distribution == "uniform":
            return (2.0 * self.mean_s) ** 2 / 12.0
        return 0.0

    def __repr__(self) -> str:
        return f"ThinkTime({self.distribution}, mean={self.mean_s:g}s)"
