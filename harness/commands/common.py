"""Arguments and helpers several commands share."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

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
