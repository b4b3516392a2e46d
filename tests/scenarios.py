"""Named incident scenarios, built through boto3 so they run in-process (mock_aws) or over HTTP.

Each builder creates a small account and returns the leaked key id. Expected answers in the tests come
from the AWS documentation, never from what moto lets through (moto does not evaluate policies).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3

ACCOUNT = "123456789012"  # moto's default account
OTHER_ACCOUNT = "999999999999"
REGION = "us-east-1"


def doc(*statements: dict[str, Any]) -> str:
    """A 2012-10-17 policy document as JSON text."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str | list[str], resource: str | list[str], **extra: Any) -> dict[str, Any]:
    """An Allow statement."""
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def trust(principal: dict[str, Any]) -> str:
    """A role trust policy allowing sts:AssumeRole to ``principal``."""
    return doc({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"})


class Account:
    """boto3 clients for one account, in-process or at an endpoint."""

    def __init__(self, endpoint_url: str | None = None) -> None:
        self.endpoint_url = endpoint_url
        self.session = boto3.Session(region_name=REGION)

    def client(self, service: str) -> Any:
        """A client for ``service`` in the scenario's region."""
        return self.session.client(service, region_name=REGION, endpoint_url=self.endpoint_url)

    def user(self, name: str, *statements: dict[str, Any]) -> str:
        """Create a user with an inline policy and an access key; return the key id."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        if statements:
            iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=doc(*statements))
        return str(iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"])

    def role(
        self, name: str, trust_policy: str, *statements: dict[str, Any], boundary: str | None = None
    ) -> str:
        """Create a role with an inline policy; return its ARN."""
        iam = self.client("iam")
        kwargs: dict[str, Any] = {"RoleName": name, "AssumeRolePolicyDocument": trust_policy}
        if boundary is not None:
            kwargs["PermissionsBoundary"] = boundary
        arn = str(iam.create_role(**kwargs)["Role"]["Arn"])
        if statements:
            iam.put_role_policy(RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=doc(*statements))
        return arn

    def table(self, name: str, *attributes: str) -> str:
        """Create a DynamoDB table keyed by its first attribute; return its ARN."""
        ddb = self.client("dynamodb")
        attrs = attributes or ("id",)
        return str(
            ddb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": attrs[0], "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in attrs[:1]],
                BillingMode="PAY_PER_REQUEST",
            )["TableDescription"]["TableArn"]
        )

    def bucket(self, name: str, *, policy: str | None = None, tags: dict[str, str] | None = None) -> str:
        """Create a bucket (optionally with a policy and tags); return its ARN."""
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name)
        if policy is not None:
            s3.put_bucket_policy(Bucket=name, Policy=policy)
        if tags:
            s3.put_bucket_tagging(
                Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
            )
        return f"arn:aws:s3:::{name}"


def direct_read(acct: Account) -> str:
    """A user reads the customers table with its own inline policy."""
    table = acct.table("customers", "customer_number", "email")
    return acct.user("app", allow(["dynamodb:GetItem", "dynamodb:Scan"], table))


def role_chain_two_hops(acct: Account) -> str:
    """user → role/hop1 → role/hop2 → exports bucket."""
    acct.bucket("chain-exports", tags={"data-classification": "pii"})
    hop2 = acct.role(
        "hop2",
        trust({"AWS": f"arn:aws:iam::{ACCOUNT}:role/hop1"}),
        allow("s3:GetObject", "arn:aws:s3:::chain-exports/*"),
    )
    hop1 = acct.role("hop1", trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), allow("sts:AssumeRole", hop2))
    return acct.user("jump", allow("sts:AssumeRole", hop1))


def explicit_deny(acct: Account) -> str:
    """dynamodb:* on every table, but an explicit Deny on the payments table."""
    acct.table("payments", "payment_id")
    acct.table("orders", "order_id")
    return acct.user(
        "ops",
        allow("dynamodb:*", "*"),
        {
            "Effect": "Deny",
            "Action": "dynamodb:*",
            "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/payments",
        },
    )


def boundary_limits_role(acct: Account) -> str:
    """A role with s3:* whose permissions boundary only allows s3:ListBucket."""
    iam = acct.client("iam")
    acct.bucket("bounded-data")
    boundary = iam.create_policy(
        PolicyName="ListOnly", PolicyDocument=doc(allow(["s3:ListBucket", "sts:AssumeRole"], "*"))
    )["Policy"]["Arn"]
    role = acct.role(
        "bounded",
        trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
        allow("s3:*", "*"),
        boundary=boundary,
    )
    return acct.user("dev", allow("sts:AssumeRole", role))


def cross_account_trust_denied(acct: Account) -> str:
    """The user may call sts:AssumeRole, but the role trusts only another account."""
    acct.bucket("partner-data")
    role = acct.role(
        "partner-access",
        trust({"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}),
        allow("s3:GetObject", "arn:aws:s3:::partner-data/*"),
    )
    return acct.user("integration", allow("sts:AssumeRole", role))


def resource_policy_grants_user(acct: Account) -> str:
    """No identity policy at all; the bucket policy names the user ARN (same account)."""
    key = acct.user("reporter")
    acct.bucket(
        "shared-reports",
        policy=doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/reporter"},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::shared-reports/*",
            }
        ),
    )
    return key


def kms_key_policy_blocks_decrypt(acct: Account) -> str:
    """The user may GetSecretValue and kms:Decrypt, but the key policy names only another principal."""
    kms = acct.client("kms")
    key_arn = kms.create_key(
        Policy=doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/key-admin"},
                "Action": "kms:*",
                "Resource": "*",
            }
        )
    )["KeyMetadata"]["Arn"]
    sm = acct.client("secretsmanager")
    sealed = sm.create_secret(Name="sealed/db-password", SecretString="x", KmsKeyId=key_arn)["ARN"]
    plain = sm.create_secret(Name="plain/api-token", SecretString="x")["ARN"]
    return acct.user(
        "reader",
        allow("secretsmanager:GetSecretValue", [sealed, plain]),
        allow("kms:Decrypt", "*"),
    )


def ip_conditioned_access(acct: Account) -> str:
    """Reading the table is allowed only from the corporate network (aws:SourceIp)."""
    table = acct.table("corp-customers", "customer_number", "email")
    return acct.user(
        "office",
        allow("dynamodb:Scan", table, Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
    )


SCENARIOS: dict[str, Callable[[Account], str]] = {
    "direct_read": direct_read,
    "role_chain_two_hops": role_chain_two_hops,
    "explicit_deny": explicit_deny,
    "boundary_limits_role": boundary_limits_role,
    "cross_account_trust_denied": cross_account_trust_denied,
    "resource_policy_grants_user": resource_policy_grants_user,
    "kms_key_policy_blocks_decrypt": kms_key_policy_blocks_decrypt,
    "ip_conditioned_access": ip_conditioned_access,
}
