"""The project stands alone: no tracked file cites a document the repository does not hold.

The planning documents and the issues the project was built from are not part of it; code and
docs cite the project's own pages instead (docs/source-figures.md holds the source document's
figures) and say what a thing does and why, not which issue brought it. Tests are checked too,
except this file, which names the citations it looks for.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Citations of documents outside the repository, and of issues ("issue 7", "Issue 4 adds").
CITATION = re.compile(r"DESIGN\.md|PITFALLS|STYLE\.md|scaling-400k-day1|\b[Ii]ssues? #?[0-9]")


def tracked_files() -> list[str]:
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
    )
    return [name for name in listing.stdout.decode().split("\0") if name]


def test_the_repository_holds_the_tracked_files() -> None:
    files = tracked_files()
    assert "README.md" in files and "harness/cli.py" in files, files[:10]


def test_no_file_cites_a_document_outside_the_repository() -> None:
    offenders = []
    for name in tracked_files():
        if name == "tests/test_stands_alone.py":
            continue
        try:
            text = (ROOT / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue  # images and other binary files; a file deleted but not yet staged
        for number, line in enumerate(text.splitlines(), start=1):
            if CITATION.search(line):
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert not offenders, "cite the project's docs instead:\n" + "\n".join(offenders)


def test_the_pattern_finds_each_citation() -> None:
    for text in ("(DESIGN.md, CLI)", "docs: PITFALLS", "STYLE.md", "seed/scaling-400k-day1.md",
                 "(issue 7, Speed)", "Issue 4 adds the fakes", "issue #3"):  # fmt: skip
        assert CITATION.search(text), text
    for text in ("docs/source-figures.md: the design of the plan", "an issue's next step"):
        assert not CITATION.search(text), text
