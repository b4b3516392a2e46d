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

import datetime as dt
import random

import pytest
from synthetic import synth

from blastradius import graph as graph_module
from blastradius.audit import _fold, _fold_access, _places
from blastradius.graph import AccountModel, PermissionGraph, access_edges
from blastradius.model import Snapshot
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
