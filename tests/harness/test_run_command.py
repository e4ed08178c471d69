"""`harness run` end to end: real service, real Locust processes, short compressed scenarios.

Every test starts `python -m harness run` as a child process (as a QA engineer would), on
loopback with free ports, and reads the run directory it wrote. Failures are provoked for real:
a dead port, a killed service, a killed worker process.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.cli import main
from harness.exit_codes import ExitCode
from harness.run.process_cpu import SAMPLES_FILE as SERVICE_CPU_FILE
from harness.run.progress import Progress
from harness.run.service import free_port
from harness.run.speed_reference import read_samples
from models.run_schema import RUN_KEYS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
STAGE_KEYS = {
    "index",
    "name",
    "users",
    "duration_s",
    "started_at_s",
    "throughput_rps",
    "requests",
    "failures",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "mean_ms",
    "error_rate",
    "page_p95_ms",
    "availability",
}
ENDPOINT_KEYS = {
    "endpoint",
    "method",
    "name",
    "requests",
    "failures",
    "failure_rate",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
}
# smoke: 9 s of load, so that the time series and the scrapes have at least 3 windows of 2 s
SHORT = ["--duration-scale", "0.15", "--seed", "7"]
# 6 s of load: enough where the assertions need traffic and a verdict but no time series (a
# swarm, the breaches, PostgreSQL); each second of load is a second of `make test`.
BRIEF = ["--duration-scale", "0.1", "--seed", "7"]
# report.html is rendered and checked by the smoke and Ctrl-C runs. Elsewhere its 2-3 s would
# check nothing (a render that fails is only a warning), so those runs skip it.
NO_REPORT = "--no-report"
# A 9-second smoke on a shared 2-core machine is dominated by its ten logins (a deliberate
# password hash each): their latency is real, but these tests are about the harness, not the
# service's speed, so the passing runs use objectives no healthy run can miss.
RELAXED = "[slo]\napi_p50_ms = 5000.0\napi_p95_ms = 20000.0\npage_p95_ms = 60000.0\n"


@pytest.fixture
def relaxed(tmp_path: Path) -> list[str]:
    path = tmp_path / "relaxed.toml"
    path.write_text(RELAXED)
    return ["--profile", str(path)]


def harness(*args: str, out: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args, "--out", str(out)]
        if args[0] == "run"
        else [sys.executable, "-m", "harness", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(process: subprocess.Popen[str], timeout_s: float = 90.0) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"harness did not finish in {timeout_s} s:\n{err[-3000:]}")
    assert "Traceback" not in err, err[-3000:]
    return process.returncode, out, err


def only_run_dir(out: Path) -> Path:
    runs = list(out.iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def read_run(out: Path) -> dict[str, Any]:
    run: dict[str, Any] = json.loads((only_run_dir(out) / "run.json").read_text())
    return run


def documented_run_keys() -> set[str]:
    """Every top-level key the ``run.json`` table of docs/artifacts.md lists."""
    text = (REPO / "docs" / "artifacts.md").read_text(encoding="utf-8")
    table = text.split("## run.json", 1)[1].split("\n## ", 1)[0]
    keys: set[str] = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            keys.update(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return keys


def wait_for_load(out: Path, timeout_s: float = 30.0) -> None:
    """Until the Locust master's live feed has counted a request (load is running)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for live in out.glob("*/logs/live.jsonl"):
            *complete, _partial = live.read_text().split("\n")  # a line being written waits
            if any(json.loads(line).get("requests", 0) > 0 for line in complete):
                return
        time.sleep(0.1)
    pytest.fail("the load never started")


def descendant(process: subprocess.Popen[str], *fragments: str) -> psutil.Process:
    """The first child process whose command line has every one of ``fragments`` as a word."""
    for child in psutil.Process(process.pid).children(recursive=True):
        try:
            words = child.cmdline()
        except psutil.NoSuchProcess:
            continue
        if all(fragment in words for fragment in fragments):
            return child
    raise AssertionError(f"no child process with {fragments!r} in its command line")


def test_smoke_writes_every_documented_artifact_and_passes(
    tmp_path: Path, relaxed: list[str]
) -> None:
    tmp_path = tmp_path / "runs"
    code, _, err = finish(harness("run", "smoke", *SHORT, *relaxed, out=tmp_path))
    assert code == ExitCode.OK, err[-3000:]
    assert "[smoke] t=" in err and "PASSED: smoke" in err  # plain progress lines off a terminal
    run_dir = only_run_dir(tmp_path)
    run = read_run(tmp_path)
    assert set(RUN_KEYS) <= set(run) and run["schema_version"] == 1
    documented = documented_run_keys()
    assert len(documented) >= 25 and documented - set(run) == set(), documented - set(run)
    assert run["complete"] is True and run["incomplete_reasons"] == [] and run["exit_code"] == 0
    assert set(run["target"]) >= {"host", "workers", "database", "bundled"}
    assert run["target"]["database"] == "sqlite" and run["target"]["bundled"] is True
    assert set(run["load_generator"]) >= {
        "workers",
        "processes",
        "users_per_process",
        "cpu_max",
        "unreliable",
    }
    [stage] = run["stages"]
    assert set(stage) >= STAGE_KEYS and stage["users"] == 10 and stage["requests"] > 0
    assert stage["availability"] == 1.0 and stage["page_p95_ms"] > 0
    assert run["endpoints"] and all(set(e) >= ENDPOINT_KEYS for e in run["endpoints"])
    assert any(e["method"] == "PAGE" for e in run["endpoints"])
    assert (
        sum(e["requests"] for e in run["endpoints"] if e["method"] != "PAGE") == stage["requests"]
    )
    assert run["persona_mix"]["target"] == {"homeowner": 0.6, "contractor": 0.35, "operator": 0.05}
    assert run["persona_mix"]["users"] == {"homeowner": 6, "contractor": 3, "operator": 1}
    assert sum(run["persona_mix"]["achieved"].values()) == pytest.approx(1.0)
    assert {r["name"] for r in run["slo"] if r["stage"] is None} >= {
        "api_p50_ms",
        "api_p95_ms",
        "page_p95_ms",
        "error_rate",
        "availability",
    }
    assert all(r["passed"] for r in run["slo"])
    recon = run["server_vs_client"]
    assert recon["match"] and recon["client_total"] == recon["server_total"] == stage["requests"]
    assert run["integrity"]["checked"] and run["integrity"]["lost"] == 0
    assert run["integrity"]["unexpected"] == 0
    for name in (
        "profile.toml",
        "server.json",
        "stats/timeseries.json",
        "stats/failures.json",
        "stats/writes.jsonl",
        "stats/histograms/0.json",
        "report.html",
    ):
        assert (run_dir / name).is_file(), name
    series = json.loads((run_dir / "stats/timeseries.json").read_text())
    assert series["window_s"] == 2.0 and len(series["records"]) >= 3
    assert {
        "t_s",
        "stage",
        "users",
        "rps",
        "p50_ms",
        "p95_ms",
        "error_rate",
        "availability",
    } <= set(series["records"][0])
    scrapes = json.loads((run_dir / "server.json").read_text())["scrapes"]
    assert len(scrapes) >= 3 and "GET /jobs" in scrapes[-1]["routes"]
    # the kernel's count of the local service's CPU, beside the scrapes, rising
    cpu = read_samples(run_dir / SERVICE_CPU_FILE)
    assert len(cpu) >= 5 and cpu[-1][1] > cpu[0][1] and cpu[-1][0] > cpu[0][0]


def test_breaches_exit_1_with_the_evidence_in_run_json(tmp_path: Path) -> None:
    """One run, three kinds of breach (one run instead of three: each is a real service and a
    real swarm):

    * impossible latency objectives: breached per stage and overall, targets and measurements
      recorded, exit 1 after writing everything;
    * a rate-limit tier of 3 requests a minute: the bundled service enforces the profile's
      limits, the journeys count the 429s as failures of their own kind (stats/failures.json,
      endpoint ``rate_limited``), and the error-rate gate sees them;
    * a load generator that counts as overloaded at any CPU use: the run says its latency
      figures are unreliable.
    """
    profile = tmp_path / "breaches.toml"
    profile.write_text(
        "[slo]\napi_p50_ms = 0.001\napi_p95_ms = 0.002\n"
        "[gates]\nloadgen_cpu_warning = 0.0\nloadgen_cpu_unreliable = 0.0\n"
        "[infrastructure.rate_limits]\nauthenticated = 3\npro = 3\noperator = 3\n"
    )
    out = tmp_path / "runs"
    args = [*BRIEF, "--profile", str(profile), NO_REPORT]
    code, _, err = finish(harness("run", "smoke", *args, out=out))
    assert code == ExitCode.BREACH, err[-3000:]
    assert "breach: api_p95_ms" in err
    run = read_run(out)
    assert run["complete"] is True and run["exit_code"] == 1
    failed = {(r["name"], r["stage"]) for r in run["slo"] if not r["passed"]}
    assert {("api_p50_ms", None), ("api_p95_ms", None), ("api_p95_ms", "stage 1")} <= failed
    assert ("error_rate", None) in failed
    overall = next(r for r in run["slo"] if r["name"] == "api_p95_ms" and r["stage"] is None)
    assert overall["target"] == 0.002 and overall["measured"] > 0.002
    assert run["load_generator"]["unreliable"] is True and run["load_generator"]["cpu_max"] > 0
    assert "latency figures are unreliable" in err

    limited = sum(int(e.get("rate_limited") or 0) for e in run["endpoints"])
    assert limited > 0
    # stats/failures.json: each failure with its count and when it was first and last seen
    failures = json.loads((only_run_dir(out) / "stats" / "failures.json").read_text())["failures"]
    assert all(
        set(f) >= {"method", "name", "error", "occurrences", "first_seen_s", "last_seen_s"}
        for f in failures
    )
    rate_limited = [f for f in failures if f["method"] != "PAGE" and "rate limited" in f["error"]]
    assert sum(f["occurrences"] for f in rate_limited) == limited
    assert all(0 <= f["first_seen_s"] <= f["last_seen_s"] for f in rate_limited)
    assert run["server_vs_client"]["match"] is True  # a 429 is still a request both counted
    # --no-report: every artifact but the report, which `harness report` can render later
    assert not (only_run_dir(out) / "report.html").exists() and "report:" not in err


def test_abort_on_breach_stops_early_and_exits_1(tmp_path: Path) -> None:
    profile = tmp_path / "abort.toml"
    # Think times of 1 s, so that every 2-s window has requests: a window without any proves
    # nothing either way, and with the profile's 20 to 45 s windows without requests would
    # postpone the abort by a varying number of windows.
    thinking = "".join(
        f"[personas.{name}]\nthink_time_s = 1.0\n"
        for name in ("homeowner", "contractor", "operator")
    )
    profile.write_text(
        "[slo]\napi_p50_ms = 0.001\napi_p95_ms = 0.002\n[gates]\nabort_window_s = 2.0\n" + thinking
    )
    out = tmp_path / "runs"
    process = harness(
        "run",
        "smoke",
        "--duration-scale",
        "0.5",
        "--profile",
        str(profile),
        "--abort-on-breach",
        NO_REPORT,
        out=out,
    )
    code, _, err = finish(process)
    assert code == ExitCode.BREACH, err[-3000:]
    run = read_run(out)
    assert run["stages"][0]["elapsed_s"] < 20  # the scenario's one stage lasts 30 s
    assert run["complete"] is False
    assert any(
        r.startswith("aborted early on a sustained breach: api_p95_ms")
        for r in run["incomplete_reasons"]
    ), run["incomplete_reasons"]


def test_ctrl_c_stops_the_load_and_still_writes_the_artifacts(tmp_path: Path) -> None:
    process = harness("run", "smoke", "--duration-scale", "0.5", out=tmp_path)
    wait_for_load(tmp_path)
    os.kill(process.pid, signal.SIGINT)
    code, _, err = finish(process)
    assert code == ExitCode.UNREACHABLE, err[-3000:]
    run = read_run(tmp_path)
    assert run["complete"] is False and run["exit_code"] == 3
    assert any(r.startswith("interrupted (Ctrl-C)") for r in run["incomplete_reasons"])
    assert run["stages"][0]["requests"] > 0 and run["server_vs_client"]["match"]
    assert (only_run_dir(tmp_path) / "report.html").is_file()


def test_a_dead_host_exits_3_before_any_load(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    code, _, err = finish(
        harness("run", "smoke", "--host", dead, "--ready-timeout", "2", out=tmp_path), timeout_s=60
    )
    assert code == ExitCode.UNREACHABLE
    assert f"cannot reach {dead}" in err
    assert not tmp_path.exists() or not list(tmp_path.iterdir())  # no run, no load
    assert time.monotonic() - started < 15


class _NotReady(BaseHTTPRequestHandler):
    """A host that answers, but says it is not ready (its database is down)."""

    def do_GET(self) -> None:
        body = b'{"status": "not ready", "database": {"ok": false, "error": "refused"}}'
        self.send_response(503 if self.path.startswith("/health/ready") else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the test reads stderr
        pass


@pytest.fixture
def not_ready_host() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotReady)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_host_that_is_not_ready_exits_3_before_any_load(
    not_ready_host: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs"
    argv = ["run", "smoke", "--host", not_ready_host, "--ready-timeout", "0.5", "--out", str(out)]
    assert main(argv) == ExitCode.UNREACHABLE
    err = capsys.readouterr().err
    assert f"cannot reach {not_ready_host}: not ready after 0.5 s" in err
    assert "/health/ready answered 503" in err and "refused" in err  # why, in the service's words
    assert not out.exists()  # no run directory: no load was started


def test_progress_is_a_live_panel_on_a_terminal_and_plain_lines_elsewhere() -> None:
    record = {"t_s": 12.0, "stage": 1, "users": 40, "rps": 13.5, "p95_ms": 87.0,
              "error_rate": 0.0125, "availability": 0.995}  # fmt: skip
    plain = io.StringIO()  # not a terminal: one plain line per plain_every_s, notes as they come
    with Progress("step", 5, stream=plain, plain_every_s=60.0) as progress:
        progress.update(record, workers=2)
        progress.update(record | {"t_s": 14.0}, workers=2)  # within the minute: not repeated
        progress.note("! a worker left")
    assert plain.getvalue().splitlines() == [
        "[step] t=12s  stage 2/5  users 40  13.5 req/s  p95 87 ms  errors 1.25%  "
        "availability 99.50%  workers 2",
        "! a worker left",
    ]
    terminal = io.StringIO()  # a terminal: rich's live table, redrawn in place
    with Progress("step", 5, stream=terminal, interactive=True) as progress:
        progress.update(record, workers=2)
    drawn = terminal.getvalue()
    assert "\x1b[" in drawn  # terminal control sequences: the panel, not log lines
    assert "[step] t=" not in drawn
    for cell in ("harness run step", "2/5", "13.5", "1.25%", "99.50%", "2 load-generator worker"):
        assert cell in drawn, cell


def test_workers_that_never_join_give_an_incomplete_run_without_load(tmp_path: Path) -> None:
    args = ["--expect-workers", "1", "--expect-workers-timeout", "1", NO_REPORT, "--master-port"]
    code, _, err = finish(harness("run", "smoke", *args, str(free_port()), out=tmp_path))
    assert code == ExitCode.UNREACHABLE, err[-3000:]
    run = read_run(tmp_path)
    assert run["complete"] is False
    assert any(
        "the load never started" in r and "1 worker(s) were expected within 1 s" in r
        for r in run["incomplete_reasons"]
    ), run["incomplete_reasons"]
    assert run["server_vs_client"]["client_total"] == 0


def test_a_service_killed_mid_run_gives_an_incomplete_run_and_exit_3(tmp_path: Path) -> None:
    process = harness("run", "smoke", "--duration-scale", "0.3", NO_REPORT, out=tmp_path)
    wait_for_load(tmp_path)
    service = descendant(process, "target_app", "serve")
    os.killpg(service.pid, signal.SIGKILL)  # the service and its workers: a crash
    code, _, err = finish(process)
    assert code == ExitCode.UNREACHABLE, err[-3000:]
    run = read_run(tmp_path)
    assert run["complete"] is False and run["exit_code"] == 3
    assert any("the service exited" in r for r in run["incomplete_reasons"])
    assert run["stages"] and run["stages"][0]["requests"] > 0  # what was measured is kept
    assert (only_run_dir(tmp_path) / "stats" / "timeseries.json").is_file()


# A Locust worker killed mid-run: tests/harness/test_chaos_runs.py (the chaos-loadgen scenario).


# Remote workers (`harness worker`, --processes, --log-dir) join a master across hosts in
# tests/harness/test_swarm_across_hosts.py, each in a network namespace of its own.


@pytest.mark.postgres
@pytest.mark.redis
def test_two_local_workers_against_two_service_workers_on_postgresql(
    tmp_path: Path, relaxed: list[str], postgres_url: str, redis_url: str
) -> None:
    """One run, two checks (one run instead of two: each is a real service and a real swarm):

    * two local Locust workers: the client counts merged from both match the server's, per
      endpoint;
    * two service workers on PostgreSQL (rate limits shared in Redis): the run is complete and
      the integrity audit finds every acknowledged write.
    """
    out = tmp_path / "runs"
    args = ["--workers", "2", "--database-url", postgres_url, "--service-workers", "2"]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "smoke",
            *BRIEF,
            *relaxed,
            *args,
            NO_REPORT,
            "--out",
            str(out),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "REDIS_URL": redis_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    code, _, err = finish(process)
    assert code == ExitCode.OK, err[-3000:]
    run = read_run(out)
    assert run["complete"] and run["load_generator"]["workers"] == 2
    recon = run["server_vs_client"]
    assert recon["match"] and recon["client_total"] > 0
    assert all(row["client"] == row["server"] for row in recon["by_endpoint"])
    assert run["target"]["database"] == "postgresql" and run["target"]["workers"] == 2
    assert run["integrity"]["checked"] and run["integrity"]["lost"] == 0
