"""The journeys' own settings: what Locust's command line does not know about.

Each setting has an environment variable and a Locust command-line option; the option wins
over the variable, the variable over the default. Locust sends custom options from the master
to its workers with every spawn message, so a swarm needs them on the master only (but the
profile file must exist at the same path on every machine).

=========================  ==========================  ===========================================
environment variable       locust option               meaning
=========================  ==========================  ===========================================
JOURNEYS_PROFILE           --journeys-profile          workload profile TOML (partial files overlay
                                                       the shipped default); default: the default
JOURNEYS_SCENARIO          (env only: read at import)  the load shape to run (smoke, load, stress,
                                                       day1, spike, soak, step); unset: -u/-r/-t
JOURNEYS_SCALE             --journeys-scale            multiply the scenario's user counts (1.0)
JOURNEYS_TIME_SCALE        --journeys-time-scale       multiply the scenario's durations (1.0)
JOURNEYS_SEED_SCALE        --journeys-seed-scale       the scale the target was seeded at; sets how
                                                       many accounts of each role exist (0.01)
JOURNEYS_ACCOUNTS          --journeys-accounts         exact seeded counts, overriding the scale:
                                                       ``homeowner=2400,contractor=1400,operator=200``
JOURNEYS_WRITE_LOG         --journeys-write-log        JSONL file of acknowledged writes (none)
JOURNEYS_HDR_OUT           --journeys-hdr-out          JSON file of the merged HDR histograms,
                                                       written when Locust quits (none)
JOURNEYS_THINK             --journeys-think            think-time distribution: profile (default:
                                                       each persona's), exponential, constant,
                                                       uniform (0..2x mean), zero, or tick (wait
                                                       for the next multiple of the mean on the
                                                       wall clock: all users start together)
JOURNEYS_THINK_SCALE       --journeys-think-scale      multiply every mean think time (1.0)
JOURNEYS_SEED              --journeys-seed             random seed of screen choice and think time
JOURNEYS_PASSWORD          --journeys-password         seeded accounts' password
JOURNEYS_FORWARDED_FOR     --journeys-forwarded-for    send X-Forwarded-For per user (1) or not (0)
JOURNEYS_TRACE             --journeys-trace            JSONL file: every screen opened, with the
                                                       calls it made (for debugging and tests)
=========================  ==========================  ===========================================
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from models.catalogue import PERSONAS, PersonaName
from models.profile import Profile, load_profile

ThinkMode = Literal["profile", "exponential", "constant", "uniform", "zero", "tick"]
THINK_MODES: tuple[ThinkMode, ...] = (
    "profile",
    "exponential",
    "constant",
    "uniform",
    "zero",
    "tick",
)
DEFAULT_PASSWORD = "launch-day-password"  # noqa: S105  # the seeder's documented test password
DEFAULT_SEED_SCALE = 0.01


class SettingsError(ValueError):
    """A journeys setting with a value that cannot be used; names the variable and value."""

    def __init__(self, name: str, value: object, expected: str) -> None:
        self.name = name
        self.value = value
        super().__init__(f"{name} = {value!r}: {expected}")


@dataclass(frozen=True, slots=True)
class JourneySettings:
    """Everything the journeys need beyond Locust's own options. Immutable; see module doc."""

    profile_path: Path | None = None
    scenario: str | None = None
    scale: float = 1.0
    time_scale: float = 1.0
    seed_scale: float = DEFAULT_SEED_SCALE
    accounts: Mapping[PersonaName, int] | None = None
    """Seeded accounts per persona; None derives them from ``seed_scale`` and the profile."""
    write_log_path: Path | None = None
    hdr_out_path: Path | None = None
    think: ThinkMode = "profile"
    think_scale: float = 1.0
    seed: int | None = None
    password: str = DEFAULT_PASSWORD
    forwarded_for: bool = True
    trace_path: Path | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("scale", "time_scale", "seed_scale"):
            value = getattr(self, name)
            if not value > 0:
                raise SettingsError(name, value, "must be a positive number")
        if not self.think_scale >= 0:
            raise SettingsError("think_scale", self.think_scale, "must be >= 0")
        if self.think not in THINK_MODES:
            raise SettingsError("think", self.think, f"expected one of {', '.join(THINK_MODES)}")
        if self.accounts is not None:
            for persona, count in self.accounts.items():
                if persona not in PERSONAS or count < 1:
                    raise SettingsError(
                        "accounts", dict(self.accounts), "persona=count with count >= 1"
                    )

    def load_profile(self) -> Profile:
        return load_profile(self.profile_path)

    def account_counts(self, profile: Profile) -> dict[PersonaName, int]:
        """Seeded accounts per persona: explicit counts, else population x share x seed scale.

        The derived count rounds down, so it never names an account the seeder did not make.
        """
        counts: dict[PersonaName, int] = {}
        for persona, spec in profile.personas.marketplace():
            explicit = (self.accounts or {}).get(persona)
            derived = int(profile.population.users * spec.share * self.seed_scale)
            counts[persona] = max(1, explicit if explicit is not None else derived)
        return counts

    def with_(self, **changes: Any) -> JourneySettings:
        return replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """Environment variables that reproduce these settings in a Locust subprocess."""
        env: dict[str, str] = {}
        for spec in _SPECS:
            value = getattr(self, spec.attr)
            if value is None or value == spec.default:
                continue
            env[spec.env] = spec.render(value)
        return env


@dataclass(frozen=True, slots=True)
class _Spec:
    attr: str
    env: str
    option: str
    kind: str  # "path", "str", "float", "int", "bool", "accounts", "think"
    default: Any
    help: str

    def parse(self, raw: str) -> Any:
        try:
            match self.kind:
                case "path":
                    return Path(raw) if raw else None
                case "float":
                    return float(raw)
                case "int":
                    return int(raw) if raw else None
                case "bool":
                    return _parse_bool(raw)
                case "accounts":
                    return parse_accounts(raw) if raw else None
                case _:
                    return raw or None
        except ValueError as exc:
            raise SettingsError(self.env, raw, str(exc)) from None

    def render(self, value: Any) -> str:
        match self.kind:
            case "bool":
                return "1" if value else "0"
            case "accounts":
                return ",".join(f"{k}={v}" for k, v in value.items())
            case _:
                return str(value)


_SPECS: tuple[_Spec, ...] = (
    _Spec("profile_path", "JOURNEYS_PROFILE", "--journeys-profile", "path", None,
          "Workload profile TOML (partial files overlay the shipped default)"),
    _Spec("scenario", "JOURNEYS_SCENARIO", "", "str", None,
          "Load shape (env only; read when the locustfile is imported)"),
    _Spec("scale", "JOURNEYS_SCALE", "--journeys-scale", "float", 1.0,
          "Multiply the scenario's user counts"),
    _Spec("time_scale", "JOURNEYS_TIME_SCALE", "--journeys-time-scale", "float", 1.0,
          "Multiply the scenario's stage durations"),
    _Spec("seed_scale", "JOURNEYS_SEED_SCALE", "--journeys-seed-scale", "float",
          DEFAULT_SEED_SCALE, "Scale the target was seeded at (sets the account counts)"),
    _Spec("accounts", "JOURNEYS_ACCOUNTS", "--journeys-accounts", "accounts", None,
          "Seeded accounts, e.g. homeowner=2400,contractor=1400,operator=200"),
    _Spec("write_log_path", "JOURNEYS_WRITE_LOG", "--journeys-write-log", "path", None,
          "Append every acknowledged write to this JSONL file"),
    _Spec("hdr_out_path", "JOURNEYS_HDR_OUT", "--journeys-hdr-out", "path", None,
          "Write the merged HDR histograms to this JSON file when Locust quits"),
    _Spec("think", "JOURNEYS_THINK", "--journeys-think", "str", "profile",
          "Think time: profile, exponential, constant, uniform, zero or tick (a shared clock)"),
    _Spec("think_scale", "JOURNEYS_THINK_SCALE", "--journeys-think-scale", "float", 1.0,
          "Multiply every persona's mean think time"),
    _Spec("seed", "JOURNEYS_SEED", "--journeys-seed", "int", None,
          "Random seed of screen choices and think times"),
    _Spec("password", "JOURNEYS_PASSWORD", "--journeys-password", "str", DEFAULT_PASSWORD,
          "Password of the seeded accounts"),
    _Spec("forwarded_for", "JOURNEYS_FORWARDED_FOR", "--journeys-forwarded-for", "bool", True,
          "Send a distinct X-Forwarded-For per simulated user (1/0)"),
    _Spec("trace_path", "JOURNEYS_TRACE", "--journeys-trace", "path", None,
          "Append every screen opened, with the calls it made, to this JSONL file"),
)  # fmt: skip


def parse_accounts(raw: str) -> dict[PersonaName, int]:
    """``"homeowner=2400,contractor=1400"`` -> ``{"homeowner": 2400, "contractor": 1400}``."""
    counts: dict[PersonaName, int] = {}
    for part in raw.split(","):
        name, sep, number = part.strip().partition("=")
        if not sep or name not in PERSONAS:
            raise ValueError(f"expected persona=count with persona in {PERSONAS}, got {part!r}")
        counts[name] = int(number)
    return counts


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


def from_env(environ: Mapping[str, str] | None = None) -> JourneySettings:
    """Settings from ``JOURNEYS_*`` environment variables (defaults where unset)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for spec in _SPECS:
        raw = environ.get(spec.env)
        if raw is not None:
            values[spec.attr] = spec.parse(raw)
    return _build(values)


def add_arguments(parser: Any) -> None:
    """Register the ``--journeys-*`` options on Locust's parser (``init_command_line_parser``).

    Defaults are None so that :func:`from_options` can tell "not given" from a default, and the
    environment variable still applies.
    """
    group = parser.add_argument_group("journeys", "Persona journeys (see docs/journeys.md)")
    for spec in _SPECS:
        if spec.option:
            group.add_argument(
                spec.option, type=str, default=None, help=f"{spec.help} ({spec.env})"
            )


def from_options(
    options: argparse.Namespace | None, environ: Mapping[str, str] | None = None
) -> JourneySettings:
    """Settings from Locust's parsed options, falling back to the environment."""
    base = from_env(environ)
    if options is None:
        return base
    values = {f.name: getattr(base, f.name) for f in fields(JourneySettings)}
    for spec in _SPECS:
        if not spec.option:
            continue
        raw = getattr(options, spec.option.removeprefix("--").replace("-", "_"), None)
        if raw is not None:
            values[spec.attr] = spec.parse(str(raw))
    return _build(values)


def _build(values: dict[str, Any]) -> JourneySettings:
    try:
        return JourneySettings(**values)
    except TypeError as exc:
        raise SettingsError("settings", values, str(exc)) from None
