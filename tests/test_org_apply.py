"""SCPs and RCPs applied in the graph: every access, assume and key-use decision, fast paths included.

Expected answers come from the AWS documentation: "Policy evaluation logic" (every SCP level from the root
to the account must allow; an explicit deny anywhere denies), "Service control policies (SCPs)" (the
management account and service-linked roles are not subject to SCPs) and "Resource control policies
(RCPs)" (they constrain requests to resources of member accounts, for the services listed there only).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from synthetic import synth

from blastradius import graph
from blastradius.analyze import analyze_snapshot
from blastradius.graph import build_graph
from blastradius.model import (
    RCP,
    S3_BUCKET,
    SCP,
    SECRET,
    SSM_PARAMETER,
    AccessKey,
    Dataset,
    Organization,
    OrgPolicy,
    PolicyDocument,
    Role,
    Snapshot,
    User,
)
from blastradius.reach import reach
from blastradius.report import Report
from blastradius.rules import load_rules

ACCT = "111122223333"
MGMT = "999988887777"
ORG = "o-exampleorg1"
KEY = "AKIAQYLPMN5HHHFPZAM2"
USER_ARN = f"arn:aws:iam::{ACCT}:user/leaky"
NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
FULL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def scp(pid: str, document: dict[str, Any], *targets: str) -> OrgPolicy:
    return OrgPolicy(
        policy_id=pid,
        arn=f"arn:aws:organizations::{MGMT}:policy/{pid}",
        name=pid,
        type=SCP,
        document=document,
        targets=targets,
    )


def rcp(pid: str, document: dict[str, Any], *targets: str) -> OrgPolicy:
    return dataclasses.replace(scp(pid, document, *targets), type=RCP)


def org(*policies: OrgPolicy, account: str = ACCT) -> Organization:
    """Root r-root, OU ou-root-apps, the account below it; FullAWSAccess-style allows at every level."""
    defaults = (
        scp("p-full-scp", FULL, "r-root", "ou-root-apps", account),
        rcp(
            "p-full-rcp",
            doc({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}),
            "r-root",
            "ou-root-apps",
            account,
        ),
    )
    return Organization(
        org_id=ORG,
        management_account_id=MGMT,
        account_paths={account: ("r-root", "ou-root-apps", account)},
        policies=(*defaults, *policies),
        enabled_policy_types=(SCP, RCP),
    )


def user(*statements: dict[str, Any], account: str = ACCT) -> User:
    return User(
        arn=f"arn:aws:iam::{account}:user/leaky",
        name="leaky",
        user_id="AIDAEXAMPLE",
        inline_policies=(PolicyDocument(name="p", document=doc(*statements)),),
        access_keys=(AccessKey(access_key_id=KEY, user_name="leaky", status="Active"),),
    )


def bucket(name: str, account: str = ACCT, **kw: Any) -> Dataset:
    return Dataset(
        arn=f"arn:aws:s3:::{name}", type=S3_BUCKET, name=name, account_id=account, region="us-east-1", **kw
    )


def secret(name: str) -> Dataset:
    return Dataset(
        arn=f"arn:aws:secretsmanager:us-east-1:{ACCT}:secret:{name}-AbCdEf",
        type=SECRET,
        name=name,
        account_id=ACCT,
        region="us-east-1",
    )


def parameter(name: str) -> Dataset:
    return Dataset(
        arn=f"arn:aws:ssm:us-east-1:{ACCT}:parameter/{name}",
        type=SSM_PARAMETER,
        name=name,
        account_id=ACCT,
        region="us-east-1",
    )


def analyze(
    organization: Organization | None,
    users: tuple[User, ...],
    datasets: tuple[Dataset, ...],
    account: str = ACCT,
    **kw: Any,
) -> Report:
    snap = Snapshot(
        account_id=account,
        collected_at="2026-11-25T00:00:00Z",
        users=users,
        datasets=datasets,
        organization=organization,
        **kw,
    )
    return analyze_snapshot(snap, KEY, now=NOW)


def access(report: Report) -> dict[str, tuple[str, ...]]:
    return {d.name: d.access for d in report.datasets}


READER = {"Effect": "Allow", "Action": ["s3:*", "secretsmanager:*", "ssm:*", "dynamodb:*"], "Resource": "*"}


def test_scp_deny_blocks_an_identity_allow__explicit_deny_in_an_scp() -> None:
    deny = scp("p-deny", doc({"Effect": "Deny", "Action": "s3:GetObject*", "Resource": "*"}), ACCT)
    assert access(analyze(org(), (user(READER),), (bucket("exports"),)))["exports"] == (
        "list",
        "read",
        "write",
        "admin",
    )
    blocked = access(analyze(org(deny), (user(READER),), (bucket("exports"),)))["exports"]
    assert "read" not in blocked and "write" in blocked


def test_scp_allow_list_without_the_action_blocks__every_level_must_allow() -> None:
    only_ddb = scp("p-ddb", doc({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}), "ou-root-apps")
    organization = org()
    # Replace the OU's FullAWSAccess by an allow list that omits S3: the OU level no longer allows s3:*.
    levels = tuple(
        dataclasses.replace(p, targets=tuple(t for t in p.targets if t != "ou-root-apps"))
        if p.policy_id == "p-full-scp"
        else p
        for p in organization.policies
    )
    organization = dataclasses.replace(organization, policies=(*levels, only_ddb))
    table = Dataset(
        arn=f"arn:aws:dynamodb:us-east-1:{ACCT}:table/orders",
        type="dynamodb-table",
        name="orders",
        account_id=ACCT,
        region="us-east-1",
    )
    found = access(analyze(organization, (user(READER),), (bucket("exports"), table)))
    assert "exports" not in found
    assert "read" in found["orders"]


def test_management_account_is_not_subject_to_scps__scp_exemptions() -> None:
    deny = scp("p-deny", doc({"Effect": "Deny", "Action": "s3:*", "Resource": "*"}), "r-root")
    organization = dataclasses.replace(org(deny, account=MGMT), management_account_id=MGMT)
    found = access(analyze(organization, (user(READER, account=MGMT),), (bucket("exports", MGMT),), MGMT))
    assert "read" in found["exports"]
    member = access(analyze(org(deny), (user(READER),), (bucket("exports"),)))
    assert "exports" not in member


def test_service_linked_role_is_exempt_from_scps__scp_exemptions() -> None:
    deny = scp("p-deny", doc({"Effect": "Deny", "Action": "s3:*", "Resource": "*"}), "r-root")
    trust = doc(
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    )
    inline = (PolicyDocument(name="r", document=doc(READER)),)
    linked = Role(
        arn=f"arn:aws:iam::{ACCT}:role/aws-service-role/ops.amazonaws.com/AWSServiceRoleForOps",
        name="AWSServiceRoleForOps",
        path="/aws-service-role/ops.amazonaws.com/",
        trust_policy=trust,
        inline_policies=inline,
    )
    plain = Role(arn=f"arn:aws:iam::{ACCT}:role/ops", name="ops", trust_policy=trust, inline_policies=inline)
    snap = Snapshot(
        account_id=ACCT,
        collected_at="2026-11-25T00:00:00Z",
        roles=(linked, plain),
        datasets=(bucket("exports"),),
        organization=org(deny),
    )
    g = build_graph(snap, load_rules(), now=NOW)
    assert "arn:aws:s3:::exports" in reach(g, linked.arn).grants
    assert "arn:aws:s3:::exports" not in reach(g, plain.arn).grants


def test_scp_deny_on_assume_role_removes_the_assume_edge__scps_apply_to_sts() -> None:
    role = Role(
        arn=f"arn:aws:iam::{ACCT}:role/data",
        name="data",
        trust_policy=doc({"Effect": "Allow", "Principal": {"AWS": USER_ARN}, "Action": "sts:AssumeRole"}),
        inline_policies=(PolicyDocument(name="r", document=doc(READER)),),
    )
    me = user({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role.arn})
    open_ = analyze(org(), (me,), (bucket("exports"),), roles=(role,))
    assert "exports" in access(open_)
    deny = scp("p-deny", doc({"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*"}), ACCT)
    closed = analyze(org(deny), (me,), (bucket("exports"),), roles=(role,))
    assert access(closed) == {}
    assert [p.arn for p in closed.principals] == [USER_ARN]


def test_scp_deny_on_kms_decrypt_seals_encrypted_data__scps_apply_to_key_use() -> None:
    key_arn = f"arn:aws:kms:us-east-1:{ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    key = Dataset(
        arn=key_arn,
        type="kms-key",
        name="k",
        account_id=ACCT,
        region="us-east-1",
        key_manager="CUSTOMER",
        resource_policy=doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ),
    )
    me = user(READER, {"Effect": "Allow", "Action": "kms:*", "Resource": "*"})
    sealed = bucket("exports", kms_key=key_arn)
    assert "read" in access(analyze(org(), (me,), (sealed, key)))["exports"]
    deny = scp("p-deny", doc({"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}), "r-root")
    assert "read" not in access(analyze(org(deny), (me,), (sealed, key)))["exports"]


def test_rcp_deny_on_a_bucket_blocks_a_principal__rcps_constrain_resources() -> None:
    deny = rcp(
        "p-rcp",
        doc(
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::exports/*",
            }
        ),
        ACCT,
    )
    assert "read" in access(analyze(org(), (user(READER),), (bucket("exports"),)))["exports"]
    found = access(analyze(org(deny), (user(READER),), (bucket("exports"), bucket("other"))))
    assert "read" in found["other"]
    # Direct reads are gone; what remains comes only from rewriting the bucket policy (an escalation),
    # through read actions the RCP does not deny — never through s3:GetObject itself.
    report = analyze(org(deny), (user(READER),), (bucket("exports"), bucket("other")))
    exports = next(d for d in report.datasets if d.name == "exports")
    for grant in exports.grants:
        if grant.level == "read":
            assert any(step.technique for step in grant.path)
            assert all("s3:GetObject" not in step.actions for step in grant.path)


def test_rcp_does_not_apply_to_an_unsupported_service__rcp_supported_services() -> None:
    # SSM Parameter Store is not among the services RCPs support; Secrets Manager is.
    deny = rcp("p-rcp", doc({"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}), ACCT)
    found = access(analyze(org(deny), (user(READER),), (parameter("db-url"), secret("db-password"))))
    assert "read" in found["db-url"]
    assert "db-password" not in found


def test_rcps_do_not_apply_to_the_management_account__rcp_scope() -> None:
    deny = rcp(
        "p-rcp", doc({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}), "r-root"
    )
    organization = dataclasses.replace(org(deny, account=MGMT), management_account_id=MGMT)
    found = access(analyze(organization, (user(READER, account=MGMT),), (bucket("exports", MGMT),), MGMT))
    assert "read" in found["exports"]


# -- the fast paths with an organization give the engine's answers -----------------------------------------


def _with_org(snapshot: Snapshot) -> Snapshot:
    account = snapshot.account_id
    guards = (
        scp(
            "p-region",
            doc(
                {
                    "Effect": "Deny",
                    "NotAction": ["iam:*", "sts:*", "kms:*"],
                    "Resource": "*",
                    "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1"]}},
                }
            ),
            "r-root",
        ),
        scp(
            "p-no-delete",
            doc({"Effect": "Deny", "Action": ["s3:DeleteBucket", "dynamodb:DeleteTable"], "Resource": "*"}),
            "ou-root-apps",
        ),
        scp(
            "p-no-uploads",
            doc({"Effect": "Deny", "Action": "s3:GetObject*", "Resource": "arn:aws:s3:::*-uploads-*"}),
            "ou-root-apps",
        ),
        scp(
            "p-no-payments",
            doc(
                {
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "arn:aws:s3:::payments*",
                    "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/pay*"}},
                }
            ),
            account,
        ),
        # The account level allows only data services (no FullAWSAccess there): an allow list.
        scp(
            "p-data",
            doc(
                {
                    "Effect": "Allow",
                    "Action": ["s3:*", "dynamodb:*", "secretsmanager:*", "ssm:*", "kms:*", "sts:*"],
                    "Resource": "*",
                }
            ),
            account,
        ),
        rcp(
            "p-perimeter",
            doc(
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "secretsmanager:*",
                    "Resource": "*",
                    "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": ORG}},
                }
            ),
            "r-root",
        ),
    )
    organization = org(*guards, account=account)
    full = [
        dataclasses.replace(p, targets=tuple(t for t in p.targets if t != account))
        if p.policy_id == "p-full-scp"
        else p
        for p in organization.policies
    ]
    return dataclasses.replace(snapshot, organization=dataclasses.replace(organization, policies=tuple(full)))


@pytest.mark.parametrize("seed", [7])
def test_fast_paths_equal_the_full_engine_under_scps_and_rcps(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = synth().generate(principals=100, datasets=900, policies=16, seed=seed)
    snapshot = _with_org(result.snapshot)
    keys = [*result.broad_keys[:2], *result.narrow_keys[:1]]
    fast = [json.dumps(analyze_snapshot(snapshot, k, now=NOW).to_json(), sort_keys=True) for k in keys]
    monkeypatch.setattr(graph, "_USE_MASKS", False)
    monkeypatch.setattr(graph, "_fast_decide", lambda *_: False)
    monkeypatch.setattr(graph, "_settle", lambda *_: None)
    slow = [json.dumps(analyze_snapshot(snapshot, k, now=NOW).to_json(), sort_keys=True) for k in keys]
    assert any(json.loads(f)["datasets"] for f in fast)
    for a, b in zip(fast, slow, strict=True):
        assert a == b
    plain = json.loads(
        json.dumps(analyze_snapshot(result.snapshot, keys[0], now=NOW).to_json(), sort_keys=True)
    )
    guarded = {d["arn"]: d["access"] for d in json.loads(fast[0])["datasets"]}
    assert guarded != {d["arn"]: d["access"] for d in plain["datasets"]}  # the guards took something away
