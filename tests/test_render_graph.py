"""The attack-path graph and its exports: Graphviz DOT and GraphML carry every path the report explains.

Each export is parsed back with the reader of its own format (``pydot.graph_from_dot_data``,
``networkx.read_graphml``) and checked edge by edge against the report's paths.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import networkx as nx
import pydot
import pytest
from test_cli import FIXTURE_KEY, GOOD_SNAPSHOT, assert_diagnosis, invoke
from test_render import ADMIN_ROLE, CUSTOMERS, EXPORTS, KEY_ID, ROLE, SECRET, USER, incident_report

from blastradius.errors import UsageError
from blastradius.render import GRAPH_FORMATS, render
from blastradius.render.graph import attack_graph, layout
from blastradius.report import PathStep, Report


def path_steps(report: Report) -> list[PathStep]:
    """Every step of every path in the report: datasets (main and per grant), principals, escalations."""
    steps: list[PathStep] = []
    for d in report.datasets:
        steps.extend(d.path)
        for g in d.grants:
            steps.extend(g.path)
    for p in report.principals:
        steps.extend(p.path)
    for e in report.escalations:
        steps.extend(e.path)
    return steps


def assert_edge_explains(label: str, kind: str, step: PathStep) -> None:
    """The edge's label says how the step is crossed: its kind, and its technique or actions."""
    assert step.kind in kind.split("+"), (kind, step)
    if step.kind == "escalate":
        assert step.technique is not None and step.technique in label, label
    elif step.kind == "access":
        assert step.actions[0] in label or "+" in label, label  # actions beyond two read "+N"
    else:
        assert "assume" in label


def test_graph_goes_from_the_key_through_principals_to_every_dataset() -> None:
    report = incident_report()
    graph = attack_graph(report)
    assert graph.nodes[KEY_ID]["kind"] == "key" and graph.nodes[KEY_ID]["layer"] == 0
    assert graph.edges[KEY_ID, USER]["label"] == "key of"
    assert {n for n, k in graph.nodes(data="kind") if k == "dataset"} == {d.arn for d in report.datasets}
    assert {n for n, k in graph.nodes(data="kind") if k == "principal"} == {USER, ROLE, ADMIN_ROLE}
    # Layers: key, then principals by hops from the key's owner, each dataset right of its nearest reacher.
    layers = dict(graph.nodes(data="layer"))
    assert (layers[USER], layers[ROLE], layers[ADMIN_ROLE]) == (1, 2, 2)
    assert (layers[CUSTOMERS], layers[SECRET], layers[EXPORTS]) == (2, 2, 3)
    for d in report.datasets:
        assert nx.has_path(graph, KEY_ID, d.arn), d.name


def test_every_path_step_is_an_edge_labelled_by_how() -> None:
    report = incident_report()
    graph = attack_graph(report)
    for step in path_steps(report):
        data = graph.edges[step.from_, step.to]
        assert_edge_explains(data["label"], data["kind"], step)
    assert graph.edges[USER, ROLE]["label"] == "assume"
    assert graph.edges[USER, ADMIN_ROLE]["label"] == "escalate lambda-passrole"
    # The admin grant on the customers table comes only after escalating: its edge is from the admin role.
    assert graph.edges[ADMIN_ROLE, CUSTOMERS]["label"] == "admin: dynamodb:DeleteTable"
    # read and write on the table share the user's direct edge, with both actions.
    assert graph.edges[USER, CUSTOMERS]["label"] == "read+write: dynamodb:PutItem, dynamodb:Scan"


def test_conditional_edges_keep_their_conditions() -> None:
    graph = attack_graph(incident_report())
    edge = graph.edges[USER, SECRET]
    assert edge["certainty"] == "conditional"
    assert edge["conditions"] == "aws:SourceIp 203.0.113.0/24"
    assert graph.edges[USER, CUSTOMERS]["conditions"] == ""


def test_layout_is_networkx_multipartite_one_column_per_layer() -> None:
    graph = attack_graph(incident_report())
    pos = layout(graph)
    assert set(pos) == set(graph)
    columns = [
        {round(pos[n][0], 9) for n, lay in graph.nodes(data="layer") if lay == layer} for layer in range(4)
    ]
    assert all(len(x) == 1 for x in columns)
    xs = [x for (x,) in columns]
    assert xs == sorted(xs) and len(set(xs)) == 4


def test_layout_does_not_depend_on_hash_seed() -> None:
    """networkx groups layer attributes into sets; the page must still be byte-identical run to run."""
    code = (
        "import sys; sys.path.insert(0, 'tests'); from test_render import incident_report; "
        "from blastradius.render import render; sys.stdout.write(render(incident_report(), 'html'))"
    )
    root = Path(__file__).parent.parent
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def _dot_attr(value: str | None) -> str:
    """A DOT attribute value as written: unquoted, with the escapes undone."""
    assert value is not None
    text = value[1:-1] if value.startswith('"') and value.endswith('"') else value
    return text.replace('\\"', '"').replace("\\\\", "\\")


def test_dot_export_parses_back_with_every_dataset_and_labelled_path_edge() -> None:
    report = incident_report()
    graph = attack_graph(report)
    (dot,) = pydot.graph_from_dot_data(render(report, "dot"))
    arn_of = {n.get_name(): _dot_attr(n.get("arn")) for n in dot.get_nodes() if n.get("arn") is not None}
    kinds = {_dot_attr(n.get("arn")): _dot_attr(n.get("kind")) for n in dot.get_nodes() if n.get("arn")}
    assert {a for a, k in kinds.items() if k == "dataset"} == {d.arn for d in report.datasets}
    edges = {
        (arn_of[e.get_source()], arn_of[e.get_destination()]): (
            _dot_attr(e.get("label")),
            _dot_attr(e.get("kind")),
        )
        for e in dot.get_edges()
    }
    for step in path_steps(report):
        label, kind = edges[step.from_, step.to]
        assert label == graph.edges[step.from_, step.to]["label"]
        assert_edge_explains(label, kind, step)
    assert edges[KEY_ID, USER][0] == "key of"
    assert len(edges) == graph.number_of_edges()


def test_graphml_export_parses_back_with_every_dataset_and_labelled_path_edge() -> None:
    report = incident_report()
    graph = attack_graph(report)
    back = nx.read_graphml(io.StringIO(render(report, "graphml")))
    assert {n for n, k in back.nodes(data="kind") if k == "dataset"} == {d.arn for d in report.datasets}
    assert back.nodes[CUSTOMERS]["records"] == 296019  # integers stay integers
    assert back.nodes[CUSTOMERS]["sensitivity"] == "high"
    for step in path_steps(report):
        data = back.edges[step.from_, step.to]
        assert data["label"] == graph.edges[step.from_, step.to]["label"]
        assert_edge_explains(data["label"], data["kind"], step)
    assert back.edges[USER, SECRET]["certainty"] == "conditional"
    assert set(back.edges) == set(graph.edges)


HOSTILE = '<script>alert("x")</script> \\ "quoted" {a;b} -> n1'


def hostile_report() -> Report:
    """A dataset whose name and ARN try to break out of DOT, XML and HTML."""
    report = incident_report()
    exports = next(d for d in report.datasets if d.arn == EXPORTS)
    arn = f"arn:aws:s3:::{HOSTILE}"
    steps = tuple(replace(s, to=arn) if s.to == EXPORTS else s for s in exports.path)
    hostile = replace(
        exports,
        arn=arn,
        name=HOSTILE,
        path=steps,
        grants=tuple(replace(g, path=steps) for g in exports.grants),
        sensitivity_reasons=(f"tag owner={HOSTILE}",),
    )
    return replace(report, datasets=tuple(hostile if d.arn == EXPORTS else d for d in report.datasets))


def test_dot_keeps_a_hostile_name_as_text() -> None:
    report = hostile_report()
    (dot,) = pydot.graph_from_dot_data(render(report, "dot"))
    names = {_dot_attr(n.get("dataset_name")) for n in dot.get_nodes() if n.get("kind") == '"dataset"'}
    assert HOSTILE in names
    assert len(dot.get_edges()) == attack_graph(report).number_of_edges()  # no edge injected


def test_graphml_keeps_a_hostile_name_as_text() -> None:
    back = nx.read_graphml(io.StringIO(render(hostile_report(), "graphml")))
    assert back.nodes[f"arn:aws:s3:::{HOSTILE}"]["dataset_name"] == HOSTILE


@pytest.mark.parametrize("fmt", sorted(GRAPH_FORMATS))
def test_graph_exports_have_no_sections(fmt: str) -> None:
    with pytest.raises(UsageError, match=f"--format {fmt} exports the attack graph"):
        render(incident_report(), fmt, only="rotation_plan")


def test_report_without_owner_still_draws_the_key() -> None:
    """A session key whose role is unknown: the key alone, nothing invented."""
    report = incident_report()
    key = replace(report.key, principal_arn=None, kind="session")
    empty = replace(report, key=key, principals=(), datasets=(), escalations=())
    graph = attack_graph(empty)
    assert list(graph.nodes) == [KEY_ID] and graph.number_of_edges() == 0
    assert nx.read_graphml(io.StringIO(render(empty, "graphml"))).number_of_nodes() == 1
    (dot,) = pydot.graph_from_dot_data(render(empty, "dot"))
    assert len(dot.get_nodes()) >= 1


@pytest.mark.parametrize("fmt", ["dot", "graphml", "html"])
def test_cli_writes_the_graph_formats(fmt: str, tmp_path: Path) -> None:
    out = tmp_path / f"report.{fmt}"
    result = invoke("analyze", "--snapshot", GOOD_SNAPSHOT, "--key", FIXTURE_KEY, "--format", fmt, "-o", out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert FIXTURE_KEY in text
    assert (out.stat().st_mode & 0o777) == 0o600


def test_rotate_refuses_a_graph_format() -> None:
    result = invoke("rotate", "--snapshot", GOOD_SNAPSHOT, "--key", FIXTURE_KEY, "--format", "dot")
    assert_diagnosis(result, r"--format dot exports the attack graph")


@pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz `dot` not installed (apt-get install graphviz)"
)
def test_graphviz_lays_out_the_export_hostile_names_included() -> None:
    """Graphviz itself accepts the file (pydot's parser is more lenient than dot's)."""
    report = hostile_report()
    result = subprocess.run(
        ["dot", "-Tsvg"], input=render(report, "dot"), capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.count('class="node"') == attack_graph(report).number_of_nodes()
    assert "&lt;script&gt;" in result.stdout and "<script>" not in result.stdout
