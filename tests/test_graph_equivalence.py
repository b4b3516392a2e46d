"""The fast paths of the graph give exactly the answers of the full policy engine.

Analysis evaluates one representative action per class, settles resource-independent conditions once
per principal, answers condition-free identity decisions by pattern matching, and prunes grants a
search already holds. Each is an optimisation only: on synthetic organisations (wildcards, NotAction,
denies, boundaries, conditions, resource and key policies, grants, role chains) the report must equal
the one computed with every decision made by ``policy.decide``.
"""

from __future__ import annotations

import json

import pytest
from synthetic import synth

from blastradius import graph
from blastradius.analyze import analyze_snapshot
from blastradius.model import Snapshot

NOW = __import__("datetime").datetime(2026, 11, 25, tzinfo=__import__("datetime").UTC)


@pytest.mark.parametrize("seed", [3, 11, 17])
def test_fast_paths_equal_the_full_engine(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    result = synth().generate(principals=120, datasets=1200, policies=20, seed=seed)
    snapshot: Snapshot = result.snapshot
    keys = [*result.broad_keys[:2], *result.narrow_keys[:1]]
    fast = [json.dumps(analyze_snapshot(snapshot, k, now=NOW).to_json(), sort_keys=True) for k in keys]

    monkeypatch.setattr(graph, "_USE_MASKS", False)  # no bitset decisions
    monkeypatch.setattr(graph, "_fast_decide", lambda *_: False)  # every decision by the engine
    monkeypatch.setattr(graph, "_settle", lambda *_: None)  # no condition pre-settling
    slow = [json.dumps(analyze_snapshot(snapshot, k, now=NOW).to_json(), sort_keys=True) for k in keys]
    assert any(json.loads(f)["datasets"] for f in fast)
    for a, b in zip(fast, slow, strict=True):
        assert a == b


@pytest.mark.parametrize("seed", [5, 9])
def test_reach_pruning_keeps_every_best_path(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Skipping grants already held at the lowest cost a principal could offer changes no answer."""
    result = synth().generate(principals=120, datasets=1200, policies=20, seed=seed)
    keys = [*result.broad_keys[:2], *result.narrow_keys[:1]]
    pruned = [
        json.dumps(analyze_snapshot(result.snapshot, k, now=NOW).to_json(), sort_keys=True) for k in keys
    ]

    original = graph.PermissionGraph.expand

    def unpruned(self: graph.PermissionGraph, arn: str, skip: object = None) -> list[graph.Edge]:
        return original(self, arn, None)

    monkeypatch.setattr(graph.PermissionGraph, "expand", unpruned)
    full = [json.dumps(analyze_snapshot(result.snapshot, k, now=NOW).to_json(), sort_keys=True) for k in keys]
    for a, b in zip(pruned, full, strict=True):
        assert a == b
