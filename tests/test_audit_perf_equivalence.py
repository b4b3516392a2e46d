"""The audit's shortcuts give exactly what the plain computation gives, principal by principal.

``audit._fold_access`` folds a principal's ``access_edges`` into bitsets without building an ``Edge`` per
dataset; it must give the same bitsets (levels, certainties) and the same number of grants as folding
the edges of ``access_edges`` one by one (``audit._fold``), with and without a cover of grants to leave
out, with and without the bitset decisions of the graph (``graph._USE_MASKS``), and whatever the order
of the audit's dataset index. Synthetic organisations (``benchmarks/synth.py``) have shared managed
policies, wildcards, NotAction, denies, boundaries, ABAC conditions, resource and KMS key policies and
grants, so both the allow and the deny side of each rule are exercised.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Any

import pytest
from synthetic import synth

from blastradius import graph as graph_module
from blastradius.audit import _fold, _fold_access, _places, build_audit_graph
from blastradius.graph import (
    AccountModel,
    GrantFloor,
    PermissionGraph,
    access_edges,
    build_graph,
    escalate_edges,
)
from blastradius.model import PolicyDocument, Snapshot, User
from blastradius.report import LEVELS
from blastradius.rules import load_rules

NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)


def _snapshot(seed: int) -> Snapshot:
    snapshot: Snapshot = synth().generate(principals=80, datasets=900, policies=14, seed=seed).snapshot
    return snapshot


def _graph(snapshot: Snapshot) -> PermissionGraph:
    return PermissionGraph(AccountModel(snapshot, load_rules(), now=NOW), edge_builders=[access_edges])


def _principals(snapshot: Snapshot) -> list[str]:
    return sorted([u.arn for u in snapshot.users] + [r.arn for r in snapshot.roles])


def _compare(snapshot: Snapshot, index: dict[str, int], covers: bool) -> int:
    """Fold every principal both ways and compare; returns the grants compared."""
    plain, fast = _graph(snapshot), _graph(snapshot)
    places = _places(fast.model, index)
    rng = random.Random(len(index))
    compared = 0
    for arn in _principals(snapshot):
        cover = None
        if covers:
            # A cover made of some of the principal's own grants: those must be left out, the rest kept.
            whole = _fold(_graph(snapshot), arn, index)
            cover = tuple(v & rng.getrandbits(len(index)) for v in whole.definite)
        expected = _fold(plain, arn, index, cover)
        got = _fold_access(fast, arn, places, cover)
        assert got.any_ == expected.any_, arn
        assert got.definite == expected.definite, arn
        assert got.access_edges == expected.access_edges, arn
        assert not got.edges and not got.escalations
        compared += expected.access_edges
    return compared


@pytest.mark.parametrize("seed", [2, 7])
def test_bitset_fold_equals_edge_fold(seed: int) -> None:
    snapshot = _snapshot(seed)
    index = {arn: i for i, arn in enumerate(sorted(d.arn for d in snapshot.datasets))}
    # Not vacuous: definite and conditional grants both occur.
    assert _compare(snapshot, index, covers=False) > 1000


def test_bitset_fold_equals_edge_fold_with_a_cover() -> None:
    snapshot = _snapshot(4)
    index = {arn: i for i, arn in enumerate(sorted(d.arn for d in snapshot.datasets))}
    assert _compare(snapshot, index, covers=True) > 500


def test_bitset_fold_equals_edge_fold_with_any_index_order() -> None:
    # A dataset index in which the types' datasets are not consecutive: masks are mapped bit by bit.
    snapshot = _snapshot(5)
    arns = sorted(d.arn for d in snapshot.datasets)
    random.Random(5).shuffle(arns)
    index = {arn: i for i, arn in enumerate(arns)}
    places = _places(_graph(snapshot).model, index)
    assert any(p.offset is None for p in places.values())
    assert _compare(snapshot, index, covers=True) > 500


def test_bitset_fold_equals_edge_fold_with_the_engine_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_module, "_USE_MASKS", False)  # every dataset decided by the engine
    snapshot = _snapshot(9)
    index = {arn: i for i, arn in enumerate(sorted(d.arn for d in snapshot.datasets))}
    assert _compare(snapshot, index, covers=False) > 500


def test_bitset_fold_certainties_are_not_all_definite() -> None:
    """The comparison sees conditional grants too (ABAC conditions, KMS keys not collected...)."""
    snapshot = _snapshot(2)
    index = {arn: i for i, arn in enumerate(sorted(d.arn for d in snapshot.datasets))}
    graph = _graph(snapshot)
    places = _places(graph.model, index)
    conditional = 0
    for arn in _principals(snapshot):
        got = _fold_access(graph, arn, places)
        conditional += sum((a & ~d).bit_count() for a, d in zip(got.any_, got.definite, strict=True))
    assert conditional > 0
    assert len(LEVELS) == 4


# -- the escalation evaluator in an audit ----------------------------------------------------------------


def _escalation_edges(
    snapshot: Snapshot, *, audit: bool, memo: bool, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Every principal's escalation edges (as comparable tuples), with the audit mode and the decisions
    shared across resources (``_applying``) on or off."""
    from blastradius import escalation

    graph = build_graph(snapshot, load_rules(), now=NOW)
    links = PermissionGraph(graph.model, edge_builders=[escalate_edges])
    if audit:
        escalation.for_audit(links)
    with monkeypatch.context() as patch:
        if not memo:
            patch.setattr(escalation.Evaluator, "_applying", lambda self, principal, action, resources: None)
        out = {}
        ev = escalation.evaluator(links)
        assert ev is not None
        for arn in _principals(snapshot):
            edges = links.expand(arn)
            if audit:
                # An audit runs the data-side techniques apart, with a floor of grants held anyway.
                assert not any(e.kind == "access" for e in edges)
                principal = links.model.principal(arn)
                assert principal is not None
                edges = [*edges, *ev.data_edges(principal, GrantFloor(links.model))]
            out[arn] = sorted(
                (e.target, e.kind, e.level or "", e.technique or "", e.certainty, e.conditions) for e in edges
            )
    return {
        "edges": out,
        "fired": sum(len(v) for v in ev.fired.values()),
        "shared": len(ev._uniform_decisions),
    }


def _with_broad_users(snapshot: Snapshot) -> Snapshot:
    """Two users allowed every action on every resource ("Resource": "*": decisions the same on every
    dataset), one of them with an explicit Deny on one bucket (Policy evaluation logic: an explicit deny
    in an identity policy overrides any Allow, including a resource policy's)."""
    bucket = next(d for d in sorted(snapshot.datasets, key=lambda d: d.arn) if d.type == "s3-bucket")
    everything = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "s3:*", "Resource": [bucket.arn, f"{bucket.arn}/*"]}
    users = []
    for name, statements in (("broad", [everything]), ("broad-but-one", [everything, deny])):
        doc = PolicyDocument(
            name=f"{name}-policy", document={"Version": "2012-10-17", "Statement": statements}
        )
        users.append(
            User(arn=f"arn:aws:iam::{snapshot.account_id}:user/{name}", name=name, inline_policies=(doc,))
        )
    return dataclasses.replace(snapshot, users=(*snapshot.users, *users))


def test_audit_evaluator_gives_the_same_edges_and_records_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = _with_broad_users(_snapshot(3))
    plain = _escalation_edges(snapshot, audit=False, memo=False, monkeypatch=monkeypatch)
    audit = _escalation_edges(snapshot, audit=True, memo=True, monkeypatch=monkeypatch)
    assert audit["edges"] == plain["edges"]
    assert plain["fired"] > 0 and audit["fired"] == 0
    assert sum(len(v) for v in plain["edges"].values()) > 100


@pytest.mark.parametrize("seed", [6, 8, 12])
def test_decisions_shared_across_resources_equal_the_engine(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = _with_broad_users(_snapshot(seed))
    shared = _escalation_edges(snapshot, audit=False, memo=True, monkeypatch=monkeypatch)
    engine = _escalation_edges(snapshot, audit=False, memo=False, monkeypatch=monkeypatch)
    assert shared["edges"] == engine["edges"] and shared["fired"] == engine["fired"]
    assert shared["shared"] > 0 and engine["shared"] == 0  # the shared decisions were used
    account = snapshot.account_id
    broad = shared["edges"][f"arn:aws:iam::{account}:user/broad"]
    one_less = shared["edges"][f"arn:aws:iam::{account}:user/broad-but-one"]
    bucket = next(d for d in sorted(snapshot.datasets, key=lambda d: d.arn) if d.type == "s3-bucket").arn
    # Allow side: the bucket's policy can be rewritten; deny side: not by the user denied on it.
    assert any(t == bucket and tech == "endgame-s3-bucket-policy" for t, _, _, tech, _, _ in broad)
    assert not any(t == bucket for t, *_ in one_less)
    assert len(one_less) > 10


def _closures_of_full_graph(
    snapshot: Snapshot, origins: list[str]
) -> tuple[dict[str, tuple[list[int], list[int]]], int]:
    """Per origin, (any, definite) dataset bitsets per level, from the whole networkx graph built the
    plain way (every builder, escalation included, nothing pruned): what a node reaches through principal
    edges, and what those definitely reach through definite ones. Also: the escalation edges built."""
    graph = build_graph(snapshot, load_rules(), now=NOW)
    index = {arn: i for i, arn in enumerate(sorted(graph.model.datasets))}
    g = graph.graph
    todo = list(origins)
    seen: set[str] = set()
    while todo:  # expand every principal reachable from the origins (added ones included)
        arn = todo.pop()
        if arn in seen or graph.model.principal(arn) is None:
            continue
        seen.add(arn)
        todo.extend(e.target for e in graph.expand(arn) if e.kind != "access")
    level_at = {level: i for i, level in enumerate(LEVELS)}
    out: dict[str, tuple[list[int], list[int]]] = {}
    for origin in origins:
        found = ([0] * len(LEVELS), [0] * len(LEVELS))
        for definite_only, levels in ((False, found[0]), (True, found[1])):
            stack, reached = [origin], {origin}
            while stack:
                node = stack.pop()
                for _, target, edge in g.out_edges(node, data="edge"):
                    if definite_only and edge.certainty != "definite":
                        continue
                    if edge.kind == "access":
                        levels[level_at[edge.level]] |= 1 << index[target]
                    elif target not in reached:
                        reached.add(target)
                        stack.append(target)
        out[origin] = found
    escalations = sum(1 for _, _, e in g.edges(data="edge") if e.technique is not None)
    return out, escalations


@pytest.mark.parametrize("seed", [2, 5, 7])
def test_audit_closures_with_escalation_equal_the_whole_graph(seed: int) -> None:
    """With escalation, the audit evaluates data-side techniques (rewriting a bucket, table, secret or
    key policy) after each principal's access, leaving out grants it or a successor surely holds: the
    closures must be exactly those of the whole graph, where every technique's edge is built."""
    snapshot = _snapshot(seed)
    origins = sorted(u.arn for u in snapshot.users)
    expected, built = _closures_of_full_graph(snapshot, origins)
    audit = build_audit_graph(build_graph(snapshot, load_rules(), now=NOW), origins)
    for arn in origins:
        closure = audit.closures[arn]
        assert list(closure.any_) == expected[arn][0], arn
        assert list(closure.definite) == expected[arn][1], arn
    # Some techniques still add something, and grants held anyway were left out.
    assert 0 < sum(audit.escalations.values()) < built
