"""Techniques on existing compute that was not collected (a Lambda function, an EC2 instance...).

The technique's action is then evaluated on the ARNs such a resource could have
(``arn:aws:lambda:<region>:<account>:function:*`` and instances of the Allow patterns), never on the
role the resource would run with: an Allow of ``lambda:UpdateFunctionCode`` on ``function:*`` is what
AWS checks for UpdateFunctionCode (*Actions, resources, and condition keys for AWS Lambda*: the resource
type of UpdateFunctionCode is ``function``), and such an Allow on a role ARN lets nothing be updated.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from escalation_fixtures import ACCOUNT, SERVICE_ROLE, USER, scenario
from test_escalation import TECHNIQUES, fired, run

from blastradius.model import PolicyDocument, Snapshot

FUNCTIONS = f"arn:aws:lambda:*:{ACCOUNT}:function:*"


def _uncollected(technique_id: str, resource: str, *, collected: bool = False) -> Snapshot:
    """The fire scenario of the technique, with compute not collected and the target step's Allow on
    ``resource``."""
    technique = TECHNIQUES[technique_id]
    snap = scenario(technique)
    action = next(s.action for s in technique.steps if s.on == "target")

    def retarget(doc: PolicyDocument) -> PolicyDocument:
        document: dict[str, Any] = json.loads(json.dumps(doc.document))
        for st in document["Statement"]:
            if st.get("Action") == action:
                st["Resource"] = resource
        return dataclasses.replace(doc, document=document)

    users = tuple(
        dataclasses.replace(u, inline_policies=tuple(retarget(p) for p in u.inline_policies))
        if u.arn == USER
        else u
        for u in snap.users
    )
    services = dict(snap.services)
    if collected:
        services["lambda"] = "ok"
    return dataclasses.replace(snap, users=users, compute=(), services=services)


def test_uncollected_function_allow_on_functions_fires_conditionally(tmp_path: Path) -> None:
    found = fired(run(tmp_path, _uncollected("lambda-003", FUNCTIONS)), TECHNIQUES["lambda-003"])
    assert found, "an Allow on every function of the account must fire when functions were not collected"
    assert found[0]["certainty"] == "conditional"
    assert any("not collected" in c for c in found[0]["conditions"]), found[0]["conditions"]


def test_uncollected_function_allow_on_the_role_arn_does_not_fire(tmp_path: Path) -> None:
    # UpdateFunctionCode authorises against a function ARN: an Allow naming a role ARN matches none.
    found = fired(run(tmp_path, _uncollected("lambda-003", SERVICE_ROLE)), TECHNIQUES["lambda-003"])
    assert not found


def test_collected_and_no_function_does_not_fire(tmp_path: Path) -> None:
    # Functions were looked for and there are none: there is nothing to update.
    snap = _uncollected("lambda-003", FUNCTIONS, collected=True)
    assert not fired(run(tmp_path, snap), TECHNIQUES["lambda-003"])


def test_uncollected_instance_allow_on_instances_fires(tmp_path: Path) -> None:
    technique = next(t for t in TECHNIQUES.values() if t.id == "ssm-001")
    snap = _uncollected(technique.id, f"arn:aws:ec2:*:{ACCOUNT}:instance/*")
    found = fired(run(tmp_path, snap), technique)
    assert found and found[0]["certainty"] == "conditional"


def _without_profiles(iam: str) -> Snapshot:
    """ec2-001's fire scenario with no instance profile in the snapshot, IAM collected as ``iam``."""
    snap = scenario(TECHNIQUES["ec2-001"])
    return dataclasses.replace(snap, instance_profiles=(), services={**snap.services, "iam": iam})


def test_no_instance_profile_in_a_collected_account_does_not_fire(tmp_path: Path) -> None:
    """GetAccountAuthorizationDetails lists every role's instance profiles: with IAM collected in full,
    a role in none has none (RunInstances launches with a profile, not a role), even when the account
    has no profile at all."""
    assert not fired(run(tmp_path, _without_profiles("ok")), TECHNIQUES["ec2-001"])


def test_instance_profiles_not_collected_fires_conditionally(tmp_path: Path) -> None:
    """IAM seen only in part (a self-view): whether the role has a profile is unknown, so conditional."""
    (found, *_) = fired(run(tmp_path, _without_profiles("partial")), TECHNIQUES["ec2-001"])
    assert found["certainty"] == "conditional"
    assert any("instance profile" in c for c in found["conditions"])
