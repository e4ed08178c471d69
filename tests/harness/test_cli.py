"""The CLI skeleton: every documented subcommand exists, exit codes, `harness profile`."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import COMMANDS, build_parser, main
from harness.exit_codes import ExitCode

#: The commands README.md's "The command line" lists.
DOCUMENTED_COMMANDS = {
    "demo", "model", "simulate", "run", "worker", "calibrate", "validate", "report", "serve",
    "health", "profile",
}  # fmt: skip


def test_every_documented_command_is_registered() -> None:
    assert set(COMMANDS) == DOCUMENTED_COMMANDS


@pytest.mark.parametrize("name", sorted(DOCUMENTED_COMMANDS))
def test_every_command_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([name, "--help"]) == ExitCode.OK
    assert f"usage: harness {name}" in capsys.readouterr().out


def test_the_full_parser_loads_every_command() -> None:
    assert build_parser(list(COMMANDS)).prog == "harness"


def test_profile_show_prints_derived_quantities(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "show"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "160,000" in out
    assert "20,000" in out
    assert "[population]" in out


def test_profile_show_with_partial_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[population]\nusers = 1000000\n", encoding="utf-8")
    assert main(["profile", "show", "--profile", str(path)]) == ExitCode.OK
    assert "400,000" in capsys.readouterr().out  # DAU of a million users


def test_profile_show_toml_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "show", "--toml"]) == ExitCode.OK
    path = tmp_path / "resolved.toml"
    path.write_text(capsys.readouterr().out, encoding="utf-8")
    assert main(["profile", "check", str(path)]) == ExitCode.OK


def test_profile_check_bad_file_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[population]\ndau_ratio = 1.4\n", encoding="utf-8")
    assert main(["profile", "check", str(bad)]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "population.dau_ratio = 1.4: must be between 0 and 1" in err
    assert str(bad) in err


def test_profile_schema_prints_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["profile", "schema"]) == ExitCode.OK
    schema = json.loads(capsys.readouterr().out)
    assert {"personas", "target", "slo", "journeys"} <= set(schema["properties"])


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == ExitCode.BAD_INPUT
    assert main(["profile"]) == ExitCode.BAD_INPUT
    capsys.readouterr()


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == ExitCode.OK
    assert "exit codes" in capsys.readouterr().out


def test_version_prints_the_installed_version_and_exits_0(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["--version"]) == ExitCode.OK
    assert capsys.readouterr().out == f"harness {importlib.metadata.version('capacity-harness')}\n"

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert main(["--version"]) == ExitCode.BAD_INPUT
    assert "capacity-harness is not installed" in capsys.readouterr().err


def test_python_dash_m_and_console_script_agree(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[slo]\np99_ms = 3\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "harness", "profile", "check", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == ExitCode.BAD_INPUT
    assert "slo.p99_ms: unknown key" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_installed_console_script_runs() -> None:
    script = Path(sys.executable).parent / "harness"
    assert script.exists(), f"the console script is not installed beside {sys.executable}"
    result = subprocess.run(
        [str(script), "profile", "show"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == ExitCode.OK, result.stderr
    assert "160,000" in result.stdout and "20,000" in result.stdout


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    # `harness model --users A:B:STEP --json | head -1`: the pipe closes after one line while
    # the sweep is still writing; the command must stop without a traceback.
    command = [sys.executable, "-m", "harness", "model", "--users", "100000:10000000:50000"]
    with subprocess.Popen(
        [*command, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.readline()
        process.stdout.close()  # the reader leaves
        stderr = process.stderr.read().decode()
        code = process.wait(timeout=60)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr
    assert code == ExitCode.OK
