"""`harness validate`'s options reaching its settings, and bad values refused before any run."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness.cli import build_parser, main
from harness.commands import validate as validate_command
from harness.commands.demo import DEMO_SETTINGS
from harness.commands.validate import settings_from
from harness.exit_codes import ExitCode
from harness.validate.settings import ValidationSettings


def parse(*argv: str) -> argparse.Namespace:
    return build_parser(["validate"]).parse_args(["validate", *argv])


def test_replication_flags_reach_the_settings() -> None:
    settings = settings_from(parse("--replications", "3", "--max-replications", "5"))
    assert (settings.replications, settings.max_replications) == (3, 5)
    defaults = settings_from(parse())
    assert (defaults.replications, defaults.max_replications) == (2, 3)
    assert (
        defaults.topology_trial and not settings_from(parse("--no-topology-trial")).topology_trial
    )
    # Without --max-replications the maximum follows a larger minimum...
    assert settings_from(parse("--replications", "6")).max_replications == 6
    # ...and a smaller one still leaves room for the noise to ask for more.
    assert settings_from(parse("--replications", "1")).max_replications == 3
    single = settings_from(parse("--replications", "1", "--max-replications", "1"))
    assert (single.replications, single.max_replications) == (1, 1)
    assert defaults.burst_period_s == 1.0
    assert settings_from(parse("--burst-period", "0")).burst_period_s == 0.0  # no burst stage
    # The deep burst: on a 4 s clock by default, none without a burst stage or when asked.
    assert defaults.deep_burst_period_s == 4.0
    assert settings_from(parse("--burst-period", "0")).deep_burst_period_s == 0.0
    assert settings_from(parse("--deep-burst-period", "0")).deep_burst_period_s == 0.0
    assert settings_from(parse("--deep-burst-period", "3")).deep_burst_period_s == 3.0
    assert not defaults.backlog_fit and settings_from(parse("--backlog-fit")).backlog_fit


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--replications", "0"], "--replications 0: must be at least 1"),
        (
            ["--replications", "3", "--max-replications", "2"],
            "--max-replications 2: must be at least --replications (3)",
        ),
        (["--replications", "two"], "argument --replications: invalid int value: 'two'"),
        (["--lab", "--decision-instances", "1"], "decision_instances must be >= 2, got 1"),
        (
            ["--lab", "--decision-replications", "0"],
            "need decision_replications >= 1 and decision_measure_s > 0, got 0 and 15",
        ),
        (["--burst-period", "-1"], "need burst_period_s >= 0 and burst_s > 0"),
        (
            ["--deep-burst-period", "0.5"],
            "need deep_burst_period_s 0 (no deep burst) or longer than burst_period_s",
        ),
        # the default [lab] has a read replica: the lab is checked before anything starts
        (["--lab-only"], "needs PostgreSQL"),
    ],
)
def test_bad_replication_flags_exit_2_naming_the_flag(
    argv: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("a bad flag must stop the command before any run")

    monkeypatch.setattr(validate_command, "validate", must_not_run)
    assert main(["validate", *argv]) == ExitCode.BAD_INPUT
    assert message in capsys.readouterr().err


def test_the_demo_makes_one_step_run() -> None:
    """A second replication would cost the demo's step load again: it would not fit in 5 min."""
    assert (DEMO_SETTINGS.replications, DEMO_SETTINGS.max_replications) == (1, 1)


def test_a_count_may_run_once_more_up_to_three_or_as_many_as_asked() -> None:
    defaults = settings_from(parse("--lab"))
    assert (defaults.decision_replications, defaults.decision_max_replications) == (2, 3)
    more = settings_from(parse("--lab", "--decision-replications", "4"))
    assert (more.decision_replications, more.decision_max_replications) == (4, 4)
    with pytest.raises(ValueError, match=r"decision_max_replications \(2\) must be at least"):
        ValidationSettings(decision_replications=3, decision_max_replications=2)


def test_k_plus_one_is_measured_only_when_asked() -> None:
    """K-1 and K judge the decision; K+1's two runs would keep --lab over its 30 minutes."""
    assert settings_from(parse("--lab")).decision_k_plus_one is False
    assert settings_from(parse("--lab", "--k-plus-one")).decision_k_plus_one is True


def test_the_lab_check_asks_for_the_most_instances_a_run_will_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The decision's K (K+1 with --k-plus-one), or the [lab]'s own count when larger."""
    from harness.run import lab_plan
    from models.profile import load_profile

    asked: list[int] = []
    monkeypatch.setattr(lab_plan, "plan_lab", lambda lab, *_: asked.append(lab.instances))
    profile = load_profile()
    for most in (3, 4, 6):
        validate_command.checked_lab_mode(profile, None, most)
    assert asked == [max(3, profile.lab.instances), max(4, profile.lab.instances), 6]


def test_the_fit_flags_reach_the_settings() -> None:
    assert settings_from(parse()).speed_normalised_fit is False  # the plain fit is judged
    assert settings_from(parse("--speed-normalised-fit")).speed_normalised_fit is True
    assert settings_from(parse("--probe")).capacity_probe is True
    both = settings_from(parse("--no-holdout"))
    assert not both.holdout_mix and not both.holdout_think


def test_strict_exits_1_on_any_judged_miss() -> None:
    missed = {"summary": {"goals_met": False}}
    met = {"summary": {"goals_met": True}}
    assert validate_command._exit_code(ExitCode.OK, missed, strict=True) == ExitCode.BREACH
    assert validate_command._exit_code(ExitCode.OK, missed, strict=False) == ExitCode.OK
    assert validate_command._exit_code(ExitCode.OK, met, strict=True) == ExitCode.OK
    # An incomplete validation says so first: its goals cannot be judged.
    incomplete = ExitCode.UNREACHABLE
    assert validate_command._exit_code(incomplete, missed, strict=True) == incomplete


def test_reanalysing_a_directory_without_a_document_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "--reanalyse", str(tmp_path)]) == ExitCode.BAD_INPUT
    assert f"--reanalyse {tmp_path}: no validation.json there" in capsys.readouterr().err
    (tmp_path / "validation.json").write_text('{"schema_version": 1}', encoding="utf-8")
    assert main(["validate", "--reanalyse", str(tmp_path)]) == ExitCode.BAD_INPUT
    assert "schema_version 1" in capsys.readouterr().err
