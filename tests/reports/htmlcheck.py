"""Reading a rendered report back: sections, tables, resource references, SVG attributes.

A small parser over the standard library's HTMLParser, so tests check the document's structure
(which table, which row) instead of searching for substrings that could match anywhere.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]


@dataclass
class Report:
    """What a test needs from a report: elements, table cells by table id, visible text."""

    html: str
    elements: list[Element] = field(default_factory=list)
    tables: dict[str, list[list[str]]] = field(default_factory=dict)
    text: str = ""

    def ids(self) -> list[str]:
        return [e.attrs["id"] for e in self.elements if "id" in e.attrs]

    def table(self, table_id: str) -> list[list[str]]:
        """Rows of ``table_id`` (header row included), each a list of cell texts."""
        return self.tables[table_id]

    def row(self, table_id: str, first_cell: str) -> list[str]:
        for row in self.tables[table_id]:
            if row and row[0] == first_cell:
                return row
        raise AssertionError(f"no row starting {first_cell!r} in table {table_id!r}")

    def section_text(self, section_id: str) -> str:
        match = re.search(rf'<section[^>]*id="{section_id}".*?</section>', self.html, re.DOTALL)
        assert match, f"no section {section_id!r}"
        return _squash(html.unescape(re.sub(r"<[^>]+>", " ", match.group(0))))


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class _Parser(HTMLParser):
    def __init__(self, report: Report) -> None:
        super().__init__(convert_charrefs=True)
        self.report = report
        self.table_stack: list[str] = []
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.svg_depth = 0
        self.skip = 0
        self.chunks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.report.elements.append(Element(tag, values))
        if tag in ("style", "title") and self.svg_depth == 0:
            self.skip += 1
        if tag == "svg":
            self.svg_depth += 1
        if tag == "table":
            table_id = values.get("id", f"table-{len(self.report.tables)}")
            self.table_stack.append(table_id)
            self.report.tables[table_id] = []
        elif tag == "tr" and self.table_stack:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title") and self.svg_depth == 0 and self.skip:
            self.skip -= 1
        if tag == "svg":
            self.svg_depth -= 1
        if tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append(_squash("".join(self.cell)))
            self.cell = None
        elif tag == "tr" and self.row is not None and self.table_stack:
            self.report.tables[self.table_stack[-1]].append(self.row)
            self.row = None
        elif tag == "table" and self.table_stack:
            self.table_stack.pop()

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)
        if not self.skip and self.svg_depth == 0:
            self.chunks.append(data)


def parse(path: Path) -> Report:
    report = Report(html=path.read_text("utf-8"))
    parser = _Parser(report)
    parser.feed(report.html)
    parser.close()
    report.text = _squash(" ".join(parser.chunks))
    return report


RESOURCE_ATTRIBUTES = (
    "src",
    "href",
    "xlink:href",
    "srcset",
    "poster",
    "data",
    "action",
    "background",
    "formaction",
)


def external_references(report: Report) -> list[str]:
    """Every reference that would make a browser fetch something: must be empty."""
    found = []
    for element in report.elements:
        for name in RESOURCE_ATTRIBUTES:
            value = element.attrs.get(name)
            if value is not None and not value.startswith(("#", "data:")):
                found.append(f"<{element.tag} {name}={value!r}>")
        if element.tag in ("script", "link", "iframe", "object", "embed", "img", "base"):
            found.append(f"<{element.tag}>")
    for match in re.finditer(r"url\(\s*['\"]?([^)'\"]*)", report.html):
        if not match.group(1).startswith("#"):
            found.append(f"url({match.group(1)})")
    if "@import" in report.html:
        found.append("@import")
    return found
