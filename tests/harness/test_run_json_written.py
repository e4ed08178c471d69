"""run.json as the harness writes it from its records: a bundled service that never started
still gives the file it always gave (tests/models/run_json/failed-start.json, written before the
records were typed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from harness.run import orchestrate
from harness.run.run_request import RunRequest
from models.profile import load_profile

SAMPLE = Path(__file__).resolve().parents[1] / "models" / "run_json" / "failed-start.json"


def test_a_service_that_never_started_writes_the_contract_keys_as_before(tmp_path: Path) -> None:
    request = RunRequest(scenario="smoke", profile=load_profile(), workers=1, service_workers=2)
    started = datetime(2026, 12, 6, 8, 0, 0, tzinfo=UTC)
    orchestrate._write_failed_start(request, tmp_path, started, "not ready after 60 s")
    written = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    expected = json.loads(SAMPLE.read_text(encoding="utf-8"))
    written["finished_at"] = expected["finished_at"]  # the only figure that is the clock's
    assert json.dumps(written, indent=1) == json.dumps(expected, indent=1)
    junit = (tmp_path / "junit.xml").read_text(encoding="utf-8")
    assert 'classname="smoke.run" name="complete"' in junit and "not ready after 60 s" in junit
