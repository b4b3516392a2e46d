"""Access decisions under an AWS Organization: leaving out the levels that surely allow changes nothing.

``AccountModel.scp_free`` gives the access paths a principal without its SCPs when every level surely
allows the actions ("Service control policies": an action must be allowed at every level, and SCPs grant
nothing), and ``AccountModel.rcps_for`` leaves out RCP levels that surely allow the principal ("Resource
control policies"): then bitsets, shared decisions and the engine see what they see outside an
organization. Switching both off (``graph._USE_SCP_SHORTCUT``) makes every decision weigh every level;
both must give the same edges for every principal of a synthetic account, under guardrails that deny by
principal, by condition, by resource, by resource tag, by NotAction, or allow only some services: the
allow side (the shortcut applies) and the deny side (it must decline) of each.
"""

from __future__ import annotations

import dataclasses

import pytest
from test_escalation_scp_perf import GUARDRAILS, NOW, _principals, _synthetic, _with_org

from blastradius import graph
from blastradius.graph import Edge, build_graph
from blastradius.model import Snapshot
from blastradius.rules import load_rules


def _edges(snapshot: Snapshot) -> tuple[list[Edge], int]:
    """Every principal's access and assume edges (escalation aside: ``test_escalation_scp_perf``), and
    how many principals saw themselves without SCPs."""
    g = build_graph(snapshot, load_rules(), now=NOW, escalation=False)
    edges: list[Edge] = []
    for arn in _principals(snapshot)[::2]:
        edges.extend(g.expand(arn))
    return edges, len(g.model._scp_free)


@pytest.mark.parametrize("guardrails", ["bench", *sorted(GUARDRAILS)])
def test_access_edges_same_with_and_without_the_guardrail_shortcut(
    guardrails: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = _with_org(_synthetic(5), guardrails)
    fast, freed = _edges(snapshot)
    with monkeypatch.context() as patch:
        patch.setattr(graph, "_USE_SCP_SHORTCUT", False)
        slow, none = _edges(snapshot)
    assert fast == slow
    assert none == 0
    if guardrails in ("bench", "full-access"):
        assert freed > 0  # not vacuous: the shortcut applied
    assert len(fast) > 100


def test_a_region_deny_is_left_out_only_where_every_region_is_allowed() -> None:
    """The benchmark's Region-deny SCP allows the Regions every dataset is in: left out. With one dataset
    in another Region, it may deny there, so the principals keep their SCPs for data actions."""
    snapshot = _with_org(_synthetic(5), "bench")
    g = build_graph(snapshot, load_rules(), now=NOW, escalation=False)
    alice = g.model.principal(_principals(snapshot)[0])
    assert alice is not None and alice.scps
    assert g.model.scp_free(alice, ("s3:GetObject",)).scps == ()
    moved = dataclasses.replace(snapshot.datasets[0], region="ap-south-1")
    elsewhere = dataclasses.replace(snapshot, datasets=(moved, *snapshot.datasets[1:]))
    g2 = build_graph(elsewhere, load_rules(), now=NOW, escalation=False)
    alice2 = g2.model.principal(alice.arn)
    assert alice2 is not None
    assert g2.model.scp_free(alice2, ("s3:GetObject",)).scps == alice2.scps
