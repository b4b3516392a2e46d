"""The HTML report (``--format html``): one self-contained page for people who do not read JSON.

Everything is inline — CSS, the attack-path picture (SVG drawn from ``render.graph.attack_graph`` and
networkx's ``multipartite_layout``) and a few lines of optional JavaScript for the copy buttons — so
the file opens offline, from a mail attachment or a ticket. A Content-Security-Policy with
``default-src 'none'`` and hashes of the one style and one script block makes the page refuse any
network load and any other script, even if some string slipped through escaping; every string from
the report goes through ``html.escape`` anyway (a bucket named ``<script>`` shows as text).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from html import escape
from typing import Any

from blastradius.render.common import (
    access_text,
    coverage_summary,
    dataset_label,
    describe_finding_path,
    describe_path,
    key_line,
    ranked,
    records_text,
    sections,
    short_name,
    summary_counts,
)
from blastradius.render.graph import DATASET, KEY, PIVOT, attack_graph, layout
from blastradius.report import CONDITIONAL, DatasetFinding, Report, level_rank

# Report fields this renderer shows in their own sections; any other top-level field (added by a
# newer blastradius) is still shown, generically, under "More report fields", never dropped.
_KNOWN_FIELDS = frozenset(
    {
        "schema",
        "generated_at",
        "key",
        "principals",
        "datasets",
        "escalations",
        "coverage",
        "rotation_plan",
        "evidence",
        "notification",
        "if_reactivated",
        "credential_pivots",
        "self_view",
    }
)
_KNOWN_DATASET_FIELDS = frozenset(
    {
        "arn",
        "type",
        "name",
        "region",
        "access",
        "certainty",
        "conditions",
        "sensitivity",
        "sensitivity_reasons",
        "estimated_records",
        "kms_key",
        "credential_pivot",
        "personal_data",
        "path",
        "grants",
        "touched",
        "touched_by",
        "touch_note",
    }
)
_KNOWN_STEP_FIELDS = frozenset(
    {"step", "id", "phase", "title", "why", "commands", "details", "automatable", "actions"}
)

_CSS = """
:root { color-scheme: light; --fg: #1f2937; --muted: #6b7280; --line: #d1d5db; --bg: #ffffff;
  --high: #b91c1c; --high-bg: #fee2e2; --medium: #92400e; --medium-bg: #fef3c7; --low: #1e40af;
  --low-bg: #dbeafe; --none: #374151; --none-bg: #f3f4f6; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--fg); background: var(--bg); margin: 0 auto; max-width: 1200px; padding: 1.5rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
h3 { font-size: 1rem; margin: 1rem 0 .25rem; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 12.5px; }
pre { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem;
  overflow-x: auto; margin: .25rem 0; white-space: pre; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem; border-bottom: 1px solid var(--line); }
th { background: #f9fafb; font-weight: 600; } td.num { text-align: right; white-space: nowrap; }
.muted { color: var(--muted); }
.banner { border: 2px solid var(--high); background: var(--high-bg); color: var(--high); font-weight: 600;
  padding: .6rem .9rem; border-radius: 6px; margin: .75rem 0; }
.banner.ok { border-color: #047857; background: #d1fae5; color: #065f46; font-weight: 500; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: 12px; font-weight: 600;
  white-space: nowrap; }
.sens-high { color: var(--high); background: var(--high-bg); }
.sens-medium { color: var(--medium); background: var(--medium-bg); }
.sens-low { color: var(--low); background: var(--low-bg); }
.sens-none { color: var(--none); background: var(--none-bg); }
.conditional { color: var(--medium); font-weight: 600; }
.badge.touched { color: #ffffff; background: var(--high); }
.badge.auto { color: #065f46; background: #d1fae5; font-weight: 500; }
.cards { display: flex; flex-wrap: wrap; gap: .75rem; margin: .75rem 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: .5rem .9rem; min-width: 8rem; }
.card b { display: block; font-size: 1.4rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .5rem 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
.finding { border: 1px solid var(--line); border-radius: 8px; padding: .25rem .9rem .6rem; margin: .75rem 0; }
.step { border-left: 4px solid var(--line); padding: .1rem .9rem; margin: 1rem 0; }
.phase-contain { border-color: var(--high); } .phase-investigate { border-color: #7c3aed; }
.phase-eradicate { border-color: #d97706; } .phase-recover { border-color: #047857; }
.phase-notify { border-color: #2563eb; }
.cmd { position: relative; }
.cmd button { position: absolute; top: .3rem; right: .3rem; font-size: 11px; cursor: pointer; }
figure.graph { margin: .5rem 0; overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; }
svg.attack-graph { display: block; font-family: system-ui, sans-serif; max-width: 100%; height: auto; }
svg .node rect { fill: #ffffff; stroke: #4b5563; stroke-width: 1.2; }
svg .node.key rect { fill: #111827; } svg .node.key text { fill: #ffffff; }
svg .node.key text.sub { fill: #d1d5db; }
svg .node.principal rect { fill: #eef2ff; stroke: #4338ca; }
svg .node.pivot rect { fill: #fff7ed; stroke: #c2410c; }
svg .node.dataset.sens-high rect { fill: #fee2e2; stroke: #b91c1c; }
svg .node.dataset.sens-medium rect { fill: #fef3c7; stroke: #b45309; }
svg .node.dataset.sens-low rect { fill: #dbeafe; stroke: #1d4ed8; }
svg .node.dataset.sens-none rect { fill: #f3f4f6; stroke: #6b7280; }
svg .node.is-conditional rect { stroke-dasharray: 5 3; }
svg .node.touched rect { stroke-width: 3.5; }
svg .node text { font-size: 12px; fill: #111827; } svg .node text.sub { font-size: 10.5px; fill: #4b5563; }
svg .edge path { fill: none; stroke: #6b7280; stroke-width: 1.4; }
svg .edge.assume path { stroke: #4338ca; } svg .edge.escalate path { stroke: #dc2626; stroke-width: 2; }
svg .edge.is-conditional path { stroke-dasharray: 6 4; }
svg .edge text { font-size: 10.5px; fill: #374151; paint-order: stroke; stroke: #ffffff; stroke-width: 3px; }
svg marker path { fill: #6b7280; }
.legend span { margin-right: 1rem; }
"""

# Optional: shows copy buttons next to each command block. The page is complete without it.
_JS = """
document.querySelectorAll("button.copy").forEach(function (button) {
  button.hidden = false;
  button.addEventListener("click", function () {
    var code = document.getElementById(button.getAttribute("data-target"));
    var text = code.textContent;
    var done = function () { button.textContent = "copied"; };
    var select = function () {
      var range = document.createRange();
      range.selectNodeContents(code);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      button.textContent = "selected: press Ctrl+C";
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, select);
    } else {
      select();
    }
  });
});
"""


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


# No network at view time: nothing may be fetched (default-src 'none'), and only our own style and
# script blocks (by hash) may run.
_CSP = (
    f"default-src 'none'; style-src {_csp_hash(_CSS)}; script-src {_csp_hash(_JS)}; "
    "base-uri 'none'; form-action 'none'"
)


def _e(value: object) -> str:
    """Escape text for HTML content and attribute values (quotes included)."""
    return escape(str(value), quote=True)


def render_html(
    report: Report, *, color: bool = False, width: int | None = None, only: str | None = None
) -> str:
    """The report as one self-contained HTML page; ``only`` keeps the summary and one section."""
    del color, width
    body: list[str] = []
    doc = report.to_json()  # fields newer than this renderer's typed reading are read from the contract
    _header(body, report, doc)
    if only is None:
        _graph_section(body, report, doc)
    for section in sections(only):
        _SECTIONS[section](body, report, doc)
        if section == "datasets" and only is None:  # "did touch" and sizing next to "could reach"
            _evidence(body, report, doc)
            _notification(body, report, doc)
    if only is None:
        _self_view(body, report, doc)
        _principals(body, report, doc)
        _extra_fields(body, report, doc)
    body.append(
        f'<footer class="muted"><p>Generated {_e(report.generated_at)} by blastradius ({_e(report.schema)}). '
        "Self-contained: this page loads nothing from the network.</p></footer>"
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>blastradius: {_e(report.key.access_key_id)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            *body,
            f"<script>{_JS}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _badge(sensitivity: str) -> str:
    return f'<span class="badge sens-{_e(sensitivity)}">{_e(sensitivity.upper())}</span>'


def _certainty(certainty: str) -> str:
    cls = ' class="conditional"' if certainty == CONDITIONAL else ""
    return f"<span{cls}>{_e(certainty)}</span>"


def _facts(rows: Iterable[tuple[str, str]]) -> str:
    """A definition list; values are already-escaped HTML."""
    return '<dl class="facts">' + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _header(out: list[str], report: Report, doc: Mapping[str, Any]) -> None:
    key = report.key
    out.append(f"<header><h1>blastradius report: <code>{_e(key.access_key_id)}</code></h1>")
    out.append(f'<p class="muted">{_e(key_line(key))}</p></header>')
    cov = report.coverage
    if cov.complete:
        out.append(
            f'<div class="banner ok" id="coverage-banner">Coverage {_e(coverage_summary(report))}</div>'
        )
    else:
        out.append(
            '<div class="banner" id="coverage-banner" role="alert">Coverage '
            f'{_e(coverage_summary(report))}. See <a href="#coverage">Coverage</a>.</div>'
        )
    if key.note:
        out.append(f'<div class="banner">{_e(key.note)}</div>')
    self_view = doc.get("self_view")
    if isinstance(self_view, Mapping):
        out.append(
            '<div class="banner" id="self-view-banner" role="alert">SELF-VIEW'
            + (" (PARTIAL)" if self_view.get("partial", True) else "")
            + ": this analysis was made with what the leaked key can read about itself, not with an "
            "auditor's view of the account. Resource policies, trust policies and other principals are "
            'not seen: unknown, not safe. See <a href="#self-view">Self-view</a>.</div>'
        )
    out.append('<section id="summary"><h2>Summary</h2>')
    last = key.last_used
    used = ", ".join(str(v) for v in (last.get("date"), last.get("service"), last.get("region")) if v)
    rows = [
        ("Access key", f"<code>{_e(key.access_key_id)}</code> ({_e(key.kind)})"),
        ("Owner", f"<code>{_e(key.principal_arn)}</code>" if key.principal_arn else "unknown"),
        ("Account", _e(key.account_id or "unknown")),
        ("Status", _e(key.status or "unknown")),
        ("Created", _e(key.created or "unknown")),
        ("Last used", _e(used or "never / unknown")),
        ("Identified by", _e(key.identified_by or "unknown")),
        ("Reach", _e(summary_counts(report))),
    ]
    out.append(_facts(rows))
    counts = {
        s: sum(1 for d in report.datasets if d.sensitivity == s) for s in ("high", "medium", "low", "none")
    }
    cards = [
        ("principals", len(report.principals), ""),
        ("datasets", len(report.datasets), ""),
        *((f"{s} sensitivity", n, f" sens-{s}") for s, n in counts.items() if n),
        ("conditional", sum(1 for d in report.datasets if d.certainty == CONDITIONAL), ""),
        ("escalations", len(report.escalations), ""),
        ("runbook steps", len(report.rotation_plan), ""),
    ]
    out.append(
        '<div class="cards">'
        + "".join(f'<div class="card{cls}"><b>{n}</b>{_e(label)}</div>' for label, n, cls in cards)
        + "</div></section>"
    )


# -- the graph picture -------------------------------------------------------------------------------

_CHAR_W = 7.0  # average width of a 12px sans-serif character, for sizing boxes (no font metrics offline)
_MAX_LABEL = 56
_NODE_H = 40
_ROW_H = 58
_COL_GAP = 170
_MARGIN = 24


def _clip(text: str, limit: int = _MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sublabel(data: Mapping[str, Any]) -> str:
    if data["kind"] == DATASET:
        parts = [str(data["sensitivity"]).upper(), str(data["access"]), str(data["certainty"])]
        if data.get("touched") == "yes":
            parts.insert(0, "TOUCHED")
        if "records" in data:
            parts.append(f"{data['records']:,} records")
        return " · ".join(parts)
    if data["kind"] == KEY:
        return f"status {data.get('status', 'unknown')}"
    if data["kind"] == PIVOT:
        names = f" · {data['names']}" if data.get("names") else ""
        return f"credential pivot · {data.get('certainty', '')}{names}"
    return f"{data.get('via', '')} · {data.get('certainty', '')}"


def graph_svg(report: Report) -> str:
    """The attack-path graph as inline SVG: columns by layer, datasets coloured by sensitivity."""
    graph = attack_graph(report)
    pos = layout(graph)
    # Columns: the layout's x values (one per layer), widened to fit the widest label of each.
    xs = sorted({round(x, 9) for x, _ in pos.values()})
    col_of = {n: xs.index(round(x, 9)) for n, (x, _) in pos.items()}
    box_w: dict[str, float] = {}
    for node, data in graph.nodes(data=True):
        chars = max(len(_clip(str(data["label"]))), len(_sublabel(data)) * 0.9)
        box_w[node] = chars * _CHAR_W + 20
    col_w = [max((box_w[n] for n in graph if col_of[n] == c), default=0.0) for c in range(len(xs))]
    col_x = [_MARGIN + sum(col_w[:c]) + c * _COL_GAP for c in range(len(xs))]
    rows = max((sum(1 for n in graph if col_of[n] == c) for c in range(len(xs))), default=1)
    height = max(rows, 1) * _ROW_H + 2 * _MARGIN
    width = (col_x[-1] + col_w[-1] + _MARGIN) if xs else 2 * _MARGIN
    ys = [y for _, y in pos.values()]
    y_lo, y_hi = (min(ys), max(ys)) if ys else (0.0, 0.0)

    def centre_y(node: str) -> float:
        if y_hi == y_lo:
            return height / 2
        # multipartite_layout spaces the nodes of every layer evenly on one shared scale.
        # First node of a layer (lowest y) at the top, so a column reads in report order.
        return (
            _MARGIN + _NODE_H / 2 + (pos[node][1] - y_lo) / (y_hi - y_lo) * (height - 2 * _MARGIN - _NODE_H)
        )

    box: dict[str, tuple[float, float, float]] = {}  # node → (left x, centre y, width)
    for node in graph:
        c = col_of[node]
        box[node] = (col_x[c] + (col_w[c] - box_w[node]) / 2, centre_y(node), box_w[node])

    parts = [
        f'<svg class="attack-graph" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        'aria-labelledby="graph-title">',
        f'<title id="graph-title">Attack paths of {_e(report.key.access_key_id)}: leaked key, principals, '
        "datasets</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
        '<g class="edges">',
    ]
    for a, b, data in graph.edges(data=True):
        parts.append(_svg_edge(graph, a, b, data, box))
    parts.append('</g><g class="nodes">')
    for node, data in graph.nodes(data=True):
        parts.append(_svg_node(node, data, box[node]))
    parts.append("</g></svg>")
    return "\n".join(parts)


def _svg_edge(
    graph: Any, a: str, b: str, data: Mapping[str, Any], box: Mapping[str, tuple[float, float, float]]
) -> str:
    ax, ay, aw = box[a]
    bx, by, bw = box[b]
    if bx > ax + aw:  # forward: right side to left side
        x0, y0, x3, y3 = ax + aw, ay, bx, by
        bend = (x3 - x0) / 2
        c1, c2 = (x0 + bend, y0), (x3 - bend, y3)
    else:  # same or earlier column (a role assuming one reached sooner): arc over the top
        x0, y0, x3, y3 = ax + aw / 2, ay - _NODE_H / 2, bx + bw / 2, by - _NODE_H / 2
        lift = 40 + abs(x3 - x0) / 4
        c1, c2 = (x0, min(y0, y3) - lift), (x3, min(y0, y3) - lift)
    d = f"M{x0:.1f},{y0:.1f} C{c1[0]:.1f},{c1[1]:.1f} {c2[0]:.1f},{c2[1]:.1f} {x3:.1f},{y3:.1f}"
    # Label on the curve three quarters of the way, where edges fanning out of one node have parted:
    # B(t) = (1-t)³·P0 + 3(1-t)²t·P1 + 3(1-t)t²·P2 + t³·P3.
    t = 0.7
    w0, w1, w2, w3 = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
    mx = w0 * x0 + w1 * c1[0] + w2 * c2[0] + w3 * x3
    my = w0 * y0 + w1 * c1[1] + w2 * c2[1] + w3 * y3 - 4
    kinds = " ".join(_e(k) for k in str(data["kind"]).split("+"))
    certainty = " is-conditional" if data["certainty"] == CONDITIONAL else ""
    detail = [
        f"{graph.nodes[a]['label']} → {graph.nodes[b]['label']}: {data['label']}",
        *(f"{k}: {data[k]}" for k in ("actions", "technique", "policy", "conditions") if data.get(k)),
        f"certainty: {data['certainty']}",
    ]
    return (
        f'<g class="edge {kinds}{certainty}" data-from="{_e(a)}" data-to="{_e(b)}" '
        f'data-kind="{_e(data["kind"])}" '
        f'data-label="{_e(data["label"])}"><title>{_e(chr(10).join(detail))}</title>'
        f'<path d="{d}" marker-end="url(#arrow)"/>'
        f'<text x="{mx:.1f}" y="{my:.1f}" text-anchor="middle">{_e(_clip(str(data["label"]), 34))}</text></g>'
    )


def _svg_node(node: str, data: Mapping[str, Any], where: tuple[float, float, float]) -> str:
    x, cy, w = where
    classes = [str(data["kind"])]
    if data["kind"] == DATASET:
        classes.append(f"sens-{data['sensitivity']}")
    if data.get("certainty") == CONDITIONAL:
        classes.append("is-conditional")
    if data.get("touched") == "yes":
        classes.append("touched")
    extra = f' data-name="{_e(data["dataset_name"])}"' if data["kind"] == DATASET else ""
    top = cy - _NODE_H / 2
    return (
        f'<g class="node {" ".join(_e(c) for c in classes)}" data-kind="{_e(data["kind"])}" '
        f'data-arn="{_e(node)}"{extra}><title>{_e(data["arn"])}</title>'
        f'<rect x="{x:.1f}" y="{top:.1f}" width="{w:.1f}" height="{_NODE_H}" rx="6"/>'
        f'<text x="{x + 10:.1f}" y="{top + 16:.1f}">{_e(_clip(str(data["label"])))}</text>'
        f'<text class="sub" x="{x + 10:.1f}" y="{top + 31:.1f}">{_e(_sublabel(data))}</text></g>'
    )


# Past this many datasets a picture stops being readable (and the page grows by ~2 KiB a box): the
# picture keeps the most sensitive ones and says how many it leaves out; the tables and the
# dot/graphml exports keep them all.
MAX_DRAWN_DATASETS = 200
# Per-dataset detail blocks (a broad key in a large account reaches tens of thousands of datasets: a
# page with every path would weigh hundreds of MB); the table above them lists every dataset.
MAX_DETAILED_DATASETS = 500


def _graph_section(out: list[str], report: Report, doc: Mapping[str, Any]) -> None:
    out.append('<section id="graph"><h2>Attack paths</h2>')
    findings = ranked(report.datasets)
    if len(findings) > MAX_DRAWN_DATASETS:
        left_out = len(findings) - MAX_DRAWN_DATASETS
        out.append(
            f'<p class="banner">The picture shows the {MAX_DRAWN_DATASETS} most sensitive of '
            f"{len(findings)} reachable datasets; {left_out} more are listed below and in "
            "<code>--format dot</code> / <code>--format graphml</code>.</p>"
        )
        report = replace(report, datasets=tuple(findings[:MAX_DRAWN_DATASETS]))
    out.append(
        '<p class="muted legend">Leaked key → principals it can act as (by hops) → datasets they reach. '
        "<span>blue: assume role</span><span>grey: data access (level: actions)</span>"
        "<span>red: privilege escalation</span><span>dashed: conditional</span>"
        "<span>thick outline: touched (CloudTrail)</span>"
        "<span>box colour: sensitivity</span> Hover an edge or box for its evidence.</p>"
    )
    out.append(f'<figure class="graph">{graph_svg(report)}</figure></section>')


# -- sections ----------------------------------------------------------------------------------------


def _datasets(out: list[str], report: Report, doc: Mapping[str, Any]) -> None:
    findings = ranked(report.datasets)
    out.append(f'<section id="datasets"><h2>Reachable datasets ({len(findings)})</h2>')
    if not findings:
        note = "No reachable dataset found."
        if doc.get("if_reactivated"):
            note = "None: the key is Inactive, and an inactive key reaches nothing."
        elif not report.coverage.complete:
            note += " Coverage is incomplete: unknown, not safe."
        out.append(f"<p>{_e(note)}</p>")
    else:
        as_json = {d["arn"]: d for d in doc.get("datasets", [])}
        with_touch = any("touched" in d for d in as_json.values())
        out.append(
            "<table><thead><tr><th>#</th><th>Sensitivity</th><th>Type</th><th>Name</th><th>Access</th>"
            "<th>Certainty</th><th>Records</th>"
            + ("<th>Touched</th>" if with_touch else "")
            + "<th>Sensitive because</th></tr></thead><tbody>"
        )
        for n, f in enumerate(findings, 1):
            records = f"{f.estimated_records:,}" if f.estimated_records is not None else "unknown"
            touched = f"<td>{_touched_flag(as_json.get(f.arn, {}))}</td>" if with_touch else ""
            name = f"<code>{_e(f.name)}</code>"
            if n <= MAX_DETAILED_DATASETS:
                name = f'<a href="#ds-{n}">{name}</a>'
            out.append(
                f"<tr><td>{n}</td><td>{_badge(f.sensitivity)}</td><td>{_e(f.type)}</td>"
                f"<td>{name}</td><td>{_e(access_text(f))}</td>"
                f'<td>{_certainty(f.certainty)}</td><td class="num">{_e(records)}</td>{touched}'
                f"<td>{_e(', '.join(f.sensitivity_reasons) or '—')}</td></tr>"
            )
        out.append("</tbody></table>")
        for n, f in enumerate(findings[:MAX_DETAILED_DATASETS], 1):
            _finding(out, n, f, as_json.get(f.arn, {}))
        if len(findings) > MAX_DETAILED_DATASETS:
            out.append(
                f'<p class="banner">Details (paths, grants, conditions) of the {MAX_DETAILED_DATASETS} '
                f"first-ranked datasets are above; the other {len(findings) - MAX_DETAILED_DATASETS} are in "
                "the table, and <code>--format json</code> has every path.</p>"
            )
    again = doc.get("if_reactivated") or []
    if again:
        out.append(
            f"<h3>If the key were re-activated ({len(again)} dataset{'s' if len(again) != 1 else ''})</h3>"
        )
        out.append(
            _records_table(again, ("sensitivity", "type", "name", "access", "certainty", "estimated_records"))
        )
    out.append("</section>")


def _touched_flag(dataset: Mapping[str, Any]) -> str:
    """The "did touch" cell: TOUCHED (loud), not seen, or unknown (no evidence is not "no")."""
    touched = dataset.get("touched")
    if touched is True:
        return '<span class="badge touched">TOUCHED</span>'
    if touched is False:
        return "not seen"
    return '<span class="muted">unknown</span>'


def _touched_text(dataset: Mapping[str, Any]) -> str:
    events = [
        f"{t.get('event_name')} x{t.get('count')}"
        + (f" ({t.get('errors')} refused)" if t.get("errors") else "")
        + (f", {t.get('first')} → {t.get('last')}" if t.get("first") else "")
        for t in dataset.get("touched_by") or []
    ]
    text = _touched_flag(dataset)
    if events:
        text += ": " + _e("; ".join(events))
    if dataset.get("touch_note"):
        text += f' <span class="muted">({_e(dataset["touch_note"])})</span>'
    return text


def _finding(out: list[str], n: int, f: DatasetFinding, as_json: Mapping[str, Any]) -> None:
    out.append(
        f'<div class="finding" id="ds-{n}"><h3>{n}. {_badge(f.sensitivity)} {_e(dataset_label(f))}</h3>'
    )
    rows = [
        ("ARN", f"<code>{_e(f.arn)}</code>"),
        ("Region", _e(f.region or "global")),
        ("Access", _e(access_text(f))),
        ("Certainty", _certainty(f.certainty)),
        ("Records", _e(records_text(f.estimated_records))),
        ("Sensitive because", _e(", ".join(f.sensitivity_reasons) or "no sensitivity rule matched")),
    ]
    if f.conditions:
        rows.append(("Only if", f'<span class="conditional">{_e("; ".join(f.conditions))}</span>'))
    if f.personal_data:
        rows.append(("Personal data", "yes: notification may be required"))
    if f.credential_pivot:
        rows.append(("Credential pivot", "yes: holds credentials that may open more access"))
    if f.kms_key:
        rows.append(("KMS key", f"<code>{_e(f.kms_key)}</code>"))
    rows.append(("Path", _e(describe_finding_path(f))))
    for grant in sorted(f.grants, key=lambda g: level_rank(g.level)):
        text = describe_finding_path(f, grant.path)
        if grant.certainty == CONDITIONAL and grant.conditions:
            text += " if " + "; ".join(grant.conditions)
        rows.append((f"{grant.level} ({grant.certainty})", _e(text)))
    if "touched" in as_json:
        rows.append(("Did touch", _touched_text(as_json)))
    extra = {k: v for k, v in as_json.items() if k not in _KNOWN_DATASET_FIELDS}
    rows.extend((k, _value(v)) for k, v in extra.items())
    out.append(_facts(rows) + "</div>")


def _escalations(out: list[str], report: Report, doc: Mapping[str, Any]) -> None:
    out.append(f'<section id="escalations"><h2>Privilege escalation ({len(report.escalations)})</h2>')
    if not report.escalations:
        out.append("<p>None found.</p></section>")
        return
    out.append(
        "<table><thead><tr><th>Technique</th><th>From</th><th>To</th><th>Certainty</th><th>Needs</th>"
        "<th>Path</th></tr></thead><tbody>"
    )
    for e in sorted(
        report.escalations, key=lambda e: (e.certainty != "definite", e.technique, e.from_, e.to)
    ):
        out.append(
            f"<tr><td><code>{_e(e.technique)}</code></td><td><code>{_e(short_name(e.from_))}</code></td>"
            f"<td><code>{_e(short_name(e.to))}</code></td><td>{_certainty(e.certainty)}</td>"
            f"<td>{_e(', '.join(e.actions) or '—')}</td>"
            f"<td>{_e(describe_path(e.path) if e.path else '—')}</td></tr>"
        )
    out.append("</tbody></table></section>")


def _coverage(out: list[str], report: Report, doc: Mapping[str, Any]) -> None:
    cov = report.coverage
    state = "complete" if cov.complete else "INCOMPLETE"
    out.append(f'<section id="coverage"><h2>Coverage: {state}</h2>')
    if not cov.complete:
        out.append(
            '<div class="banner" role="alert">Partial view: what could not be read is unknown, '
            "not safe. The datasets above are a lower bound.</div>"
        )
    out.append(
        _facts(
            [
                ("Source", _e(cov.source)),
                ("Regions", _e(", ".join(cov.regions) or "none recorded")),
            ]
        )
    )
    out.append("<table><thead><tr><th>Service</th><th>Status</th></tr></thead><tbody>")
    for service, status in sorted(cov.services.items()):
        cls = "" if status == "ok" else ' class="conditional"'
        out.append(f"<tr><td>{_e(service)}</td><td{cls}>{_e(status)}</td></tr>")
    out.append("</tbody></table>")
    if cov.gaps or cov.warnings:
        out.append("<ul>")
        out.extend(f'<li><span class="conditional">gap</span> {_e(g.describe())}</li>' for g in cov.gaps)
        out.extend(f'<li><span class="conditional">warning</span> {_e(w)}</li>' for w in cov.warnings)
        out.append("</ul>")
    else:
        out.append("<p>No gaps, no warnings.</p>")
    out.append("</section>")


def _rotation(out: list[str], report: Report, doc: Mapping[str, Any]) -> None:
    plan = report.rotation_plan
    out.append(f'<section id="runbook"><h2>Runbook ({len(plan)} step{"s" if len(plan) != 1 else ""})</h2>')
    if not plan:
        out.append("<p>Not computed (run <code>blastradius rotate</code>).</p></section>")
        return
    out.append(
        '<p class="muted">Nothing here has been executed by this report. Commands are exact for this '
        "incident.</p>"
    )
    steps_json = list(doc.get("rotation_plan", []))
    for i, step in enumerate(plan):
        as_json = steps_json[i] if i < len(steps_json) else {}
        automated = (
            ' <span class="badge auto">rotate --apply does this</span>' if as_json.get("automatable") else ""
        )
        out.append(
            f'<div class="step phase-{_e(step.phase)}"><h3>{step.step}. {_e(step.title)} '
            f'<span class="muted">[{_e(step.phase)}]</span>{automated}</h3><p>{_e(step.why)}</p>'
        )
        actions = [a.get("description") or a.get("operation") for a in as_json.get("actions") or []]
        if actions:
            out.append(
                '<p class="muted">With <code>--apply</code>: '
                + "; ".join(_e(a) for a in actions if a)
                + "</p>"
            )
        extra = {k: v for k, v in as_json.items() if k not in _KNOWN_STEP_FIELDS}
        if extra:
            out.append(_facts((k, _value(v)) for k, v in extra.items()))
        if step.details:
            out.append("<ul>" + "".join(f"<li>{_e(d)}</li>" for d in step.details) + "</ul>")
        if step.commands:
            block = f"cmd-{step.step}"
            out.append(
                f'<div class="cmd"><pre><code id="{block}">{_e(chr(10).join(step.commands))}</code></pre>'
                f'<button type="button" class="copy" data-target="{block}" hidden>copy</button></div>'
            )
        out.append("</div>")
    out.append("</section>")


def _principals(out: list[str], report: Report, doc: Mapping[str, Any]) -> None:
    out.append(f'<section id="principals"><h2>Principals the key can act as ({len(report.principals)})</h2>')
    out.append(
        "<table><thead><tr><th>Principal</th><th>Via</th><th>Certainty</th><th>Path</th></tr></thead><tbody>"
    )
    order = {"origin": 0, "assume": 1, "escalate": 2}
    for p in sorted(report.principals, key=lambda p: (order.get(p.via, 3), p.arn)):
        path = describe_path(p.path) if p.path else "the key's own identity"
        out.append(
            f'<tr><td><code title="{_e(p.arn)}">{_e(short_name(p.arn))}</code></td><td>{_e(p.via)}</td>'
            f"<td>{_certainty(p.certainty)}</td><td>{_e(path)}</td></tr>"
        )
    out.append("</tbody></table></section>")


def _evidence(out: list[str], report: Report, doc: Mapping[str, Any]) -> None:
    """What the key was seen doing (CloudTrail), and how much of the exposure window is dark."""
    ev = doc.get("evidence")
    if not isinstance(ev, Mapping):
        return
    status = str(ev.get("status", "unknown"))
    out.append(f'<section id="evidence"><h2>Evidence: what the key did ({_e(status)})</h2>')
    statement = ev.get("statement") or ""
    dark = ev.get("uncovered") or []
    if status != "collected" or dark:
        out.append(
            '<div class="banner">'
            + _e(statement or f"Evidence {status}: whether the key touched a dataset is unknown, not no.")
            + "</div>"
        )
    elif statement:
        out.append(f"<p>{_e(statement)}</p>")
    window = ev.get("window") or {}
    rows = [
        (
            "Window",
            _e(f"{window.get('start') or 'unknown'} → {window.get('end') or 'now'}")
            + (
                f' <span class="muted">(start: {_e(window["source"])})</span>' if window.get("source") else ""
            ),
        ),
        ("Source", _e(ev.get("source", ""))),
        ("Regions", _e(", ".join(ev.get("regions") or []) or "none")),
        ("Events", _e(f"{ev.get('event_count', 0)} ({ev.get('error_count', 0)} refused)")),
    ]
    if ev.get("data_events"):
        rows.append(("Data events", _e(ev["data_events"])))
    touched = [short_name(a) for a in ev.get("touched") or []]
    rows.append(("Touched datasets", _e(", ".join(touched)) if touched else "none seen"))
    if ev.get("session_keys"):
        rows.append(("Session keys issued to it", _e(", ".join(ev["session_keys"])) + " (search them next)"))
    if ev.get("uncovered_days") is not None:
        rows.append(("Days without evidence", _e(ev["uncovered_days"])))
    out.append(_facts(rows))
    persistence = ev.get("persistence") or []
    if persistence:
        out.append(f'<h3 class="conditional">Persistence created by the key ({len(persistence)})</h3>')
        out.append(
            _records_table(
                persistence,
                (
                    "time",
                    "event_name",
                    "target",
                    "succeeded",
                    "error_code",
                    "created_access_key_id",
                    "source_ip",
                ),
            )
        )
    if ev.get("activity"):
        out.append("<h3>Activity</h3>")
        out.append(
            _records_table(
                ev["activity"],
                ("service", "event_name", "region", "source_ip", "count", "errors", "first", "last"),
            )
        )
    if ev.get("trails"):
        out.append("<h3>Trails</h3>")
        out.append(_records_table(ev["trails"]))
    if dark:
        out.append('<h3 class="conditional">No evidence for</h3>')
        out.append(_records_table(dark, ("region", "start", "end", "why")))
    notes = [
        f"gap: {g.get('service')} {g.get('operation')} in {g.get('region')}: {g.get('error')}"
        for g in ev.get("gaps") or []
    ]
    notes += [f"warning: {w}" for w in ev.get("warnings") or []]
    notes += [f"truncated: {r}" for r in ev.get("truncated_regions") or []]
    if notes:
        out.append("<ul>" + "".join(f'<li class="conditional">{_e(n)}</li>' for n in notes) + "</ul>")
    out.append("</section>")


def _pivots(out: list[str], report: Report, doc: Mapping[str, Any]) -> None:
    """Credentials for something else the key can read: what they open is part of the blast radius."""
    pivots = report.credential_pivots
    if not pivots:
        return
    out.append(f'<section id="pivots"><h2>Credential pivots ({len(pivots)})</h2>')
    out.append(
        '<p class="muted">Credentials the key can read (blastradius never reads their values): whatever '
        "they open must be rotated at its issuer.</p>"
    )
    out.append(
        "<table><thead><tr><th>Kind</th><th>Name</th><th>Region</th><th>Why</th><th>Certainty</th>"
        "<th>Path</th></tr></thead><tbody>"
    )
    for p in pivots:
        why = ", ".join(p.names) if p.names else ", ".join(p.reasons)
        certainty = _certainty(p.certainty) + (
            f' <span class="conditional">if {_e("; ".join(p.conditions))}</span>' if p.conditions else ""
        )
        out.append(
            f"<tr><td>{_e(p.kind)}</td><td><code>{_e(p.name)}</code></td><td>{_e(p.region or '—')}</td>"
            f"<td>{_e(why or '—')}</td><td>{certainty}</td>"
            f"<td>{_e(describe_path(p.path) if p.path else '—')}</td></tr>"
        )
    out.append("</tbody></table></section>")


def _self_view(out: list[str], report: Report, doc: Mapping[str, Any]) -> None:
    """Every call the leaked key made about itself, with its result."""
    view = doc.get("self_view")
    if not isinstance(view, Mapping):
        return
    calls = [c for c in view.get("calls") or [] if isinstance(c, Mapping)]
    out.append(f'<section id="self-view"><h2>Self-view: the calls made as the leaked key ({len(calls)})</h2>')
    if view.get("unknown"):
        out.append("<p>Could not be read (unknown, not safe):</p>")
        out.append(
            "<ul>" + "".join(f'<li class="conditional">{_e(u)}</li>' for u in view["unknown"]) + "</ul>"
        )
    out.append(_records_table(calls, ("step", "operation", "target", "result", "error", "detail")))
    out.append("</section>")


def _notification(out: list[str], report: Report, doc: Mapping[str, Any]) -> None:
    """The data-protection officer's table: sensitive datasets, records, fields, touched."""
    rows = doc.get("notification") or []
    if not rows:
        return
    out.append(f'<section id="notification"><h2>Notification sizing ({len(rows)})</h2>')
    out.append(
        _records_table(
            rows,
            (
                "name",
                "type",
                "sensitivity",
                "personal_data",
                "estimated_records",
                "records_basis",
                "sensitive_fields",
                "access",
                "touched",
            ),
        )
    )
    out.append("</section>")


def _cell(value: Any) -> str:
    """One table cell: numbers with separators, lists joined, yes/no, — for nothing, JSON for the rest."""
    if value is None:
        return '<span class="muted">—</span>'
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f'<span class="num">{value:,}</span>'
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return _e(", ".join(str(v) for v in value)) or '<span class="muted">—</span>'
    if isinstance(value, (str, float)):
        return _e(value)
    return _value(value)


def _records_table(rows: Iterable[Mapping[str, Any]], columns: Iterable[str] | None = None) -> str:
    """A list of JSON objects as a table: the given columns (those present), else every key in order."""
    rows = list(rows)
    present: dict[str, None] = {}
    for row in rows:
        present.update(dict.fromkeys(row))
    cols = [c for c in columns if c in present] if columns is not None else list(present)
    head = "".join(f"<th>{_e(c.replace('_', ' '))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in cols) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _value(value: Any) -> str:
    """Any JSON value as escaped HTML: scalars inline, the rest as indented JSON."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return _e("—" if value is None else value)
    return f"<pre>{_e(json.dumps(value, indent=2, sort_keys=False, default=str))}</pre>"


def _extra_fields(out: list[str], report: Report, doc: Mapping[str, Any]) -> None:
    """Report fields this renderer has no section for yet: shown as they are, never dropped."""
    extra = {k: v for k, v in doc.items() if k not in _KNOWN_FIELDS}
    if not extra:
        return
    out.append('<section id="more"><h2>More report fields</h2>')
    for name, value in extra.items():
        out.append(f"<h3>{_e(name)}</h3>")
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            out.append(_records_table(value))
        elif isinstance(value, Mapping) and all(not isinstance(v, (Mapping, list)) for v in value.values()):
            out.append(_facts((k, _cell(v)) for k, v in value.items()))
        else:
            out.append(_value(value))
    out.append("</section>")


_SECTIONS: dict[str, Callable[[list[str], Report, Mapping[str, Any]], None]] = {
    "datasets": _datasets,
    "escalations": _escalations,
    "credential_pivots": _pivots,
    "coverage": _coverage,
    "rotation_plan": _rotation,
}
