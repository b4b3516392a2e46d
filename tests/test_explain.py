"""``blastradius explain``: the path with every statement and condition, or the guard that stopped it.

Hand-built snapshots, as in test_graph; expected answers follow "Policy evaluation logic", "Permissions
boundaries for IAM entities" and "Key policies in AWS KMS".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from blastradius import api
from blastradius.cli import app
from blastradius.errors import UsageError
from blastradius.explain import Explanation, explain_dataset, guard_of, render_tree
from blastradius.model import (
    DYNAMODB_TABLE,
    KMS_KEY,
    RCP,
    S3_BUCKET,
    SCP,
    SECRET,
    AccessKey,
    Dataset,
    KmsGrant,
    ManagedPolicy,
    Organization,
    OrgPolicy,
    PolicyDocument,
    Role,
    Snapshot,
    User,
    dump_snapshot,
)

ACCT = "111122223333"
KEY = "AKIAQYLPMN5HHHFPZAM2"
USER_ARN = f"arn:aws:iam::{ACCT}:user/leaky"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCT}:table/customers"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def user(*statements: dict[str, Any], boundary: str | None = None) -> User:
    return User(
        arn=USER_ARN,
        name="leaky",
        user_id="AIDAEXAMPLE",
        inline_policies=(PolicyDocument(name="p", document=policy(*statements)),) if statements else (),
        permissions_boundary_arn=boundary,
        access_keys=(AccessKey(access_key_id=KEY, user_name="leaky", status="Active"),),
    )


def table(**kw: Any) -> Dataset:
    return Dataset(
        arn=TABLE, type=DYNAMODB_TABLE, name="customers", account_id=ACCT, region="us-east-1", **kw
    )


def explain(snap: Snapshot, dataset: str, **kw: Any) -> Explanation:
    return explain_dataset(snap, KEY, dataset, origin=USER_ARN, **kw)


def snapshot(*, users: tuple[User, ...], datasets: tuple[Dataset, ...], **kw: Any) -> Snapshot:
    return Snapshot(
        account_id=ACCT, collected_at="2026-11-25T00:00:00Z", users=users, datasets=datasets, **kw
    )


def role_chain() -> Snapshot:
    """user → role/data (trust names the user) → exports bucket, read only from the office network."""
    bucket = Dataset(
        arn="arn:aws:s3:::exports", type=S3_BUCKET, name="exports", account_id=ACCT, region="us-east-1"
    )
    role = Role(
        arn=f"arn:aws:iam::{ACCT}:role/data",
        name="data",
        role_id="AROAEXAMPLE",
        trust_policy=policy(
            {"Effect": "Allow", "Principal": {"AWS": USER_ARN}, "Action": "sts:AssumeRole"},
        ),
        inline_policies=(
            PolicyDocument(
                name="read-exports",
                document=policy(
                    {
                        "Sid": "OfficeOnly",
                        "Effect": "Allow",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::exports/*",
                        "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
                    }
                ),
            ),
        ),
    )
    leaky = user({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role.arn})
    return snapshot(users=(leaky,), datasets=(bucket,), roles=(role,))


def test_reachable_path_lists_statements_and_conditions_with_context_values() -> None:
    result = explain(role_chain(), "exports")
    assert result.reachable and result.level == "read" and result.certainty == "conditional"
    assume, access = result.steps
    assert (assume.kind, assume.action, assume.verdict) == ("assume", "sts:AssumeRole", "allow")
    layers = {(s.layer, s.effect, s.applies) for s in assume.statements}
    assert ("identity", "Allow", "true") in layers and ("trust policy", "Allow", "true") in layers
    assert access.kind == "access" and access.verdict == "conditional"
    (statement,) = access.statements
    assert (statement.policy, statement.statement, statement.applies) == (
        "read-exports (inline, role/data)",
        "OfficeOnly",
        "unknown",
    )
    (clause,) = statement.conditions
    # aws:SourceIp is unknown in the attacker model (DESIGN.md §4), so the grant stays conditional.
    assert (clause.operator, clause.key, clause.context_value, clause.result) == (
        "IpAddress",
        "aws:SourceIp",
        "(unknown)",
        "unknown",
    )
    assert access.conditions


def test_assume_context_settles_the_condition() -> None:
    result = explain(role_chain(), "arn:aws:s3:::exports", context_overrides={"aws:SourceIp": "203.0.113.9"})
    access = result.steps[-1]
    assert result.certainty == "definite" and access.verdict == "allow"
    assert access.statements[0].conditions[0].context_value == "203.0.113.9"
    assert access.statements[0].conditions[0].result == "true"


def test_explicit_deny_is_named_as_the_guard() -> None:
    snap = snapshot(
        users=(
            user(
                {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
                {"Sid": "NoCustomers", "Effect": "Deny", "Action": "dynamodb:*", "Resource": TABLE},
            ),
        ),
        datasets=(table(),),
    )
    result = explain(snap, "customers", level="read")
    assert not result.reachable and result.principals == (USER_ARN,)
    guards = {g.guard for g in result.guards}
    assert guards == {"explicit deny in the identity-based policy"}
    denying = [s for g in result.guards for s in g.statements if s.effect == "Deny"]
    assert denying and all(s.statement == "NoCustomers" and s.applies == "true" for s in denying)


def test_no_allow_is_the_guard_without_any_policy() -> None:
    snap = snapshot(users=(user(),), datasets=(table(),))
    result = explain(snap, TABLE)
    assert not result.reachable and result.level == "read"
    assert {g.guard for g in result.guards} == {"no allow"}


def test_permissions_boundary_is_the_guard() -> None:
    boundary = ManagedPolicy(
        arn=f"arn:aws:iam::{ACCT}:policy/only-s3",
        name="only-s3",
        document=policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
    )
    snap = snapshot(
        users=(user({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}, boundary=boundary.arn),),
        datasets=(table(),),
        managed_policies=(boundary,),
    )
    result = explain(snap, "customers", level="write")
    assert not result.reachable
    assert {g.guard for g in result.guards} == {"permissions boundary"}


def test_resource_policy_deny_is_the_guard() -> None:
    snap = snapshot(
        users=(user({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}),),
        datasets=(
            table(
                resource_policy=policy(
                    {"Effect": "Deny", "Principal": "*", "Action": "dynamodb:*", "Resource": "*"}
                )
            ),
        ),
    )
    result = explain(snap, "customers")
    assert {g.guard for g in result.guards} == {"explicit deny in the resource-based policy"}
    assert any(
        s.layer == "resource policy" and s.effect == "Deny" for g in result.guards for s in g.statements
    )


def test_guard_of_names_every_layer() -> None:
    from blastradius.policy import Decision, Verdict

    def implicit(text: str) -> Decision:
        return Decision(verdict=Verdict.IMPLICIT_DENY, matched=(), conditions=(), explain=text)

    assert guard_of(implicit("Implicit deny: no SCP at organisation level 1 ...")) == "SCP"
    assert guard_of(implicit("... role trust policies and KMS key policies must allow explicitly")) == (
        "key or trust policy"
    )
    assert guard_of(
        implicit("Implicit deny: cross-account request ... (Cross-account policy evaluation logic).")
    )
    assert guard_of(Decision(verdict=Verdict.CONDITIONAL, matched=(), conditions=("x",))) == "condition"


def test_bad_dataset_and_level() -> None:
    snap = snapshot(users=(user(),), datasets=(table(),))
    with pytest.raises(UsageError, match="neither the ARN nor the name"):
        explain(snap, "nope")
    with pytest.raises(UsageError, match="--level 'root'"):
        explain(snap, "customers", level="root")


def test_render_tree_and_cli(tmp_path: Path) -> None:
    text = str(render_tree(explain(role_chain(), "exports")).label)
    assert "exports" in text
    path = tmp_path / "snap.json"
    dump_snapshot(role_chain(), path)
    runner = CliRunner()
    result = runner.invoke(app, ["explain", "--snapshot", str(path), "--key", KEY, "--dataset", "exports"])
    assert result.exit_code == 0, result.stderr
    for expected in ("sts:AssumeRole", "OfficeOnly", "IpAddress aws:SourceIp", "(unknown)", "conditional"):
        assert expected in result.stdout, expected
    result = runner.invoke(
        app,
        [
            "explain",
            "--snapshot",
            str(path),
            "--key",
            KEY,
            "--dataset",
            "exports",
            "--format",
            "json",
            "--assume-context",
            "aws:SourceIp=203.0.113.5",
        ],
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["reachable"] is True and out["certainty"] == "definite"
    assert [s["kind"] for s in out["path"]] == ["assume", "access"]
    assert out["path"][1]["statements"][0]["conditions"][0]["context_value"] == "203.0.113.5"
    assert KEY not in result.stdout  # the key id is shown masked
    result = runner.invoke(app, ["explain", "--snapshot", str(path), "--key", KEY, "--dataset", "nope"])
    assert result.exit_code == 2 and "neither the ARN nor the name" in result.stderr


def test_api_explain_finds_the_owner_or_takes_principal() -> None:
    snap = role_chain()
    assert api.explain(KEY, "exports", snapshot=snap).origin == USER_ARN
    assert api.explain(KEY, "exports", snapshot=snap, principal="leaky").reachable
    with pytest.raises(UsageError, match="--principal 'nobody'"):
        api.explain(KEY, "exports", snapshot=snap, principal="nobody")


KEY_ARN = f"arn:aws:kms:us-east-1:{ACCT}:key/1234"


def cmk(key_principal: str, *grants: KmsGrant) -> Dataset:
    """A customer managed key whose key policy allows kms:* to ``key_principal`` only."""
    return Dataset(
        arn=KEY_ARN,
        type=KMS_KEY,
        name="k",
        account_id=ACCT,
        region="us-east-1",
        key_manager="CUSTOMER",
        resource_policy=policy(
            {"Effect": "Allow", "Principal": {"AWS": key_principal}, "Action": "kms:*", "Resource": "*"}
        ),
        grants=grants,
    )


def test_kms_key_policy_is_the_guard_of_an_encrypted_secret() -> None:
    """Key policies in AWS KMS: reading a secret encrypted with a customer managed key needs kms:Decrypt,
    which the key policy must allow; here it names only another role."""
    secret = Dataset(
        arn=f"arn:aws:secretsmanager:us-east-1:{ACCT}:secret:db-AbCdEf",
        type=SECRET,
        name="db",
        account_id=ACCT,
        region="us-east-1",
        kms_key=KEY_ARN,
    )
    reader = user({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
    key = cmk(f"arn:aws:iam::{ACCT}:role/admin")
    result = explain(snapshot(users=(reader,), datasets=(secret, key)), "db", level="read")
    assert not result.reachable
    assert {g.guard for g in result.guards} == {f"key policy of {KEY_ARN} (kms:Decrypt)"}
    (guard,) = result.guards
    assert "role trust policies and KMS key policies must allow" in guard.explain


def test_kms_grant_is_the_evidence_for_a_key_reached_by_grant() -> None:
    """Grants and authorization in AWS KMS: a grant gives its operations without any policy allowing."""
    grant = KmsGrant(grant_id="g-7", grantee_principal=USER_ARN, operations=("Decrypt",))
    key = cmk(f"arn:aws:iam::{ACCT}:root", grant)
    result = explain(snapshot(users=(user(),), datasets=(key,)), KEY_ARN)
    assert result.reachable
    (step,) = result.steps
    assert step.verdict == "allow" and "KMS grant g-7" in step.explain


def test_scp_statements_are_part_of_the_evidence() -> None:
    """Service control policies: a Deny at any level of the organisation applies to member accounts.

    Whether the graph already applies SCPs or not, the explanation shows the SCP's Deny as evidence,
    applying, so the reader sees what AWS would decide."""
    deny_dynamo = OrgPolicy(
        policy_id="p-1",
        arn="arn:aws:organizations::999999999999:policy/o-1/service_control_policy/p-1",
        name="no-dynamodb",
        type=SCP,
        document=policy({"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}),
        targets=("ou-1",),
    )
    full = OrgPolicy(
        policy_id="p-full",
        arn="arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess",
        name="FullAWSAccess",
        type=SCP,
        document=policy({"Effect": "Allow", "Action": "*", "Resource": "*"}),
        targets=("r-1", "ou-1", ACCT),
        aws_managed=True,
    )
    org = Organization(
        org_id="o-1",
        management_account_id="999999999999",
        account_paths={ACCT: ("r-1", "ou-1", ACCT)},
        policies=(full, deny_dynamo),
        enabled_policy_types=(SCP,),
    )
    snap = snapshot(
        users=(user({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}),),
        datasets=(table(),),
        organization=org,
    )
    result = explain(snap, "customers", level="read")
    evidence = [s for step in result.steps for s in step.statements]
    evidence += [s for g in result.guards for s in g.statements]
    scp = [s for s in evidence if s.layer.startswith("SCP") and s.effect == "Deny"]
    assert scp and all(s.policy == "SCP no-dynamodb" and s.applies == "true" for s in scp)
    verdicts = {step.verdict for step in result.steps} | {g.verdict for g in result.guards}
    assert verdicts == {"explicit-deny"}
    if result.reachable:  # a graph that does not apply SCPs yet: the explanation says the path fails
        assert any("does not hold" in w for w in result.warnings)


def _rcp_org(denied: str) -> Organization:
    deny = OrgPolicy(
        policy_id="p-rcp",
        arn="arn:aws:organizations::999999999999:policy/o-1/resource_control_policy/p-rcp",
        name="deny-data",
        type=RCP,
        document=policy({"Effect": "Deny", "Principal": "*", "Action": denied, "Resource": "*"}),
        targets=("r-1",),
    )
    full = OrgPolicy(
        policy_id="p-rfull",
        arn="arn:aws:organizations::aws:policy/resource_control_policy/p-RCPFullAWSAccess",
        name="RCPFullAWSAccess",
        type=RCP,
        document=policy({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}),
        targets=("r-1",),
        aws_managed=True,
    )
    return Organization(
        org_id="o-1",
        management_account_id="999999999999",
        account_paths={ACCT: ("r-1", ACCT)},
        policies=(full, deny),
        enabled_policy_types=(RCP,),
    )


def test_rcp_on_a_supported_service_is_evidence_and_denies() -> None:
    """Resource control policies apply to the services they support (DynamoDB is one): the RCP's Deny
    is listed and decides."""
    snap = snapshot(
        users=(user({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}),),
        datasets=(table(),),
        organization=_rcp_org("dynamodb:*"),
    )
    result = explain(snap, "customers", level="read")
    evidence = [s for step in result.steps for s in step.statements]
    evidence += [s for g in result.guards for s in g.statements]
    assert any(s.layer.startswith("RCP") and s.effect == "Deny" for s in evidence)
    assert not result.reachable


def test_rcp_on_an_unsupported_service_is_not_listed() -> None:
    """ "An RCP does not affect" services it does not support (SSM Parameter Store is not on the list):
    no RCP layer in the evidence, and the parameter stays reachable."""
    parameter = Dataset(
        arn=f"arn:aws:ssm:us-east-1:{ACCT}:parameter/app/db-password",
        type="ssm-parameter",
        name="/app/db-password",
        account_id=ACCT,
        region="us-east-1",
    )
    snap = snapshot(
        users=(user({"Effect": "Allow", "Action": "ssm:*", "Resource": "*"}),),
        datasets=(parameter,),
        organization=_rcp_org("ssm:*"),
    )
    result = explain(snap, "/app/db-password", level="read")
    assert result.reachable
    evidence = [s for step in result.steps for s in step.statements]
    assert not any(s.layer.startswith("RCP") for s in evidence)
