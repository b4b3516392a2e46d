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


def _with_rcp(snapshot: Snapshot, *statements: dict[str, object]) -> Snapshot:
    """The snapshot's organisation with one more RCP at the root."""
    import dataclasses

    from blastradius.model import RCP, OrgPolicy

    org = snapshot.organization
    assert org is not None
    root = next(iter(org.account_paths.values()))[0]
    extra = OrgPolicy(
        policy_id="p-test-rcp",
        arn="arn:aws:organizations::999999999999:policy/o-test/resource_control_policy/p-test-rcp",
        name="test-rcp",
        type=RCP,
        document={"Version": "2012-10-17", "Statement": list(statements)},
        targets=(root,),
    )
    return dataclasses.replace(
        snapshot, organization=dataclasses.replace(org, policies=(*org.policies, extra))
    )


RCP_VARIANTS = {
    # the data perimeter of synth --org: transparent to the organisation's own principals
    "perimeter": (),
    # principal-dependent: applies to role sessions, not to the leaked user's own calls
    "by-principal-type": (
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:*", "dynamodb:*", "secretsmanager:*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalType": "AssumedRole"}},
        },
    ),
    # resource-dependent: by the resource's tag (decided per dataset)
    "by-resource-tag": (
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/data-classification": "pii"}},
        },
    ),
    # some resources only, no condition
    "some-resources": (
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "dynamodb:*",
            "Resource": "arn:aws:dynamodb:*:*:table/orders-*",
        },
    ),
}


@pytest.mark.parametrize("variant", sorted(RCP_VARIANTS))
def test_rcp_transparency_changes_no_answer(variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """RCPs that cannot change a principal's decisions (``_rcps_transparent``) let the fast paths
    decide RCP-governed datasets; every other RCP keeps them on the engine. Both must give the engine's
    answer ("Resource control policies": an RCP restricts, it never grants)."""
    result = synth().generate(principals=120, datasets=1200, policies=20, seed=13, org=True)
    snapshot = result.snapshot
    if RCP_VARIANTS[variant]:
        snapshot = _with_rcp(snapshot, *RCP_VARIANTS[variant])
    keys = [*result.broad_keys, *result.narrow_keys]
    fast = [json.dumps(analyze_snapshot(snapshot, k, now=NOW).to_json(), sort_keys=True) for k in keys]
    monkeypatch.setattr(graph, "_rcps_transparent", lambda *_: False)  # every RCP'd dataset by the engine
    monkeypatch.setattr(graph, "_USE_MASKS", False)
    monkeypatch.setattr(graph, "_fast_decide", lambda *_: False)
    monkeypatch.setattr(graph, "_settle", lambda *_: None)
    slow = [json.dumps(analyze_snapshot(snapshot, k, now=NOW).to_json(), sort_keys=True) for k in keys]
    assert any(json.loads(f)["datasets"] for f in fast)
    for a, b in zip(fast, slow, strict=True):
        assert a == b
