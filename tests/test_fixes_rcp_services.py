"""RCPs constrain only the services AWS lists as supporting them, in the engine, simulate and the graph.

AWS Organizations User Guide, "Resource control policies (RCPs)": "RCPs apply to actions for the following
AWS services" (the list in ``policy.evaluate.RCP_SUPPORTED_SERVICES``, which now includes e.g. DynamoDB,
CloudWatch Logs, ECR, Cognito, OpenSearch Serverless), and "RCPs do not impact the kms:RetireGrant
permission". A request to any other service (SSM, Lambda, ...) is not evaluated against RCPs at all: no
deny applies and no level needs an allow.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_org_apply import ACCT, READER, USER_ARN, access, analyze, bucket, doc, org, parameter, rcp, user
from typer.testing import CliRunner

from blastradius.cli import app
from blastradius.model import Dataset, PolicyDocument, Role
from blastradius.policy import Context, Request, Verdict, decide, parse_policy
from blastradius.policy.evaluate import RCP_SUPPORTED_SERVICES, rcps_apply
from blastradius.simulate import parse_case, principal_from_arn, simulate_case

DENY_ALL = {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def test_the_documented_list_includes_services_added_after_launch() -> None:
    assert {"s3", "sts", "kms", "sqs", "secretsmanager"} <= RCP_SUPPORTED_SERVICES  # launch, Nov 2024
    assert {"dynamodb", "logs", "ecr", "cognito-idp", "cognito-identity", "aoss"} <= RCP_SUPPORTED_SERVICES
    assert not {"ssm", "lambda", "iam", "ec2", "rds", "sns"} & RCP_SUPPORTED_SERVICES


@pytest.mark.parametrize(
    ("action", "applies"),
    [
        ("s3:GetObject", True),
        ("DynamoDB:GetItem", True),  # service prefixes are case-insensitive
        ("logs:GetLogEvents", True),
        ("ecr:BatchGetImage", True),
        ("sts:AssumeRole", True),
        ("kms:Decrypt", True),
        ("kms:RetireGrant", False),  # "RCPs do not impact the kms:RetireGrant permission"
        ("ssm:GetParameter", False),
        ("lambda:InvokeFunction", False),
        ("iam:PutRolePolicy", False),
    ],
)
def test_rcps_apply_to_listed_services_only(action: str, applies: bool) -> None:
    assert rcps_apply(action) is applies


def _decide(action: str, resource: str, rcps: list[list[dict[str, Any]]]) -> Verdict:
    principal = principal_from_arn(USER_ARN)
    request = Request(
        principal=principal,
        action=action,
        resource=resource,
        resource_account=ACCT,
        context=Context.for_principal(principal),
    )
    levels = [[parse_policy(d, name=f"rcp{i}") for i, d in enumerate(level)] for level in rcps]
    return decide(request, identity_policies=[parse_policy(ALLOW_ALL, name="identity")], rcps=levels).verdict


TABLE = f"arn:aws:dynamodb:us-east-1:{ACCT}:table/customers"
PARAM = f"arn:aws:ssm:us-east-1:{ACCT}:parameter/db-password"


@pytest.mark.parametrize(
    ("action", "resource", "expected"),
    [
        pytest.param(
            "dynamodb:GetItem", TABLE, Verdict.EXPLICIT_DENY, id="supported-dynamodb-rcp-deny-denies"
        ),
        pytest.param(
            "logs:GetLogEvents", f"arn:aws:logs:us-east-1:{ACCT}:log-group:app", Verdict.EXPLICIT_DENY,
            id="supported-logs-rcp-deny-denies",
        ),
        pytest.param("ssm:GetParameter", PARAM, Verdict.ALLOW, id="unsupported-ssm-rcp-deny-ignored"),
        pytest.param(
            "lambda:GetFunctionConfiguration", f"arn:aws:lambda:us-east-1:{ACCT}:function:f", Verdict.ALLOW,
            id="unsupported-lambda-rcp-deny-ignored",
        ),
    ],
)  # fmt: skip
def test_engine_rcp_deny_only_on_supported_services(action: str, resource: str, expected: Verdict) -> None:
    assert _decide(action, resource, [[doc(DENY_ALL)]]) is expected


def test_engine_rcp_level_without_allow_binds_supported_services_only() -> None:
    """ "Every level must allow" is RCP evaluation: it does not happen for an unsupported service."""
    only_s3 = [[doc({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"})]]
    assert _decide("dynamodb:GetItem", TABLE, only_s3) is Verdict.IMPLICIT_DENY
    assert _decide("ssm:GetParameter", PARAM, only_s3) is Verdict.ALLOW


def _simulate(action: str, resource: str) -> str | None:
    raw = {
        "request": {"principal": USER_ARN, "action": action, "resource": resource, "resource_account": ACCT},
        "identity_policies": [ALLOW_ALL],
        "rcps": [[doc(DENY_ALL)]],
    }
    return simulate_case(parse_case(raw)).decision


def test_simulate_applies_rcps_to_supported_services_only() -> None:
    assert _simulate("dynamodb:GetItem", TABLE) == "explicit-deny"
    assert _simulate("ssm:GetParameter", PARAM) == "allow"


def test_simulate_cli_unsupported_service_is_not_denied_by_an_rcp() -> None:
    cases = [
        {
            "request": {"principal": USER_ARN, "action": a, "resource": r, "resource_account": ACCT},
            "identity_policies": [ALLOW_ALL],
            "rcps": [[doc(DENY_ALL)]],
        }
        for a, r in (
            ("ecr:BatchGetImage", f"arn:aws:ecr:us-east-1:{ACCT}:repository/app"),
            ("ssm:GetParameter", PARAM),
        )
    ]
    result = CliRunner().invoke(
        app, ["simulate", "--input", "-", "--format", "json"], input=json.dumps(cases)
    )
    assert result.exit_code == 0, result.output
    assert [r["decision"] for r in json.loads(result.stdout)] == ["explicit-deny", "allow"]


def _table(name: str) -> Dataset:
    return Dataset(
        arn=f"arn:aws:dynamodb:us-east-1:{ACCT}:table/{name}",
        type="dynamodb-table",
        name=name,
        account_id=ACCT,
        region="us-east-1",
    )


def test_graph_rcp_deny_blocks_dynamodb_but_not_ssm() -> None:
    """DynamoDB supports RCPs now: an RCP deny seals the table; SSM does not: the parameter stays readable."""
    deny = rcp("p-deny", doc(DENY_ALL), ACCT)
    datasets = (_table("customers"), parameter("db-password"), bucket("exports"))
    open_ = access(analyze(org(), (user(READER),), datasets))
    assert {"customers", "db-password", "exports"} <= set(open_)
    sealed = access(analyze(org(deny), (user(READER),), datasets))
    assert "customers" not in sealed and "exports" not in sealed
    assert "read" in sealed["db-password"]


def test_graph_rcp_deny_on_assume_role_removes_the_assume_edge__rcps_apply_to_sts() -> None:
    role = Role(
        arn=f"arn:aws:iam::{ACCT}:role/data",
        name="data",
        trust_policy=doc({"Effect": "Allow", "Principal": {"AWS": USER_ARN}, "Action": "sts:AssumeRole"}),
        inline_policies=(PolicyDocument(name="r", document=doc(READER)),),
    )
    me = user({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role.arn})
    param = (parameter("db-password"),)
    assert "db-password" in access(analyze(org(), (me,), param, roles=(role,)))
    deny = rcp(
        "p-deny", doc({"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole", "Resource": "*"}), ACCT
    )
    closed = analyze(org(deny), (me,), param, roles=(role,))
    assert access(closed) == {}
    assert [p.arn for p in closed.principals] == [USER_ARN]
