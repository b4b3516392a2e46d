"""The Markdown report (``--format markdown``): for the incident ticket or the post-incident review."""

from __future__ import annotations

from collections.abc import Callable

from blastradius.render.common import (
    access_text,
    coverage_summary,
    dataset_label,
    describe_finding_path,
    describe_path,
    extra_grants,
    key_line,
    ranked,
    sections,
    short_name,
    summary_counts,
    touched_flag,
    touched_text,
)
from blastradius.report import Report


def _cell(text: str) -> str:
    """Text safe inside a table cell: no pipes or newlines break the row."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """Inline code that survives backticks in the text."""
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fence(commands: tuple[str, ...]) -> list[str]:
    """A fenced ``sh`` block, its fence longer than any backtick run in the commands."""
    fence = "```"
    while any(fence in c for c in commands):
        fence += "`"
    return [f"{fence}sh", *commands, fence]


def render_markdown(
    report: Report, *, color: bool = False, width: int | None = None, only: str | None = None
) -> str:
    """The report as Markdown: summary, datasets table, paths, escalations, coverage, rotation plan.

    ``only`` keeps the title and summary and one section (``rotation_plan`` for ``blastradius rotate``).
    """
    del color, width  # Markdown has neither
    out: list[str] = [f"# blastradius report: {report.key.access_key_id}", ""]
    _summary(out, report)
    for section in sections(only):
        _SECTIONS[section](out, report)
    return "\n".join(out).rstrip("\n") + "\n"


def _summary(out: list[str], report: Report) -> None:
    out += ["## Summary", ""]
    out.append(f"- **Key:** {_cell(key_line(report.key))}")
    if report.key.note:
        out.append(f"- **Note:** {report.key.note}")
    out.append(f"- **Reach:** {summary_counts(report)}")
    out.append(f"- **Coverage:** {coverage_summary(report)}")
    out.append(f"- **Generated:** {report.generated_at} ({report.schema})")
    others = [p for p in report.principals if p.via != "origin"]
    if others:
        out.append("- **Principals reachable from the key:**")
    for p in sorted(others, key=lambda p: (p.via, p.arn)):
        out.append(f"  - {_code(short_name(p.arn))} by {p.via} ({p.certainty}): {describe_path(p.path)}")
    out.append("")


def _datasets(out: list[str], report: Report) -> None:
    findings = ranked(report.datasets)
    out += ["## Datasets", ""]
    if not findings:
        note = "No reachable dataset found."
        if report.if_reactivated:
            note = (
                f"None: the key is Inactive. If re-activated it would reach {len(report.if_reactivated)} "
                "dataset(s): " + ", ".join(_code(f.name) for f in ranked(report.if_reactivated)) + "."
            )
        elif not report.coverage.complete:
            note += " Coverage is incomplete: unknown, not safe."
        out += [note, ""]
        _evidence(out, report)
        _notification(out, report)
        return
    out.append("| # | Sensitivity | Type | Name | Access | Certainty | Records | Touched | Why |")
    out.append("|---|---|---|---|---|---|---:|---|---|")
    for n, f in enumerate(findings, 1):
        records = f"{f.estimated_records:,}" if f.estimated_records is not None else "unknown"
        out.append(
            f"| {n} | {f.sensitivity} | {f.type} | {_cell(_code(f.name))} | {access_text(f)} | "
            f"{f.certainty} | {records} | {touched_flag(f.touched)} | "
            f"{_cell(', '.join(f.sensitivity_reasons))} |"
        )
    out += ["", "## Paths", ""]
    for n, f in enumerate(findings, 1):
        out += [f"### {n}. {dataset_label(f)}", ""]
        out.append(f"- ARN: {_code(f.arn)}")
        out.append(f"- Path: {describe_finding_path(f)}")
        if f.conditions:
            out.append(f"- Conditions: {'; '.join(f.conditions)}")
        for level, path in extra_grants(f):
            out.append(f"- {level}: {path}")
        out.append(f"- Touched: {touched_text(f)}")
        out.append("")
    _evidence(out, report)
    _notification(out, report)


def _evidence(out: list[str], report: Report) -> None:
    ev = report.evidence
    if ev is None:
        return
    out += [f"## Evidence ({ev.status})", ""]
    out.append(f"- **Window:** {ev.window_start or 'unknown'} → {ev.window_end} (start: {ev.window_source})")
    out.append(f"- **Summary:** {ev.statement}")
    if ev.status != "not collected":
        regions = ", ".join(ev.regions) or "-"
        out.append(f"- **Events:** {ev.event_count} ({ev.error_count} refused), regions {regions}")
        out.append(f"- **Data events:** {ev.data_events}")
        for t in ev.trails:
            logging = "logging" if t.logging else "not logging" if t.logging is False else "status unknown"
            out.append(
                f"- **Trail** {_code(t.name)}: {logging}; "
                f"data events: {', '.join(t.data_event_types) or 'none'}; "
                f"delivers to {_code('s3://' + (t.s3_bucket or '-'))}"
            )
    out.extend(f"- **Dark:** {u.region} {u.start} → {u.end}: {u.why}" for u in ev.uncovered)
    out.extend(f"- **Gap:** {g.describe()}" for g in ev.gaps)
    out.extend(f"- **Warning:** {w}" for w in ev.warnings)
    out.append("")
    if ev.activity:
        out.append("| Service | Event | Region | Source IP | Count | Refused | First | Last | Via session |")
        out.append("|---|---|---|---|---:|---:|---|---|---|")
        for a in ev.activity:
            out.append(
                f"| {a.service} | {_cell(a.event_name)} | {a.region} | {_cell(a.source_ip or '-')} | "
                f"{a.count} | {a.errors} | {a.first} | {a.last} | {a.via or '-'} |"
            )
        out.append("")
    if ev.persistence:
        out += ["### Persistence created by the key", ""]
        for p in ev.persistence:
            outcome = "done" if p.error_code is None else f"refused ({p.error_code})"
            extra = f", new key {_code(p.created_access_key_id)}" if p.created_access_key_id else ""
            out.append(f"- {p.time} {_code(p.event_name)} {_cell(p.target)}{extra} — {outcome}")
        out.append("")
    if ev.session_keys:
        out += [
            "Session keys it obtained (searched one hop; search further from their own AssumeRole calls): "
            + ", ".join(map(_code, ev.session_keys)),
            "",
        ]


def _notification(out: list[str], report: Report) -> None:
    if not report.notification:
        return
    out += ["## Notification sizing", ""]
    out.append("| Dataset | Type | Records | Sensitive fields | Access | Touched | Records basis |")
    out.append("|---|---|---:|---|---|---|---|")
    for n in report.notification:
        records = f"{n.estimated_records:,}" if n.estimated_records is not None else "unknown"
        fields = ", ".join(n.sensitive_fields) or ", ".join(n.reasons)
        out.append(
            f"| {_cell(_code(n.name))} | {n.type} | {records} | {_cell(fields)} | {'+'.join(n.access)} | "
            f"{touched_flag(n.touched)} | {_cell(n.records_basis)} |"
        )
    out.append("")


def _escalations(out: list[str], report: Report) -> None:
    out += ["## Escalations", ""]
    if report.escalations:
        for e in report.escalations:
            route = f"{_code(short_name(e.from_))} → {_code(short_name(e.to))}"
            line = f"- {_code(e.technique)}: {route} ({e.certainty})"
            if e.actions:
                line += f", needs {', '.join(e.actions)}"
            out.append(line)
    else:
        out.append("None found.")
    out.append("")


def _pivots(out: list[str], report: Report) -> None:
    if not report.credential_pivots:
        return
    out += ["## Credential pivots", ""]
    for p in report.credential_pivots:
        what = ", ".join(p.names) if p.names else ", ".join(p.reasons)
        out.append(f"- {_code(p.name)} ({p.kind}, {p.certainty}): {_cell(what)}")
    out.append("")


def _coverage(out: list[str], report: Report) -> None:
    cov = report.coverage
    out += [
        "## Coverage",
        "",
        f"**{'Complete' if cov.complete else 'Incomplete'}** (source: {cov.source})",
        "",
    ]
    out.append("| Service | Status |")
    out.append("|---|---|")
    out.extend(f"| {_cell(s)} | {_cell(v)} |" for s, v in sorted(cov.services.items()))
    out += ["", f"Regions: {', '.join(cov.regions) or 'none recorded'}", ""]
    if cov.gaps or cov.warnings:
        out.extend(f"- Gap: {g.describe()}" for g in cov.gaps)
        out.extend(f"- Warning: {w}" for w in cov.warnings)
    else:
        out.append("No gaps.")
    out.append("")


def _rotation(out: list[str], report: Report) -> None:
    out += ["## Rotation plan", ""]
    if not report.rotation_plan:
        out += ["Not computed.", ""]
    for step in report.rotation_plan:
        automated = " — `rotate --apply` does this" if step.automatable else ""
        out += [f"### {step.step}. {step.title} ({step.phase}){automated}", "", step.why, ""]
        if step.details:
            out.extend(f"- {d}" for d in step.details)
            out.append("")
        if step.commands:
            out += [*_fence(step.commands), ""]


_SECTIONS: dict[str, Callable[[list[str], Report], None]] = {
    "datasets": _datasets,
    "escalations": _escalations,
    "credential_pivots": _pivots,
    "coverage": _coverage,
    "rotation_plan": _rotation,
}
