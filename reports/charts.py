"""Charts as inline SVG, drawn by matplotlib's SVG backend (figures built without pyplot, so
no global figure registry fills up when many reports render in one process).

Every chart is a :class:`Chart`: the SVG markup plus the words a screen reader, a printout in
black and white or a text-only mail client needs (a title, a one-paragraph description and a
small data table). Choices, and why:

- ``svg.fonttype = 'none'``: text stays ``<text>``, so it is selectable, searchable and small
  (glyph outlines would triple the size of a chart).
- The Okabe–Ito palette, plus distinct line styles and markers, so no series is told apart by
  colour alone.
- Inline SVGs share one HTML document, so matplotlib's element ids (``patch_1``...) would
  collide between charts: every id and every reference to it is prefixed per chart.
- The XML prologue, DOCTYPE, namespaces and RDF metadata are dropped: inside HTML they are
  not needed, and they are the only ``http://`` strings matplotlib writes.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # headless: never open a window, never need a display

from cycler import cycler
from markupsafe import Markup, escape
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision
# deficiency.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}

_RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "capacity-report",  # deterministic ids: the same run renders the same bytes
    "font.family": "sans-serif",
    "font.size": 9.0,
    "axes.prop_cycle": cycler(
        color=[OKABE_ITO[c] for c in ("blue", "orange", "green", "vermillion", "purple", "sky")]
    ),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.4,
    "path.simplify": True,
    "path.simplify_threshold": 0.5,
    "legend.frameon": False,
    "legend.fontsize": 8.0,
}


@dataclass(frozen=True, slots=True)
class Chart:
    """One figure of the report and its text alternative."""

    chart_id: str
    title: str
    description: str
    svg: Markup
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = field(default=())


def style() -> contextlib.AbstractContextManager[None]:
    """The report's matplotlib style, scoped: the caller's global rcParams stay untouched."""
    return matplotlib.rc_context(_RC)


def new_figure(rows: int = 1, height: float = 3.0, width: float = 7.0) -> tuple[Figure, list[Axes]]:
    """A figure with ``rows`` stacked axes sharing the x axis (call inside :func:`style`)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)
    return fig, [ax for (ax,) in axes]


_XML_HEAD = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_NAMESPACES = re.compile(r'\s+xmlns(?::xlink)?="[^"]*"')
_SIZE = re.compile(r'<svg([^>]*?)\s+width="[^"]*"\s+height="[^"]*"')


def to_svg(
    fig: Figure,
    chart_id: str,
    title: str,
    description: str,
    headers: Sequence[str] = (),
    rows: Sequence[Sequence[str]] = (),
) -> Chart:
    """Serialize and close ``fig``; return it as an accessible inline SVG chart."""
    buffer = io.StringIO()
    with style():  # svg.fonttype and svg.hashsalt are read while saving
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = _XML_HEAD.sub("", buffer.getvalue(), count=1)
    text = _METADATA.sub("", text, count=1)
    text = _NAMESPACES.sub("", text)
    text = _SIZE.sub(r"<svg\1", text, count=1)  # the CSS sizes it; the viewBox keeps the ratio
    # Prefix every id and every reference to one, so charts cannot capture each other's clips.
    text = text.replace(' id="', f' id="{chart_id}-')
    text = text.replace('href="#', f'href="#{chart_id}-').replace("url(#", f"url(#{chart_id}-")
    label = f"{chart_id}-title {chart_id}-desc"
    opening = f'<svg role="img" aria-labelledby="{label}" class="chart" data-chart="{chart_id}"'
    text = text.replace("<svg", opening, 1)
    accessible = (
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>'
    )
    close = text.index(">", text.index("<svg")) + 1
    text = text[:close] + accessible + text[close:]
    return Chart(
        chart_id=chart_id,
        title=title,
        description=description,
        svg=Markup(text),  # noqa: S704  # our own serializer's output, text already escaped
        headers=tuple(headers),
        rows=tuple(tuple(r) for r in rows),
    )


def integer_axis(ax: Axes) -> None:
    """Whole-number ticks for counts (users, instances): no "2.5 users"."""
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def mark_stages(axes: Sequence[Axes], starts: Sequence[float], labels: Sequence[str]) -> None:
    """Dotted vertical lines at stage boundaries, labelled on the top axes."""
    for ax in axes:
        for start in starts[1:]:
            ax.axvline(start, color="#777777", linestyle=":", linewidth=0.9)
    top = axes[0]
    for start, label in zip(starts, labels, strict=True):
        top.annotate(
            label,
            xy=(start, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -2),
            textcoords="offset points",
            fontsize=7,
            color="#555555",
            va="top",
        )
