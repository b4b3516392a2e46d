"""Two accounts for the multi-account tests, built through boto3 (in-process moto or a moto server).

moto keeps one state per account: credentials from sts:AssumeRole into ``arn:aws:iam::<B>:role/x``
act in account B. Expected answers come from *Cross-account policy evaluation logic* (IAM User Guide):
across accounts the caller's identity policy AND the resource's policy (role trust, bucket policy)
must both allow; a resource policy naming the caller's account delegates to that account's IAM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from scenarios import Account, allow, doc, trust

A = "123456789012"  # moto's default account: the leaked key's
B = "222222222222"
REGION = "us-east-1"
AUDIT_ROLE_B = f"arn:aws:iam::{B}:role/auditor"
DEV = f"arn:aws:iam::{A}:user/dev"


class OtherAccount(Account):
    """Account B, reached by assuming a role there with account A's (moto) credentials."""

    def __init__(self, endpoint_url: str | None = None) -> None:
        super().__init__(endpoint_url)
        sts = self.session.client("sts", region_name=REGION, endpoint_url=endpoint_url)
        creds = sts.assume_role(RoleArn=AUDIT_ROLE_B, RoleSessionName="build")["Credentials"]
        self.session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=REGION,
        )


def _read(bucket: str) -> list[str]:
    return [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]


def _bucket_policy(principal: str, bucket: str) -> str:
    return doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": principal},
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": _read(bucket),
        }
    )


def _function(acct: Account, name: str) -> None:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return None\n")
    role = acct.role(f"{name}-fn", trust({"Service": "lambda.amazonaws.com"}))
    acct.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": buf.getvalue()},
        Environment={"Variables": {"DB_PASSWORD": "not-a-real-password"}},
    )


@dataclass(frozen=True)
class TwoAccounts:
    key_id: str
    a: Account
    b: OtherAccount


def build_two_accounts(endpoint_url: str | None = None) -> TwoAccounts:
    """user/dev in A (the leaked key) and, in B, roles and buckets that do or do not let it in."""
    a = Account(endpoint_url)
    b = OtherAccount(endpoint_url)
    # B: roles. reader trusts dev and dev may assume it; direct-trust trusts dev but dev's identity policy
    # does not allow assuming it; trusts-b-only is allowed by dev's identity policy but trusts only B.
    b.bucket("b-exports", tags={"data-classification": "pii"})
    b.role(
        "reader",
        trust({"AWS": DEV}),
        allow(["s3:GetObject", "s3:ListBucket"], _read("b-exports")),
        allow("sts:AssumeRole", f"arn:aws:iam::{A}:role/back-in-a"),
    )
    b.bucket("b-secret-bucket")
    b.role("direct-trust", trust({"AWS": DEV}), allow("s3:*", "*"))
    b.role("trusts-b-only", trust({"AWS": f"arn:aws:iam::{B}:root"}), allow("s3:*", "*"))
    # B: buckets. b-shared names dev, b-account-grant names account A, b-policy-only names dev but dev's
    # identity policy does not cover it, b-private has no policy at all.
    b.bucket("b-shared", policy=_bucket_policy(DEV, "b-shared"))
    b.bucket("b-account-grant", policy=_bucket_policy(f"arn:aws:iam::{A}:root", "b-account-grant"))
    b.bucket("b-policy-only", policy=_bucket_policy(DEV, "b-policy-only"))
    b.bucket("b-private")
    # Groups of the same name in both accounts: only A's applies to A's user.
    b_iam: Any = b.client("iam")
    b_iam.create_group(GroupName="team")
    b_iam.put_group_policy(GroupName="team", PolicyName="everything", PolicyDocument=doc(allow("*", "*")))
    a.bucket("a-internal")
    # A chain that leaves A and comes back: dev -> B's reader -> A's back-in-a -> a-reports.
    a.bucket("a-reports")
    a.role(
        "back-in-a",
        trust({"AWS": f"arn:aws:iam::{B}:role/reader"}),
        allow(["s3:GetObject", "s3:ListBucket"], _read("a-reports")),
    )
    # A function with a credential in its environment in each account: dev may read any function's
    # configuration by its own policy, but B's function has no policy letting account A in.
    _function(a, "a-billing")
    _function(b, "b-billing")
    key = a.user(
        "dev",
        allow(
            "sts:AssumeRole",
            [f"arn:aws:iam::{B}:role/reader", f"arn:aws:iam::{B}:role/trusts-b-only"],
        ),
        allow(
            ["s3:GetObject", "s3:ListBucket"],
            [*_read("b-shared"), *_read("b-account-grant"), *_read("b-private")],
        ),
        allow("lambda:GetFunctionConfiguration", "*"),
    )
    a_iam: Any = a.client("iam")
    a_iam.create_group(GroupName="team")
    a_iam.put_group_policy(
        GroupName="team", PolicyName="list", PolicyDocument=doc(allow("s3:ListAllMyBuckets", "*"))
    )
    a_iam.add_user_to_group(GroupName="team", UserName="dev")
    return TwoAccounts(key_id=key, a=a, b=b)


# What the AWS documentation says dev's key reaches, and what it must not.
REACHED_ROLES = {f"arn:aws:iam::{B}:role/reader", f"arn:aws:iam::{A}:role/back-in-a"}
NOT_REACHED_ROLES = {f"arn:aws:iam::{B}:role/direct-trust", f"arn:aws:iam::{B}:role/trusts-b-only"}
REACHED_BUCKETS = {"b-exports", "b-shared", "b-account-grant", "a-reports"}
NOT_REACHED_BUCKETS = {"b-secret-bucket", "b-policy-only", "b-private", "a-internal"}
PIVOT_FUNCTIONS = {f"arn:aws:lambda:{REGION}:{A}:function:a-billing"}
NOT_PIVOT_FUNCTIONS = {f"arn:aws:lambda:{REGION}:{B}:function:b-billing"}
