"""Evidence: what the leaked key did (CloudTrail), overlaid on what it could reach.

moto does not implement CloudTrail ``LookupEvents`` (it raises NotImplementedError), so these tests
use *recorded responses*: ``tests/fixtures/cloudtrail/*.json`` are LookupEvents / DescribeTrails /
GetTrailStatus / GetEventSelectors responses in the shapes of the AWS CloudTrail API Reference (each
event's ``CloudTrailEvent`` is the record as a JSON string, as the API returns it), served by botocore's
``Stubber`` on a real client — so request parameters are validated against the service model too.
The key ids are the AWS documentation's example keys.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from blastradius.collect.cloudtrail import (
    CloudTrailEvidence,
    collect_key_evidence,
    evidence_from_lookup_output,
    normalise_selectors,
)
from blastradius.evidence import ObjectCount, notification_rows, readable_prefixes, summarize
from blastradius.report import DEFINITE, DatasetFinding, KeyInfo

FIXTURES = Path(__file__).parent / "fixtures" / "cloudtrail"
KEY = "AKIAIOSFODNN7EXAMPLE"
SESSION = "ASIAIOSFODNN7EXAMPLE"
ACCOUNT = "123456789012"
NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _page(name: str) -> dict[str, Any]:
    page = fixture(name)
    for event in page["Events"]:
        event["EventTime"] = dt.datetime.fromisoformat(event["EventTime"].replace("Z", "+00:00"))
    return page


def stubbed_cloudtrail(
    *, lookup_error: str | None = None, selectors: str = "get_event_selectors.json"
) -> Any:
    """A real cloudtrail client whose responses are the recorded fixtures (botocore Stubber)."""
    client = boto3.client("cloudtrail", region_name="us-east-1")
    stub = Stubber(client)
    lookup = {
        "LookupAttributes": [{"AttributeKey": "AccessKeyId", "AttributeValue": KEY}],
        "StartTime": ANY,
        "EndTime": ANY,
        "MaxResults": 50,
    }
    if lookup_error:
        stub.add_client_error("lookup_events", service_error_code=lookup_error, http_status_code=400)
    else:
        stub.add_response("lookup_events", _page("lookup_events_page1.json"), lookup)
        stub.add_response(
            "lookup_events", _page("lookup_events_page2.json"), {**lookup, "NextToken": "page-2-token"}
        )
        # One hop: the session key the AssumeRole event handed out is searched too.
        session = {**lookup, "LookupAttributes": [{"AttributeKey": "AccessKeyId", "AttributeValue": SESSION}]}
        stub.add_response("lookup_events", _page("lookup_events_session.json"), session)
    trail_arn = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/org-management"
    stub.add_response("describe_trails", fixture("describe_trails.json"), {})
    status = fixture("get_trail_status.json")
    status["LatestDeliveryTime"] = NOW
    stub.add_response("get_trail_status", status, {"Name": trail_arn})
    stub.add_response("get_event_selectors", fixture(selectors), {"TrailName": trail_arn})
    stub.activate()
    return client


def collect(start: dt.datetime, **kwargs: Any) -> CloudTrailEvidence:
    client = stubbed_cloudtrail(**kwargs)
    return collect_key_evidence(lambda service, region: client, KEY, ["us-east-1"], start=start, end=NOW)


def finding(arn: str, type_: str, name: str, **kwargs: Any) -> DatasetFinding:
    defaults: dict[str, Any] = {
        "region": "us-east-1",
        "access": ("read",),
        "certainty": DEFINITE,
        "conditions": (),
        "sensitivity": "high",
        "sensitivity_reasons": (),
        "estimated_records": None,
        "path": (),
        "grants": (),
    }
    return DatasetFinding(arn=arn, type=type_, name=name, **{**defaults, **kwargs})


SECRET = finding(
    f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/db-password-AbCdEf",
    "secretsmanager-secret",
    "prod/db-password",
    credential_pivot=True,
)
TABLE = finding(
    f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/tconnect-customers",
    "dynamodb-table",
    "tconnect-customers",
    access=("read", "write"),
    estimated_records=296_019,
    personal_data=True,
    sensitivity_reasons=("attribute email", "attribute customer_number"),
)
BUCKET = finding("arn:aws:s3:::tconnect-exports", "s3-bucket", "tconnect-exports", personal_data=True)
UNTOUCHED = finding(
    f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/tconnect/prod/endpoint",
    "ssm-parameter",
    "/tconnect/prod/endpoint",
)
KEY_INFO = KeyInfo(access_key_id=KEY, account_id=ACCOUNT, principal_arn=None, kind="long-term")


def test_lookup_events_is_paginated_by_access_key_id_and_keeps_identifiers_only() -> None:
    """LookupEvents returns at most 50 events per page and a NextToken (CloudTrail API Reference,
    LookupEvents); every page is read, and only identifiers are kept from request/response bodies."""
    evidence = collect(NOW - dt.timedelta(days=30))
    assert evidence.regions == ("us-east-1",) and not evidence.gaps
    assert [e.event_name for e in evidence.events] == [
        "ListTables",
        "GetSecretValue",
        "DescribeTable",
        "AssumeRole",
        "GetBucketLocation",  # by the role session obtained with the key
        "CreateAccessKey",
        "GetSecretValue",
    ]
    assert evidence.session_keys_searched == (SESSION,)
    created = next(e for e in evidence.events if e.event_name == "CreateAccessKey")
    assert created.parameters["createdAccessKeyId"] == ("AKIAI44QH8DHBEXAMPLE",)
    assert created.read_only is False and created.source_ip == "198.51.100.7"
    refused = evidence.events[0]
    assert refused.error_code == "AccessDenied" and not refused.succeeded
    (trail,) = evidence.trails
    assert (trail.logging, trail.management_events, trail.data_event_types) == (
        True,
        True,
        ("AWS::S3::Object",),
    )
    assert trail.s3_bucket == "audit-cloudtrail-logs"


def test_what_the_key_did_grouped_touched_datasets_and_persistence() -> None:
    evidence, marked = summarize(
        collect(NOW - dt.timedelta(days=30)),
        datasets=[SECRET, TABLE, BUCKET, UNTOUCHED],
        key=KEY_INFO,
        window_source="--exposed-since",
        now=NOW,
    )
    by_name = {d.name: d for d in marked}
    # secretId given as name once and as a partial ARN (no random suffix) once: both are this secret.
    secret = by_name["prod/db-password"]
    assert secret.touched is True
    assert [(t.event_name, t.count, t.first, t.last) for t in secret.touched_by] == [
        ("GetSecretValue", 2, "2026-11-20T10:00:00Z", "2026-11-21T08:30:00Z")
    ]
    assert by_name["tconnect-customers"].touched is True  # DescribeTable is a management event
    assert by_name["/tconnect/prod/endpoint"].touched is False
    # The trail logs S3 object data events, but those are never in event history: say where they are.
    exports = by_name["tconnect-exports"]
    # Touched through the role session the key obtained (one hop), not by the key itself.
    assert exports.touched is True and [(t.event_name, t.via) for t in exports.touched_by] == [
        ("GetBucketLocation", SESSION)
    ]
    assert "S3 delivery" in (exports.touch_note or "")
    assert "no trail logs AWS::DynamoDB::Table" in (by_name["tconnect-customers"].touch_note or "")
    assert evidence.status == "collected" and evidence.event_count == 7 and evidence.error_count == 1
    rows = {(a.event_name, a.source_ip): a for a in evidence.activity}
    assert rows[("GetSecretValue", "198.51.100.7")].count == 2
    assert rows[("ListTables", "203.0.113.50")].error_codes == ("AccessDenied",)
    (persistence,) = evidence.persistence
    assert persistence.event_name == "CreateAccessKey" and persistence.target == "user backdoor"
    assert persistence.created_access_key_id == "AKIAI44QH8DHBEXAMPLE" and persistence.error_code is None
    assert evidence.session_keys == ("ASIAIOSFODNN7EXAMPLE",)
    assert set(evidence.touched) == {SECRET.arn, TABLE.arn, BUCKET.arn}
    assert any(a.via == SESSION and a.event_name == "GetBucketLocation" for a in evidence.activity)
    assert evidence.data_events_logged is True
    assert evidence.uncovered == () and "within event history" in evidence.statement


def test_window_older_than_event_history_is_stated_as_uncovered() -> None:
    """Event history covers the past 90 days ("Working with CloudTrail event history"): an exposure
    window that starts 200 days ago has 110 days without evidence here, held only by a trail's S3
    delivery."""
    evidence, _ = summarize(
        collect(NOW - dt.timedelta(days=200)), datasets=[], key=KEY_INFO, window_source="x", now=NOW
    )
    (span,) = evidence.uncovered
    assert span.region == "all" and span.end == "2026-08-27T00:00:00Z"
    assert "s3://audit-cloudtrail-logs" in span.why
    assert evidence.uncovered_days == 110.0
    assert "The first 110.0 days are older than event history" in evidence.statement


def test_lookup_refused_is_a_dark_region_and_touched_stays_unknown() -> None:
    """A failed LookupEvents is a gap: "could not look", never "the key did nothing"."""
    evidence, marked = summarize(
        collect(NOW - dt.timedelta(days=10), lookup_error="AccessDeniedException"),
        datasets=[SECRET],
        key=KEY_INFO,
        window_source="x",
        now=NOW,
    )
    assert evidence.status == "failed" and marked[0].touched is None
    (span,) = evidence.uncovered
    assert span.region == "us-east-1" and "AccessDeniedException" in span.why
    assert evidence.gaps[0].operation == "LookupEvents"


def test_advanced_event_selectors_are_read() -> None:
    """Advanced event selectors name the category and resources.type ("Logging data events")."""
    management, read_write, types = normalise_selectors(fixture("get_event_selectors_advanced.json"))
    assert (management, read_write, types) == (True, "All", ("AWS::DynamoDB::Table",))
    assert normalise_selectors({"EventSelectors": [{"IncludeManagementEvents": False}]}) == (False, None, ())


def test_offline_lookup_events_output_keeps_only_this_keys_events() -> None:
    page = fixture("lookup_events_page2.json")
    other = json.loads(json.dumps(page["Events"][0]))
    other["AccessKeyId"] = "AKIAI44QH8DHBEXAMPLE"
    record = json.loads(other["CloudTrailEvent"])
    record["userIdentity"]["accessKeyId"] = "AKIAI44QH8DHBEXAMPLE"
    other["CloudTrailEvent"] = json.dumps(record)
    other["EventId"] = "other"
    data = [page, {"Events": [other]}]
    evidence = evidence_from_lookup_output(
        data, KEY, start="2026-11-01T00:00:00Z", end="2026-11-25T00:00:00Z", source="f"
    )
    assert len(evidence.events) == 3 and evidence.source == "file f"
    with_session = evidence_from_lookup_output(
        [fixture("lookup_events_page1.json"), fixture("lookup_events_session.json")],
        KEY,
        start="2026-11-01T00:00:00Z",
        end="2026-11-25T00:00:00Z",
        source="f",
    )
    assert with_session.session_keys_searched == (SESSION,)
    assert "GetBucketLocation" in {e.event_name for e in with_session.events}
    narrow = evidence_from_lookup_output(
        data, KEY, start="2026-11-20T10:00:30Z", end="2026-11-25T00:00:00Z", source="f"
    )
    assert [e.event_name for e in narrow.events] == ["DescribeTable"]  # only the window's events
    with pytest.raises(ValueError, match="expected lookup-events output"):
        evidence_from_lookup_output(
            {"Records": []}, KEY, start="2026-11-01T00:00:00Z", end="2026-11-25T00:00:00Z", source="f"
        )


def test_notification_table_sizes_personal_data_and_says_whether_it_was_touched() -> None:
    _, marked = summarize(
        collect(NOW - dt.timedelta(days=30)),
        datasets=[SECRET, TABLE, BUCKET, UNTOUCHED],
        key=KEY_INFO,
        window_source="x",
        now=NOW,
    )
    counted = ObjectCount(count=10_000, truncated=True, bound=10_000, prefixes=("exports/",))
    rows = {r.name: r for r in notification_rows(marked, {BUCKET.arn: counted})}
    assert set(rows) == {"tconnect-customers", "tconnect-exports"}  # secrets are credentials, not records
    table = rows["tconnect-customers"]
    assert (table.estimated_records, table.sensitive_fields, table.touched) == (
        296_019,
        ("email", "customer_number"),
        True,
    )
    assert "ItemCount" in table.records_basis
    bucket = rows["tconnect-exports"]
    assert bucket.estimated_records == 10_000 and "at least 10,000" in bucket.records_basis
    assert "prefix(es) exports/" in bucket.records_basis


def test_object_count_is_bounded_and_says_so(moto: None) -> None:
    """ListObjectsV2 returns at most MaxKeys keys per page with IsTruncated (S3 API Reference)."""
    from blastradius.collect.s3 import count_objects

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="exports")
    for n in range(5):
        s3.put_object(Bucket="exports", Key=f"customers/{n}.csv", Body=b"x")
    s3.put_object(Bucket="exports", Key="other/x.csv", Body=b"x")
    assert count_objects(s3, "exports") == (6, False)
    assert count_objects(s3, "exports", prefix="customers/") == (5, False)
    count, truncated = count_objects(s3, "exports", bound=2)
    assert truncated and count == 2


def test_actions_seen_draft_a_narrowed_policy_for_the_runbook() -> None:
    """Only successful calls of the key itself count; GetCallerIdentity needs no permission ("STS API
    Reference: GetCallerIdentity"); each action keeps the resources its events named."""
    from blastradius.remediate import rotation_plan
    from blastradius.rules import load_rules

    evidence, _ = summarize(
        collect(NOW - dt.timedelta(days=30)),
        datasets=[SECRET, TABLE],
        key=KEY_INFO,
        window_source="x",
        now=NOW,
    )
    assert dict(evidence.actions_seen) == {
        "dynamodb:DescribeTable": (TABLE.arn,),
        "iam:CreateAccessKey": ("*",),
        "secretsmanager:GetSecretValue": (SECRET.arn,),
        "sts:AssumeRole": (f"arn:aws:iam::{ACCOUNT}:role/data-sync",),
    }  # ListTables was refused; the session's GetBucketLocation was not the key's own call
    key = KeyInfo(
        access_key_id=KEY,
        account_id=ACCOUNT,
        principal_arn=f"arn:aws:iam::{ACCOUNT}:user/app",
        kind="long-term",
    )
    plan = rotation_plan(
        key=key,
        principals=[],
        datasets=[],
        escalations=[],
        user_name="app",
        account_id=ACCOUNT,
        rules=load_rules(),
        now=NOW,
        actions_seen=evidence.actions_seen,
    )
    step = next(s for s in plan if s.id == "narrowed-policy")
    assert not any(s.id == "remove-persistence" and "backdoor" in " ".join(s.commands) for s in plan)
    with_persistence = rotation_plan(
        key=key,
        principals=[],
        datasets=[],
        escalations=[],
        user_name="app",
        account_id=ACCOUNT,
        rules=load_rules(),
        now=NOW,
        persistence=evidence.persistence,
    )
    remove = next(s for s in with_persistence if s.id == "remove-persistence")
    # The key the attacker created is named in the runbook, first, ready to run.
    assert remove.commands[0] == (
        "aws iam update-access-key --user-name backdoor --access-key-id AKIAI44QH8DHBEXAMPLE "
        "--status Inactive"
    )
    assert remove.details == ("seen in CloudTrail: 2026-11-20T10:05:00Z CreateAccessKey user backdoor",)
    document = json.loads(step.commands[0].split("--policy-document ", 1)[1].strip("'"))
    granted = {a: tuple(st["Resource"]) for st in document["Statement"] for a in st["Action"]}
    assert granted == dict(evidence.actions_seen)
    assert not any(
        s.id == "narrowed-policy"
        for s in rotation_plan(
            key=key,
            principals=[],
            datasets=[],
            escalations=[],
            user_name="app",
            account_id=ACCOUNT,
            rules=load_rules(),
            now=NOW,
        )
    )


def test_readable_prefixes_are_the_object_patterns_the_principals_are_allowed() -> None:
    """S3 object ARNs are arn:aws:s3:::bucket/key ("Amazon S3 resources: ARN format"); a wildcard in a
    resource ARN may match across "/" ("IAM JSON policy elements: Resource")."""
    from blastradius.model import ManagedPolicy, Role, Snapshot, User

    def doc(*statements: dict[str, Any]) -> dict[str, Any]:
        return {"Version": "2012-10-17", "Statement": list(statements)}

    allow = {"Effect": "Allow", "Action": "s3:GetObject"}
    user = User(
        arn="arn:aws:iam::1:user/u",
        name="u",
        managed_policy_arns=("arn:aws:iam::1:policy/p",),
    )
    role = Role(
        arn="arn:aws:iam::1:role/r",
        name="r",
        trust_policy={},
        inline_policies=(),
    )
    policy = ManagedPolicy(
        arn="arn:aws:iam::1:policy/p",
        name="p",
        document=doc(
            {
                **allow,
                "Resource": ["arn:aws:s3:::exports/customers/*", "arn:aws:s3:::exports/customers/eu/*"],
            },
            {**allow, "Resource": "arn:aws:s3:::exports/invoices/2022-*"},
            {**allow, "Resource": "arn:aws:s3:::other/*"},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::exports/*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::exports"},
        ),
    )
    snap = Snapshot(
        account_id="1", collected_at="x", users=(user,), roles=(role,), managed_policies=(policy,)
    )
    assert readable_prefixes(snap, [user.arn], "exports") == ("customers/", "invoices/2022-")
    assert readable_prefixes(snap, [role.arn], "exports") == ()
    broad = dataclasses.replace(policy, document=doc({**allow, "Resource": "arn:aws:s3:::exp*"}))
    assert readable_prefixes(dataclasses.replace(snap, managed_policies=(broad,)), [user.arn], "exports") == (
        "",
    )
    star = dataclasses.replace(policy, document=doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}))
    assert readable_prefixes(dataclasses.replace(snap, managed_policies=(star,)), [user.arn], "exports") == (
        "",
    )
