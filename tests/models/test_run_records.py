"""The records of run.json: written byte for byte as the harness wrote them before they were
typed (run_json/ holds a chaos run's run.json and a failed start's, trimmed), read back with
every key checked, and older files without the later keys still read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from models.json_fields import JsonFields, RecordError
from models.rounding import rounded
from models.run_records import (
    ChaosResult,
    FiredAlert,
    IntegrityAudit,
    Run,
    ServerVsClient,
    SloResult,
    StageResult,
)
from models.run_schema import RUN_KEYS

SAMPLES = Path(__file__).resolve().parent / "run_json"


def _text(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")


def _written(document: dict[str, object]) -> str:
    """As harness/artifacts.py writes a JSON artifact."""
    return json.dumps(document, indent=1, allow_nan=False) + "\n"


def test_a_chaos_run_is_written_back_byte_for_byte() -> None:
    text = _text("chaos-payments.json")
    run = Run.from_json(json.loads(text))
    assert _written(run.to_json()) == text
    assert run.chaos is not None and run.chaos.figures is not None
    assert run.overall is not None and run.overall.requests == run.stages[0].requests
    # counts stay counts: the integrity and drain gates were written with integer targets
    outbox = next(row for row in run.slo if row.name == "outbox_pending")
    assert isinstance(outbox.target, int) and isinstance(outbox.measured, int)


def test_a_failed_start_writes_the_contract_keys_only() -> None:
    text = _text("failed-start.json")
    run = Run.from_json(json.loads(text))
    assert _written(run.to_json(contract_only=True)) == text
    assert list(json.loads(text)) == list(RUN_KEYS)
    assert run.overall is None and run.machine is None and run.notes == ()


def _minimal() -> dict[str, Any]:
    """A run.json with the first schema version's keys only, as hand-written fixtures have."""
    stage = {"users": 10, "duration_s": 60, "throughput_rps": 2.0, "p50_ms": 20.0,
             "p95_ms": 80.0, "p99_ms": 120.0, "error_rate": 0.0}  # fmt: skip
    return {
        "schema_version": 1,
        "scenario": "smoke",
        "started_at": "2026-11-28T15:30:00Z",
        "finished_at": "2026-11-28T15:31:00Z",
        "complete": True,
        "incomplete_reasons": [],
        "target": {
            "host": "http://127.0.0.1:8000",
            "workers": 1,
            "database": "sqlite",
            "bundled": True,
        },
        "load_generator": {
            "workers": 0,
            "processes": 1,
            "users_per_process": 10,
            "cpu_max": 0.2,
            "unreliable": False,
        },
        "stages": [stage],
        "endpoints": [],
        "persona_mix": {"target": {"homeowner": 1.0}, "achieved": {"homeowner": 1.0}},
        "slo": [
            {"name": "api_p95_ms", "target": 800.0, "measured": 80.0, "passed": True, "stage": 0}
        ],
        "alerts": [
            {
                "severity": "warning",
                "metric": "p95_ms",
                "op": ">",
                "threshold": 1000.0,
                "fired_at_s": 3.0,
                "value": 1200.0,
            }
        ],
        "integrity": {"acknowledged_writes": 4, "lost": 0, "unexpected": 0, "checked": True},
        "server_vs_client": {
            "client_total": 120,
            "server_total": 120,
            "match": True,
            "by_endpoint": [],
        },
        "exit_code": 0,
    }


def test_a_file_without_the_later_keys_reads_with_defaults() -> None:
    run = Run.from_json(_minimal())
    [stage] = run.stages
    assert (stage.index, stage.name, stage.started_at_s) == (0, "stage 1", 0.0)
    assert stage.requests == 0 and stage.mean_ms is None and stage.elapsed_s is None
    assert run.stage_named(0) is stage and run.stage_named("stage 1") is stage
    assert run.slo == (SloResult("api_p95_ms", 800.0, 80.0, True, 0),)
    assert run.alerts == (FiredAlert("warning", "p95_ms", ">", 1000.0, 3.0, 1200.0),)
    assert run.integrity == IntegrityAudit(4, 0, 0, 0, checked=True)
    assert run.server_vs_client == ServerVsClient(120, 120, match=True)
    assert run.target.seed_scale is None and run.load_generator.mode is None
    assert run.persona_mix.users == {} and run.overall is None and run.chaos is None
    assert not run.loadgen_unreliable


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["stages"][0].pop("p95_ms"), "required key 'stages[0].p95_ms' is missing"),
        (
            lambda d: d["slo"][0].update(passed="yes"),
            "slo[0].passed = 'yes': expected true/false",
        ),
        (
            lambda d: d["integrity"].update(lost=1.5),
            "integrity.lost = 1.5: expected an integer",
        ),
        (
            lambda d: d["target"].update(bundled=None),
            "target.bundled = None: expected true/false",
        ),
        (
            lambda d: d.update(incomplete_reasons="none"),
            "incomplete_reasons = 'none': expected a list of strings",
        ),
        (lambda d: d.update(stages={}), "stages = {}: expected a list"),
        (lambda d: d.update(load_generator=[]), "load_generator: expected an object, got list"),
        (
            lambda d: d.update(schema_version=2),
            "schema_version = 2: expected 1, the version read here",
        ),
    ],
)
def test_a_bad_key_is_named_with_its_value_and_what_was_expected(change: Any, message: str) -> None:
    document = _minimal()
    change(document)
    with pytest.raises(RecordError) as caught:
        Run.from_json(document)
    assert str(caught.value) == message


def test_a_chaos_section_reads_without_the_optional_figures() -> None:
    section = {
        "kind": "worker",
        "planned": {"start_s": 5.0, "duration_s": 0.0},
        "events": [{"at_s": 5.1, "action": "error", "detail": "RuntimeError: no worker"}],
        "error": "RuntimeError: no worker",
        "note": "RuntimeError: no worker",
    }
    chaos = ChaosResult.from_json(JsonFields(section))
    assert chaos.figures is None and chaos.drain is None and chaos.breaker_opened is None
    assert chaos.backlog_max_during_fault.outbox_pending == 0
    assert chaos.to_json()["note"] == "RuntimeError: no worker"
    assert "error_rate" not in chaos.to_json()


def test_a_stage_is_its_figures_placed_on_the_clock() -> None:
    run = Run.from_json(json.loads(_text("chaos-payments.json")))
    [stage] = run.stages
    assert run.overall is not None
    placed = StageResult.placed(
        run.overall,
        index=0,
        name="stage 1",
        users=stage.users,
        duration_s=stage.duration_s,
        started_at_s=stage.started_at_s,
        elapsed_s=stage.elapsed_s,
    )
    assert list(placed.to_json())[:7] == [
        "index", "name", "users", "duration_s", "started_at_s", "elapsed_s", "throughput_rps",
    ]  # fmt: skip
    assert list(run.overall.to_json())[-2:] == ["throughput_rps", "availability"]


def test_rounded_keeps_none_and_rounds_to_the_digits_asked() -> None:
    assert rounded(None) is None
    assert rounded(1.23456) == 1.235 and rounded(1.23456, 2) == 1.23
    assert isinstance(rounded(3), float)
