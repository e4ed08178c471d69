"""Arguments and helpers several commands share."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from models.profile import Profile, load_profile


def add_profile_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="a TOML profile; may be partial, it overrides the shipped default key by key",
    )


def add_population_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, help="override population.users")
    parser.add_argument("--dau-ratio", type=float, help="override population.dau_ratio")
    parser.add_argument(
        "--concurrency-ratio", type=float, help="override population.concurrency_ratio"
    )


def population_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--users/--dau-ratio/--concurrency-ratio`` flags as a profile overlay."""
    population: dict[str, Any] = {}
    for flag, key in (
        ("users", "users"),
        ("dau_ratio", "dau_ratio"),
        ("concurrency_ratio", "concurrency_ratio"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            population[key] = value
    return {"population": population} if population else {}


def profile_from_args(args: argparse.Namespace, **overrides: Any) -> Profile:
    """The resolved profile for a command: default, ``--profile``, then flag overrides."""
    layered = population_overrides(args)
    layered.update(overrides)
    return load_profile(getattr(args, "profile", None), overrides=layered or None)


def require_positive(flag: str, value: float) -> None:
    """UsageError naming ``flag`` unless ``value`` is a finite number above 0.

    Comparisons alone let NaN and infinity through (``nan > 0`` is false, ``inf > 0`` true) and
    they then crash deep inside a run; this check names the flag instead.
    """
    if not 0.0 < value < math.inf:
        raise UsageError(f"{flag} = {value:g}: must be a positive finite number")


def require_port(flag: str, value: int, *, allow_any: bool = False) -> None:
    """UsageError naming ``flag`` unless ``value`` is a TCP port (1-65535; 0 too when
    ``allow_any``, which lets the OS pick a free one)."""
    lowest = 0 if allow_any else 1
    if not lowest <= value <= 65535:
        raise UsageError(f"{flag} = {value}: not a TCP port (expected {lowest} to 65535)")
