"""The rendered report in a real browser: no console errors, charts with size, phone, print."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reports import render_run_report
from tests.reports.browser import Browser
from tests.reports.factory import RunSpec, write_run

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]

CHART_SIZES = """JSON.stringify([...document.querySelectorAll('svg.chart')].map(svg => {
  const box = svg.getBoundingClientRect();
  return [svg.dataset.chart, box.width, box.height, svg.querySelectorAll('text').length];
}))"""


@pytest.fixture
def report(tmp_path: Path) -> Path:
    baseline = write_run(tmp_path / "baseline", RunSpec())
    run = write_run(tmp_path / "run", RunSpec(failing=True))
    return render_run_report(run, baseline_dir=baseline)


def _artifact_dir() -> Path:
    """Where the screenshots and the PDF stay after the run: ``$REPORT_ARTIFACTS``, by default
    ``test-artifacts/`` at the top of the checkout (git ignores it)."""
    target = Path(os.environ.get("REPORT_ARTIFACTS", ROOT / "test-artifacts"))
    target.mkdir(parents=True, exist_ok=True)
    return target


def test_report_renders_without_errors_and_charts_have_size(report: Path, tmp_path: Path) -> None:
    with Browser(tmp_path / "chromium") as browser:
        browser.open(report, width=1200, height=900)
        charts = json.loads(browser.evaluate(CHART_SIZES))
        assert browser.problems() == []
        shot = browser.screenshot(_artifact_dir() / "report-desktop.png")
    assert [name for name, *_ in charts] == [
        "capacity-timeline",
        "predict-throughput-rps",
        "predict-p50-ms",
        "predict-p95-ms",
        "run-timeline",
        "server-timeline",
    ]
    for name, width, height, texts in charts:
        assert width > 250 and height > 150, f"{name} rendered {width}x{height}"
        assert texts > 5, f"{name} has no text labels"
    assert shot.stat().st_size > 50_000
    assert shot.read_bytes().startswith(b"\x89PNG")


def test_report_fits_a_phone_screen(report: Path, tmp_path: Path) -> None:
    with Browser(tmp_path / "chromium") as browser:
        browser.open(report, width=390, height=844)
        page_width = browser.evaluate("document.documentElement.scrollWidth")
        widest_chart = browser.evaluate(
            "Math.max(...[...document.querySelectorAll('svg.chart')]"
            ".map(s => s.getBoundingClientRect().right))"
        )
        assert browser.problems() == []
        browser.screenshot(_artifact_dir() / "report-phone.png", full_page=False)
    # Wide tables scroll inside their own box; the page itself never scrolls sideways.
    assert page_width <= 390
    assert widest_chart <= 390


A4_TEXT_WIDTH_PX = 703
"""210 mm minus the 12 mm side margins of the print stylesheet, in CSS pixels (96 per inch)."""

WIDEST_IN_PRINT = """JSON.stringify([...document.querySelectorAll(
    'table, figure, svg.chart, pre, .cards, .verdict, h1, p')]
  .filter(e => e.getClientRects().length)
  .map(e => [e.id || e.tagName.toLowerCase(), Math.ceil(e.getBoundingClientRect().right)])
  .filter(([, right]) => right > %d))"""


def test_report_prints_on_a4(report: Path, tmp_path: Path) -> None:
    with Browser(tmp_path / "chromium") as browser:
        # Laid out as the printer lays it out: print media, A4's text width. In print the
        # tables do not scroll (their box is overflow: visible), so anything wider is cut off.
        browser.open(report, width=A4_TEXT_WIDTH_PX, height=1000)
        browser.send("Emulation.setEmulatedMedia", media="print")
        too_wide = json.loads(browser.evaluate(WIDEST_IN_PRINT % (A4_TEXT_WIDTH_PX + 1)))
        pdf = browser.print_pdf()
        assert browser.problems() == []
    assert too_wide == [], f"wider than an A4 page in print: {too_wide}"
    (_artifact_dir() / "report.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF")
    pages = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
    assert pages >= 5  # one section per page at least: verdict+SLO, capacity, prediction, ...
    # A4 is 595 x 842 points.
    assert b"/MediaBox [0 0 595" in pdf or b"/MediaBox [0 0 594" in pdf


def test_an_external_reference_would_be_caught(report: Path, tmp_path: Path) -> None:
    """The check above has teeth: a remote image is blocked by the page's policy and logged."""
    tampered = tmp_path / "tampered.html"
    html = report.read_text().replace(
        "</main>", '<img src="https://example.invalid/pixel.png" alt=""></main>'
    )
    tampered.write_text(html)
    with Browser(tmp_path / "chromium") as browser:
        browser.open(tampered)
        problems = browser.problems()
    assert any("Content Security Policy" in p for p in problems), problems
