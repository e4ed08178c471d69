"""Settings from environment variables and Locust options, and back to the environment."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from journeys.settings import JourneySettings, SettingsError, add_arguments, from_env, from_options
from models.catalogue import PersonaName
from models.profile import load_profile


def test_environment_variables_are_read() -> None:
    settings = from_env({
        "JOURNEYS_SCALE": "0.5",
        "JOURNEYS_ACCOUNTS": "homeowner=10,contractor=5,operator=1",
        "JOURNEYS_WRITE_LOG": "/tmp/w.jsonl",
        "JOURNEYS_THINK": "constant",
        "JOURNEYS_SEED": "7",
        "JOURNEYS_FORWARDED_FOR": "0",
    })  # fmt: skip
    assert settings.scale == 0.5
    assert settings.accounts == {"homeowner": 10, "contractor": 5, "operator": 1}
    assert settings.write_log_path == Path("/tmp/w.jsonl")
    assert settings.think == "constant" and settings.seed == 7 and not settings.forwarded_for


def test_options_win_over_the_environment() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = parser.parse_args(["--journeys-scale", "2", "--journeys-seed-scale", "0.02"])
    settings = from_options(options, {"JOURNEYS_SCALE": "0.5", "JOURNEYS_SEED": "3"})
    assert (settings.scale, settings.seed_scale, settings.seed) == (2.0, 0.02, 3)


def test_to_env_round_trips() -> None:
    accounts: dict[PersonaName, int] = {"homeowner": 3, "contractor": 2, "operator": 1}
    original = JourneySettings(
        scale=0.25, accounts=accounts, hdr_out_path=Path("/tmp/h.json"), think="zero", seed=11
    )
    assert from_env(original.to_env()) == original


def test_account_counts_default_to_the_seed_scale() -> None:
    profile = load_profile()
    counts = JourneySettings(seed_scale=0.01).account_counts(profile)
    assert counts == {"homeowner": 2400, "contractor": 1400, "operator": 200}
    explicit = JourneySettings(accounts={"operator": 3}).account_counts(profile)
    assert explicit["operator"] == 3 and explicit["homeowner"] == 2400


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JOURNEYS_SCALE": "fast"}, "JOURNEYS_SCALE = 'fast'"),
        ({"JOURNEYS_SCALE": "-1"}, "scale = -1.0: must be a positive number"),
        ({"JOURNEYS_THINK": "gaussian"}, "think = 'gaussian'"),
        ({"JOURNEYS_ACCOUNTS": "admin=3"}, "JOURNEYS_ACCOUNTS = 'admin=3'"),
        ({"JOURNEYS_FORWARDED_FOR": "maybe"}, "JOURNEYS_FORWARDED_FOR = 'maybe'"),
    ],
)
def test_bad_values_name_the_setting_and_value(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        from_env(env)
