"""The run report rendered from fixture artifacts: verdict, sections, figures, references."""

from __future__ import annotations

import json
import re
from pathlib import Path

from reports import formatting as fmt
from reports import render_run_report
from tests.reports.factory import HOST, read_run
from tests.reports.htmlcheck import external_references, parse

SECTIONS = ("verdict", "slo", "capacity", "prediction", "run", "method")


def test_passing_run_is_ready_and_has_every_section(passing_run: Path) -> None:
    report = parse(render_run_report(passing_run))
    assert (passing_run / "report.html").is_file()
    for section in SECTIONS:
        assert section in report.ids(), f"section {section} missing"
    verdict = report.section_text("verdict")
    assert verdict.startswith("✓ Ready for launch-day-400k (400,000 users, 20,000 concurrent")
    assert "All 5 objectives held up to 500 users" in verdict
    assert "Not ready" not in report.text


def test_stage_table_shows_the_run_json_figures(passing_run: Path) -> None:
    report = parse(render_run_report(passing_run))
    run = read_run(passing_run)
    rows = report.table("stage-table")[1:]
    assert len(rows) == len(run["stages"])
    for row, stage in zip(rows, run["stages"], strict=True):
        assert row[0] == f"S{stage['index'] + 1}"
        assert row[1] == f"{stage['users']:,}"
        assert row[3] == f"{stage['requests']:,}"
        assert row[4] == fmt.rps(stage["throughput_rps"])
        assert row[5] == fmt.ms(stage["p50_ms"])
        assert row[6] == fmt.ms(stage["p95_ms"])
        assert row[8] == fmt.ms(stage.get("p999_ms"))  # p99.9 ("—" in files without it)
        assert row[9] == fmt.pct(stage["error_rate"])


def test_endpoint_table_lists_every_api_endpoint_busiest_first(passing_run: Path) -> None:
    report = parse(render_run_report(passing_run))
    api = [e for e in read_run(passing_run)["endpoints"] if e["method"] != "PAGE"]
    rows = report.table("endpoint-table")[1:]
    assert [r[0] for r in rows] == [
        e["endpoint"] for e in sorted(api, key=lambda e: (-e["requests"], e["endpoint"]))
    ]
    busiest = max(api, key=lambda e: e["requests"])
    assert rows[0][1:] == [
        f"{busiest['requests']:,}",
        fmt.pct(busiest["failure_rate"]),
        fmt.ms(busiest["p50_ms"]),
        fmt.ms(busiest["p90_ms"]),
        fmt.ms(busiest["p95_ms"]),
        fmt.ms(busiest["p99_ms"]),
        fmt.ms(busiest.get("p999_ms")),
        fmt.ms(busiest["max_ms"]),
    ]
    assert len(report.table("page-table")) - 1 == 5


def test_slo_table_has_target_predicted_measured_and_result(passing_run: Path) -> None:
    report = parse(render_run_report(passing_run))
    header, *rows = report.table("slo-table")
    assert header == ["Objective", "Target", "Predicted", "Measured", "Result"]
    p95 = report.row("slo-table", "API p95")
    prediction = json.loads((passing_run / "prediction.json").read_text())
    at_500 = next(s for s in prediction["stages"] if s["users"] == 500)
    overall = next(
        s for s in read_run(passing_run)["slo"] if s["name"] == "api_p95_ms" and s["stage"] is None
    )
    assert p95[1:] == [
        "< 800 ms",
        fmt.ms(at_500["p95_ms"]),
        fmt.ms(overall["measured"]),
        "✓ passed",
    ]
    assert len(rows) == 5
    assert len(report.table("slo-stage-table")) == 1 + 5


def test_failing_run_is_not_ready_and_says_where_it_broke(failing_run: Path) -> None:
    report = parse(render_run_report(failing_run))
    verdict = report.section_text("verdict")
    assert verdict.startswith("✗ Not ready for launch-day-400k")
    # p50 = 18 + 0.04 u + 0.9 (u - 300) at 500 users: 18 + 20 + 180 = 218 ms, first at 500.
    assert "API p50 missed its objective (< 150 ms): first at 500 users (stage 5), 218 ms" in (
        verdict
    )
    assert "error rate missed its objective (< 1%)" in verdict
    assert "1 critical alert(s) fired; the first, p95_ms > 2000, at 4 min 22 s" in verdict
    assert report.row("slo-table", "API p50")[-1] == "✗ failed"
    alerts = report.table("alert-table")[1:]
    assert [a[0] for a in alerts] == ["warning", "critical"]


def test_incomplete_run_is_not_ready_and_shows_the_reconciliation(incomplete_run: Path) -> None:
    report = parse(render_run_report(incomplete_run))
    run = read_run(incomplete_run)
    verdict = report.section_text("verdict")
    assert "The run is incomplete (worker 2 stopped sending reports at 181 s" in verdict
    assert "Client and server request counts disagree" in verdict
    assert "Incomplete" in report.section_text("run")
    reconciliation = report.section_text("run")
    totals = run["server_vs_client"]
    assert (
        f"counted {totals['client_total']:,} requests, the service {totals['server_total']:,}"
        in reconciliation
    )
    first = run["server_vs_client"]["by_endpoint"][0]
    assert report.row("reconciliation-table", first["endpoint"]) == [
        first["endpoint"],
        f"{first['client']:,}",
        f"{first['server']:,}",
    ]


def test_unreliable_load_generator_is_a_reason(tmp_path: Path) -> None:
    from tests.reports.factory import RunSpec, write_run

    run_dir = write_run(tmp_path / "hot", RunSpec(loadgen_unreliable=True))
    verdict = parse(render_run_report(run_dir)).section_text("verdict")
    assert "Not ready" in verdict
    assert "The load generator ran at 95% CPU: its latency figures are unreliable" in verdict


def test_baseline_deltas_and_regressions(passing_run: Path, slower_run: Path) -> None:
    report = parse(render_run_report(slower_run, baseline_dir=passing_run))
    verdict = report.section_text("verdict")
    assert "Not ready" in verdict
    assert f"regressions beyond 10% against the baseline {passing_run.name}" in verdict
    # Every latency is 30% higher: each stage's p50 cell carries the delta and the marker.
    s1 = report.row("stage-table", "S1")
    assert s1[5].endswith("▲ +30.0%")
    assert s1[4].endswith("±0%")  # throughput unchanged, no regression
    endpoint = report.table("endpoint-table")[1]
    assert endpoint[3].endswith("▲ +30.0%")


def test_baseline_without_regression_keeps_the_run_ready(passing_run: Path, tmp_path) -> None:
    from tests.reports.factory import RunSpec, write_run

    similar = write_run(tmp_path / "similar", RunSpec(latency_factor=1.05))
    report = parse(render_run_report(similar, baseline_dir=passing_run))
    assert report.section_text("verdict").startswith("✓ Ready")
    assert report.row("stage-table", "S1")[5].endswith("+5.0%")
    assert "▲" not in report.row("stage-table", "S1")[5]


def test_prediction_error_table_matches_the_artifacts(passing_run: Path) -> None:
    report = parse(render_run_report(passing_run))
    prediction = json.loads((passing_run / "prediction.json").read_text())
    stage = read_run(passing_run)["stages"][2]
    model = next(s for s in prediction["stages"] if s["users"] == stage["users"])
    row = report.row("error-table", "S3")
    assert row[2] == f"{fmt.rps(model['throughput_rps'])} / {fmt.rps(stage['throughput_rps'])}"
    error = (model["p95_ms"] - stage["p95_ms"]) / stage["p95_ms"]
    assert row[7] == fmt.signed_pct(error)


def test_no_external_resource_is_referenced(failing_run: Path, passing_run: Path) -> None:
    path = render_run_report(failing_run, baseline_dir=passing_run)
    report = parse(path)
    assert external_references(report) == []
    # The only URL in the document is the target host, as text.
    urls = set(re.findall(r"https?://[^\s<\"']+", report.html))
    assert urls == {HOST}
    assert "Content-Security-Policy" in report.html
    assert "default-src 'none'" in report.html


def test_charts_are_accessible_inline_svgs_with_unique_ids(passing_run: Path) -> None:
    report = parse(render_run_report(passing_run))
    svgs = [e for e in report.elements if e.tag == "svg"]
    assert len(svgs) == 6  # run timeline, server, 3 prediction panels, capacity timeline
    for svg in svgs:
        assert svg.attrs["role"] == "img"
        title, desc = svg.attrs["aria-labelledby"].split()
        assert title in report.ids() and desc in report.ids()
    ids = report.ids()
    assert len(ids) == len(set(ids)), "duplicate element ids between charts"
    # Text stays text (svg.fonttype = none): axis labels are <text>, not glyph paths.
    assert "concurrent users" in report.html
    assert "<text" in report.html


def test_artifact_strings_are_escaped(passing_run: Path) -> None:
    run = read_run(passing_run)
    run["endpoints"][0]["endpoint"] = "GET /<script>alert(1)</script>"
    (passing_run / "run.json").write_text(json.dumps(run))
    html = render_run_report(passing_run).read_text()
    assert "<script>" not in html
    assert "GET /&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_optional_artifacts_may_be_missing(passing_run: Path) -> None:
    for name in ("prediction.json", "capacity.json", "server.json", "stats/timeseries.json"):
        (passing_run / name).unlink()
    report = parse(render_run_report(passing_run))
    assert "This run has no prediction.json" in report.section_text("prediction")
    assert "No sizing in this run directory" in report.section_text("capacity")
    assert not [e for e in report.elements if e.tag == "svg"]
    # The cost claims come from the profile, so they show even without a sizing.
    assert report.row("cost-claims", "400,000")[1] == "$8,500"


def test_method_section_states_how_figures_were_computed(passing_run: Path) -> None:
    report = parse(render_run_report(passing_run))
    method = report.section_text("method")
    assert "HDR histograms (3 significant digits)" in method
    assert "The load model is closed" in method
    assert "homeowner 30 s" in method
    assert "provisioning_delay_s" in method
    assert (passing_run / "profile.toml").read_text().splitlines()[0] in report.html
    assert report.row("machine-table", "python")[1]


def test_report_goes_where_asked(passing_run: Path, tmp_path: Path) -> None:
    out = render_run_report(passing_run, out=tmp_path / "elsewhere" / "r.html")
    assert out == tmp_path / "elsewhere" / "r.html"
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert not (passing_run / "report.html").exists()


def test_a_chaos_run_is_judged_by_its_own_gates_and_shows_the_fault(tmp_path: Path) -> None:
    from tests.reports.factory import RunSpec, write_run

    run_dir = write_run(tmp_path / "chaos", RunSpec(failing=True, scenario="chaos-db"))
    run = read_run(run_dir)
    # what harness/run/outcome.py writes for a chaos run: steady-state rows recorded, not judged
    run["slo"] = [row | {"judged": False} for row in run["slo"]] + [
        {"name": "chaos_error_rate", "target": 0.5, "measured": 0.2184, "passed": True,
         "stage": None},
        {"name": "chaos_recovery_s", "target": 60.0, "measured": 75.5, "passed": False,
         "stage": None},
    ]  # fmt: skip
    run["chaos"] = {
        "kind": "db",
        "planned": {"start_s": 60.0, "duration_s": 60.0},
        "events": [
            {"at_s": 60.2, "action": "inject", "detail": "database path: +200 ms per chunk"},
            {"at_s": 120.4, "action": "heal", "detail": "database path: healthy"},
        ],
        "error": None,
        "details": {"breaker_opened": True},
        "backlog_max_during_fault": {"outbox_pending": 46, "payments_pending": 1},
        "drain": {"outbox_pending": 0, "payments_pending": 0, "waited_s": 3.0, "note": ""},
        "window": {"start_s": 60.2, "end_s": 180.4},
        "requests": 2056,
        "failures": 449,
        "error_rate": 0.2184,
        "baseline_error_rate": 0.0,
        "recovery_s": 75.5,
    }
    (run_dir / "run.json").write_text(json.dumps(run), "utf-8")
    report = parse(render_run_report(run_dir))
    verdict = report.section_text("verdict")
    assert "recovery after the fault missed its objective (≤ 75.5 s)" not in verdict
    assert "recovery after the fault missed its objective (≤ 60 s)" in verdict
    assert "API p50 missed" not in verdict  # recorded, not judged
    assert report.row("slo-table", "API p50")[-1] == "missed (not judged: chaos run)"
    assert report.row("slo-table", "errors during the fault")[-1] == "✓ passed"
    assert report.row("slo-table", "recovery after the fault")[-1] == "✗ failed"
    fault = report.section_text("run")
    assert "db fault planned at t+60 s after the load started, for 60 s." in fault
    assert "2,056 requests, 449 failed (21.8%; before the fault 0%)" in fault
    assert "Recovery after the fault ended: 76 s." in fault  # two significant digits
    assert "46 notifications, 1 payment holds. The breaker opened." in fault
    assert [row[1] for row in report.table("chaos-events")[1:]] == ["inject", "heal"]
