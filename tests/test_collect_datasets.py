"""Data store collectors (S3, DynamoDB, Secrets Manager, SSM, KMS) and KMS key resolution."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from blastradius.aws import ClientFactory
from blastradius.collect.base import GLOBAL_REGION, Recorder, Scope
from blastradius.collect.dynamodb import collect_dynamodb
from blastradius.collect.kms import collect_kms, resolve_kms_references
from blastradius.collect.s3 import collect_s3, get_s3, normalise_s3
from blastradius.collect.secretsmanager import collect_secretsmanager
from blastradius.collect.ssm import collect_ssm, parameter_arn
from blastradius.model import DYNAMODB_TABLE, KMS_KEY, S3_BUCKET, SECRET, SSM_PARAMETER, Dataset

ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """An in-process moto account with fake auditor credentials."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield boto3.Session(region_name=REGION)


@pytest.fixture
def clients(session: boto3.Session) -> ClientFactory:
    return ClientFactory(session)


def _scope(clients: Any, region: str = REGION) -> Scope:
    return Scope(clients=clients, account_id=ACCOUNT, region=region, home_region=REGION)


def _deny(client: Any, method: str, only: dict[str, str] | None = None) -> None:
    """Make ``client.method`` raise AccessDenied (for the calls whose kwargs include ``only``)."""
    real = getattr(client, method)

    def denied(**kwargs: Any) -> Any:
        if only is None or all(kwargs.get(k) == v for k, v in only.items()):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "explicit deny"}}, method)
        return real(**kwargs)

    setattr(client, method, denied)


def _key(session: boto3.Session, alias: str | None = None, region: str = REGION) -> dict[str, Any]:
    kms = session.client("kms", region_name=region)
    meta: dict[str, Any] = kms.create_key(Description="customer data")["KeyMetadata"]
    if alias:
        kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    return meta


# --- S3 ---------------------------------------------------------------------------------------------

EXPORTS_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::tconnect-exports/*",
        }
    ],
}


PUBLIC_ACCESS_BLOCK_FLAGS = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)


@pytest.fixture
def buckets(session: boto3.Session) -> None:
    s3 = session.client("s3")
    s3.create_bucket(Bucket="tconnect-exports")
    s3.put_bucket_policy(Bucket="tconnect-exports", Policy=json.dumps(EXPORTS_POLICY))
    s3.put_bucket_tagging(
        Bucket="tconnect-exports", Tagging={"TagSet": [{"Key": "data-classification", "Value": "pii"}]}
    )
    s3.put_bucket_encryption(
        Bucket="tconnect-exports",
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": "alias/exports",
                    }
                }
            ]
        },
    )
    s3.put_public_access_block(
        Bucket="tconnect-exports",
        PublicAccessBlockConfiguration=dict.fromkeys(PUBLIC_ACCESS_BLOCK_FLAGS, True),
    )
    for key in ("customers/2022-09.csv", "customers/2022-10.csv", "readme.txt"):
        s3.put_object(Bucket="tconnect-exports", Key=key, Body=b"x")
    eu = session.client("s3", region_name="eu-west-1")
    eu.create_bucket(Bucket="tconnect-logs-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})


def test_buckets_are_normalised_with_their_region(clients: ClientFactory, buckets: None) -> None:
    result = collect_s3(_scope(clients, GLOBAL_REGION))

    assert result.gaps == ()
    exports, logs = result.datasets
    assert {(d.arn, d.type, d.name, d.region, d.account_id) for d in result.datasets} == {
        ("arn:aws:s3:::tconnect-exports", S3_BUCKET, "tconnect-exports", "us-east-1", ACCOUNT),
        ("arn:aws:s3:::tconnect-logs-eu", S3_BUCKET, "tconnect-logs-eu", "eu-west-1", ACCOUNT),
    }
    assert exports.resource_policy == EXPORTS_POLICY
    assert dict(exports.tags) == {"data-classification": "pii"}
    assert exports.kms_key == "alias/exports"  # resolved to a key ARN by the runner, see below
    assert exports.object_keys_sample == ("customers/2022-09.csv", "customers/2022-10.csv", "readme.txt")
    assert exports.details["objects_sampled"] == 3
    assert exports.details["public_access_block"]["BlockPublicPolicy"] is True
    assert exports.details["encryption"]["algorithm"] == "aws:kms"
    assert (logs.resource_policy, logs.kms_key, dict(logs.tags), logs.details["public_access_block"]) == (
        None,
        None,
        {},
        None,
    )


def test_object_sample_is_bounded(clients: ClientFactory, buckets: None) -> None:
    recorder = Recorder("s3", GLOBAL_REGION)
    raw = get_s3(_scope(clients, GLOBAL_REGION), recorder, sample_size=2)
    assert raw is not None
    exports = {d.name: d for d in normalise_s3(raw, account_id=ACCOUNT)}["tconnect-exports"]
    assert len(exports.object_keys_sample) == 2
    assert exports.details["objects_truncated"] is True


def test_denied_bucket_policy_is_a_gap_for_that_bucket_only(clients: ClientFactory, buckets: None) -> None:
    _deny(clients("s3", REGION), "get_bucket_policy", only={"Bucket": "tconnect-exports"})

    result = collect_s3(_scope(clients, GLOBAL_REGION))

    assert [(g.service, g.region, g.operation, g.error_code, g.resource) for g in result.gaps] == [
        ("s3", "us-east-1", "GetBucketPolicy", "AccessDenied", "arn:aws:s3:::tconnect-exports")
    ]
    exports = next(d for d in result.datasets if d.name == "tconnect-exports")
    assert exports.resource_policy is None
    assert exports.details["not_collected"] == ["GetBucketPolicy"]  # unknown, not "no policy"
    assert dict(exports.tags) == {"data-classification": "pii"}  # the rest of the bucket still collected
    assert len(result.datasets) == 2


def test_denied_bucket_listing_is_the_services_error(clients: ClientFactory, buckets: None) -> None:
    _deny(clients("s3", REGION), "list_buckets")

    result = collect_s3(_scope(clients, GLOBAL_REGION))

    assert (result.datasets, result.listing_error) == ((), "AccessDenied")
    assert [(g.operation, g.region, g.resource) for g in result.gaps] == [
        ("ListBuckets", GLOBAL_REGION, None)
    ]


# --- DynamoDB ---------------------------------------------------------------------------------------


def test_tables_expose_field_names_counts_and_key(session: boto3.Session, clients: ClientFactory) -> None:
    key = _key(session)
    ddb = session.client("dynamodb")
    ddb.create_table(
        TableName="tconnect-customers",
        KeySchema=[{"AttributeName": "customer_number", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "customer_number", "AttributeType": "S"},
            {"AttributeName": "email", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-email",
                "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key["Arn"]},
        Tags=[{"Key": "data-classification", "Value": "pii"}],
    )
    ddb.put_item(
        TableName="tconnect-customers", Item={"customer_number": {"S": "1"}, "email": {"S": "a@example.com"}}
    )

    result = collect_dynamodb(_scope(clients))

    assert result.gaps == ()
    (table,) = result.datasets
    assert (table.arn, table.type, table.name, table.region) == (
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/tconnect-customers",
        DYNAMODB_TABLE,
        "tconnect-customers",
        REGION,
    )
    assert table.field_names == ("customer_number", "email")
    assert table.estimated_records == 1
    assert table.kms_key == key["Arn"]
    assert dict(table.tags) == {"data-classification": "pii"}
    assert table.resource_policy is None
    assert table.details["global_secondary_indexes"] == ["by-email"]


def test_denied_table_description_keeps_the_table_as_unknown(
    session: boto3.Session, clients: ClientFactory
) -> None:
    ddb = session.client("dynamodb")
    for name in ("payments", "sessions"):
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    _deny(clients("dynamodb", REGION), "describe_table", only={"TableName": "payments"})

    result = collect_dynamodb(_scope(clients))

    assert [(g.operation, g.resource) for g in result.gaps] == [
        ("DescribeTable", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/payments")
    ]
    tables = {d.name: d for d in result.datasets}
    assert tables["payments"].estimated_records is None
    assert tables["payments"].details["not_collected"] == ["DescribeTable"]
    assert tables["sessions"].field_names == ("id",)


# --- Secrets Manager and SSM ------------------------------------------------------------------------


def test_secrets_are_described_never_read(session: boto3.Session, clients: ClientFactory) -> None:
    sm = session.client("secretsmanager")
    db = sm.create_secret(
        Name="prod/db-password",
        SecretString="hunter2",
        KmsKeyId="alias/secrets",
        Description="payments database",
        Tags=[{"Key": "owner", "Value": "payments"}],
    )
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
            }
        ],
    }
    sm.put_resource_policy(SecretId="prod/db-password", ResourcePolicy=json.dumps(policy))
    sm.create_secret(Name="plain", SecretString="x")
    sm_client = clients("secretsmanager", REGION)
    _deny(sm_client, "get_secret_value")  # a call to it would fail loudly below

    result = collect_secretsmanager(_scope(clients))

    assert result.gaps == ()
    secrets = {d.name: d for d in result.datasets}
    secret = secrets["prod/db-password"]
    assert (secret.arn, secret.type, secret.kms_key, secret.description) == (
        db["ARN"],
        SECRET,
        "alias/secrets",
        "payments database",
    )
    assert secret.resource_policy == policy
    assert dict(secret.tags) == {"owner": "payments"}
    assert (secrets["plain"].kms_key, secrets["plain"].resource_policy) == (None, None)
    assert "hunter2" not in json.dumps([d.details for d in result.datasets])


@pytest.mark.parametrize(
    ("name", "arn_suffix"),
    [("/prod/db/password", "parameter/prod/db/password"), ("plain-name", "parameter/plain-name")],
)
def test_parameter_arn_never_doubles_the_slash(name: str, arn_suffix: str) -> None:
    assert (
        parameter_arn(name, region=REGION, account_id=ACCOUNT)
        == f"arn:aws:ssm:us-east-1:{ACCOUNT}:{arn_suffix}"
    )


def test_parameters_are_described_never_read(session: boto3.Session, clients: ClientFactory) -> None:
    ssm = session.client("ssm")
    ssm.put_parameter(Name="/prod/api-token", Value="s3cr3t", Type="SecureString", Description="partner API")
    ssm.put_parameter(Name="/prod/k", Value="s3cr3t", Type="SecureString", KeyId="alias/params")
    ssm.put_parameter(Name="feature-flags", Value="on", Type="String", Tags=[{"Key": "team", "Value": "web"}])
    _deny(clients("ssm", REGION), "get_parameter")
    _deny(clients("ssm", REGION), "get_parameters")

    result = collect_ssm(_scope(clients))

    assert result.gaps == ()
    assert {(d.arn, d.type, d.kms_key) for d in result.datasets} == {
        (f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/prod/api-token", SSM_PARAMETER, "alias/aws/ssm"),
        (f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/prod/k", SSM_PARAMETER, "alias/params"),
        (f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/feature-flags", SSM_PARAMETER, None),
    }
    flags = next(d for d in result.datasets if d.name == "feature-flags")
    assert dict(flags.tags) == {"team": "web"}
    assert "s3cr3t" not in json.dumps([d.details for d in result.datasets])


def test_denied_parameter_listing_in_one_region_is_an_error_not_empty(clients: ClientFactory) -> None:
    stub = Stubber(clients("ssm", REGION))
    stub.add_client_error("describe_parameters", "AccessDeniedException", "denied")
    stub.activate()

    result = collect_ssm(_scope(clients))

    assert (result.datasets, result.listing_error) == ((), "AccessDeniedException")


# --- KMS --------------------------------------------------------------------------------------------


def test_keys_carry_policy_grants_aliases_and_manager(session: boto3.Session, clients: ClientFactory) -> None:
    key = _key(session, alias="alias/exports")
    kms = session.client("kms")
    kms.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:role/data-sync",
        Operations=["Decrypt"],
        Name="sync",
    )
    kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "data", "TagValue": "exports"}])
    aws_managed = kms.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]  # moto creates it on first use

    result = collect_kms(_scope(clients))

    assert result.gaps == ()
    keys = {d.arn: d for d in result.datasets}
    customer = keys[key["Arn"]]
    assert (customer.type, customer.name, customer.aliases, customer.key_manager) == (
        KMS_KEY,
        "alias/exports",
        ("alias/exports",),
        "CUSTOMER",
    )
    assert customer.resource_policy is not None
    assert customer.resource_policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert [(g.grantee_principal, g.operations, g.name) for g in customer.grants] == [
        (f"arn:aws:iam::{ACCOUNT}:role/data-sync", ("Decrypt",), "sync")
    ]
    assert dict(customer.tags) == {"data": "exports"}
    # moto reports KeyManager CUSTOMER for it; the alias/aws/ prefix is AWS's alone.
    assert keys[aws_managed["Arn"]].key_manager == "AWS"


def test_denied_key_policy_is_a_gap_for_that_key(session: boto3.Session, clients: ClientFactory) -> None:
    key = _key(session, alias="alias/payments")
    _deny(clients("kms", REGION), "get_key_policy")

    result = collect_kms(_scope(clients))

    assert [(g.operation, g.resource) for g in result.gaps] == [("GetKeyPolicy", key["Arn"])]
    (dataset,) = result.datasets
    assert dataset.resource_policy is None
    assert dataset.details["not_collected"] == ["GetKeyPolicy"]


def _dataset(name: str, kms_key: str | None, region: str = REGION, type_: str = SECRET) -> Dataset:
    return Dataset(
        arn=f"arn:x:{name}", type=type_, name=name, account_id=ACCOUNT, region=region, kms_key=kms_key
    )


def test_key_references_resolve_to_key_arns_or_none() -> None:
    key_arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    aws_key_arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/aaaaaaaa-12ab-34cd-56ef-1234567890ab"
    other_account_key = "arn:aws:kms:us-east-1:999988887777:key/bbbbbbbb-12ab-34cd-56ef-1234567890ab"
    keys = [
        Dataset(
            arn=key_arn,
            type=KMS_KEY,
            name="alias/exports",
            account_id=ACCOUNT,
            region=REGION,
            aliases=("alias/exports",),
            key_manager="CUSTOMER",
        ),
        Dataset(
            arn=aws_key_arn,
            type=KMS_KEY,
            name="alias/aws/s3",
            account_id=ACCOUNT,
            region=REGION,
            aliases=("alias/aws/s3",),
            key_manager="AWS",
        ),
    ]
    datasets = [
        *keys,
        _dataset("by-alias", "alias/exports"),
        _dataset("by-alias-arn", f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/exports"),
        _dataset("by-id", "1234abcd-12ab-34cd-56ef-1234567890ab"),
        _dataset("by-arn", key_arn),
        _dataset("aws-managed-alias", "alias/aws/ssm"),
        _dataset("aws-managed-arn", aws_key_arn),
        _dataset("cross-account", other_account_key),
        _dataset("id-not-collected", "cccccccc-12ab-34cd-56ef-1234567890ab", region="eu-west-1"),
        _dataset("alias-elsewhere", "alias/exports", region="eu-west-1"),
        _dataset("none", None),
    ]

    resolved, warnings = resolve_kms_references(datasets, account_id=ACCOUNT)

    got = {d.name: d.kms_key for d in resolved if d.type != KMS_KEY}
    assert got == {
        "by-alias": key_arn,
        "by-alias-arn": key_arn,
        "by-id": key_arn,
        "by-arn": key_arn,
        "aws-managed-alias": None,
        "aws-managed-arn": None,
        "cross-account": other_account_key,
        "id-not-collected": f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/cccccccc-12ab-34cd-56ef-1234567890ab",
        "alias-elsewhere": None,
        "none": None,
    }
    details = {d.name: d.details for d in resolved}
    assert details["aws-managed-alias"]["kms_key_manager"] == "AWS"
    assert details["alias-elsewhere"]["kms_key_unresolved"] == "alias/exports"
    assert details["by-alias"]["kms_key_reference"] == "alias/exports"
    assert len(warnings) == 1 and "alias-elsewhere" in warnings[0]
