"""The Jinja environment every report renders with, and the one way reports are written.

Templates are package files (``reports/templates/``), loaded with :class:`jinja2.PackageLoader`
so an installed wheel renders the same as a checkout. Autoescaping is on for every template:
run artifacts hold strings from the network (endpoint names, failure messages, hosts), and a
report must never execute what a target service sent back.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2

from reports.formatting import FILTERS, objective

VERSIONED_PACKAGES = (
    "capacity-harness",
    "locust",
    "numpy",
    "scipy",
    "simpy",
    "matplotlib",
    "jinja2",
    "fastapi",
    "sqlalchemy",
    "hdrhistogram",
)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt variable fails the test, not the reader
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.globals["objective"] = objective
    return env


def this_machine() -> dict[str, Any]:
    """Where the report was rendered: shown when the run did not record its own machine."""
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "versions": versions,
    }


def render_to_file(template: str, context: Mapping[str, Any], path: Path | str) -> Path:
    """Render ``template`` with ``context`` into ``path`` (parents created); return the path."""
    html = (
        environment()
        .get_template(template)
        .render(generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), **context)
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
