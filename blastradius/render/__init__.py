"""Renderers: one registry from ``--format`` name to a function of the report.

Every renderer is pure (report in, text out) and never calls AWS. ``render`` is the one entry point;
the CLI builds ``--format`` choices from ``RENDERERS``.
"""

from __future__ import annotations

from typing import Protocol

from blastradius.errors import UsageError
from blastradius.jsonio import gc_paused
from blastradius.render.common import SECTIONS, describe_path
from blastradius.render.graph import render_dot, render_graphml
from blastradius.render.html import render_html
from blastradius.render.jsonfmt import render_json
from blastradius.render.markdown import render_markdown
from blastradius.render.table import render_table
from blastradius.report import Report


class Renderer(Protocol):
    """A renderer: ``renderer(report)`` works for all; ``color``/``width`` matter to terminal ones.

    ``only`` names one section of ``SECTIONS`` to render instead of the whole report.
    """

    def __call__(
        self, report: Report, /, *, color: bool = False, width: int | None = None, only: str | None = None
    ) -> str: ...


RENDERERS: dict[str, Renderer] = {
    "table": render_table,
    "json": render_json,
    "markdown": render_markdown,
    "html": render_html,
    "dot": render_dot,
    "graphml": render_graphml,
}


# Formats that export the attack graph only: they have no report sections (``only`` is refused).
GRAPH_FORMATS = frozenset({"dot", "graphml"})


def render(
    report: Report, fmt: str, *, color: bool = False, width: int | None = None, only: str | None = None
) -> str:
    """Render ``report`` in format ``fmt`` (a key of ``RENDERERS``), whole or ``only`` one section."""
    try:
        renderer = RENDERERS[fmt]
    except KeyError:
        raise UsageError(
            f"unknown format {fmt!r}", hint="Choose one of: " + ", ".join(sorted(RENDERERS))
        ) from None
    with gc_paused():  # millions of short-lived dicts and strings: the collector would rescan the heap
        return renderer(report, color=color, width=width, only=only)


__all__ = ["GRAPH_FORMATS", "RENDERERS", "SECTIONS", "Renderer", "describe_path", "render"]
