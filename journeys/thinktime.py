"""Think time: how long a simulated person pauses between two screens.

The model treats the users as a closed system whose think times are exponential with the
persona's mean (``personas.<name>.think_time_s``), so that is the default. ``constant`` and
``uniform`` (between 0 and twice the mean, the same mean) are there to see how sensitive a
result is to that assumption; ``zero`` is for benchmarks that want the most requests per user.

``tick`` is not a think time but a clock: the user waits for the next multiple of the mean
(its period) on the wall clock, so that every user of every Locust process starts its next
screen at the same instant. ``harness validate``'s burst stage uses it: the service then takes
each tick's requests back to back, every one but the first finding the core busy, which
measures the CPU a request costs on a busy core at a light average load
(models/service_curve.py, "the busy cost, measured").
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Literal

Distribution = Literal["exponential", "constant", "uniform", "zero", "tick"]
DISTRIBUTIONS: tuple[Distribution, ...] = ("exponential", "constant", "uniform", "zero", "tick")


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
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(f"unknown think-time distribution {self.distribution!r}")

    def sample(self, rng: random.Random, now: float | None = None) -> float:
        """One pause; ``now`` (the wall clock, seconds) is what a ``tick`` waits from."""
        if self.distribution == "zero" or self.mean_s == 0:
            return 0.0
        if self.distribution == "tick":
            clock = time.time() if now is None else now
            return self.mean_s - clock % self.mean_s
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
        if self.distribution == "tick":  # the rest of the period, when a screen ends anywhere
            return self.mean_s**2 / 12.0
        return 0.0

    def __repr__(self) -> str:
        return f"ThinkTime({self.distribution}, mean={self.mean_s:g}s)"
