"""Renderers of the audit (``blastradius audit``): one row per access key, most exposed first.

Same formats as the report (table, json, markdown), same rules: pure, no AWS, names from the account
printed as text (never rich markup).
"""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO

from rich import box
from rich.table import Table
from rich.text import Text

from blastradius import jsonio
from blastradius.audit import AuditReport, KeyAudit
from blastradius.errors import UsageError
from blastradius.render.common import short_name
from blastradius.render.table import SENSITIVITY_LABEL, SENSITIVITY_STYLE, text_console


def _reach_text(k: KeyAudit) -> str:
    """``3 high, 1 medium, 12 low`` (datasets by sensitivity; the rest counted as other)."""
    parts = [
        f"{k.sensitivity[s].datasets} {s}" for s in ("high", "medium", "low") if k.sensitivity[s].datasets
    ]
    other = k.sensitivity["none"].datasets
    if other:
        parts.append(f"{other} other")
    return ", ".join(parts) or "nothing"


def _admin_text(k: KeyAudit) -> str:
    if not k.admin_reachable:
        return "no"
    return "YES" if k.admin_certainty == "definite" else "yes (conditional)"


def _escalation_text(k: KeyAudit) -> str:
    return f"yes ({k.escalations})" if k.escalation_possible else "no"


def _last_used_text(k: KeyAudit, *, region: bool = True) -> str:
    date = k.last_used.get("date")
    if not date:
        return "never"
    parts = (k.last_used.get("service"), k.last_used.get("region") if region else None)
    where = ", ".join(v for v in parts if v)
    ago = f"{k.last_used_days_ago}d ago" if k.last_used_days_ago is not None else date[:10]
    return ago + (f" ({where})" if where else "")


def _age_text(k: KeyAudit) -> str:
    return f"{k.age_days}d" if k.age_days is not None else "?"


def _top_text(k: KeyAudit) -> str:
    return "; ".join(
        f"{d.name} ({'+'.join(d.access)}{', conditional' if d.certainty != 'definite' else ''})"
        for d in k.top_datasets
    )


def _summary(report: AuditReport) -> str:
    doc = report.to_json()["summary"]
    reaching = doc["keys_reaching"]
    return (
        f"{doc['keys']} access keys ({doc['active_keys']} active) of {doc['users_with_keys']} users in "
        f"{', '.join(report.account_ids)}; {reaching['high']} reach high-sensitivity data, "
        f"{doc['keys_reaching_admin']} reach an administrator"
    )


def _coverage_line(report: AuditReport) -> str:
    cov = report.coverage
    if cov.complete:
        return f"complete (source: {cov.source})"
    bad = [f"{s} {v}" for s, v in sorted(cov.services.items()) if v != "ok"]
    gaps = f"{len(cov.gaps)} gaps" if cov.gaps else ""
    return (
        "INCOMPLETE: "
        + ", ".join(x for x in (gaps, *bad) if x)
        + " — what could not be seen is unknown, not safe"
    )


def render_audit_table(report: AuditReport, *, color: bool = False, width: int | None = None) -> str:
    """The audit as a terminal table."""
    buffer = StringIO()
    console = text_console(buffer, color=color, width=width)
    console.print(Text("Access key audit", style="bold underline"))
    console.print(Text(_summary(report)))
    console.print(
        Text("coverage: " + _coverage_line(report), style="" if report.coverage.complete else "yellow")
    )
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for name, justify, wrap in (("#", "right", False), ("key", "left", False), ("user", "left", True),
                                ("status", "left", False), ("age", "right", False),
                                ("last used", "left", True), ("worst", "left", False),
                                ("reaches", "left", True), ("admin", "left", True),
                                ("escalate", "left", True)):  # fmt: skip
        table.add_column(name, justify=justify, no_wrap=not wrap, overflow="fold")  # type: ignore[arg-type]
    for k in report.keys:
        worst = k.highest_sensitivity
        table.add_row(
            str(k.rank),
            k.access_key_id,
            short_name(k.user_arn),
            Text(k.status, style="" if k.active else "dim"),
            _age_text(k),
            _last_used_text(k, region=False),
            Text(
                SENSITIVITY_LABEL.get(worst, "-") if worst else "-",
                style=SENSITIVITY_STYLE.get(worst or "", ""),
            ),
            _reach_text(k),
            Text(_admin_text(k), style="bold red" if k.admin_reachable else ""),
            _escalation_text(k),
        )
    console.print(table)
    exposed = [k for k in report.keys if k.top_datasets]
    if exposed:
        console.print()
        console.print(Text("Most sensitive data per key", style="bold underline"))
        for k in exposed:
            console.print(Text(f"{k.rank:>3}. {k.access_key_id} ({short_name(k.user_arn)}): {_top_text(k)}"))
    for warning in report.coverage.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_audit_markdown(report: AuditReport, *, color: bool = False, width: int | None = None) -> str:
    """The audit as Markdown (a ticket or a review document)."""
    del color, width
    lines = [
        "# Access key audit",
        "",
        _summary(report) + ".",
        "",
        f"Coverage: {_coverage_line(report)}.",
        "",
        "| # | key | user | status | age | last used | worst | reaches | admin | escalation |",
        "|--:|---|---|---|--:|---|---|---|---|---|",
    ]
    for k in report.keys:
        cells = [
            str(k.rank),
            f"`{k.access_key_id}`",
            short_name(k.user_arn),
            k.status,
            _age_text(k),
            _last_used_text(k),
            (k.highest_sensitivity or "-").upper(),
            _reach_text(k),
            _admin_text(k),
            _escalation_text(k),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    exposed = [k for k in report.keys if k.top_datasets]
    if exposed:
        lines += ["", "## Most sensitive data per key", ""]
        for k in exposed:
            owner = _cell(short_name(k.user_arn))
            lines.append(f"- **{k.rank}.** `{k.access_key_id}` ({owner}): {_cell(_top_text(k))}")
    if report.coverage.gaps or report.coverage.warnings:
        lines += ["", "## Coverage", ""]
        lines += [f"- gap: {_cell(g.describe())}" for g in report.coverage.gaps]
        lines += [f"- warning: {_cell(w)}" for w in report.coverage.warnings]
    return "\n".join(lines) + "\n"


def render_audit_json(report: AuditReport, *, color: bool = False, width: int | None = None) -> str:
    """The ``blastradius.audit/v1`` document, 2-space indented, fields in contract order."""
    del color, width
    return jsonio.dumps(report.to_json())


AUDIT_RENDERERS: dict[str, Callable[..., str]] = {
    "table": render_audit_table,
    "json": render_audit_json,
    "markdown": render_audit_markdown,
}


def render_audit(report: AuditReport, fmt: str, *, color: bool = False, width: int | None = None) -> str:
    """Render an audit in ``fmt`` (a key of ``AUDIT_RENDERERS``)."""
    try:
        renderer = AUDIT_RENDERERS[fmt]
    except KeyError:
        raise UsageError(
            f"unknown audit format {fmt!r}", hint="Choose one of: " + ", ".join(AUDIT_RENDERERS)
        ) from None
    return renderer(report, color=color, width=width)
