"""scripts/faults_table.py: the "Faults under load" tables from run.json files (no runs here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from scripts import faults_table

ROOT = Path(__file__).resolve().parents[2]


def _run(
    scenario: str, chaos: dict[str, Any] | None, exit_code: int, **extra: Any
) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "started_at": "2026-11-28T18:00:00Z",
        "exit_code": exit_code,
        "slo": extra.pop("slo", []),
        "integrity": {"checked": True, "lost": 0, "unexpected": 0, "recovered": 1},
        "chaos": chaos,
        "load_generator": {"cpu_max": 0.42},
        **extra,
    }


def _write(out: Path, label: str, run: dict[str, Any]) -> None:
    directory = out / faults_table._dirname(label) / "20261128T180000Z-x"
    (directory / "stats").mkdir(parents=True)
    (directory / "run.json").write_text(json.dumps(run))
    # stage 1 adds users (logins: 900 ms), stage 2 works off the backlog (300 ms), stage 3 is
    # steady (20 ms at worst)
    records = [
        {"t_s": t, "stage": stage, "p95_ms": p95}
        for stage, t, p95 in ((0, 2.0, 900.0), (1, 42.0, 300.0), (2, 80.0, 20.0), (2, 99.0, 11.0))
    ]  # fmt: skip
    (directory / "stats" / "timeseries.json").write_text(json.dumps({"records": records}))


PAYMENTS = {
    "kind": "payments",
    "events": [
        {"at_s": 60.1, "action": "inject", "detail": "payments: every call fails"},
        {"at_s": 120.2, "action": "heal", "detail": "payments: healthy"},
    ],
    "details": {"breaker_opened": True},
    "backlog_max_during_fault": {"outbox_pending": 3, "payments_pending": 12},
    "drain": {"outbox_pending": 0, "payments_pending": 0},
    "requests": 5000,
    "failures": 0,
    "error_rate": 0.0,
    "recovery_s": 31.5,
}
GATES = [
    {"name": "chaos_error_rate", "target": 0.01, "measured": 0.0, "passed": True, "stage": None},
    {"name": "chaos_recovery_s", "target": 90.0, "measured": 31.5, "passed": True, "stage": None},
]


def test_the_tables_show_each_scenarios_figures_and_a_verdict(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    _write(out, "chaos-payments", _run("chaos-payments", PAYMENTS, 0, slo=GATES))
    loadgen = {"kind": "loadgen", "events": [], "run_marked_incomplete": True}
    _write(out, "chaos-loadgen", _run("chaos-loadgen", loadgen, 3))
    day1 = _run(
        "day1", None, 1,
        slo=[{"name": "api_p95_ms", "target": 800.0, "measured": 950.0, "passed": False,
              "stage": None}],
        overall={"requests": 123456, "error_rate": 0.001, "p95_ms": 950.0, "availability": 1.0},
        stages=[{"index": 0, "name": "stage 1", "users": 200},
                {"index": 1, "name": "stage 2", "users": 200},
                {"index": 2, "name": "stage 3", "users": 100}],
    )  # fmt: skip
    _write(out, "day1 (SQLite)", day1)
    doc = tmp_path / "reliability.md"
    doc.write_text(f"# head\n{faults_table.BEGIN}\nold\n{faults_table.END}\ntail\n")

    faults_table.rewrite(doc, faults_table.render(out, 1.0))

    text = doc.read_text()
    assert text.startswith("# head\n") and text.endswith("tail\n") and "old" not in text
    assert (
        "| `chaos-payments` | t+60 s inject: payments: every call fails; t+120 s heal: payments: "
        "healthy | 0 of 5000 (0.00%; budget 1.00%) | 31.5 s (max 90 s) | 3 / 12; breaker opened "
        "| 0 / 0 | 0 / 0 / 1 | passed |"
    ) in text
    assert "run marked incomplete: yes" in text and "as designed: incomplete (exit 3)" in text
    assert "| `chaos-db` | not run |" in text
    assert (
        "| day1 (SQLite) | 42% | 123456 | 0.10% | 950.0 ms | 20 ms (1 stages) | 100.00% | 0 / 0 | "
        "api_p95_ms 950.0 (target 800.0) | **breached** |"
    ) in text


def test_a_document_without_markers_is_refused_untouched(tmp_path: Path) -> None:
    doc = tmp_path / "other.md"
    doc.write_text("no markers here\n")
    with pytest.raises(SystemExit, match="markers are missing"):
        faults_table.rewrite(doc, "x")
    assert doc.read_text() == "no markers here\n"


def test_the_shipped_document_has_the_markers(tmp_path: Path) -> None:
    copy = tmp_path / "reliability.md"
    shutil.copy(ROOT / "docs" / "reliability.md", copy)
    faults_table.rewrite(copy, faults_table.render(tmp_path / "none", 1.0))
    assert "| `chaos-payments` | not run |" in copy.read_text()


def test_unknown_scenarios_and_bad_scales_are_usage_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        faults_table.main(["--only", "chaos-disk"])
    assert "unknown scenario(s) ['chaos-disk']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        faults_table.main(["--duration-scale", "0"])
    assert "--duration-scale = 0.0: must be positive" in capsys.readouterr().err
