"""The CLI skeleton: every documented subcommand exists, exit codes, `harness profile`."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from harness.cli import COMMANDS, build_parser, main
from harness.exit_codes import ExitCode
from models.profile import default_profile_text

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


def test_profile_check_reports_every_problem_in_one_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown key, a value out of range, an unknown step and a rule across keys, at once:
    fixing one never reveals another."""
    bad = tmp_path / "bad.toml"
    bad.write_text(
        "[population]\nuserz = 5\n"
        "[personas.homeowner]\nshare = 2.0\n"
        "[personas.homeowner.steps]\nfly_to_moon = 1.0\n"
        "[infrastructure.autoscaling]\nmin_instances = 9\nmax_instances = 3\n",
        encoding="utf-8",
    )
    assert main(["profile", "check", str(bad)]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "4 problem(s)" in err
    assert "population.userz: unknown key; did you mean 'users'?" in err
    assert "personas.homeowner.share = 2.0: must be between 0 and 1" in err
    assert "personas.homeowner.steps.fly_to_moon: unknown or write step" in err
    assert "infrastructure.autoscaling.min_instances = 9: must not exceed max_instances" in err
    # the stand-in default share for the wrong one raises no problem of its own
    assert "must sum to 1" not in err


def _schema_node(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with a ``$ref`` (or a one-entry ``anyOf``/``allOf`` around it) resolved."""
    for key in ("anyOf", "allOf"):
        refs = [part for part in node.get(key, []) if "$ref" in part]
        if refs:
            node = refs[0]
    ref = node.get("$ref")
    if isinstance(ref, str):
        return _schema_node(schema, schema["$defs"][ref.rsplit("/", 1)[1]])
    return node


def _keys_missing_from_schema(
    schema: dict[str, Any], node: dict[str, Any], data: dict[str, Any], path: str
) -> list[str]:
    node = _schema_node(schema, node)
    properties = node.get("properties")
    missing = []
    for key, value in data.items():
        if properties is None:  # a free-keyed table (personas, demands): its values' schema
            child = node.get("additionalProperties", {})
        elif key not in properties:
            missing.append(f"{path}{key}")
            continue
        else:
            child = properties[key]
        if isinstance(value, dict) and isinstance(child, dict):
            missing += _keys_missing_from_schema(schema, child, value, f"{path}{key}.")
    return missing


def test_profile_schema_describes_every_key_of_the_default_profile(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["profile", "schema"]) == ExitCode.OK
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert "required" not in schema  # a file names only what it changes
    defaults = tomllib.loads(default_profile_text())
    assert _keys_missing_from_schema(schema, schema, defaults, "") == []
    # unknown keys are errors for an editor too, and keys carry their documentation
    database = schema["$defs"]["Database"]
    assert database["additionalProperties"] is False
    assert "PgBouncer" in database["properties"]["pooler"]["description"]


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


def test_parsing_run_s_flags_leaves_the_report_s_modules_unimported() -> None:
    """`harness run` imports its command module before it starts the service; the report's
    modules (matplotlib, scipy.stats: over a second) load later, beside the service's start
    (harness/run/model_outputs.py), never on that path."""
    probe = (
        "import sys; from harness.cli import build_parser; build_parser(); "
        "import harness.commands.run; "
        "print(sorted(m for m in ('reports', 'matplotlib', 'scipy.stats') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
