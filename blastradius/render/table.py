"""The terminal report (``--format table``): what a responder reads first, most sensitive first.

Rendered with rich into a string (``Console(file=StringIO())``): no colour unless asked for, no markup
parsing (names from the account are printed as text, never interpreted), commands never wrapped so
they copy-paste intact.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from io import StringIO

from rich.console import Console, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from blastradius.render.common import (
    SELF_VIEW_BANNER,
    access_text,
    coverage_summary,
    describe_finding_path,
    describe_path,
    extra_grants,
    key_line,
    ranked,
    reached_how,
    records_text,
    sections,
    self_view_call_text,
    short_name,
    summary_counts,
    touched_flag,
    touched_text,
)
from blastradius.report import CONDITIONAL, DatasetFinding, Report

# A terminal report is read, not searched: past these, the rest is counted (rendering every one of 40,000
# datasets with rich takes minutes), and the other formats list everything.
MAX_DATASETS = 100
MAX_PRINCIPALS = 50
_ALL_OF_THEM = "--format json, markdown or html lists them all"

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
    console = text_console(buffer, color=color, width=width)
    _header(console, report)
    _self_view(console, report)
    for section in sections(only):
        _SECTIONS[section](console, report)
    # Grids pad every line to the console width; trailing blanks only get in the way of diffs and pastes.
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def text_console(buffer: StringIO, *, color: bool, width: int | None) -> Console:
    """A rich console writing into ``buffer``: account names are text (no markup), colour only if asked."""
    return Console(
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
    if report.self_view is not None:
        rows.insert(0, ("PARTIAL", Text(SELF_VIEW_BANNER, style="bold yellow")))
    others = sorted((p for p in report.principals if p.via != "origin"), key=lambda p: (p.via, p.arn))
    for p in others[:MAX_PRINCIPALS]:
        text = Text(f"{short_name(p.arn)} ({p.via}, {p.certainty})")
        if p.path:
            text.append(": " + describe_path(p.path), style="dim")
        rows.append(("", text))
    if len(others) > MAX_PRINCIPALS:
        rows.append(("", Text(f"… and {len(others) - MAX_PRINCIPALS} more ({_ALL_OF_THEM})", style="dim")))
    console.print(_facts(rows, 0))


def _self_view(console: Console, report: Report) -> None:
    """The calls a self-view made as the key, one by one, and what stayed unknown."""
    view = report.self_view
    if view is None:
        return
    _heading(console, f"Self-view: {len(view.calls)} read-only calls made as the leaked key")
    for call in view.calls:
        style = "" if call.result == "allowed" else "yellow"
        console.print(Padding(Text(self_view_call_text(call), style=style), (0, 0, 0, 2)))
    for what in view.unknown:
        console.print(Padding(Text(f"unknown: {what}", style="yellow"), (0, 0, 0, 2)))


def _datasets(console: Console, report: Report) -> None:
    findings = ranked(report.datasets)
    _heading(console, f"Reachable datasets ({len(findings)})")
    if not findings:
        note = "none found"
        if report.if_reactivated:
            note = (
                f"none: the key is Inactive. If re-activated it would reach {len(report.if_reactivated)} "
                "dataset(s): " + ", ".join(f.name for f in ranked(report.if_reactivated))
            )
        elif not report.coverage.complete:
            note += " — but coverage is incomplete (see Coverage): unknown, not safe"
        console.print(Text(note))
        _evidence(console, report)
        _notification(console, report)
        return
    name_width = min(max(len(f.name) for f in findings), 48)
    type_width = max(len(f.type) for f in findings)
    access_width = max(len(access_text(f)) for f in findings)
    for finding in findings[:MAX_DATASETS]:
        console.print()
        console.print(_finding_line(finding, name_width, type_width, access_width))
        console.print(_facts(_finding_facts(finding), 6))
    rest = findings[MAX_DATASETS:]
    if rest:
        counts: dict[str, int] = {}
        for f in rest:
            counts[f.sensitivity] = counts.get(f.sensitivity, 0) + 1
        by = ", ".join(f"{n} {s}" for s in ("high", "medium", "low", "none") if (n := counts.get(s)))
        console.print()
        console.print(Text(f"… and {len(rest)} more dataset(s) ranked below these: {by} ({_ALL_OF_THEM})"))
    _evidence(console, report)
    _notification(console, report)


def _evidence(console: Console, report: Report) -> None:
    """What the key was seen doing ("did touch" over "could reach") and how much of the window is dark."""
    ev = report.evidence
    if ev is None:
        return
    _heading(console, f"Evidence: {ev.status} ({ev.source})")
    rows: list[tuple[str, Text | str]] = [
        ("window", f"{ev.window_start or 'unknown'} → {ev.window_end} (start: {ev.window_source})"),
        ("summary", Text(ev.statement, style="" if ev.status == "collected" else "yellow")),
    ]
    if ev.status != "not collected":
        rows.append(
            ("events", f"{ev.event_count} ({ev.error_count} refused) in {', '.join(ev.regions) or '-'}")
        )
        rows.append(("data events", ev.data_events))
        for t in ev.trails:
            logging = "logging" if t.logging else "NOT logging" if t.logging is False else "status unknown"
            data = ", ".join(t.data_event_types) or "no data events"
            rows.append(("trail", f"{t.name} ({logging}; {data}) → s3://{t.s3_bucket or '-'}"))
    rows.extend(
        ("dark", Text(f"{u.region}: {u.start} → {u.end}: {u.why}", style="yellow")) for u in ev.uncovered
    )
    rows.extend(("gap", Text(g.describe(), style="yellow")) for g in ev.gaps)
    rows.extend(("warning", Text(w, style="yellow")) for w in ev.warnings)
    console.print(_facts(rows, 2))
    if ev.activity:
        console.print()
        call_width = max(len(f"{a.service}:{a.event_name}") for a in ev.activity)
        if any(a.via for a in ev.activity):
            console.print(
                Padding(Text("(↳ = made with a session key the key obtained)", style="dim"), (0, 0, 0, 2))
            )
        ip_width = max(len(a.source_ip or "-") for a in ev.activity)
        for a in ev.activity:
            when = a.first if a.first == a.last else f"{a.first} → {a.last}"
            line = Text(
                f"{'↳ ' if a.via else '  '}{a.service}:{a.event_name:<{call_width - len(a.service) - 1}}  "
            )
            line.append(f"{a.region:<14} {a.source_ip or '-':<{ip_width}}  x{a.count:<4} ")
            if a.errors:
                line.append(f"{a.errors} refused ({', '.join(a.error_codes)}) ", style="yellow")
            line.append(when, style="dim")
            if a.via:
                line.append(f" via {a.via}", style="dim")
            console.print(line, soft_wrap=True)
    if ev.persistence:
        console.print(
            Padding(Text("persistence created (or attempted) by the key:", style="bold red"), (1, 0, 0, 2))
        )
        for p in ev.persistence:
            outcome = "done" if p.error_code is None else f"refused ({p.error_code})"
            extra = f", new key {p.created_access_key_id}" if p.created_access_key_id else ""
            console.print(
                Padding(Text(f"{p.time} {p.event_name} {p.target}{extra} — {outcome}"), (0, 0, 0, 4))
            )
    if ev.session_keys:
        console.print(
            Padding(
                Text(
                    "session keys it obtained (searched one hop, calls marked via): "
                    + ", ".join(ev.session_keys)
                ),
                (0, 0, 0, 2),
            )
        )


def _notification(console: Console, report: Report) -> None:
    """The data-protection officer's table: sensitive readable datasets, records, fields, touched."""
    if not report.notification:
        return
    _heading(console, f"Notification sizing ({len(report.notification)} dataset(s) with sensitive data)")
    grid = Table(box=None, padding=(0, 1), show_edge=False, pad_edge=False)
    for column in ("dataset", "type", "records", "sensitive fields", "access", "touched"):
        grid.add_column(column, overflow="fold")
    shown = report.notification[:MAX_DATASETS]
    for n in shown:
        records = f"{n.estimated_records:,}" if n.estimated_records is not None else "unknown"
        grid.add_row(
            n.name,
            n.type,
            records,
            ", ".join(n.sensitive_fields) or ", ".join(n.reasons),
            "+".join(n.access),
            touched_flag(n.touched),
        )
    console.print(Padding(grid, (0, 0, 0, 2)))
    if len(report.notification) > len(shown):
        more = len(report.notification) - len(shown)
        console.print(Padding(Text(f"… and {more} more ({_ALL_OF_THEM})"), (0, 0, 0, 2)))
    for n in shown:
        console.print(Padding(Text(f"{n.name}: records — {n.records_basis}", style="dim"), (0, 0, 0, 2)))


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
    if any(s.technique for g in finding.grants for s in g.path):
        rows.append(("how", reached_how(finding)))
    if finding.conditions:
        rows.append(("if", Text("; ".join(finding.conditions), style="yellow")))
    for level, path in extra_grants(finding):
        rows.append((level, path))
    if finding.kms_key:
        rows.append(("kms", finding.kms_key))
    if finding.touched is not None:
        rows.append(("touched", Text(touched_text(finding), style="bold red" if finding.touched else "dim")))
    return rows


def _escalations(console: Console, report: Report) -> None:
    if not report.escalations:
        return
    _heading(console, f"Privilege escalation ({len(report.escalations)})")
    ordered = sorted(
        report.escalations, key=lambda e: (e.certainty != "definite", e.technique, e.from_, e.to)
    )
    if len(ordered) > MAX_DATASETS:
        console.print(Padding(Text(f"the first {MAX_DATASETS} ({_ALL_OF_THEM})", style="dim"), (0, 0, 0, 2)))
    for e in ordered[:MAX_DATASETS]:
        line = Text.assemble(
            (e.technique, "bold"),
            f"  {short_name(e.from_)} → {short_name(e.to)}  ",
            (e.certainty, "yellow" if e.certainty == CONDITIONAL else ""),
        )
        console.print(Padding(line, (0, 0, 0, 2)))
        rows: list[tuple[str, Text | str]] = []
        if e.title:
            rows.append(("what", e.title))
        if e.resource and e.resource != e.to:
            rows.append(("on", e.resource))
        if e.actions:
            rows.append(("needs", ", ".join(e.actions)))
        if e.conditions:
            rows.append(("if", Text("; ".join(e.conditions), style="yellow")))
        if e.path:
            rows.append(("path", describe_path(e.path)))
        if rows:
            console.print(_facts(rows, 6))


def _pivots(console: Console, report: Report) -> None:
    """Credentials for something else the key can read (values never read): each must be rotated."""
    if not report.credential_pivots:
        return
    _heading(console, f"Credential pivots ({len(report.credential_pivots)})")
    for pivot in report.credential_pivots[:MAX_DATASETS]:
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
    if len(report.credential_pivots) > MAX_DATASETS:
        more = len(report.credential_pivots) - MAX_DATASETS
        console.print(
            Padding(Text(f"… and {more} more ({_ALL_OF_THEM}; the rotation plan rotates all)"), (0, 0, 0, 2))
        )


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
            Text.assemble(
                (step.title, "bold"),
                (f"  [{step.phase}]", "dim"),
                ("  (rotate --apply does this)" if step.automatable else "", "cyan"),
            ),
        )
        grid.add_row("", step.why)
        console.print(grid)
        if step.details:
            # Wrapped here, under the bullet, as one Text: a grid row per detail costs rich a layout pass
            # each (a broad key's notification step has 20,000 datasets: minutes in a grid).
            wrap = max(console.width - _INDENT, 20)
            console.print(Text("\n".join(_bulleted(detail, wrap) for detail in step.details)), soft_wrap=True)
        if step.commands:
            # soft_wrap: long commands stay on one line so they paste intact. One Text for all of a
            # step's commands (a broad key's runbook has thousands; printed one by one they take minutes).
            lines = "\n".join("    $ " + command for command in step.commands)
            console.print(Text(lines, style="green"), soft_wrap=True)


_INDENT = 4  # where a step's text starts (its number's column and the grid's padding)


def _bulleted(detail: str, width: int) -> str:
    """``• detail`` wrapped to ``width`` columns, every line indented to the step's text."""
    out: list[str] = []
    for paragraph in detail.split("\n"):
        lead = "• " if not out else ""
        out.extend(textwrap.wrap(lead + paragraph, width=width, break_on_hyphens=False) or [lead.rstrip()])
    return "\n".join(" " * _INDENT + line for line in out)


_SECTIONS: dict[str, Callable[[Console, Report], None]] = {
    "datasets": _datasets,
    "escalations": _escalations,
    "credential_pivots": _pivots,
    "coverage": _coverage,
    "rotation_plan": _rotation,
}
