"""``harness validate --lab-only`` on the real lab, shortened: one instance calibrated under its
CPU limit, then the lab topology trial on the default [lab] (3 quarter-core instances behind
HAProxy, PgBouncer, PostgreSQL with a read replica, the cache) at two levels of a few seconds.

It checks the pipeline and its arithmetic, not the model's accuracy (stages this short on a
shared machine measure nothing worth judging): the records written, each instance's CPU read
from its CPU group, PgBouncer's connections sampled each second, every judged goal evaluated.
The instance decision's three runs are left out (``--no-instance-decision``); its arithmetic
has in-process tests. Redis database 7 (TEST_REDIS_URL's), databases named ``labval_*``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from harness.validate import runner
from harness.validate.settings import ValidationSettings
from harness.validate.table import format_document
from models.profile import load_profile
from tests.conftest import BESIDE_GROUP
from tests.harness.lab.conftest import lab_leftovers, lab_ready
from tests.harness.lab.test_lab_run import PG, RELAXED

#: Stages of a few seconds: the pilot, three light stages and an idle one, two topology levels.
#: Each measured stage spans at least two of the run's scrapes (one every 2 s): a CPU figure
#: needs two.
SHORT = ValidationSettings(
    pilot_users=5,
    pilot_s=6.0,
    calibration_s=6.0,
    min_settle_s=3.0,
    max_settle_s=6.0,
    min_measure_s=6.0,
    max_measure_s=6.0,
    topology_cpu_targets=(0.2, 0.5),
    instance_decision=False,
    # three scrapes, so at least two even when one runs late on a busy machine (a CPU figure
    # needs two: with 4 s, one late scrape left the idle stage unmeasured)
    lab_idle_s=6.0,
)


# Beside the serial slow group (make test's ten minutes): it judges the pipeline and its
# arithmetic, never accuracy.
@pytest.mark.slow
@pytest.mark.xdist_group(BESIDE_GROUP)
def test_the_topology_trial_runs_on_the_whole_lab_and_judges_every_level(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab_ready()
    monkeypatch.setenv("REDIS_URL", redis_url)
    profile_path = tmp_path / "relaxed.toml"
    profile_path.write_text(RELAXED)
    log = io.StringIO()
    outcome = runner.validate(
        load_profile(profile_path),
        SHORT,
        tmp_path / "runs",
        pin=False,
        log=log,
        lab=runner.LabMode(f"{PG}/labval_topology", only=True),
    )
    document = json.loads((outcome.directory / "validation.json").read_text())
    assert document["complete"], (document["incomplete_reasons"], log.getvalue()[-3000:])
    assert outcome.exit_code == 0
    assert log.getvalue().startswith("validate: planned duration about ")
    decision = document["decision"]
    assert decision["asked"] is False and decision["calibration"]["used_users"]
    # the calibration ended idle: the CPU line's intercept is that reading, under the limit
    line = decision["calibration"]["lab_demands"]
    assert line["idle_measured"] is True and 0 <= line["idle_cpu_cores"] < 0.25, (
        line,
        decision["calibration"]["stages"],
    )
    assert decision["calibration"]["stages"][-1]["users"] == 0
    (trial,) = document["trials"]
    assert trial["name"] == "lab topology" and trial["complete"] and len(trial["runs"]) == 1
    assert trial["lab"]["instances"] == 3 and trial["lab"]["pooler"] is True
    levels = trial["levels"]
    assert len(levels) == 2 and levels[0]["users"] < levels[1]["users"]
    for level in levels:
        measured = level["measured"]
        # three CPU groups read, each within its quarter-core quota (a little slack: the
        # scrapes' instants are not the quota's periods)
        per_instance = measured["cpu_per_instance"]
        assert len(per_instance) == 3 and all(0 < one <= 1.15 for one in per_instance)
        assert measured["cpu_utilization"] == pytest.approx(sum(per_instance) / 3, abs=1e-3)
        # each CPU group's own throttling counters, read from the kernel over the stage
        throttling = measured["throttling"]
        assert len(throttling) == 3
        for group in throttling:
            assert 0 <= group["throttled_share"] <= 1 and 0 <= group["throttled_time_share"] < 1
        assert measured["throughput_rps"] > 0 and measured["p95_ms"] > 0
        pooler = level["pooler"]
        assert pooler["measured"]["samples"] >= 3  # one reading a second over the stage
        assert pooler["measured"]["busy_mean"] is not None
        assert pooler["measured"]["transactions_rps"] > 0
        assert pooler["predicted"]["busy_mean"] > 0 and pooler["predicted"]["servers"] >= 1
        assert level["judged"] == (level["predicted"]["cpu_utilization"] <= 0.85)
        if level["judged"]:  # every goal evaluated, the connections' too
            assert level["meets_goals"] is not None and pooler["meets_goal"] is not None
    summary = trial["summary"]
    assert summary["levels_judged"] >= 1 and summary["goals"]["connections_busy"] == 0.2
    assert document["summary"]["trials"] == {"lab topology": summary["goals_met"]}
    run_dir = Path(trial["runs"][0])
    assert (run_dir / "lab.jsonl").exists() and (run_dir / "prediction.json").exists()
    assert json.loads((run_dir / "prediction.json").read_text())["model"] == "topology"
    assert (run_dir / "report.html").exists()
    assert "-- lab topology:" in format_document(document)
    assert lab_leftovers() == []
