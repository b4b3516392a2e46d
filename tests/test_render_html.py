"""The HTML report: one self-contained page a data-protection officer or a manager can open offline.

The page is parsed with the standard library's ``html.parser`` (and its SVG with an XML parser), never
checked by substring alone where structure matters. The headless-browser test is in test_browser.py.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any

import networkx as nx
from test_render import ADMIN_ROLE, CUSTOMERS, KEY_ID, SECRET, USER, incident_report
from test_render_graph import HOSTILE, hostile_report, path_steps

from blastradius.model import CollectionGap
from blastradius.render import RENDERERS, render
from blastradius.render.graph import attack_graph
from blastradius.render.html import MAX_DRAWN_DATASETS
from blastradius.report import CredentialPivot, PathStep, Report

SVG_NS = "{http://www.w3.org/2000/svg}"


class Page(HTMLParser):
    """Every start tag with its attributes, and the text of <style>/<script>/<code> elements."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.blocks: dict[str, list[str]] = {"style": [], "script": [], "code": []}
        self._open: list[str] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in self.blocks:
            self._open.append(tag)
            self.blocks[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._open:
            self.blocks[self._open[-1]][-1] += data

    def all(self, tag: str, **match: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in match.items())]


def svg_of(page_text: str) -> ET.Element:
    """The inline SVG, parsed as XML (it must be well-formed to render in every browser)."""
    start, end = page_text.index("<svg"), page_text.index("</svg>") + len("</svg>")
    return ET.fromstring(page_text[start:end])


def test_html_is_a_registered_format() -> None:
    assert {"html", "dot", "graphml"} <= set(RENDERERS)


def test_page_is_self_contained_and_its_csp_allows_only_its_own_style_and_script() -> None:
    text = render(incident_report(), "html")
    page = Page(text)
    assert text.startswith("<!DOCTYPE html>")
    # Nothing is loaded: no external stylesheet, script, image, font or frame.
    assert not page.all("link") and not page.all("img") and not page.all("iframe")
    assert all("src" not in attrs for _, attrs in page.tags)
    assert not re.search(r"@import|@font-face|url\((?!#)", text)
    assert not re.search(r"\b(src|href)=\"(https?:)?//", text)
    (csp,) = page.all("meta", **{"http-equiv": "Content-Security-Policy"})
    policy = csp["content"] or ""
    assert "default-src 'none'" in policy
    (style,) = page.blocks["style"]
    (script,) = page.blocks["script"]
    for block, directive in ((style, "style-src"), (script, "script-src")):
        digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in policy, directive
    assert "unsafe-inline" not in policy


def test_summary_names_the_key_owner_status_and_counts() -> None:
    report = incident_report()
    page = Page(render(report, "html"))
    words = " ".join(page.text)
    for fact in (KEY_ID, USER, "Active", "2022-01-10T09:00:00Z", "3 principals reachable", "3 datasets"):
        assert fact in words, fact
    assert "Coverage complete" in words


def test_graph_svg_has_a_node_per_dataset_and_an_edge_per_path_step() -> None:
    report = incident_report()
    svg = svg_of(render(report, "html"))
    groups = list(svg.iter(f"{SVG_NS}g"))
    nodes = {g.get("data-arn"): g for g in groups if g.get("data-kind") in ("key", "principal", "dataset")}
    assert {a for a, g in nodes.items() if g.get("data-kind") == "dataset"} == {
        d.arn for d in report.datasets
    }
    for d in report.datasets:
        labels = [t.text for t in nodes[d.arn].iter(f"{SVG_NS}text")]
        assert any(d.name in (t or "") for t in labels), labels
        assert f"sens-{d.sensitivity}" in (nodes[d.arn].get("class") or "")
    edges = {(g.get("data-from"), g.get("data-to")): g for g in groups if g.get("data-from")}
    graph = attack_graph(report)
    for step in path_steps(report):
        edge = edges[step.from_, step.to]
        assert edge.get("data-label") == graph.edges[step.from_, step.to]["label"]
        assert edge.find(f"{SVG_NS}path") is not None
    assert (KEY_ID, USER) in edges
    assert "escalate" in (edges[USER, ADMIN_ROLE].get("class") or "")
    assert "is-conditional" in (edges[USER, SECRET].get("class") or "")
    # Every node is inside the drawing.
    width, height = float(svg.get("width") or 0), float(svg.get("height") or 0)
    for rect in svg.iter(f"{SVG_NS}rect"):
        x, y, w = float(rect.get("x") or 0), float(rect.get("y") or 0), float(rect.get("width") or 0)
        assert x >= 0 and x + w <= width and 0 <= y <= height


def test_datasets_show_ranking_records_reasons_conditions_paths_and_grants() -> None:
    text = render(incident_report(), "html")
    page = Page(text)
    words = " ".join(page.text)
    rows = text[text.index("<tbody>") : text.index("</tbody>")]
    order = [rows.index(n) for n in ("tconnect-customers", "tconnect-exports", "prod/db-password")]
    assert order == sorted(order)
    assert "296,019" in words
    assert "attribute customer_number, attribute email" in words
    assert "aws:SourceIp 203.0.113.0/24" in words
    assert "─sts:AssumeRole (policy inline AssumeDataSync, statement 'Assume')→ role/data-sync" in words
    # grants per level: admin only after escalating.
    assert "admin (definite)" in words
    assert "─escalate lambda-passrole [iam:PassRole, lambda:CreateFunction]→ role/ops-admin" in words
    assert "lambda-passrole" in words  # escalations section
    assert "Personal data" in words


def test_runbook_commands_are_copyable_code_blocks() -> None:
    report = incident_report()
    page = Page(render(report, "html"))
    codes = page.blocks["code"]
    for step in report.rotation_plan:
        if step.commands:
            assert "\n".join(step.commands) in codes, step.title
    buttons = page.all("button")
    assert buttons and all(b.get("data-target") and "hidden" in b for b in buttons)
    targets = {a.get("id") for a in page.all("code") if a.get("id")}
    assert {b.get("data-target") for b in buttons} <= targets


def test_partial_coverage_is_loud() -> None:
    gap = CollectionGap(
        service="rds", region="us-east-1", operation="DescribeDBInstances", error_code="AccessDenied"
    )
    report = incident_report(gaps=(gap,))
    report = replace(report, coverage=replace(report.coverage, warnings=("kms skipped",)))
    page = Page(render(report, "html"))
    alerts = page.all("div", role="alert")
    assert len(alerts) == 2  # the banner at the top and the one in the coverage section
    words = " ".join(page.text)
    assert "INCOMPLETE" in words and "unknown, not safe" in words
    assert "rds DescribeDBInstances in us-east-1: AccessDenied" in words
    assert "kms skipped" in words


def test_complete_coverage_has_no_alert() -> None:
    assert not Page(render(incident_report(), "html")).all("div", role="alert")


def test_hostile_names_are_escaped_everywhere() -> None:
    text = render(hostile_report(), "html")
    page = Page(text)
    assert len(page.all("script")) == 1  # only the page's own
    assert "<script>alert" not in text
    assert HOSTILE in " ".join(page.text)  # shown as text
    svg = svg_of(text)
    names = {g.get("data-name") for g in svg.iter(f"{SVG_NS}g") if g.get("data-kind") == "dataset"}
    assert HOSTILE in names  # attribute values round-trip through XML escaping


def test_only_one_section() -> None:
    page = Page(render(incident_report(), "html", only="rotation_plan"))
    ids = {a.get("id") for _, a in page.tags}
    assert "runbook" in ids and "summary" in ids
    assert "datasets" not in ids and "graph" not in ids


def test_no_datasets_and_no_plan_still_make_a_page() -> None:
    report = replace(incident_report(with_plan=False), datasets=(), escalations=())
    page = Page(render(report, "html"))
    words = " ".join(page.text)
    assert "No reachable dataset found." in words and "Not computed" in words
    assert len(list(svg_of(render(report, "html")).iter(f"{SVG_NS}rect"))) == 4  # key and 3 principals


class _FutureReport(Report):
    """A report from a newer blastradius, with a top-level field this renderer has no section for."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        document = Report.to_json(self)
        document["future_field"] = {
            "partial": True,
            "calls": [{"operation": "iam:GetUser", "result": "<ok>"}],
        }
        return document


def test_fields_without_a_section_are_shown_not_dropped() -> None:
    base = incident_report(with_plan=False)
    future = _FutureReport(**{f: getattr(base, f) for f in Report.__dataclass_fields__})
    page = Page(render(future, "html"))
    words = " ".join(page.text)
    assert "future_field" in words and '"operation": "iam:GetUser"' in words and "<ok>" in words


def test_render_is_deterministic() -> None:
    report = incident_report()
    assert render(report, "html") == render(report, "html")


def broad_report(n: int, sensitivity: str) -> Report:
    """The incident plus ``n`` more tables of ``sensitivity``, each read directly by the user."""
    report = incident_report()
    customers = next(d for d in report.datasets if d.arn == CUSTOMERS)
    many = tuple(
        replace(
            customers,
            arn=f"{CUSTOMERS}-{i}",
            name=f"table-{i}",
            sensitivity=sensitivity,
            path=tuple(replace(s, to=f"{CUSTOMERS}-{i}") for s in customers.path),
            grants=(),
        )
        for i in range(n)
    )
    return replace(report, datasets=report.datasets + many)


def test_many_datasets_stay_inside_the_drawing() -> None:
    """A broad key (dozens of datasets): every one gets its box, and boxes do not overlap."""
    n = 60
    report = broad_report(n, "high")
    svg = svg_of(render(report, "html"))
    boxes = [
        tuple(float(rect.get(k) or 0) for k in ("x", "y", "width", "height"))
        for g in svg.iter(f"{SVG_NS}g")
        if g.get("data-kind") == "dataset"
        for rect in g.iter(f"{SVG_NS}rect")
    ]
    assert len(boxes) == n + 3
    for i, (x1, y1, w1, h1) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1, "boxes overlap"


def test_a_very_broad_key_draws_the_most_sensitive_datasets_and_says_how_many_are_left_out() -> None:
    report = broad_report(MAX_DRAWN_DATASETS, "low")
    text = render(report, "html")
    drawn = {g.get("data-arn") for g in svg_of(text).iter(f"{SVG_NS}g") if g.get("data-kind") == "dataset"}
    assert len(drawn) == MAX_DRAWN_DATASETS
    assert {CUSTOMERS, SECRET} <= drawn  # high and medium before the low ones
    assert f"The picture shows the {MAX_DRAWN_DATASETS} most sensitive of {MAX_DRAWN_DATASETS + 3}" in text
    assert "3 more are listed below" in text
    assert text.count("<tr><td>") >= MAX_DRAWN_DATASETS + 3  # the table keeps them all


class _EvidenceReport(Report):
    """The incident with the evidence fields of the JSON contract (CloudTrail: what the key did)."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        document = Report.to_json(self)
        for d in document["datasets"]:
            d["touched"] = True if d["arn"] == CUSTOMERS else None if d["arn"] == SECRET else False
            d["touched_by"] = (
                [
                    {
                        "event_name": "Scan",
                        "count": 12,
                        "errors": 0,
                        "first": "2022-09-01",
                        "last": "2022-09-14",
                    }
                ]
                if d["arn"] == CUSTOMERS
                else []
            )
            d["touch_note"] = "S3 data events are not logged" if d["name"] == "tconnect-exports" else None
        document["rotation_plan"][0]["automatable"] = True
        document["rotation_plan"][0]["actions"] = [
            {
                "operation": "iam:UpdateAccessKey",
                "target": KEY_ID,
                "parameters": {},
                "description": "deactivate",
            }
        ]
        document["evidence"] = {
            "status": "partial",
            "source": "cloudtrail:LookupEvents",
            "window": {
                "start": "2022-01-10T09:00:00Z",
                "end": "2026-11-25T00:00:00Z",
                "source": "key creation",
            },
            "regions": ["us-east-1"],
            "event_count": 14,
            "error_count": 2,
            "activity": [
                {
                    "service": "dynamodb",
                    "event_name": "Scan",
                    "region": "us-east-1",
                    "source_ip": "198.51.100.7",
                    "count": 12,
                    "errors": 0,
                    "first": "2022-09-01",
                    "last": "2022-09-14",
                }
            ],
            "persistence": [
                {
                    "event_name": "CreateAccessKey",
                    "time": "2022-09-02",
                    "target": "user/<b>x</b>",
                    "succeeded": True,
                }
            ],
            "touched": [CUSTOMERS],
            "session_keys": [],
            "trails": [],
            "data_events": "no trail records data events",
            "uncovered": [
                {"start": "2022-01-10", "end": "2026-08-27", "region": "all", "why": "older than 90 days"}
            ],
            "uncovered_days": 1690.0,
            "statement": "4 of the window's 5 years have no evidence.",
            "gaps": [],
            "warnings": [],
        }
        document["notification"] = [
            {
                "name": "tconnect-customers",
                "type": "dynamodb-table",
                "sensitivity": "high",
                "personal_data": True,
                "estimated_records": 296019,
                "records_basis": "DescribeTable ItemCount",
                "sensitive_fields": ["customer_number", "email"],
                "access": ["read", "write"],
                "touched": True,
            }
        ]
        return document


def evidence_report() -> Report:
    base = incident_report()
    return _EvidenceReport(**{f: getattr(base, f) for f in Report.__dataclass_fields__})


def test_did_touch_is_overlaid_on_could_reach() -> None:
    text = render(evidence_report(), "html")
    page = Page(text)
    words = " ".join(page.text)
    rows = text[text.index("<tbody>") : text.index("</tbody>")]
    assert "TOUCHED" in rows and "not seen" in rows and "unknown" in rows
    assert "Scan x12, 2022-09-01 → 2022-09-14" in words
    assert "S3 data events are not logged" in words
    svg = svg_of(text)
    touched = {
        g.get("data-arn") for g in svg.iter(f"{SVG_NS}g") if "touched" in (g.get("class") or "").split()
    }
    assert touched == {CUSTOMERS}
    graph = attack_graph(evidence_report())  # the dot/graphml exports carry it too
    assert graph.nodes[CUSTOMERS]["touched"] == "yes" and "touched" not in graph.nodes[SECRET]


def test_evidence_section_says_what_the_key_did_and_how_much_is_dark() -> None:
    page = Page(render(evidence_report(), "html"))
    ids = {a.get("id") for _, a in page.tags}
    assert {"evidence", "notification"} <= ids
    assert "more" not in ids  # every field has its own section: nothing left for "More report fields"
    words = " ".join(page.text)
    for fact in (
        "Evidence: what the key did (partial)",
        "4 of the window's 5 years have no evidence.",
        "2022-01-10T09:00:00Z → 2026-11-25T00:00:00Z",
        "14 (2 refused)",
        "198.51.100.7",
        "Persistence created by the key (1)",
        "user/<b>x</b>",  # shown as text, escaped
        "older than 90 days",
        "no trail records data events",
        "customer_number, email",
        "DescribeTable ItemCount",
        "296,019",
        "rotate --apply does this",
        "deactivate",
    ):
        assert fact in words, fact
    assert "<b>x</b>" not in render(evidence_report(), "html")


LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:billing-export"


class _SelfViewReport(Report):
    """A report with the ``self_view`` section of the JSON contract (the key read about itself)."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        document = Report.to_json(self)
        document["self_view"] = {
            "partial": True,
            "calls": [
                {
                    "step": 1,
                    "operation": "iam:GetUser",
                    "target": "tconnect-web-subcontractor",
                    "result": "allowed",
                    "error": None,
                    "detail": "1 user",
                },
                {
                    "step": 2,
                    "operation": "iam:ListAttachedUserPolicies",
                    "target": "tconnect-web-subcontractor",
                    "result": "denied",
                    "error": "AccessDenied",
                    "detail": None,
                },
            ],
            "unknown": ["attached managed policies (AccessDenied)"],
        }
        return document


def pivot_report() -> Report:
    """The incident with credential pivots: the secret it can read, and a function's environment."""
    base = incident_report()
    secret = next(d for d in base.datasets if d.arn == SECRET)
    to_lambda = PathStep(
        from_=USER,
        to=LAMBDA,
        kind="access",
        actions=("lambda:GetFunctionConfiguration",),
        policy="app-data",
        statement="Fn",
    )
    pivots = (
        CredentialPivot(
            arn=SECRET,
            kind="secretsmanager-secret",
            name="prod/db-password",
            region="us-east-1",
            reasons=("name contains 'password'",),
            certainty="conditional",
            conditions=secret.conditions,
            path=secret.path,
        ),
        CredentialPivot(
            arn=LAMBDA,
            kind="lambda-function",
            name="billing-export",
            region="us-east-1",
            names=("DB_PASSWORD",),
            reasons=("environment variable DB_PASSWORD",),
            path=(to_lambda,),
        ),
    )
    fields = {f: getattr(base, f) for f in Report.__dataclass_fields__}
    return _SelfViewReport(**{**fields, "credential_pivots": pivots})


def test_credential_pivots_are_listed_and_drawn() -> None:
    report = pivot_report()
    graph = attack_graph(report)
    assert graph.nodes[LAMBDA]["kind"] == "pivot" and graph.nodes[LAMBDA]["names"] == "DB_PASSWORD"
    assert graph.nodes[LAMBDA]["layer"] == 2  # one past the user that reads it
    assert graph.edges[USER, LAMBDA]["label"] == "access: lambda:GetFunctionConfiguration"
    assert graph.nodes[SECRET]["pivot"] == "yes"
    back = nx.read_graphml(io.StringIO(render(report, "graphml")))
    assert back.nodes[LAMBDA]["kind"] == "pivot" and (USER, LAMBDA) in back.edges
    text = render(report, "html")
    page = Page(text)
    words = " ".join(page.text)
    assert "Credential pivots (2)" in words and "DB_PASSWORD" in words
    assert (
        "─lambda:GetFunctionConfiguration (policy app-data, statement 'Fn')→ function:billing-export" in words
    )
    drawn = {g.get("data-arn"): g.get("class") for g in svg_of(text).iter(f"{SVG_NS}g") if g.get("data-arn")}
    assert "pivot" in (drawn[LAMBDA] or "")


def test_a_self_view_is_loudly_partial_and_lists_its_calls() -> None:
    page = Page(render(pivot_report(), "html"))
    (banner,) = page.all("div", id="self-view-banner")
    assert banner.get("role") == "alert"
    words = " ".join(page.text)
    assert "SELF-VIEW (PARTIAL)" in words
    assert "Self-view: the calls made as the leaked key (2)" in words
    assert "iam:ListAttachedUserPolicies" in words and "AccessDenied" in words
    assert "attached managed policies (AccessDenied)" in words
    assert not page.all("section", id="more")
