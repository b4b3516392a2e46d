"""IAM-only techniques in a moto account, through ``blastradius collect`` and ``analyze --snapshot``.

Each case is a user whose key fires one technique, and a twin user that differs in one way (a deny, a
resource elsewhere, a boundary, a condition, a missing permission). moto does not evaluate IAM policies:
the expected answers come from the AWS documentation of each API and of "Policy evaluation logic".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from test_cli import invoke, report_of

ACCOUNT = "123456789012"
REGION = "us-east-1"
MOTO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def arn(kind: str, name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:{kind}/{name}"


# (technique, user, statements, twin user, twin statements or None for "same + twin_extra", description)
CASES: list[tuple[str, str, list[dict[str, Any]], list[dict[str, Any]], str]] = [
    (
        "iam-002",
        "keymaker",
        [allow("iam:CreateAccessKey", arn("user", "victim"))],
        [allow("iam:CreateAccessKey", arn("user", "someone-else"))],
        "resource scoped to another user",
    ),
    (
        "iam-007",
        "selfwriter",
        [allow("iam:PutUserPolicy", arn("user", "selfwriter"))],
        [
            allow("iam:PutUserPolicy", arn("user", "selfwriter-twin")),
            {"Effect": "Deny", "Action": "iam:Put*", "Resource": "*"},
        ],
        "explicit deny",
    ),
    (
        "iam-012",
        "trustwriter",
        [allow("iam:UpdateAssumeRolePolicy", arn("role", "target"))],
        [
            allow(
                "iam:UpdateAssumeRolePolicy",
                arn("role", "target"),
                Condition={"StringEquals": {"aws:PrincipalTag/team": "platform"}},
            )
        ],
        "condition the attacker cannot meet (a tag it does not have)",
    ),
    (
        "iam-013",
        "joiner",
        [allow("iam:AddUserToGroup", arn("group", "admins"))],
        [allow("iam:AddUserToGroup", arn("group", "readers"))],
        "resource scoped to a harmless group",
    ),
    (
        "lambda-001",
        "deployer",
        [
            allow("iam:PassRole", arn("role", "fn-role")),
            allow(["lambda:CreateFunction", "lambda:InvokeFunction"], "*"),
        ],
        [allow("iam:PassRole", arn("role", "fn-role")), allow("lambda:CreateFunction", "*")],
        "missing second permission (lambda:InvokeFunction)",
    ),
]


@dataclass(frozen=True)
class Account:
    snapshot: Path
    keys: dict[str, str]


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    from moto import mock_aws

    empty = tmp_path_factory.mktemp("aws") / "empty"
    empty.write_text("")
    snapshot = tmp_path_factory.mktemp("escalation") / "snap.json"
    keys: dict[str, str] = {}
    with pytest.MonkeyPatch.context() as mp, mock_aws():
        for name, value in {**MOTO_CREDENTIALS, "AWS_CONFIG_FILE": str(empty)}.items():
            mp.setenv(name, value)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        iam = boto3.client("iam", region_name=REGION)
        admin = iam.create_policy(PolicyName="Everything", PolicyDocument=doc(allow("*", "*")))["Policy"][
            "Arn"
        ]
        iam.create_user(UserName="victim")
        iam.attach_user_policy(UserName="victim", PolicyArn=admin)
        iam.create_group(GroupName="admins")
        iam.attach_group_policy(GroupName="admins", PolicyArn=admin)
        iam.create_group(GroupName="readers")
        trust_root = doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        )
        iam.create_role(RoleName="target", AssumeRolePolicyDocument=trust_root)
        iam.attach_role_policy(RoleName="target", PolicyArn=admin)
        trust_lambda = doc(
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        )
        iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=trust_lambda)
        iam.put_role_policy(RoleName="fn-role", PolicyName="s3", PolicyDocument=doc(allow("s3:*", "*")))
        for _technique, name, statements, twin_statements, _ in CASES:
            for user, body in ((name, statements), (f"{name}-twin", twin_statements)):
                iam.create_user(UserName=user)
                iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=doc(*body))
                keys[user] = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
        # iam-001: a managed policy attached to the actor that allows rewriting itself.
        own = iam.create_policy(
            PolicyName="own", PolicyDocument=doc(allow("iam:CreatePolicyVersion", arn("policy", "own")))
        )["Policy"]["Arn"]
        # The twin may rewrite policy "own" too, but it is not attached to the twin (iam-001 needs that).
        elsewhere = iam.create_policy(
            PolicyName="own-elsewhere",
            PolicyDocument=doc(allow("iam:CreatePolicyVersion", arn("policy", "own"))),
        )["Policy"]["Arn"]
        for user, attached in (("versioner", own), ("versioner-twin", elsewhere)):
            iam.create_user(UserName=user)
            iam.attach_user_policy(UserName=user, PolicyArn=attached)
            keys[user] = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
        result = invoke("collect", "--output", snapshot, "--region", REGION)
        assert result.exit_code == 0, result.output
    yield Account(snapshot, keys)


def techniques(account: Account, user: str) -> set[str]:
    report = report_of(
        invoke("analyze", "--snapshot", account.snapshot, "--key", account.keys[user], "--format", "json")
    )
    return {e["technique"] for e in report["escalations"] if e["from"] == arn("user", user)}


@pytest.mark.parametrize(
    ("technique", "user", "twin"), [(c[0], c[1], c[4]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_collected_account_fires_and_twin_does_not(
    account: Account, technique: str, user: str, twin: str
) -> None:
    assert technique in techniques(account, user)
    assert technique not in techniques(account, f"{user}-twin"), twin


def test_own_managed_policy_version_fires_only_on_a_policy_attached_to_the_actor(account: Account) -> None:
    assert "iam-001" in techniques(account, "versioner")
    assert "iam-001" not in techniques(account, "versioner-twin")
