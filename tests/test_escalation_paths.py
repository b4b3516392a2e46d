"""Escalation in the graph: chains with role assumption, the account administrator, boundaries, the runbook.

Expected answers come from the AWS documentation ("Policy evaluation logic", "Permissions boundaries for
IAM entities", the STS AssumeRole API reference, "Key policies in AWS KMS"), not from what moto allows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from test_cli import invoke, report_of

from blastradius.analyze import analyze_snapshot
from blastradius.model import (
    S3_BUCKET,
    AccessKey,
    Dataset,
    ManagedPolicy,
    PolicyDocument,
    Role,
    Snapshot,
    User,
)
from blastradius.report import Report

A = "111111111111"
B = "222222222222"
KEY = "AKIAQYLPMN5HPATHSKEY"
USER = f"arn:aws:iam::{A}:user/dev"
OWN_POLICY = f"arn:aws:iam::{A}:policy/dev-policy"
BOUNDARY = f"arn:aws:iam::{A}:policy/dev-boundary"
VAULT = "arn:aws:s3:::vault"


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def trust(principal: dict[str, Any]) -> dict[str, Any]:
    return doc({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"})


def dev(*statements: dict[str, Any], boundary: str | None = None, managed: tuple[str, ...] = ()) -> User:
    return User(
        arn=USER,
        name="dev",
        user_id="AIDADEV",
        inline_policies=(PolicyDocument(name="dev", document=doc(*statements)),),
        managed_policy_arns=managed,
        permissions_boundary_arn=boundary,
        access_keys=(AccessKey(access_key_id=KEY, user_name="dev", status="Active"),),
    )


def bucket(arn: str = VAULT, account: str = A, **kw: Any) -> Dataset:
    name = arn.rsplit(":", 1)[-1]
    return Dataset(arn=arn, type=S3_BUCKET, name=name, account_id=account, region="us-east-1", **kw)


def snapshot(**kw: Any) -> Snapshot:
    return Snapshot(account_id=A, collected_at="2026-11-25T00:00:00Z", regions=("us-east-1",), **kw)


def analyze(snap: Snapshot, **kw: Any) -> Report:
    return analyze_snapshot(snap, KEY, **kw)


def grant_path(report: Report, name: str, level: str) -> list[tuple[str, str | None]]:
    finding = next(d for d in report.datasets if d.name == name)
    grant = next(g for g in finding.grants if g.level == level)
    return [(s.kind, s.technique) for s in grant.path]


def levels(report: Report, name: str) -> tuple[str, ...]:
    return next((d.access for d in report.datasets if d.name == name), ())


def chain_account(*datasets: Dataset) -> Snapshot:
    """dev passes role/builder to a new function; builder may assume role/ops (trust: the account, which
    delegates to builder's own sts:AssumeRole); ops may rewrite its own managed policy: admin."""
    builder = Role(
        arn=f"arn:aws:iam::{A}:role/builder",
        name="builder",
        trust_policy=trust({"Service": "lambda.amazonaws.com"}),
        inline_policies=(
            PolicyDocument(name="b", document=doc(allow("sts:AssumeRole", f"arn:aws:iam::{A}:role/ops"))),
        ),
    )
    ops_policy = f"arn:aws:iam::{A}:policy/ops-policy"
    ops = Role(
        arn=f"arn:aws:iam::{A}:role/ops",
        name="ops",
        trust_policy=trust({"AWS": f"arn:aws:iam::{A}:root"}),
        managed_policy_arns=(ops_policy,),
    )
    return snapshot(
        users=(
            dev(
                allow("iam:PassRole", builder.arn),
                allow(["lambda:CreateFunction", "lambda:InvokeFunction"], "*"),
            ),
        ),
        roles=(builder, ops),
        managed_policies=(
            ManagedPolicy(
                arn=ops_policy, name="ops-policy", document=doc(allow("iam:CreatePolicyVersion", ops_policy))
            ),
        ),
        datasets=datasets or (bucket(),),
    )


def test_chain_escalate_assume_escalate_reaches_the_vault() -> None:
    snap = chain_account()
    report = analyze(snap)
    assert grant_path(report, "vault", "read") == [
        ("escalate", "lambda-001"),
        ("assume", None),
        ("escalate", "iam-001"),
        ("access", None),
    ]
    assert {e.technique for e in report.escalations} >= {"lambda-001", "iam-001"}
    assert any(p.arn == f"account-admin:{A}" and p.via == "escalate" for p in report.principals)


def test_direct_read_comes_before_admin_after_escalation_in_the_table(tmp_path: Path) -> None:
    snap = snapshot(
        users=(
            dev(
                allow(["s3:GetObject", "s3:ListBucket"], [VAULT, f"{VAULT}/*"]),
                allow("iam:CreatePolicyVersion", OWN_POLICY),
                managed=(OWN_POLICY,),
            ),
        ),
        managed_policies=(
            ManagedPolicy(arn=OWN_POLICY, name="dev-policy", document=doc(allow("logs:*", "*"))),
        ),
        datasets=(bucket(),),
    )
    report = analyze(snap)
    assert grant_path(report, "vault", "read") == [("access", None)]
    assert grant_path(report, "vault", "admin") == [("escalate", "iam-001"), ("access", None)]
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(snap.to_json()), encoding="utf-8")
    table = invoke("analyze", "--snapshot", path, "--key", KEY)
    assert table.exit_code in (0, 1), table.output
    assert "list+read directly; write+admin after escalation via iam-001" in table.stdout
    markdown = invoke("analyze", "--snapshot", path, "--key", KEY, "--format", "markdown")
    assert "- Reached: list+read directly; write+admin after escalation via iam-001" in markdown.stdout
    data = report_of(invoke("analyze", "--snapshot", path, "--key", KEY, "--format", "json"))
    (escalation,) = [e for e in data["escalations"] if e["technique"] == "iam-001"]
    assert escalation["resource"] == OWN_POLICY
    assert escalation["to"] == f"account-admin:{A}"


def test_admin_is_still_bound_by_a_bucket_policy_deny() -> None:
    # Policy evaluation logic: an explicit deny in a resource policy applies to an administrator too.
    guarded = doc(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [VAULT, f"{VAULT}/*"],
            "Condition": {"StringNotEquals": {"aws:PrincipalArn": f"arn:aws:iam::{A}:role/vault-reader"}},
        }
    )
    snap = snapshot(
        users=(dev(allow("iam:PutUserPolicy", USER)),),
        datasets=(bucket(resource_policy=guarded), bucket("arn:aws:s3:::open")),
    )
    report = analyze(snap)
    assert "iam-007" in {e.technique for e in report.escalations}
    assert levels(report, "open") == ("list", "read", "write", "admin")
    assert levels(report, "vault") == ()


def test_boundary_caps_self_escalation_until_it_is_removed() -> None:
    # Permissions boundaries: a new policy version cannot give more than the boundary allows, but the
    # boundary itself can be deleted by a principal allowed iam:DeleteUserPermissionsBoundary.
    boundary = ManagedPolicy(
        arn=BOUNDARY,
        name="dev-boundary",
        document=doc(allow(["iam:CreatePolicyVersion", "s3:ListBucket"], "*")),
    )
    # With iam:* in the boundary the admin-within-boundary could delete the boundary itself.
    removable_boundary = ManagedPolicy(
        arn=BOUNDARY,
        name="dev-boundary",
        document=doc(
            allow(["iam:CreatePolicyVersion", "iam:DeleteUserPermissionsBoundary", "s3:ListBucket"], "*")
        ),
    )
    own = ManagedPolicy(arn=OWN_POLICY, name="dev-policy", document=doc(allow("logs:*", "*")))
    capped = snapshot(
        users=(dev(allow("iam:CreatePolicyVersion", OWN_POLICY), boundary=BOUNDARY, managed=(OWN_POLICY,)),),
        managed_policies=(boundary, own),
        datasets=(bucket(),),
    )
    report = analyze(capped)
    (escalation,) = [e for e in report.escalations if e.technique == "iam-001"]
    assert escalation.to == f"admin-within-boundary@{USER}"
    assert levels(report, "vault") == ("list",)

    removable = snapshot(
        users=(
            dev(
                allow("iam:CreatePolicyVersion", OWN_POLICY),
                allow("iam:DeleteUserPermissionsBoundary", USER),
                boundary=BOUNDARY,
                managed=(OWN_POLICY,),
            ),
        ),
        managed_policies=(removable_boundary, own),
        datasets=(bucket(),),
    )
    report = analyze(removable)
    assert "read" in levels(report, "vault")
    # Either order works: a new policy version, then drop the boundary, or the other way round.
    assert {t for _, t in grant_path(report, "vault", "read") if t} == {
        "endgame-delete-user-boundary",
        "iam-001",
    }


def test_trust_naming_the_user_needs_no_assume_permission() -> None:
    # STS AssumeRole API reference: a same-account trust policy naming the user lets it assume the role
    # without an identity-based sts:AssumeRole allow.
    role = Role(arn=f"arn:aws:iam::{A}:role/target", name="target", trust_policy=trust({"AWS": USER}))
    snap = snapshot(users=(dev(allow("iam:PutRolePolicy", role.arn)),), roles=(role,), datasets=(bucket(),))
    report = analyze(snap)
    assert "iam-017" in {e.technique for e in report.escalations}


def test_admin_of_one_account_assumes_a_role_in_another() -> None:
    # Cross-account: B's role trusts A's account; A's administrator may call sts:AssumeRole on it, so the
    # chain escalate (A) → assume (B) → escalate (B) reaches B's data.
    b_role = Role(
        arn=f"arn:aws:iam::{B}:role/partner",
        name="partner",
        trust_policy=trust({"AWS": f"arn:aws:iam::{A}:root"}),
        inline_policies=(
            PolicyDocument(
                name="p", document=doc(allow("iam:PutRolePolicy", f"arn:aws:iam::{B}:role/partner"))
            ),
        ),
    )
    # The bucket policy delegates to B's own IAM policies, so A's administrator cannot read it directly
    # (cross-account access needs the resource policy to allow it).
    delegates = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::partner-data", "arn:aws:s3:::partner-data/*"],
        }
    )
    snap = snapshot(
        users=(dev(allow("iam:PutUserPolicy", USER)),),
        roles=(b_role,),
        datasets=(bucket("arn:aws:s3:::partner-data", account=B, resource_policy=delegates),),
        accounts=(A, B),
    )
    report = analyze(snap)
    assert grant_path(report, "partner-data", "read") == [
        ("escalate", "iam-007"),
        ("assume", None),
        ("escalate", "iam-005"),
        ("access", None),
    ]
    partner = [e for e in report.escalations if e.technique == "iam-005"]
    assert partner and partner[0].to == f"account-admin:{B}"


def test_runbook_checks_each_fired_technique() -> None:
    snap = snapshot(
        users=(dev(allow("iam:CreatePolicyVersion", OWN_POLICY), managed=(OWN_POLICY,)),),
        managed_policies=(
            ManagedPolicy(arn=OWN_POLICY, name="dev-policy", document=doc(allow("logs:*", "*"))),
        ),
    )
    report = analyze(snap, exposed_since="2026-11-01T00:00:00Z")
    step = next(s for s in report.rotation_plan if s.id == "escalation-checks")
    assert step.phase == "investigate"
    assert (
        f"aws iam list-policy-versions --policy-arn {OWN_POLICY} "
        "--query \"Versions[?CreateDate>='2026-11-01T00:00:00Z']\""
    ) in step.commands
    used = next(s for s in report.rotation_plan if s.id == "escalation-used")
    assert any("CreatePolicyVersion" in c for c in used.commands)


def test_escalation_can_be_switched_off() -> None:
    snap = snapshot(users=(dev(allow("iam:PutUserPolicy", USER)),), datasets=(bucket(),))
    assert analyze(snap, escalation=False).escalations == ()
    assert levels(analyze(snap, escalation=False), "vault") == ()
    assert levels(analyze(snap), "vault") == ("list", "read", "write", "admin")


def test_runbook_names_the_real_role_behind_an_escalated_variant() -> None:
    # without-boundary@<role ARN> is the same role: its sessions are revoked by the role's own name.
    from escalation_fixtures import KEY as FIXTURE_KEY
    from escalation_fixtures import PIVOT, scenario

    from blastradius.escalation import load_escalation

    technique = load_escalation().get("endgame-delete-role-boundary")
    assert technique is not None
    report = analyze_snapshot(scenario(technique), FIXTURE_KEY)
    assert any(p.arn == f"without-boundary@{PIVOT}" for p in report.principals)
    revoke = next(s for s in report.rotation_plan if s.id == "revoke-sessions")
    commands = "\n".join(revoke.commands)
    assert "--role-name pivot " in commands
    assert "@" not in commands


def test_iam_techniques_stay_in_the_actors_account() -> None:
    # IAM APIs act on the caller's own account: a policy naming another account's role does not let the
    # actor rewrite that role ("IAM identifiers"; IAM has no resource-based policies for these actions).
    other = Role(
        arn=f"arn:aws:iam::{B}:role/elsewhere",
        name="elsewhere",
        trust_policy=trust({"AWS": f"arn:aws:iam::{A}:root"}),
    )
    snap = snapshot(
        users=(dev(allow(["iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy"], "*")),),
        roles=(other,),
        accounts=(A, B),
    )
    assert not [e for e in analyze(snap).escalations if e.to == other.arn]
