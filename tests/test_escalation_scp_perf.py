"""Escalation under an AWS Organization: the SCP and RCP shortcuts change no answer and save engine calls.

``Evaluator`` leaves out of an engine call the organisation levels that surely allow the request (an
Allow that applies to the principal on every resource without an open condition, and no Deny that may
apply: "Policy evaluation logic", "Service control policies", "Resource control policies"), and then
shares decisions across datasets as it does without an organisation. Switching the shortcuts off
(``escalation._USE_GUARDRAIL_SHORTCUTS``) makes every decision weigh every level in the engine; both
must give the same edges and the same fired techniques, for every technique of the pack (its scenario
of ``escalation_fixtures``) and for synthetic organisations, under guardrails that deny a step by
condition, by resource, by NotAction, by a key only the step's request carries, that allow only some
services or resources, or only under a condition: both the allow and the deny side of each rule.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
from escalation_fixtures import ACCOUNT, scenario
from synthetic import synth

from blastradius import escalation
from blastradius.escalation import escalation_edges, evaluator, load_escalation
from blastradius.graph import Edge, Principal, build_graph
from blastradius.model import RCP, SCP, Organization, OrgPolicy, Snapshot
from blastradius.policy import Decision
from blastradius.rules import load_rules

NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
PACK = load_escalation()
ORG_ID = "o-a1b2c3d4e5"
MANAGEMENT = "333333333333"
PATH = ("r-a1b2", "ou-a1b2-wkld0001", ACCOUNT)

Doc = dict[str, Any]


def _doc(*statements: Doc) -> Doc:
    return {"Version": "2012-10-17", "Statement": list(statements)}


FULL_SCP = _doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
FULL_RCP = _doc({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"})


def _perimeter(org_id: str) -> Doc:
    """The identity perimeter RCP of AWS's data-perimeter examples."""
    return _doc(
        {
            "Sid": "EnforceOrgIdentities",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:*", "sts:AssumeRole", "kms:*", "secretsmanager:*", "dynamodb:*"],
            "Resource": "*",
            "Condition": {
                "StringNotEqualsIfExists": {"aws:PrincipalOrgID": org_id},
                "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
            },
        }
    )


# name -> (SCP levels, RCP levels), root first; each level the documents attached there.
Levels = Sequence[Sequence[Doc]]
GUARDRAILS: dict[str, tuple[Levels, Levels]] = {
    "full-access": ([[FULL_SCP]] * 3, [[FULL_RCP]] * 3),
    "perimeter": ([[FULL_SCP]] * 3, [[FULL_RCP, _perimeter(ORG_ID)], [FULL_RCP], [FULL_RCP]]),
    "perimeter-of-another-org": ([[FULL_SCP]] * 3, [[FULL_RCP, _perimeter("o-zzzzzzzzzz")], [FULL_RCP]]),
    "rcp-deny-by-resource-tag": (
        [[FULL_SCP]] * 3,
        [
            [FULL_RCP],
            [
                FULL_RCP,
                _doc(
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": ["s3:*", "dynamodb:*", "kms:*", "secretsmanager:*"],
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:ResourceTag/env": "prod"}},
                    }
                ),
            ],
        ],
    ),
    "rcp-deny-by-resource": (
        [[FULL_SCP]],
        [
            [
                FULL_RCP,
                _doc(
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "*",
                        "Resource": [
                            "arn:aws:s3:::customer-*",
                            "arn:aws:s3:::team-a*",
                            "arn:aws:dynamodb:*:*:table/customers",
                            "arn:aws:dynamodb:*:*:table/team-b*",
                            "arn:aws:kms:*:*:key/*",
                        ],
                    }
                ),
            ]
        ],
    ),
    "rcp-deny-notaction-for-users": (
        [[FULL_SCP]],
        [
            [FULL_RCP],
            [
                FULL_RCP,
                _doc(
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "NotAction": ["s3:GetObject", "s3:ListBucket", "dynamodb:GetItem", "kms:Decrypt"],
                        "Resource": "*",
                        "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"}},
                    }
                ),
            ],
        ],
    ),
    "rcp-allow-list": (
        [[FULL_SCP]],
        [
            [FULL_RCP],
            [_doc({"Effect": "Allow", "Principal": "*", "Action": ["s3:Get*", "kms:*"], "Resource": "*"})],
        ],
    ),
    "rcp-allow-under-condition": (
        [[FULL_SCP]],
        [
            [FULL_RCP],
            [
                _doc(
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
                    }
                )
            ],
        ],
    ),
    "rcp-allow-by-resource": (
        [[FULL_SCP]],
        [
            [FULL_RCP],
            [_doc({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "arn:aws:s3:::*"})],
        ],
    ),
}


def _scp(*statements: Doc) -> list[Doc]:
    """A level with FullAWSAccess and a policy of these statements."""
    return [FULL_SCP, _doc(*statements)]


ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
GUARDRAILS.update(
    {
        "scp-deny-by-principal-condition": (
            [
                [FULL_SCP],
                _scp(
                    {
                        "Effect": "Deny",
                        "Action": ["iam:PassRole", "iam:CreatePolicyVersion", "s3:PutBucketPolicy"],
                        "Resource": "*",
                        "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}},
                    }
                ),
            ],
            [],
        ),
        "scp-deny-unless-office-ip": (
            [
                _scp(
                    {
                        "Effect": "Deny",
                        "Action": ["iam:*", "dynamodb:*", "kms:CreateGrant"],
                        "Resource": "*",
                        "Condition": {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
                    }
                )
            ],
            [],
        ),
        "scp-deny-by-resource": (
            [
                _scp(
                    {
                        "Effect": "Deny",
                        "Action": "iam:*",
                        "Resource": ["arn:aws:iam::*:role/victim-*", "arn:aws:iam::*:policy/app-*"],
                    },
                    {
                        "Effect": "Deny",
                        "Action": ["s3:PutBucketPolicy", "dynamodb:PutResourcePolicy", "kms:PutKeyPolicy"],
                        "Resource": ["arn:aws:s3:::customer-*", "arn:aws:s3:::team-a*", "arn:aws:kms:*"],
                    },
                )
            ],
            [],
        ),
        "scp-deny-by-resource-tag": (
            [
                [FULL_SCP],
                _scp(
                    {
                        "Effect": "Deny",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:ResourceTag/env": "prod"}},
                    }
                ),
            ],
            [],
        ),
        "scp-deny-notaction": (
            [_scp({"Effect": "Deny", "NotAction": ["iam:*", "sts:*", "s3:*", "kms:*"], "Resource": "*"})],
            [],
        ),
        "scp-deny-what-the-request-carries": (
            [
                _scp(
                    {
                        "Effect": "Deny",
                        "Action": ["iam:Attach*Policy", "iam:Put*PermissionsBoundary"],
                        "Resource": "*",
                        "Condition": {"ArnEquals": {"iam:PolicyARN": ADMIN}},
                    },
                    {
                        "Effect": "Deny",
                        "Action": "iam:Put*PermissionsBoundary",
                        "Resource": "*",
                        "Condition": {"ArnEquals": {"iam:PermissionsBoundary": ADMIN}},
                    },
                    {
                        "Effect": "Deny",
                        "Action": "iam:PassRole",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
                    },
                )
            ],
            [],
        ),
        "scp-allow-list": (
            [
                [FULL_SCP],
                [
                    _doc(
                        {
                            "Effect": "Allow",
                            "Action": ["iam:*", "sts:*", "s3:*", "dynamodb:*"],
                            "Resource": "*",
                        }
                    )
                ],
            ],
            [],
        ),
        "scp-allow-by-resource": (
            [[_doc({"Effect": "Allow", "Action": "*", "Resource": ["arn:aws:iam::*:*", "arn:aws:s3:::*"]})]],
            [],
        ),
        "scp-allow-settled-by-the-attacker": (
            [
                [
                    _doc(
                        {
                            "Effect": "Allow",
                            "Action": "*",
                            "Resource": "*",
                            "Condition": {
                                "StringEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}
                            },
                        }
                    )
                ]
            ],
            [],
        ),
        "scp-allow-under-condition": (
            [
                [FULL_SCP],
                [
                    _doc(
                        {
                            "Effect": "Allow",
                            "Action": "*",
                            "Resource": "*",
                            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
                        }
                    )
                ],
            ],
            [],
        ),
    }
)


def _organization(scps: Levels, rcps: Levels) -> Organization:
    """The account under root -> OU -> itself; levels not given (below those given) allow everything."""
    policies: list[OrgPolicy] = []
    for kind, levels, full in ((SCP, scps, FULL_SCP), (RCP, rcps, FULL_RCP)):
        for depth, level in enumerate([*levels, *[[full]] * (len(PATH) - len(levels))]):
            for i, document in enumerate(level):
                pid = f"p-{kind[0].lower()}{depth}{i}"
                policies.append(
                    OrgPolicy(
                        policy_id=pid,
                        arn=f"arn:aws:organizations::{MANAGEMENT}:policy/{ORG_ID}/{kind.lower()}/{pid}",
                        name=pid,
                        type=kind,
                        document=document,
                        targets=(PATH[depth],),
                    )
                )
    return Organization(
        org_id=ORG_ID,
        management_account_id=MANAGEMENT,
        arn=f"arn:aws:organizations::{MANAGEMENT}:organization/{ORG_ID}",
        account_paths={ACCOUNT: PATH},
        policies=tuple(policies),
        enabled_policy_types=(SCP, RCP),
    )


def _with_org(snapshot: Snapshot, guardrails: str) -> Snapshot:
    """The snapshot with its account in an organisation (``bench``: the benchmark's, ``synth.py --org``)."""
    bench = guardrails == "bench"
    return dataclasses.replace(
        snapshot,
        organization=synth().organization() if bench else _organization(*GUARDRAILS[guardrails]),
        services={**snapshot.services, "organizations": "ok"},
    )


def _principals(snapshot: Snapshot) -> list[str]:
    return sorted([u.arn for u in snapshot.users] + [r.arn for r in snapshot.roles])


def _outcome(snapshot: Snapshot, arns: Sequence[str] | None = None) -> tuple[list[Edge], list[object]]:
    """Every escalation edge and fired technique of the snapshot's principals, in a fixed order."""
    graph = build_graph(snapshot, load_rules(), now=NOW)
    edges: list[Edge] = []
    for arn in arns if arns is not None else _principals(snapshot):
        principal = graph.model.principal(arn)
        assert principal is not None
        edges.extend(escalation_edges(graph, principal))
    ev = evaluator(graph)
    assert ev is not None
    fired = [item for arn in sorted(ev.fired) for item in ev.fired[arn]]
    return edges, fired


def _both_ways(snapshot: Snapshot, arns: Sequence[str] | None = None) -> tuple[list[Edge], list[object]]:
    """The outcome with the shortcuts, asserted equal to the outcome without them."""
    fast = _outcome(snapshot, arns)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(escalation, "_USE_GUARDRAIL_SHORTCUTS", False)
        slow = _outcome(snapshot, arns)
    assert fast[0] == slow[0]
    assert fast[1] == slow[1]
    return fast


@pytest.mark.parametrize("guardrails", ["bench", *sorted(GUARDRAILS)])
def test_every_technique_same_with_and_without_shortcuts(guardrails: str) -> None:
    """Each technique's scenario under the guardrails: the same edges and fired techniques both ways."""
    fired_somewhere = 0
    for technique in PACK.techniques:
        snapshot = _with_org(scenario(technique), guardrails)
        _, fired = _both_ways(snapshot)
        fired_somewhere += any(getattr(f, "technique", None) == technique for f in fired)
    # Not vacuous: under the plain full-access organisation every technique of the pack fires.
    if guardrails == "full-access":
        assert fired_somewhere == len([t for t in PACK.techniques if t.emitted_by is None])
    else:
        assert fired_somewhere > 0


def _synthetic(seed: int) -> Snapshot:
    snapshot: Snapshot = synth().generate(principals=150, datasets=1500, policies=15, seed=seed).snapshot
    return snapshot


def _some(snapshot: Snapshot, every: int = 3) -> list[str]:
    """Every ``every``-th principal: enough for the shared memos to be exercised across principals."""
    return _principals(snapshot)[::every]


# Guardrails tried on a synthetic account, and whether escalation edges remain under them (the others
# deny every data-side step, and the synthetic principals have no principal-side technique).
SYNTHETIC_GUARDRAILS = {
    "bench": True,
    "perimeter": True,
    "perimeter-of-another-org": False,
    "rcp-deny-by-resource-tag": True,
    "rcp-deny-by-resource": True,
    "rcp-deny-notaction-for-users": True,
    "scp-deny-by-resource": True,
    "scp-deny-by-resource-tag": True,
    "scp-allow-list": True,
}


@pytest.mark.parametrize("guardrails", sorted(SYNTHETIC_GUARDRAILS))
def test_synthetic_organisation_same_with_and_without_shortcuts(guardrails: str) -> None:
    """A synthetic account (shared managed policies, wildcards, NotAction, denies, boundaries, ABAC,
    resource and key policies) under the guardrails: the same edges and fired techniques both ways."""
    snapshot = _synthetic(3)
    edges, _ = _both_ways(_with_org(snapshot, guardrails), _some(snapshot))
    assert (len(edges) > 500) is SYNTHETIC_GUARDRAILS[guardrails]


def _count_decisions(snapshot: Snapshot, arns: Sequence[str]) -> tuple[int, int]:
    """Engine calls of the evaluator for these principals, and how many of them weigh an SCP or RCP level."""
    calls = weighing = 0
    decide = escalation._decide_any

    def counting(principal: Principal, *args: Any) -> Decision:
        nonlocal calls, weighing
        calls += 1
        weighing += bool(principal.scps or args[-1])  # (..., account, required, rcps)
        return decide(principal, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(escalation, "_decide_any", counting)
        _outcome(snapshot, arns)
    return calls, weighing


def test_guardrails_that_surely_allow_cost_no_engine_call() -> None:
    """The benchmark's organisation (SCP guardrails its principals pass, and an RCP data perimeter they
    are inside) costs the escalation evaluator no engine call more than no organisation at all, and
    none of its calls weighs a level: decisions stay shared between datasets as without one. Weighing
    every level took ~40 times as many calls (one per dataset for each endgame step)."""
    snapshot = _synthetic(4)
    arns = _some(snapshot)
    plain, _ = _count_decisions(snapshot, arns)
    with_org, weighing = _count_decisions(_with_org(snapshot, "bench"), arns)
    assert plain > 50
    assert with_org <= plain
    assert weighing == 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(escalation, "_USE_GUARDRAIL_SHORTCUTS", False)
        slow, weighing = _count_decisions(_with_org(snapshot, "bench"), arns)
    assert slow > 10 * plain
    assert weighing == slow


def test_guardrails_that_may_deny_are_weighed() -> None:
    """A guardrail that may deny the step (the OU's IAM guardrail denies iam:CreateAccessKey to all but
    the identity admins) is weighed by the engine: the key-creation technique does not fire for the
    attacker, as with the shortcuts off."""
    technique = PACK.get("iam-002")
    assert technique is not None
    snapshot = _with_org(scenario(technique), "bench")
    _, weighing = _count_decisions(snapshot, _principals(snapshot))
    _, fired = _both_ways(snapshot)
    assert weighing > 0
    assert not any(getattr(f, "technique", None) == technique for f in fired)
