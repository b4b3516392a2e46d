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
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from blastradius.apply import ApplyObserver, ApplyResult
from blastradius.diff import ReportDiff
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


ATTACKER_IP = "198.51.100.23"  # TEST-NET-2 (RFC 5737): documentation addresses only
SESSION_KEY = "ASIAIOSFODNN7EXAMPLE"  # the AWS documentation's example session key id
TRAIL_BUCKET = "tconnect-cloudtrail-logs"


def add_management_trail(session: boto3.Session | None = None, *, endpoint_url: str | None = None) -> None:
    """A multi-region trail that logs management events only (no data events), as many accounts have."""
    session = session or boto3.Session(region_name=REGION)
    s3 = session.client("s3", region_name=REGION, endpoint_url=endpoint_url)
    s3.create_bucket(Bucket=TRAIL_BUCKET)
    cloudtrail = session.client("cloudtrail", region_name=REGION, endpoint_url=endpoint_url)
    cloudtrail.create_trail(Name="management-events", S3BucketName=TRAIL_BUCKET, IsMultiRegionTrail=True)
    cloudtrail.put_event_selectors(
        TrailName="management-events",
        EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}],
    )
    cloudtrail.start_logging(Name="management-events")


def incident_events(key_id: str, start: datetime) -> dict[str, list[dict[str, Any]]]:
    """What the attacker did with the key (and with the role session it obtained), per access key id,
    as LookupEvents returns it (newest first).

    moto does not implement CloudTrail LookupEvents, so the demo replays these recorded events, shaped
    as the CloudTrail API Reference documents them (``CloudTrailEvent`` is the record as a JSON string).
    The Scan of the customers table is a *data* event: event history never holds it, and neither does
    the demo's trail (management events only) — exactly the blind spot the report must state.
    """
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{LEAKED_USER}"
    calls: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None, str | None]] = [
        ("sts", "GetCallerIdentity", None, None, None),
        ("iam", "ListAttachedUserPolicies", {"userName": LEAKED_USER}, None, "AccessDenied"),
        ("dynamodb", "ListTables", None, None, "AccessDeniedException"),
        ("dynamodb", "DescribeTable", {"tableName": CUSTOMERS_TABLE}, None, None),
        ("secretsmanager", "GetSecretValue", {"secretId": DB_SECRET}, None, None),
        ("secretsmanager", "GetSecretValue", {"secretId": REPORTING_SECRET}, None, "AccessDeniedException"),
        (
            "sts",
            "AssumeRole",
            {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/{SYNC_ROLE}", "roleSessionName": "sync"},
            {"credentials": {"accessKeyId": SESSION_KEY, "expiration": "redacted"}},
            None,
        ),
        ("iam", "CreateAccessKey", {"userName": LEAKED_USER}, None, "AccessDenied"),
        # With the role session: listing every bucket (a management event; the role may not).
        ("s3", "ListBuckets", None, None, "AccessDenied"),
    ]
    session_identity = {
        "type": "AssumedRole",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{SYNC_ROLE}/sync",
        "accountId": ACCOUNT,
        "accessKeyId": SESSION_KEY,
    }
    events: dict[str, list[dict[str, Any]]] = {key_id: [], SESSION_KEY: []}
    for n, (service, name, request, response, error) in enumerate(calls, 1):
        by_session = n == len(calls)
        when = (start + timedelta(minutes=3 * n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        event_id = f"d3m0{n:04d}-0000-4000-8000-000000000000"
        record: dict[str, Any] = {
            "eventVersion": "1.09",
            "userIdentity": session_identity
            if by_session
            else {
                "type": "IAMUser",
                "arn": user_arn,
                "accountId": ACCOUNT,
                "accessKeyId": key_id,
                "userName": LEAKED_USER,
            },
            "eventTime": when,
            "eventSource": f"{service}.amazonaws.com",
            "eventName": name,
            "awsRegion": REGION,
            "sourceIPAddress": ATTACKER_IP,
            "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64",
            "requestParameters": request,
            "responseElements": response,
            "eventID": event_id,
            "readOnly": name.startswith(("Get", "List", "Describe")),
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
        }
        if error:
            record["errorCode"] = error
            record["errorMessage"] = "User is not authorized to perform this operation"
        signer = SESSION_KEY if by_session else key_id
        events[signer].append(
            {
                "EventId": event_id,
                "EventName": name,
                "ReadOnly": str(record["readOnly"]).lower(),
                "AccessKeyId": signer,
                "EventTime": when,
                "EventSource": f"{service}.amazonaws.com",
                "Username": "sync" if by_session else LEAKED_USER,
                "Resources": [],
                "CloudTrailEvent": json.dumps(record),
            }
        )
    return {key: items[::-1] for key, items in events.items()}


def replay_lookup_events(
    session: boto3.Session, events: dict[str, list[dict[str, Any]]], *, page_size: int = 5
) -> None:
    """Answer the session's LookupEvents calls with ``events`` of the key asked for (in REGION; none
    elsewhere), paginated.

    A botocore ``before-call`` handler that returns a response short-circuits the request, the
    mechanism botocore's own Stubber uses; every other call still goes to moto.
    """

    def handler(
        params: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]]:
        body = params.get("body") or b"{}"
        request = json.loads(body.decode() if isinstance(body, bytes) else body)
        offset = int(request.get("NextToken") or 0)
        asked = next(
            (
                a["AttributeValue"]
                for a in request.get("LookupAttributes", [])
                if a["AttributeKey"] == "AccessKeyId"
            ),
            None,
        )
        mine = events.get(str(asked), []) if context.get("client_region") == REGION else []
        # The window, as LookupEvents applies it (the JSON protocol sends times as epoch seconds).
        low, high = (request.get(k) for k in ("StartTime", "EndTime"))
        mine = [e for e in mine if _within(e["EventTime"], low, high)]
        page: dict[str, Any] = {"Events": mine[offset : offset + page_size]}
        if offset + page_size < len(mine):
            page["NextToken"] = str(offset + page_size)
        return AWSResponse("https://cloudtrail.amazonaws.com/", 200, {}, None), page

    session.events.register("before-call.cloudtrail.LookupEvents", handler)


def _within(when: str, low: object, high: object) -> bool:
    moment = datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
    return (not isinstance(low, int | float) or moment >= low) and (
        not isinstance(high, int | float) or moment <= high
    )


def _demo_session(incident: Incident) -> tuple[boto3.Session, datetime]:
    """The auditor's session with the attacker's recorded events replayed, and the key's creation time."""
    session = boto3.Session(region_name=REGION)
    created: datetime = boto3.client("iam", region_name=REGION).list_access_keys(
        UserName=incident.leaked_user
    )["AccessKeyMetadata"][0]["CreateDate"]
    replay_lookup_events(session, incident_events(incident.leaked_key_id, created))
    return session, created


@contextmanager
def demo_clock(now: datetime) -> Iterator[None]:
    """The analysis clock (``SOURCE_DATE_EPOCH``) at ``now``, unless the caller already pinned it.

    The demo's key is created seconds before the analysis; the replayed attack takes the half hour
    after its creation, so the demo's analysis runs "an hour after the key was created".
    """
    if os.environ.get("SOURCE_DATE_EPOCH"):
        yield
        return
    os.environ["SOURCE_DATE_EPOCH"] = str(int(now.timestamp()))
    try:
        yield
    finally:
        os.environ.pop("SOURCE_DATE_EPOCH", None)


# Services the pipeline calls besides those of its collectors: S3's account-level settings, STS to
# identify the key, CloudTrail for what the key did.
_OTHER_SERVICES = ("s3control", "sts", "cloudtrail")


def import_mocked_services() -> None:
    """Import, in this thread, moto's modules for every service the pipeline calls.

    moto imports a service's modules on its first request, and the collection sends its first requests
    from a pool of threads: hundreds of modules would then be imported by several threads at once,
    which CPython 3.11 does not always survive (``SystemError: AST constructor recursion depth
    mismatch``, python/cpython#106905; seen once in a clean-clone CI run of the demo test)."""
    import importlib

    from moto.backends import ALT_SERVICE_NAMES, get_backend

    from blastradius.collect.runner import COLLECTORS

    for service in (*COLLECTORS, *_OTHER_SERVICES):
        get_backend(service)  # type: ignore[call-overload]
        package = ALT_SERVICE_NAMES.get(service, service)
        for part in ("responses", "urls"):  # what moto's request dispatch imports
            importlib.import_module(f"moto.{package}.{part}")


@contextmanager
def incident_account() -> Iterator[tuple[Incident, boto3.Session, datetime]]:
    """The incident's account in an in-process moto AWS, for the duration: what was built, the auditor's
    session (the attacker's recorded events replayed) and the leaked key's creation time."""
    from moto import mock_aws

    with isolated_aws_env(), mock_aws():
        import_mocked_services()
        incident = build_incident_account()
        add_management_trail()
        session, created = _demo_session(incident)
        yield incident, session, created


def run_demo() -> Report:
    """Build the incident account in-process and run the real ``analyze`` pipeline on it."""
    from blastradius import api

    with incident_account() as (incident, session, created), demo_clock(created + timedelta(hours=1)):
        return api.analyze(incident.leaked_key_id, live=api.LiveOptions(regions=(REGION,)), session=session)


@dataclass(frozen=True, slots=True, kw_only=True)
class AppliedDemo:
    """``demo --apply``: the report before, the containment result, the report after, and their diff."""

    before: Report
    applied: ApplyResult
    after: Report
    diff: ReportDiff


def run_demo_apply(audit_log: Path, observer: ApplyObserver | None = None) -> AppliedDemo:
    """The demo incident, then ``rotate --apply``'s containment on the demo's moto account (no
    confirmation: the account is a throw-away in-process fake), then ``analyze`` again and ``diff``."""
    from blastradius import api
    from blastradius.diff import diff_reports

    live = api.LiveOptions(regions=(REGION,))
    with incident_account() as (incident, session, created):
        with demo_clock(created + timedelta(hours=1)):
            before = api.analyze(incident.leaked_key_id, live=live, session=session)
        applied = api.apply_containment(before, live, audit_log=audit_log, observer=observer, session=session)
        with demo_clock(created + timedelta(hours=1, minutes=5)):
            after = api.analyze(incident.leaked_key_id, live=live, session=session)
    return AppliedDemo(
        before=before, applied=applied, after=after, diff=diff_reports(before.to_json(), after.to_json())
    )
