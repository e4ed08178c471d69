"""``junit.xml``: a run's gates as JUnit test cases, the format every CI system shows.

One test case per objective per stage (``slo`` rows of run.json: classname
``<scenario>.<stage>``, ``<scenario>.overall`` for the whole run), failed when breached,
skipped when recorded but not judged (a chaos run's steady-state objectives); one case
``<scenario>.run / complete`` that fails with the reasons when the run is incomplete; one
skipped case per check the run could not make (run.json's ``skipped``), with the reason.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from models.run_records import Run, SloResult

JUNIT_FILE = "junit.xml"


def _objective_case(suite: ET.Element, scenario: str, row: SloResult) -> str:
    """One objective's case; returns its outcome: passed, failed or skipped."""
    stage = "overall" if row.stage is None else str(row.stage)
    case = ET.SubElement(suite, "testcase", classname=f"{scenario}.{stage}", name=row.name)
    detail = f"{row.name} measured {row.measured} against target {row.target} ({stage})"
    if not row.judged:
        ET.SubElement(case, "skipped", message=f"recorded, not judged: {detail}")
        return "skipped"
    if not row.passed:
        failure = ET.SubElement(case, "failure", message=detail, type="objective breached")
        failure.text = detail
        return "failed"
    return "passed"


def junit_xml(run: Run) -> str:
    """The document for ``run`` (module docstring)."""
    suite = ET.Element("testsuite", name=f"harness run {run.scenario}", timestamp=run.started_at)
    outcomes = [_objective_case(suite, run.scenario, row) for row in run.slo]
    complete = ET.SubElement(suite, "testcase", classname=f"{run.scenario}.run", name="complete")
    if not run.complete:
        reasons = "; ".join(run.incomplete_reasons)
        ET.SubElement(complete, "failure", message=reasons, type="incomplete").text = reasons
    outcomes.append("passed" if run.complete else "failed")
    for check, why in sorted(run.skipped.items()):
        case = ET.SubElement(suite, "testcase", classname=f"{run.scenario}.skipped", name=check)
        ET.SubElement(case, "skipped", message=why)
        outcomes.append("skipped")
    counts = {
        "tests": str(len(outcomes)),
        "failures": str(outcomes.count("failed")),
        "errors": "0",
        "skipped": str(outcomes.count("skipped")),
    }
    suite.attrib.update(counts)
    root = ET.Element("testsuites", {"name": "harness", **counts})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(run_dir: Path, run: Run) -> Path:
    path = run_dir / JUNIT_FILE
    path.write_text(junit_xml(run), encoding="utf-8")
    return path
