"""The collection runner and the boto3 edge: regions, endpoints, credential errors, coverage."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from blastradius import aws
from blastradius.collect.runner import COLLECTORS, collect_account
from blastradius.errors import CollectionError, UsageError
from blastradius.model import DYNAMODB_TABLE, KMS_KEY, S3_BUCKET, SSM_PARAMETER, Snapshot

ACCOUNT = "123456789012"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "MOTO_ACCOUNT_ID", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def session(clean_env: None) -> Iterator[boto3.Session]:
    """An in-process moto account with fake auditor credentials."""
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


class Recording:
    """An observer that remembers what it was told (called from worker threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: list[tuple[str, str]] = []
        self.done: dict[tuple[str, str], tuple[int, str | None]] = {}

    def on_start(self, service: str, region: str) -> None:
        with self.lock:
            self.started.append((service, region))

    def on_done(self, service: str, region: str, count: int, error: str | None) -> None:
        with self.lock:
            self.done[(service, region)] = (count, error)


@pytest.fixture
def incident_account(session: boto3.Session) -> boto3.Session:
    """A small account over two regions: a user, a bucket and a table protected by one customer key."""
    iam = session.client("iam")
    iam.create_user(UserName="tconnect-web")
    iam.create_access_key(UserName="tconnect-web")
    kms = session.client("kms")
    key = kms.create_key(Description="exports")["KeyMetadata"]
    kms.create_alias(AliasName="alias/exports", TargetKeyId=key["KeyId"])
    s3 = session.client("s3")
    s3.create_bucket(Bucket="tconnect-exports")
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
    session.client("dynamodb", region_name="eu-west-1").create_table(
        TableName="tconnect-customers",
        KeySchema=[{"AttributeName": "email", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "email", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ssm = session.client("ssm", region_name="eu-west-1")
    ssm.put_parameter(Name="/prod/api-token", Value="x", Type="SecureString", KeyId="alias/aws/ssm")
    return session


def test_collects_every_service_in_every_region(incident_account: boto3.Session) -> None:
    observer = Recording()

    snapshot = collect_account(incident_account, regions=["us-east-1", "eu-west-1"], observer=observer)

    assert snapshot.account_id == ACCOUNT
    assert (snapshot.source, snapshot.partition, snapshot.regions) == (
        "collect",
        "aws",
        ("us-east-1", "eu-west-1"),
    )
    assert dict(snapshot.services) == dict.fromkeys(COLLECTORS, "ok")
    assert snapshot.gaps == ()
    assert [u.name for u in snapshot.users] == ["tconnect-web"]
    by_type = {(d.type, d.name, d.region) for d in snapshot.datasets}
    assert {
        (S3_BUCKET, "tconnect-exports", "us-east-1"),
        (DYNAMODB_TABLE, "tconnect-customers", "eu-west-1"),
        (SSM_PARAMETER, "/prod/api-token", "eu-west-1"),
        (KMS_KEY, "alias/exports", "us-east-1"),
    } <= by_type
    bucket = next(d for d in snapshot.datasets if d.type == S3_BUCKET)
    key = next(d for d in snapshot.datasets if d.type == KMS_KEY and d.name == "alias/exports")
    assert bucket.kms_key == key.arn  # the alias became the key's ARN
    parameter = next(d for d in snapshot.datasets if d.type == SSM_PARAMETER)
    assert parameter.kms_key is None  # AWS managed aws/ssm key: nothing more to ask for

    assert ("iam", "global") in observer.started and ("s3", "global") in observer.started
    assert observer.done[("dynamodb", "eu-west-1")] == (1, None)
    assert observer.done[("dynamodb", "us-east-1")] == (0, None)
    regional = [c for c in COLLECTORS.values() if c.regional]
    # iam, s3 and organizations once, regional services twice
    assert len(observer.done) == 3 + len(regional) * 2

    # The snapshot survives its own JSON round-trip (details hold only JSON values).
    text = json.dumps(snapshot.to_json())
    assert Snapshot.from_json(json.loads(text)) == snapshot


def _deny_in(monkeypatch: pytest.MonkeyPatch, service: str, method: str, regions: set[str]) -> None:
    """Every client of ``service`` created for one of ``regions`` raises AccessDenied on ``method``."""
    real = aws.client

    def client(session: Any, name: str, region: str, endpoint_url: str | None = None) -> Any:
        made = real(session, name, region, endpoint_url)
        if name == service and region in regions:

            def denied(**_: Any) -> Any:
                raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "denied"}}, method)

            setattr(made, method, denied)
        return made

    monkeypatch.setattr(aws, "client", client)


def test_listing_denied_in_one_region_makes_the_service_partial(
    incident_account: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _deny_in(monkeypatch, "ssm", "describe_parameters", {"eu-west-1"})
    observer = Recording()

    snapshot = collect_account(incident_account, regions=["us-east-1", "eu-west-1"], observer=observer)

    assert snapshot.services["ssm"] == "partial"
    assert [(g.service, g.region, g.operation, g.error_code) for g in snapshot.gaps] == [
        ("ssm", "eu-west-1", "DescribeParameters", "AccessDeniedException")
    ]
    assert observer.done[("ssm", "eu-west-1")] == (0, "AccessDeniedException")
    assert snapshot.services["dynamodb"] == "ok"


def test_listing_denied_everywhere_marks_the_service_with_the_error(
    incident_account: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _deny_in(monkeypatch, "dynamodb", "list_tables", {"us-east-1", "eu-west-1"})

    snapshot = collect_account(incident_account, regions=["us-east-1", "eu-west-1"])

    assert snapshot.services["dynamodb"] == "AccessDeniedException"
    assert not [d for d in snapshot.datasets if d.type == DYNAMODB_TABLE]
    assert len(snapshot.gaps) == 2


def test_selected_services_only(incident_account: boto3.Session) -> None:
    snapshot = collect_account(incident_account, regions=["us-east-1"], services=["s3"])

    assert snapshot.services["s3"] == "ok"
    assert {name for name, status in snapshot.services.items() if status == "not collected"} == set(
        COLLECTORS
    ) - {"s3"}
    assert snapshot.users == ()
    # KMS not collected: the alias cannot be resolved, which is said rather than silently dropped.
    (bucket,) = snapshot.datasets
    assert bucket.kms_key is None and bucket.details["kms_key_unresolved"] == "alias/exports"
    assert any("alias/exports" in w for w in snapshot.warnings)


def test_unknown_service_is_a_usage_error(session: boto3.Session) -> None:
    with pytest.raises(UsageError, match=r"unknown service.*rds") as caught:
        collect_account(session, regions=["us-east-1"], services=["s3", "rds"])
    assert "iam, s3, dynamodb" in caught.value.diagnostics()


# --- credentials ------------------------------------------------------------------------------------


def test_no_credentials_says_how_to_provide_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)

    with pytest.raises(CollectionError, match=r"no AWS credentials found.*--profile.*--snapshot"):
        collect_account(boto3.Session(region_name="us-east-1"), regions=["us-east-1"])


@pytest.mark.parametrize(
    ("code", "diagnosis"),
    [
        ("ExpiredToken", "session token has expired"),
        ("InvalidClientTokenId", "does not recognise the access key id"),
        ("SignatureDoesNotMatch", "secret access key does not match"),
        ("UnrecognizedClientException", "does not recognise the access key id or security token"),
    ],
)
def test_rejected_auditor_credentials_are_diagnosed(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, code: str, diagnosis: str
) -> None:
    real = aws.client

    def rejecting(*args: Any, **kwargs: Any) -> Any:
        made = real(*args, **kwargs)
        stub = Stubber(made)
        stub.add_client_error("get_caller_identity", code, "rejected", http_status_code=403)
        stub.activate()
        return made

    monkeypatch.setattr(aws, "client", rejecting)

    with pytest.raises(
        CollectionError, match=f"rejected by sts:GetCallerIdentity \\({code}\\): .*{diagnosis}"
    ) as caught:
        collect_account(boto3.Session(region_name="us-east-1"), regions=["us-east-1"])
    assert "testing" not in caught.value.diagnostics()  # the (fake) credentials never appear


def test_missing_profile_is_a_collection_error(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(CollectionError, match="profile 'incident' is not configured"):
        aws.make_session("incident")


# --- regions and endpoints --------------------------------------------------------------------------


def test_default_region_is_the_sessions_else_us_east_1(
    session: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert aws.resolve_regions(boto3.Session(region_name="eu-west-2"), [], False) == ("eu-west-2",)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    assert aws.resolve_regions(boto3.Session(), [], False) == ("us-east-1",)


def test_all_regions_are_the_enabled_ones(session: boto3.Session) -> None:
    regions = aws.resolve_regions(session, [], True)
    assert "us-east-1" in regions and "eu-west-1" in regions
    assert "ap-east-1" not in regions  # opt-in region, not enabled (moto: "not-opted-in")
    assert list(regions) == sorted(regions)


def test_explicit_regions_are_validated(session: boto3.Session) -> None:
    assert aws.resolve_regions(session, ["eu-west-1", "us-east-1", "eu-west-1"], False) == (
        "eu-west-1",
        "us-east-1",
    )
    with pytest.raises(CollectionError, match="'eu-wset-1' does not exist"):
        aws.resolve_regions(session, ["eu-wset-1"], False)
    with pytest.raises(CollectionError, match="'Europe' is not an AWS region name"):
        aws.resolve_regions(session, ["Europe"], False)
    with pytest.raises(CollectionError, match="'ap-east-1' is not enabled"):
        aws.resolve_regions(session, ["ap-east-1"], False)


def test_explicit_endpoint_wins_over_the_environment(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://from-env.example:4566")
    session = boto3.Session(region_name="us-east-1")
    assert aws.client(session, "s3", "us-east-1").meta.endpoint_url == "http://from-env.example:4566"
    flagged = aws.client(session, "s3", "us-east-1", "http://from-flag.example:5000")
    assert flagged.meta.endpoint_url == "http://from-flag.example:5000"
    config = flagged.meta.config
    # botocore stores max_attempts=10 (retries) as 11 attempts in all.
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 11}
    assert "blastradius" in config.user_agent_extra
    assert config.s3 == {"addressing_style": "path"}
