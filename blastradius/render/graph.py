"""The attack-path graph of a report, and its exports (``--format dot`` / ``--format graphml``).

``attack_graph(report)`` turns a report into a networkx ``DiGraph``: the leaked key → the principals it
can act as → the datasets they reach, every edge labelled by how (assume; access with its level and
actions; escalate with its technique). It reads the report only — every dataset's ``path`` and
``grants``, every principal's and escalation's ``path`` — so the picture shows exactly what the report
says, and a renderer never calls AWS or the engine. The HTML report draws it as SVG; Graphviz (DOT,
through pydot) and Gephi/yEd (GraphML, networkx's own writer) get the same nodes and edges.

Node and edge attributes are strings and integers only, so that GraphML (which has no lists or nulls)
keeps every one of them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import networkx as nx

from blastradius.errors import UsageError
from blastradius.render.common import access_text, dataset_label, ranked, short_name
from blastradius.report import CONDITIONAL, DEFINITE, PathStep, Report, level_rank

if TYPE_CHECKING:
    import pydot

KEY = "key"
PRINCIPAL = "principal"
DATASET = "dataset"
PIVOT = "pivot"  # a credential pivot that is not a dataset (compute whose environment names a credential)
USES = "identity"  # the edge from the leaked key to the principal that owns it

_KIND_ORDER = {USES: 0, "assume": 1, "access": 2, "escalate": 3}


@dataclass(slots=True)
class _Edge:
    """Everything the report says about one (from, to) pair, merged over all the paths that use it."""

    kinds: set[str] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)
    levels: set[str] = field(default_factory=set)
    techniques: set[str] = field(default_factory=set)
    policies: set[str] = field(default_factory=set)
    conditions: set[str] = field(default_factory=set)
    definite: bool = False  # one definite way is enough for the edge to exist for sure

    def add(self, step: PathStep, level: str | None) -> None:
        self.kinds.add(step.kind)
        self.actions.update(step.actions)
        if level is not None and step.kind == "access":
            self.levels.add(level)
        if step.technique:
            self.techniques.add(step.technique)
        if step.policy:
            self.policies.add(step.policy + (f" [{step.statement}]" if step.statement else ""))
        self.conditions.update(step.conditions)
        self.definite = self.definite or step.certainty != CONDITIONAL

    def attributes(self) -> dict[str, str]:
        kinds = sorted(self.kinds, key=lambda k: _KIND_ORDER.get(k, 9))
        certainty = DEFINITE if self.definite else CONDITIONAL
        return {
            "kind": "+".join(kinds),
            "label": edge_label(kinds, self.levels, self.actions, self.techniques),
            "actions": ", ".join(sorted(self.actions)),
            "levels": "+".join(sorted(self.levels, key=level_rank)),
            "technique": ", ".join(sorted(self.techniques)),
            "policy": "; ".join(sorted(self.policies)),
            "certainty": certainty,
            "conditions": "; ".join(sorted(self.conditions)) if certainty == CONDITIONAL else "",
        }


def _short_actions(actions: Iterable[str], limit: int = 2) -> str:
    ordered = sorted(actions)
    if len(ordered) <= limit:
        return ", ".join(ordered)
    return ", ".join(ordered[:limit]) + f" +{len(ordered) - limit}"


def edge_label(kinds: list[str], levels: set[str], actions: set[str], techniques: set[str]) -> str:
    """How the edge is crossed, in a few words: ``assume``, ``read+write: s3:GetObject``, ``escalate X``."""
    parts: list[str] = []
    for kind in kinds:
        if kind == USES:
            parts.append("key of")
        elif kind == "access":
            level = "+".join(sorted(levels, key=level_rank)) or "access"
            parts.append(f"{level}: {_short_actions(actions)}" if actions else level)
        elif kind == "escalate":
            parts.append("escalate " + (", ".join(sorted(techniques)) or _short_actions(actions)))
        else:
            parts.append(kind)
    return "; ".join(parts)


def key_node(report: Report) -> str:
    """The id of the leaked key's node (its access key id, which no ARN can equal)."""
    return report.key.access_key_id


def attack_graph(report: Report) -> nx.DiGraph:
    """The report as a DiGraph: key → principals → datasets, every edge with ``kind`` and ``label``.

    Nodes carry ``kind`` (key/principal/dataset/pivot), ``label``, ``arn`` and ``layer`` (0 for the key,
    then the principals by hops from the key, each dataset one past the nearest principal reaching it);
    datasets also carry ``dataset_name``, ``type``, ``sensitivity``, ``access``, ``certainty`` and, when
    known, ``records``, ``touched`` (yes / not seen: whether CloudTrail shows the key using it) and
    ``pivot`` (yes: it holds a credential for something else). Credential pivots that are not datasets
    (compute whose environment names a credential) are ``pivot`` nodes. Edges carry ``kind``, ``label``,
    ``actions``, ``levels``, ``technique``, ``policy``, ``certainty`` and ``conditions``.
    """
    key = key_node(report)
    edges: dict[tuple[str, str], _Edge] = {}

    def add_path(steps: Iterable[PathStep], final_level: str | None = None) -> None:
        steps = tuple(steps)
        for i, step in enumerate(steps):
            level = final_level if i == len(steps) - 1 else None
            edges.setdefault((step.from_, step.to), _Edge()).add(step, level)

    findings = ranked(report.datasets)
    # "Did touch" (CloudTrail evidence) is read from the JSON contract, where reports that have it carry it.
    touched_of = {d["arn"]: d.get("touched") for d in report.to_json()["datasets"]}
    for pivot in report.credential_pivots:
        add_path(pivot.path)
    for finding in findings:
        # Levels come from the grants (each with its own path); the main path only when there are none.
        add_path(finding.path, finding.strongest if finding.access and not finding.grants else None)
        for grant in finding.grants:
            add_path(grant.path, grant.level)
    for principal in report.principals:
        add_path(principal.path)
    for escalation in report.escalations:
        add_path(escalation.path)

    origin = report.key.principal_arn or next((p.arn for p in report.principals if p.via == "origin"), None)
    dataset_arns = {f.arn for f in findings}
    # A pivot that is not a listed dataset (a function whose environment names a credential) is a target.
    pivot_arns = {p.arn for p in report.credential_pivots}
    pivot_only = {p.arn: p for p in report.credential_pivots if p.arn not in dataset_arns}
    principal_arns = {p.arn for p in report.principals}
    for a, b in edges:
        principal_arns.update(x for x in (a, b) if x not in dataset_arns and x not in pivot_only)
    if origin is not None:
        principal_arns.add(origin)

    graph = nx.DiGraph(name=f"blastradius attack paths of {report.key.access_key_id}")
    graph.add_node(
        key,
        kind=KEY,
        label=f"leaked key {report.key.access_key_id}",
        arn=key,
        layer=0,
        status=report.key.status or "unknown",
    )
    via = {p.arn: p for p in report.principals}
    layers = _principal_layers(key, origin, edges, principal_arns)
    # Insertion order is the order within a layer of the layout: origin first, then by hops and name.
    for arn in sorted(principal_arns, key=lambda a: (layers[a], a != origin, short_name(a), a)):
        reach = via.get(arn)
        graph.add_node(
            arn,
            kind=PRINCIPAL,
            label=short_name(arn),
            arn=arn,
            layer=layers[arn],
            via=reach.via if reach else ("origin" if arn == origin else "path"),
            certainty=reach.certainty if reach else DEFINITE,
        )
    # A dataset sits one column right of the nearest principal that reaches it, so that the shortest
    # paths read left to right without crossing other columns.
    into: dict[str, int] = {}
    for a, b in edges:
        if (b in dataset_arns or b in pivot_only) and a in layers:
            into[b] = min(into.get(b, layers[a]), layers[a])
    for finding in findings:
        attrs: dict[str, Any] = {
            "kind": DATASET,
            "label": dataset_label(finding),
            "arn": finding.arn,
            "layer": into.get(finding.arn, max(layers.values(), default=0)) + 1,
            "dataset_name": finding.name,
            "type": finding.type,
            "region": finding.region,
            "sensitivity": finding.sensitivity,
            "access": access_text(finding),
            "certainty": finding.certainty,
        }
        if finding.estimated_records is not None:
            attrs["records"] = finding.estimated_records
        touched = touched_of.get(finding.arn)
        if touched is not None:
            attrs["touched"] = "yes" if touched else "not seen"
        if finding.credential_pivot or finding.arn in pivot_arns:
            attrs["pivot"] = "yes"
        graph.add_node(finding.arn, **attrs)
    for arn, pivot in sorted(pivot_only.items()):
        graph.add_node(
            arn,
            kind=PIVOT,
            label=f"{pivot.kind} {pivot.name}",
            arn=arn,
            layer=into.get(arn, max(layers.values(), default=0)) + 1,
            certainty=pivot.certainty,
            names=", ".join(pivot.names),
            pivot="yes",
        )

    if origin is not None:
        graph.add_edge(
            key,
            origin,
            kind=USES,
            label="key of",
            actions="",
            levels="",
            technique="",
            policy="",
            certainty=DEFINITE,
            conditions="",
        )
    for (a, b), edge in sorted(edges.items()):
        graph.add_edge(a, b, **edge.attributes())
    return graph


def _principal_layers(
    key: str, origin: str | None, edges: dict[tuple[str, str], _Edge], principals: set[str]
) -> dict[str, int]:
    """Layer of each principal: 1 + hops from the origin over assume/escalate edges (1 when unreached)."""
    hops = nx.DiGraph()
    hops.add_nodes_from(principals)
    hops.add_edges_from((a, b) for a, b in edges if a in principals and b in principals)
    if origin is None:
        return dict.fromkeys(principals, 1)
    distance = nx.single_source_shortest_path_length(hops, origin)
    return {p: 1 + distance.get(p, 0) for p in principals}


def layout(graph: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Positions by layer (key, principals by hop, datasets): networkx's ``multipartite_layout``.

    Within a layer, y grows with the node's insertion order (first node lowest y).
    """
    if graph.number_of_nodes() == 0:
        return {}
    # Layers as ordered lists (not the attribute name, which networkx groups into sets whose order
    # changes from run to run): the graph's insertion order is the order within each column.
    layers: dict[int, list[str]] = {}
    for node, layer in graph.nodes(data="layer"):
        layers.setdefault(layer, []).append(node)
    pos = nx.multipartite_layout(graph, subset_key=layers, align="vertical")
    return {n: (float(x), float(y)) for n, (x, y) in pos.items()}


def _no_sections(fmt: str, only: str | None) -> None:
    if only is not None:
        raise UsageError(
            f"--format {fmt} exports the attack graph and has no {only!r} section",
            hint="Use --format table, markdown, json or html for the runbook.",
        )


def render_graphml(
    report: Report, *, color: bool = False, width: int | None = None, only: str | None = None
) -> str:
    """The attack graph as GraphML (Gephi, yEd, Cytoscape), written by ``networkx.write_graphml``."""
    del color, width
    _no_sections("graphml", only)
    buffer = io.BytesIO()
    nx.write_graphml(attack_graph(report), buffer, encoding="utf-8", prettyprint=True)
    return buffer.getvalue().decode("utf-8")


def dot_graph(report: Report) -> pydot.Dot:
    """The attack graph as a ``pydot.Dot`` (left to right, datasets coloured by sensitivity).

    Node ids are ``n0``, ``n1``, … (an ARN's colons would read as DOT port syntax); the ARN is the
    ``arn`` attribute and the readable name the ``label``.
    """
    import pydot  # imported here: only --format dot needs it, and the CLI starts faster without it

    graph = attack_graph(report)
    ids = {node: f"n{i}" for i, node in enumerate(graph.nodes)}
    dot = pydot.Dot(graph_name="blastradius", graph_type="digraph", rankdir="LR")
    dot.set_node_defaults(shape="box", style="rounded", fontname="Helvetica")
    dot.set_edge_defaults(fontname="Helvetica", fontsize="10")
    for node, data in graph.nodes(data=True):
        attrs = {k: _dot_value(v) for k, v in data.items()}
        if data["kind"] == DATASET:
            attrs["style"] = _dot_value(
                "rounded,filled" + (",dashed" if data["certainty"] == CONDITIONAL else "")
            )
            attrs["fillcolor"] = _dot_value(_SENSITIVITY_FILL.get(data["sensitivity"], "white"))
            if data.get("touched") == "yes":
                attrs["penwidth"] = "3"
        elif data["kind"] == KEY:
            attrs["shape"] = "note"
        elif data["kind"] == PIVOT:
            attrs["style"] = _dot_value("rounded,filled")
            attrs["fillcolor"] = _dot_value("#fed7aa")
        dot_node = pydot.Node(ids[node])
        for k, v in attrs.items():
            dot_node.set(k, v)
        dot.add_node(dot_node)
    for a, b, data in graph.edges(data=True):
        attrs = {k: _dot_value(v) for k, v in data.items() if v != ""}
        if data["certainty"] == CONDITIONAL:
            attrs["style"] = "dashed"
        if "escalate" in data["kind"]:
            attrs["color"] = "red"
        dot_edge = pydot.Edge(ids[a], ids[b])
        for k, v in attrs.items():
            dot_edge.set(k, v)
        dot.add_edge(dot_edge)
    return dot


_SENSITIVITY_FILL = {"high": "#f8b4b4", "medium": "#fde68a", "low": "#bfdbfe", "none": "#e5e7eb"}


def _dot_value(value: object) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, so no value is read as HTML or syntax.

    pydot would pass ``<…>`` through as an HTML-like label; a resource named ``<script>`` must stay text.
    """
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def render_dot(
    report: Report, *, color: bool = False, width: int | None = None, only: str | None = None
) -> str:
    """The attack graph in Graphviz DOT (``blastradius … --format dot | dot -Tsvg > graph.svg``)."""
    del color, width
    _no_sections("dot", only)
    text: str = dot_graph(report).to_string()
    return text
