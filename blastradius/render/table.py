"""The terminal report (``--format table``): what a responder reads first, most sensitive first.

Rendered with rich into a string (``Console(file=StringIO())``): no colour unless asked for, no markup
parsing (names from the account are printed as text, never interpreted), commands never wrapped so
they copy-paste intact.
"""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO

from rich.console import Console, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from blastradius.render.common import (
    access_text,
    coverage_summary,
    describe_finding_path,
    describe_path,
    extra_grants,
    key_line,
    ranked,
    records_text,
    sections,
    short_name,
    summary_counts,
)
from blastradius.report import CONDITIONAL, DatasetFinding, Report

DEFAULT_WIDTH = 120  # wide enough for a dataset line with its record count; a TTY uses its own width

SENSITIVITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan", "none": "dim"}
SENSITIVITY_LABEL = {"high": "HIGH", "medium": "MED", "low": "LOW", "none": "NONE"}


def render_table(
    report: Report, *, color: bool = False, width: int | None = None, only: str | None = None
) -> str:
    """The report as terminal text; ``color`` adds ANSI styles (for a TTY).

    ``only`` keeps the header and one section (``rotation_plan`` for ``blastradius rotate``).
    """
    buffer = StringIO()
    console = Console(
        file=buffer,
        width=width or DEFAULT_WIDTH,
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        markup=False,
        highlight=False,
        emoji=False,
        legacy_windows=False,
    )
    _header(console, report)
    for section in sections(only):
        _SECTIONS[section](console, report)
    # Grids pad every line to the console width; trailing blanks only get in the way of diffs and pastes.
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def _heading(console: Console, text: str) -> None:
    console.print()
    console.print(Text(text, style="bold underline"))


def _facts(rows: list[tuple[str, Text | str]], indent: int) -> RenderableType:
    """Label / value lines; values wrap under themselves, not under the label."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in rows:
        grid.add_row(label, value)
    return Padding(grid, (0, 0, 0, indent))


def _header(console: Console, report: Report) -> None:
    coverage = Text(coverage_summary(report), style="" if report.coverage.complete else "bold yellow")
    rows: list[tuple[str, Text | str]] = [
        ("leaked key", Text(key_line(report.key), style="bold")),
        ("coverage", coverage),
        ("reach", summary_counts(report)),
    ]
    if report.key.note:
        rows.insert(1, ("note", Text(report.key.note, style="yellow")))
    for p in sorted((p for p in report.principals if p.via != "origin"), key=lambda p: (p.via, p.arn)):
        text = Text(f"{short_name(p.arn)} ({p.via}, {p.certainty})")
        if p.path:
            text.append(": " + describe_path(p.path), style="dim")
        rows.append(("", text))
    console.print(_facts(rows, 0))


def _datasets(console: Console, report: Report) -> None:
    findings = ranked(report.datasets)
    _heading(console, f"Reachable datasets ({len(findings)})")
    if not findings:
        note = "none found"
        if not report.coverage.complete:
            note += " — but coverage is incomplete (see Coverage): unknown, not safe"
        console.print(Text(note))
        return
    name_width = min(max(len(f.name) for f in findings), 48)
    type_width = max(len(f.type) for f in findings)
    access_width = max(len(access_text(f)) for f in findings)
    for finding in findings:
        console.print()
        console.print(_finding_line(finding, name_width, type_width, access_width))
        console.print(_facts(_finding_facts(finding), 6))


def _finding_line(finding: DatasetFinding, name_width: int, type_width: int, access_width: int) -> Text:
    sensitivity = finding.sensitivity
    line = Text()
    line.append(
        f"{SENSITIVITY_LABEL.get(sensitivity, sensitivity.upper()):<5} ",
        style=SENSITIVITY_STYLE.get(sensitivity, ""),
    )
    line.append(f"{finding.type:<{type_width}}  ")
    line.append(f"{finding.name:<{name_width}}  ", style="bold")
    line.append(f"{access_text(finding):<{access_width}}  ")
    line.append(f"{finding.certainty:<11}", style="yellow" if finding.certainty == CONDITIONAL else "")
    line.append(f" {records_text(finding.estimated_records)}", style="dim")
    return line


def _finding_facts(finding: DatasetFinding) -> list[tuple[str, Text | str]]:
    rows: list[tuple[str, Text | str]] = []
    if finding.sensitivity_reasons:
        rows.append(("why", ", ".join(finding.sensitivity_reasons)))
    rows.append(("path", describe_finding_path(finding)))
    if finding.conditions:
        rows.append(("if", Text("; ".join(finding.conditions), style="yellow")))
    for level, path in extra_grants(finding):
        rows.append((level, path))
    if finding.kms_key:
        rows.append(("kms", finding.kms_key))
    return rows


def _escalations(console: Console, report: Report) -> None:
    if not report.escalations:
        return
    _heading(console, f"Privilege escalation ({len(report.escalations)})")
    for e in sorted(
        report.escalations, key=lambda e: (e.certainty != "definite", e.technique, e.from_, e.to)
    ):
        line = Text.assemble(
            (e.technique, "bold"),
            f"  {short_name(e.from_)} → {short_name(e.to)}  ",
            (e.certainty, "yellow" if e.certainty == CONDITIONAL else ""),
        )
        console.print(Padding(line, (0, 0, 0, 2)))
        rows: list[tuple[str, Text | str]] = []
        if e.actions:
            rows.append(("needs", ", ".join(e.actions)))
        if e.path:
            rows.append(("path", describe_path(e.path)))
        if rows:
            console.print(_facts(rows, 6))


def _pivots(console: Console, report: Report) -> None:
    """Credentials for something else the key can read (values never read): each must be rotated."""
    if not report.credential_pivots:
        return
    _heading(console, f"Credential pivots ({len(report.credential_pivots)})")
    for pivot in report.credential_pivots:
        line = Text.assemble(
            (pivot.kind, ""),
            "  ",
            (pivot.name, "bold"),
            "  ",
            (pivot.certainty, "yellow" if pivot.certainty == CONDITIONAL else ""),
        )
        console.print(Padding(line, (0, 0, 0, 2)))
        rows: list[tuple[str, Text | str]] = []
        if pivot.names:
            rows.append(("variables", ", ".join(pivot.names)))
        elif pivot.reasons:
            rows.append(("why", ", ".join(pivot.reasons)))
        if pivot.path:
            rows.append(("path", describe_path(pivot.path)))
        console.print(_facts(rows, 6))


def _coverage(console: Console, report: Report) -> None:
    """Always shown: a report without it would read as 'safe' where it only means 'not seen'."""
    cov = report.coverage
    _heading(console, "Coverage: " + ("complete" if cov.complete else "INCOMPLETE"))
    services = ", ".join(f"{s} {v}" for s, v in sorted(cov.services.items())) or "none recorded"
    rows: list[tuple[str, Text | str]] = [
        ("services", services),
        ("regions", ", ".join(cov.regions) or "none recorded"),
        ("source", cov.source),
    ]
    rows.extend(("gap", Text(g.describe(), style="yellow")) for g in cov.gaps)
    rows.extend(("warning", Text(w, style="yellow")) for w in cov.warnings)
    if not cov.gaps and not cov.warnings:
        rows.append(("gaps", "none"))
    console.print(_facts(rows, 2))


def _rotation(console: Console, report: Report) -> None:
    plan = report.rotation_plan
    _heading(console, f"Rotation plan ({len(plan)} step{'s' if len(plan) != 1 else ''})")
    if not plan:
        console.print(Text("not computed (run `blastradius rotate`)", style="dim"))
        return
    for step in plan:
        console.print()
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, justify="right", width=3)
        grid.add_column(overflow="fold")
        grid.add_row(
            Text(f"{step.step}.", style="bold"),
            Text.assemble((step.title, "bold"), (f"  [{step.phase}]", "dim")),
        )
        grid.add_row("", step.why)
        for detail in step.details:
            grid.add_row("", "• " + detail)
        console.print(grid)
        for command in step.commands:
            # soft_wrap: long commands stay on one line so they paste intact.
            console.print(Text("    $ " + command, style="green"), soft_wrap=True)


_SECTIONS: dict[str, Callable[[Console, Report], None]] = {
    "datasets": _datasets,
    "escalations": _escalations,
    "credential_pivots": _pivots,
    "coverage": _coverage,
    "rotation_plan": _rotation,
}
