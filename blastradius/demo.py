"""``blastradius demo``: the reference incident, replayed in an in-process moto account.

A subcontractor pushed code holding an access key to a public repository; for years anyone could read
the customers table (e-mail addresses and customer numbers) behind it. ``build_incident_account``
creates that account with boto3 inside ``moto.mock_aws``; ``run_demo`` then runs the real pipeline —
identify with the auditor's credentials, collect, analyze, plan — exactly as ``blastradius analyze``
does. No AWS account and no network are needed: every call stays in this process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from blastradius.report import Report

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
LEAKED_USER = "tconnect-web-subcontractor"
CUSTOMERS_TABLE = "tconnect-customers"
PAYMENTS_TABLE = "tconnect-payments"
EXPORTS_BUCKET = "tconnect-exports"
DB_SECRET = "prod/tconnect/db-password"
REPORTING_SECRET = "prod/reporting-api-token"
SIGNING_PARAMETER = "/tconnect/prod/signing-key"
SYNC_ROLE = "tconnect-data-sync"
REPORT_ROLE = "tconnect-report-runner"  # a Lambda role the subcontractor may hand to a new function
INVOICES_BUCKET = "tconnect-invoices"
CUSTOMER_ITEMS = 1_500  # enough for a meaningful count; the real incident had ~296,000

# moto's documented fake credentials: the auditor inside the embedded account.
_MOTO_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
_CLEARED_ENV = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident:
    """What the demo built: the leaked key id and the names a responder will look for."""

    leaked_key_id: str
    leaked_user: str
    account_id: str


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@contextmanager
def isolated_aws_env() -> Iterator[None]:
    """moto's fake credentials for the duration, so no real profile or endpoint is ever used."""
    saved = {k: os.environ.get(k) for k in (*_MOTO_ENV, *_CLEARED_ENV)}
    try:
        for k in _CLEARED_ENV:
            os.environ.pop(k, None)
        os.environ.update(_MOTO_ENV)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def build_incident_account(
    session: boto3.Session | None = None, *, endpoint_url: str | None = None
) -> Incident:
    """Create the incident's account through boto3 (inside ``mock_aws`` or against a moto server)."""
    session = session or boto3.Session(region_name=REGION)

    def client(service: str) -> Any:
        return session.client(service, region_name=REGION, endpoint_url=endpoint_url)

    iam, kms, ddb = client("iam"), client("kms"), client("dynamodb")
    s3, sm, ssm = client("s3"), client("secretsmanager"), client("ssm")

    # -- KMS: a customer key for the signing parameter that the subcontractor may NOT use.
    signing_key = kms.create_key(
        Description="tconnect signing material",
        Policy=_doc(
            {
                "Sid": "EnableIAMPolicies",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ),
        Tags=[{"TagKey": "team", "TagValue": "platform"}],
    )["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/tconnect-signing", TargetKeyId=signing_key)

    # -- Data stores.
    ddb.create_table(
        TableName=CUSTOMERS_TABLE,
        KeySchema=[{"AttributeName": "customer_number", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "customer_number", "AttributeType": "S"},
            {"AttributeName": "email", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-email",
                "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "app", "Value": "tconnect"}],
    )
    table = session.resource("dynamodb", region_name=REGION, endpoint_url=endpoint_url).Table(CUSTOMERS_TABLE)
    with table.batch_writer() as batch:
        for n in range(CUSTOMER_ITEMS):
            batch.put_item(
                Item={
                    "customer_number": f"C{100000 + n}",
                    "email": f"customer{n}@example.com",
                    "tier": "basic",
                }
            )
    ddb.create_table(
        TableName=PAYMENTS_TABLE,
        KeySchema=[{"AttributeName": "payment_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "payment_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "data-classification", "Value": "restricted"}],
    )
    ddb.create_table(
        TableName="feature-flags",
        KeySchema=[{"AttributeName": "flag", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "flag", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    s3.create_bucket(Bucket=EXPORTS_BUCKET)
    s3.put_bucket_tagging(
        Bucket=EXPORTS_BUCKET, Tagging={"TagSet": [{"Key": "data-classification", "Value": "pii"}]}
    )
    for key in ("exports/2022-09/customers.csv", "exports/2022-10/customers.csv", "exports/README.txt"):
        s3.put_object(Bucket=EXPORTS_BUCKET, Key=key, Body=b"customer_number,email\n")
    s3.create_bucket(Bucket=INVOICES_BUCKET)
    s3.put_object(Bucket=INVOICES_BUCKET, Key="invoices/2022-10/invoice-10042.pdf", Body=b"%PDF")
    s3.create_bucket(Bucket="tconnect-marketing-assets")
    s3.put_object(Bucket="tconnect-marketing-assets", Key="logo.png", Body=b"png")

    db_secret = sm.create_secret(
        Name=DB_SECRET,
        Description="Production database password for the tconnect customer database",
        SecretString="demo-value-never-read",
        Tags=[{"Key": "app", "Value": "tconnect"}],
    )["ARN"]
    sm.create_secret(
        Name=REPORTING_SECRET,
        Description="API token for the reporting service",
        SecretString="demo-value-never-read",
    )
    ssm.put_parameter(
        Name=SIGNING_PARAMETER, Value="demo-value-never-read", Type="SecureString", KeyId=signing_key
    )
    ssm.put_parameter(Name="/tconnect/prod/feature-endpoint", Value="https://example.com", Type="String")

    # -- IAM: the role the subcontractor can assume, and the subcontractor's user.
    exports_read = iam.create_policy(
        PolicyName="ExportsRead",
        PolicyDocument=_doc(
            {
                "Sid": "ReadExports",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{EXPORTS_BUCKET}", f"arn:aws:s3:::{EXPORTS_BUCKET}/*"],
            }
        ),
    )["Policy"]["Arn"]
    iam.create_role(
        RoleName=SYNC_ROLE,
        AssumeRolePolicyDocument=_doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ),
        Description="Nightly export of customer data",
    )
    iam.attach_role_policy(RoleName=SYNC_ROLE, PolicyArn=exports_read)

    # The monthly report runs as a Lambda function with its own role; the subcontractor deploys it, so
    # its key may pass that role to Lambda: a new function of its own then runs with the role's rights.
    iam.create_role(
        RoleName=REPORT_ROLE,
        AssumeRolePolicyDocument=_doc(
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ),
        Description="Monthly invoice report",
    )
    iam.put_role_policy(
        RoleName=REPORT_ROLE,
        PolicyName="invoices",
        PolicyDocument=_doc(
            {
                "Sid": "ReadInvoices",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{INVOICES_BUCKET}", f"arn:aws:s3:::{INVOICES_BUCKET}/*"],
            }
        ),
    )

    iam.create_user(UserName=LEAKED_USER, Tags=[{"Key": "vendor", "Value": "subcontractor"}])
    iam.put_user_policy(
        UserName=LEAKED_USER,
        PolicyName="app-data",
        PolicyDocument=_doc(
            {
                "Sid": "AppTables",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:GetItem",
                    "dynamodb:Query",
                    "dynamodb:Scan",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DescribeTable",
                ],
                "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/tconnect-*",
            },
            {
                "Sid": "NoPayments",
                "Effect": "Deny",
                "Action": "dynamodb:*",
                "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{PAYMENTS_TABLE}",
            },
            {
                "Sid": "DatabasePassword",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": db_secret,
            },
            {
                "Sid": "ReportingTokenFromOffice",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/reporting-*",
                "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
            },
            {
                "Sid": "AppParameters",
                "Effect": "Allow",
                "Action": ["ssm:GetParameter", "ssm:GetParameters"],
                "Resource": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/tconnect/*",
            },
            {
                "Sid": "DataSync",
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": f"arn:aws:iam::{ACCOUNT}:role/{SYNC_ROLE}",
            },
            {
                "Sid": "DeployReport",
                "Effect": "Allow",
                "Action": ["lambda:CreateFunction", "lambda:UpdateFunctionCode", "lambda:InvokeFunction"],
                "Resource": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tconnect-*",
            },
            {
                "Sid": "PassReportRole",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": f"arn:aws:iam::{ACCOUNT}:role/{REPORT_ROLE}",
            },
        ),
    )
    leaked = iam.create_access_key(UserName=LEAKED_USER)["AccessKey"]["AccessKeyId"]

    # -- Unrelated principals the subcontractor has nothing to do with.
    iam.create_user(UserName="ci-deployer")
    iam.put_user_policy(
        UserName="ci-deployer",
        PolicyName="deploy",
        PolicyDocument=_doc(
            {
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::tconnect-marketing-assets/*",
            }
        ),
    )
    iam.create_access_key(UserName="ci-deployer")
    iam.create_role(
        RoleName="payments-processor",
        AssumeRolePolicyDocument=_doc(
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ),
    )
    iam.put_role_policy(
        RoleName="payments-processor",
        PolicyName="payments",
        PolicyDocument=_doc(
            {
                "Effect": "Allow",
                "Action": "dynamodb:*",
                "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{PAYMENTS_TABLE}",
            }
        ),
    )
    return Incident(leaked_key_id=leaked, leaked_user=LEAKED_USER, account_id=ACCOUNT)


def run_demo() -> Report:
    """Build the incident account in-process and run the real ``analyze`` pipeline on it."""
    from moto import mock_aws

    from blastradius import api

    with isolated_aws_env(), mock_aws():
        incident = build_incident_account()
        return api.analyze(incident.leaked_key_id, live=api.LiveOptions(regions=(REGION,)))
