"""Evidence end to end: ``analyze`` live on the demo incident's moto account, every format.

moto does not implement CloudTrail ``LookupEvents``; the demo's recorded events (``demo.incident_events``,
shaped per the CloudTrail API Reference) are replayed by a botocore ``before-call`` handler on the
auditor's session (``demo.replay_lookup_events``), while the trail configuration (DescribeTrails,
GetTrailStatus, GetEventSelectors) is moto's own. Without the replay, moto's NotImplementedError must
become a gap and "touched" must stay unknown — never "not touched".
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from jsonschema import Draft202012Validator

from blastradius import api, demo
from blastradius.demo import (
    ATTACKER_IP,
    CUSTOMERS_TABLE,
    DB_SECRET,
    EXPORTS_BUCKET,
    REGION,
    REPORTING_SECRET,
    SESSION_KEY,
    add_management_trail,
    build_incident_account,
    demo_clock,
    incident_events,
    replay_lookup_events,
)
from blastradius.render import render
from blastradius.report import Report
from blastradius.schema import report_schema

LIVE = api.LiveOptions(regions=(REGION,))


@pytest.fixture(scope="module")
def reports() -> tuple[Report, Report]:
    from moto import mock_aws

    from blastradius.demo import isolated_aws_env

    with isolated_aws_env(), mock_aws(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo, "CUSTOMER_ITEMS", 20)  # the count matters, not its size; speed does
        incident = build_incident_account()
        add_management_trail()
        session = boto3.Session(region_name=REGION)
        created = boto3.client("iam", region_name=REGION).list_access_keys(UserName=incident.leaked_user)[
            "AccessKeyMetadata"
        ][0]["CreateDate"]
        replay_lookup_events(session, incident_events(incident.leaked_key_id, created), page_size=3)
        with demo_clock(created + timedelta(hours=1)):
            with_events = api.analyze(incident.leaked_key_id, live=LIVE, session=session)
        without = api.analyze(incident.leaked_key_id, live=LIVE)
    return with_events, without


def test_could_reach_overlaid_with_did_touch(reports: tuple[Report, Report]) -> None:
    report, _ = reports
    Draft202012Validator(report_schema()).validate(report.to_json())
    touched = {d.name: d.touched for d in report.datasets}
    assert touched[CUSTOMERS_TABLE] is True  # DescribeTable (management event)
    assert touched[DB_SECRET] is True  # GetSecretValue
    assert touched[REPORTING_SECRET] is False  # only a refused GetSecretValue (aws:SourceIp condition)
    assert touched[EXPORTS_BUCKET] is False
    exports = next(d for d in report.datasets if d.name == EXPORTS_BUCKET)
    assert "no trail logs AWS::S3::Object" in (exports.touch_note or "")
    ev = report.evidence
    assert ev is not None and ev.status == "collected" and ev.event_count == 9
    assert ev.activity[-1].via == SESSION_KEY and ev.activity[-1].event_name == "ListBuckets"
    assert ev.trails[0].name == "management-events" and ev.trails[0].logging is True
    assert ev.data_events_logged is False
    assert ev.session_keys == (SESSION_KEY,)
    assert [(p.event_name, p.error_code) for p in ev.persistence] == [("CreateAccessKey", "AccessDenied")]
    assert {a.source_ip for a in ev.activity} == {ATTACKER_IP}
    notify = {n.name: n for n in report.notification}
    assert notify[CUSTOMERS_TABLE].touched is True and notify[CUSTOMERS_TABLE].estimated_records == 20
    assert notify[EXPORTS_BUCKET].estimated_records == 3  # counted by a bounded listing


def test_every_format_shows_did_touch(reports: tuple[Report, Report]) -> None:
    report, _ = reports
    table = render(report, "table")
    assert "TOUCHED: DescribeTable x1" in table and "Evidence: collected" in table
    assert "Notification sizing" in table and "persistence created (or attempted)" in table
    markdown = render(report, "markdown")
    assert "## Evidence (collected)" in markdown and "| Touched |" in markdown
    assert "## Notification sizing" in markdown
    document = json.loads(render(report, "json"))
    assert {d["name"] for d in document["datasets"] if d["touched"]} == {CUSTOMERS_TABLE, DB_SECRET}


def test_without_lookup_events_touched_is_unknown_not_no(reports: tuple[Report, Report]) -> None:
    _, report = reports
    Draft202012Validator(report_schema()).validate(report.to_json())
    ev = report.evidence
    assert ev is not None and ev.status == "failed"
    assert {g.operation for g in ev.gaps} == {"LookupEvents"}
    assert all(d.touched is None for d in report.datasets)
    assert report.coverage.complete  # evidence gaps are the evidence's, not the reach analysis'


def test_offline_snapshot_with_saved_lookup_events(
    moto: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``analyze --snapshot S --cloudtrail-events F``: saved ``aws cloudtrail lookup-events`` output
    (here the demo's recorded events) as the evidence of an offline analysis."""
    from typer.testing import CliRunner

    from blastradius.cli import app

    monkeypatch.setattr(demo, "CUSTOMER_ITEMS", 5)
    incident = build_incident_account()
    snapshot = tmp_path / "snap.json"
    api.save_snapshot(api.collect(LIVE), snapshot)
    created = boto3.client("iam", region_name=REGION).list_access_keys(UserName=incident.leaked_user)[
        "AccessKeyMetadata"
    ][0]["CreateDate"]
    events = tmp_path / "events.json"
    events.write_text(
        json.dumps({"Events": incident_events(incident.leaked_key_id, created)[incident.leaked_key_id]})
    )
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int((created + timedelta(hours=1)).timestamp())))
    args = ["analyze", "--key", incident.leaked_key_id, "--snapshot", str(snapshot), "--format", "json"]
    result = CliRunner().invoke(app, [*args, "--cloudtrail-events", str(events)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["evidence"]["source"] == f"file {events}" and report["evidence"]["event_count"] == 8
    assert {d["name"] for d in report["datasets"] if d["touched"]} == {CUSTOMERS_TABLE, DB_SECRET}
    plain = json.loads(CliRunner().invoke(app, args).stdout)
    assert plain["evidence"]["status"] == "not collected" and all(
        d["touched"] is None for d in plain["datasets"]
    )
    live_only = CliRunner().invoke(
        app, ["analyze", "--key", incident.leaked_key_id, "--cloudtrail-events", str(events)]
    )
    assert live_only.exit_code == 2 and "applies with --snapshot" in live_only.stderr
