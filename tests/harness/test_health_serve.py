"""`harness serve` and `harness health` against the real bundled service on a free port."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.cli import main
from harness.exit_codes import ExitCode
from harness.health_checks import Status, breaker_states_from_metrics, run_checks
from harness.run.service import BundledService, ServiceConfig, free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BundledService]:
    log = tmp_path_factory.mktemp("service") / "service.log"
    with BundledService(ServiceConfig(seed_scale=0.001), log) as running:
        yield running


def test_the_ten_checks_pass_on_a_healthy_service(service: BundledService) -> None:
    results = run_checks(service.url, slo_ms=800.0)
    assert [r.number for r in results] == list(range(1, 11))
    assert [r.name for r in results][:6] == [
        "reachable",
        "liveness",
        "readiness",
        "database",
        "pool headroom",
        "login",
    ]
    # The bundled service offers every feature checked: none is failed or "not offered".
    assert [r.status for r in results] == [Status.PASS] * 10, results
    assert next(r for r in results if r.name == "database").detail.startswith("sqlite")


def test_a_read_endpoint_slower_than_the_objective_fails(service: BundledService) -> None:
    results = run_checks(service.url, slo_ms=0.001)
    reads = next(r for r in results if r.name == "read endpoints")
    assert reads.status == Status.FAIL and "slower than 0.001 ms" in reads.detail


def test_health_command_prints_one_line_per_check(
    service: BundledService, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["health", "--host", service.url, "--non-interactive"])
    out = capsys.readouterr().out
    assert code == ExitCode.OK, out
    lines = [line for line in out.splitlines() if re.match(r"^(PASS|FAIL|N/A) ", line)]
    assert len(lines) == 10 and out.rstrip().splitlines()[-1].startswith("READY")


def test_health_command_exits_1_naming_the_failed_check(
    service: BundledService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text("[slo]\napi_p50_ms = 0.001\napi_p95_ms = 0.002\n")
    argv = ["health", "--host", service.url, "--non-interactive", "--profile", str(strict)]
    assert main(argv) == ExitCode.BREACH
    lines = capsys.readouterr().out.rstrip().splitlines()
    assert any(re.match(r"^FAIL\s+7 read endpoints\s+.*slower than 0.002 ms", x) for x in lines)
    assert lines[-1].startswith("NOT READY: 9/10 checks without failure")


def test_health_command_is_coloured_on_a_terminal(
    service: BundledService, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    for name in ("NO_COLOR", "TERM", "FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert main(["health", "--host", service.url]) == ExitCode.OK
    drawn = screen.getvalue()
    assert "\x1b[" in drawn and drawn.count("✔") == 10  # a green tick per check
    assert "PASS" not in drawn and "READY: 10/10" in drawn


def test_a_rate_limited_login_leaves_the_rate_limit_headers_not_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One anonymous request a minute: the login below spends it, so the checks' own login
    # gets 429 and there is no authenticated response whose headers check 8 could read.
    config = ServiceConfig(seed_scale=0.001, environment=(("RATE_LIMIT_ANONYMOUS", "1"),))
    with BundledService(config, tmp_path / "service.log") as limited:
        credentials = {"email": "homeowner1@seed.example", "password": "launch-day-password"}
        assert httpx.post(f"{limited.url}/auth/login", json=credentials, timeout=10).is_success
        results = {r.name: r for r in run_checks(limited.url, slo_ms=800.0)}
        code = main(["health", "--host", limited.url, "--non-interactive"])
    login, headers = results["login"], results["rate-limit headers"]
    assert login.status == Status.FAIL
    assert "answered 429 (rate limited, Retry-After " in login.detail, login.detail
    assert headers.status == Status.NOT_CHECKED, headers
    assert headers.detail.startswith("no authenticated response to look at: login as ")
    assert "429 (rate limited, Retry-After " in headers.detail
    out = capsys.readouterr().out
    assert code == ExitCode.BREACH
    assert re.search(r"^SKIP\s+8 rate-limit headers\s+no authenticated response", out, re.M), out
    assert out.rstrip().splitlines()[-1].endswith(", 1 not checked)")


def test_health_command_on_a_dead_host_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    assert main(["health", "--host", dead, "--non-interactive", "--timeout", "2"]) == 3
    assert "cannot reach" in capsys.readouterr().err


def test_serve_prints_the_address_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "serve", "--port", "0", "--seed-scale", "0.001"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "ADMIN_TOKEN": "t" * 32},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"serving on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        assert httpx.get(f"{match.group(1)}/health/ready", timeout=5).status_code == 200
        # ADMIN_TOKEN in its environment mounts the fault API (README: inject a fault by hand)
        faults = f"{match.group(1)}/admin/faults"
        assert httpx.get(faults, timeout=5).status_code == 401
        admin = {"Authorization": "Bearer " + "t" * 32}
        put = httpx.put(f"{faults}/payments", json={"error_rate": 1.0}, headers=admin, timeout=5)
        assert put.status_code == 200, put.text
        assert httpx.delete(faults, headers=admin, timeout=5).status_code == 200
        os.kill(process.pid, signal.SIGINT)
        # communicate, not wait: it drains stderr, so a chatty shutdown cannot fill the pipe
        # and block the process we are waiting for
        _, err = process.communicate(timeout=30)
        assert process.returncode == 0, err[-2000:]
        time.sleep(0.5)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{match.group(1)}/health", timeout=2)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if not (process.stdout is None or process.stdout.closed):
            process.communicate()


@pytest.mark.parametrize("keep_log", [False, True])
def test_serve_says_why_the_service_would_not_start(tmp_path: Path, keep_log: bool) -> None:
    # The service refuses a SECRET_KEY under 32 characters; its reason went to /dev/null.
    log = tmp_path / "service.log"
    log.write_text("a line of an earlier run\n", encoding="utf-8")
    argv = [sys.executable, "-m", "harness", "serve", "--port", "0", "--no-seed"]
    completed = subprocess.run(
        argv + (["--log", str(log)] if keep_log else []),
        env={**os.environ, "SECRET_KEY": "short"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == ExitCode.UNREACHABLE, completed.stderr
    err = completed.stderr
    assert "exited with code 2 before ready; the service's last output" in err, err
    assert "SECRET_KEY" in err and "at least 32" in err and "Traceback" not in err
    assert "earlier run" not in err  # only this start's output
    assert (f"all of it in {log}" in err) == keep_log


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["worker", "--master-host", "h", "--processes", "0"], "--processes = 0"),
        (["worker", "--master-host", "h", "--master-port", "70000"], "--master-port = 70000"),
        (["serve", "--workers", "0"], "--workers = 0"),
        (["run", "smoke", "--duration-scale", "0"], "--duration-scale = 0"),
        # NaN and infinity pass a plain `> 0` and crashed or hung the run (exit 1 or 3)
        (["run", "smoke", "--scale", "inf"], "--scale = inf: must be a positive finite number"),
        (["run", "smoke", "--duration-scale", "nan"], "--duration-scale = nan"),
        (["run", "smoke", "--seed-scale", "inf"], "--seed-scale = inf"),
        (["run", "smoke", "--ready-timeout", "-1"], "--ready-timeout = -1"),
        (["run", "smoke", "--expect-workers-timeout", "nan"], "--expect-workers-timeout = nan"),
        (["run", "smoke", "--master-port", "70000"], "--master-port = 70000: not a TCP port"),
        (["health", "--timeout", "0"], "--timeout = 0: must be a positive finite number"),
        (["health", "--timeout", "nan"], "--timeout = nan"),
        (["serve", "--port", "-1"], "--port = -1: not a TCP port"),
        (["serve", "--seed-scale", "nan"], "--seed-scale = nan"),
        (["serve", "--bind", "example.com"], "--bind = 'example.com': not an IP address"),
        (["serve", "--trusted-proxies", "10.0.0.2,,x"], "--trusted-proxies = 'x'"),
        (["run", "nosuch"], "unknown scenario 'nosuch'"),
        (["run", "smoke", "--host", "127.0.0.1:8000"], "expected a URL"),
    ],
)
def test_bad_arguments_exit_2_naming_the_value(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == ExitCode.BAD_INPUT
    assert message in capsys.readouterr().err


def test_breaker_states_are_read_from_either_metric_style() -> None:
    gauge = (
        "# TYPE circuit_breaker_state gauge\n"
        'circuit_breaker_state{dependency="database"} 0.0\n'
        'circuit_breaker_state{dependency="payments"} 2.0\n'
    )
    assert breaker_states_from_metrics(gauge) == {"database": "closed", "payments": "open"}
    enum = (
        "# TYPE breaker_state gauge\n"
        'breaker_state{name="sms",state="closed"} 0.0\n'
        'breaker_state{name="sms",state="half_open"} 1.0\n'
    )
    assert breaker_states_from_metrics(enum) == {"sms": "half_open"}
