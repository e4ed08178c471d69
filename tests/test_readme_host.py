"""README.md says what a `--host` target must offer, and the page it links to says it all."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
QA = (ROOT / "docs" / "qa.md").read_text(encoding="utf-8")
LINK = "docs/qa.md#testing-a-host-that-runs-the-bundled-api"
WHAT_THE_HARNESS_READS = (
    "/health/ready",
    "@seed.example",
    "launch-day-password",
    "http_requests_total{route,method,status}",
    "X-Forwarded-For",
)


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readme_says_what_a_host_must_offer_and_links_the_details() -> None:
    paragraph = next(p for p in README.split("\n\n") if "a `--host` target must" in p)
    for requirement in ("/health/ready", "seeded accounts", "http_requests_total"):
        assert requirement in paragraph, requirement
    assert f"({LINK})" in paragraph


def test_the_linked_section_exists_and_names_what_the_harness_reads() -> None:
    headings = {anchor(h): h for h in re.findall(r"^#+ (.+)$", QA, flags=re.M)}
    heading = headings[LINK.split("#", 1)[1]]
    section = QA.split(heading, 1)[1].split("\n#", 1)[0]
    for requirement in WHAT_THE_HARNESS_READS:
        assert requirement in section, requirement
