"""``rotate --apply``: containment that acts, idempotently, with an audit log, stopping at a failure.

On the demo incident's moto account (in-process). moto does not evaluate IAM, so the expected state
comes from the AWS docs: "Revoke IAM role temporary security credentials" (an inline Deny * policy with
``DateLessThan aws:TokenIssueTime``), "Permissions required to manage access keys" (an access key's
description is a tag on its user keyed by the key id), "Manage access keys for IAM users" (deactivate,
do not delete). A denied call is simulated with a botocore ``before-call`` hook returning AccessDenied.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from typer.testing import CliRunner

from blastradius import api, demo
from blastradius.apply import CHANGED, UNCHANGED
from blastradius.cli import app
from blastradius.demo import LEAKED_USER, REGION, SYNC_ROLE, build_incident_account

LIVE = api.LiveOptions(regions=(REGION,))
POLICY = "AWSRevokeOlderSessions"


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def incident(moto: None, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795000000")  # 2026-11-18T...: a fixed cut-off
    monkeypatch.setattr(demo, "CUSTOMER_ITEMS", 10)  # the items do not matter here; speed does
    return build_incident_account().leaked_key_id


def test_apply_contains_then_a_second_run_changes_nothing(incident: str, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    report = api.analyze(incident, live=LIVE, evidence=False)
    first = api.apply_containment(report, LIVE, audit_log=log)
    assert first.failed is None
    assert [(o.action.operation, o.result) for o in first.outcomes] == [
        ("iam:UpdateAccessKey", CHANGED),
        ("iam:PutUserPolicy", CHANGED),
        ("iam:PutRolePolicy", CHANGED),
        ("iam:TagUser", CHANGED),
    ]
    iam = boto3.client("iam", region_name=REGION)
    (key,) = iam.list_access_keys(UserName=LEAKED_USER)["AccessKeyMetadata"]
    assert key["Status"] == "Inactive"  # deactivated, not deleted
    for document in (
        iam.get_user_policy(UserName=LEAKED_USER, PolicyName=POLICY)["PolicyDocument"],
        iam.get_role_policy(RoleName=SYNC_ROLE, PolicyName=POLICY)["PolicyDocument"],
    ):
        (statement,) = document["Statement"]
        assert statement["Effect"] == "Deny" and statement["Action"] == "*"
        assert statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"] == report.generated_at
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=LEAKED_USER)["Tags"]}
    assert tags[incident].startswith("COMPROMISED")
    assert stat.S_IMODE(log.stat().st_mode) == 0o600

    second = api.apply_containment(report, LIVE, audit_log=log)
    assert [o.result for o in second.outcomes] == [UNCHANGED] * 4
    assert [o.detail for o in second.outcomes][:2] == [
        "already inactive",
        "policy already attached with the same document",
    ]
    assert "Nothing changed" in second.statement()
    records = lines(log)
    assert [r["type"] for r in records].count("start") == 2
    writes = [
        r for r in records if r["type"] == "call" and not r["call"].split(":")[1].startswith(("Get", "List"))
    ]
    assert len(writes) == 4  # the second run only read
    assert records[-1] == {**records[-1], "type": "end", "status": "ok", "changed": 0, "unchanged": 4}


def test_a_later_plan_keeps_the_revocation_in_place(  # moving the cut-off would end sessions started since
    incident: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.apply_containment(api.analyze(incident, live=LIVE, evidence=False), LIVE, audit_log=tmp_path / "a")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795003600")
    again = api.apply_containment(
        api.analyze(incident, live=LIVE, evidence=False), LIVE, audit_log=tmp_path / "a"
    )
    deny = [o for o in again.outcomes if o.action.operation.endswith("Policy")]
    assert deny and all(o.result == UNCHANGED and "left unchanged" in o.detail for o in deny)


def _deny(operation: str) -> Any:
    def handler(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        error = {"Error": {"Code": "AccessDenied", "Message": f"not authorized to perform iam:{operation}"}}
        return AWSResponse("https://iam.amazonaws.com/", 403, {}, None), error

    return handler


def test_failure_midway_stops_and_says_what_was_and_was_not_done(incident: str, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    report = api.analyze(incident, live=LIVE, evidence=False)
    session = boto3.Session(region_name=REGION)
    session.events.register("before-call.iam.PutRolePolicy", _deny("PutRolePolicy"))
    result = api.apply_containment(report, LIVE, audit_log=log, session=session)
    failed = result.failed
    assert failed is not None and failed.action.operation == "iam:PutRolePolicy"
    assert failed.error_code == "AccessDenied"
    assert [a.operation for _, a in result.not_done] == ["iam:TagUser"]
    text = result.statement()
    assert text.startswith("STOPPED at step") and "AccessDenied" in text
    assert "deactivate access key" in text.split("NOT done:")[0]
    assert "(not attempted)" in text.split("NOT done:")[1]
    records = lines(log)
    assert any(r["type"] == "call" and r["call"] == "iam:PutRolePolicy" and not r["ok"] for r in records)
    assert records[-1]["status"] == "failed" and records[-1]["not_done"][0]["operation"] == "iam:TagUser"
    iam = boto3.client("iam", region_name=REGION)
    assert iam.list_user_tags(UserName=LEAKED_USER)["Tags"] == [{"Key": "vendor", "Value": "subcontractor"}]


def _recording(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    calls: set[str] = set()
    original = boto3.Session.client

    def client(self: boto3.Session, *args: Any, **kwargs: Any) -> Any:
        made = original(self, *args, **kwargs)
        made.meta.events.register("before-call", lambda model, **_: calls.add(model.name))
        return made

    monkeypatch.setattr(boto3.Session, "client", client)
    return calls


def test_rotate_without_apply_makes_no_write_and_apply_refuses_without_a_terminal(
    incident: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _recording(monkeypatch)
    result = CliRunner().invoke(app, ["rotate", "--key", incident, "--region", REGION])
    assert result.exit_code == 0, result.output
    assert calls and all(c.startswith(("Get", "List", "Describe", "LookupEvents")) for c in calls), calls
    refused = CliRunner().invoke(app, ["rotate", "--key", incident, "--region", REGION, "--apply"])
    assert refused.exit_code == 2
    assert "not a terminal" in refused.stderr and "--yes" in refused.stderr
    assert all(c.startswith(("Get", "List", "Describe", "LookupEvents")) for c in calls)


def test_apply_with_yes_from_the_cli(incident: str, tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    args = ["rotate", "--key", incident, "--region", REGION, "--apply", "--yes", "--audit-log", str(log)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "rotate --apply will make these 4 call(s)" in result.stderr
    assert "Containment applied:" in result.stderr and str(log) in result.stderr
    assert "(rotate --apply does this)" in result.stdout  # the plan marks what --apply executes


def test_apply_refuses_a_snapshot(tmp_path: Path) -> None:
    snapshot = tmp_path / "s.json"
    snapshot.write_text("{}", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["rotate", "--key", "AKIAIOSFODNN7EXAMPLE", "--snapshot", str(snapshot), "--apply", "--yes"]
    )
    assert result.exit_code == 2 and "cannot be combined with --snapshot" in result.stderr


def test_apply_asks_on_a_terminal_and_no_means_nothing_is_written(
    incident: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("blastradius.cli._stdin_is_terminal", lambda: True)
    calls = _recording(monkeypatch)
    log = tmp_path / "audit.jsonl"
    args = ["rotate", "--key", incident, "--region", REGION, "--apply", "--audit-log", str(log)]
    declined = CliRunner().invoke(app, args, input="n\n")
    assert declined.exit_code == 0 and "Apply these containment calls now?" in declined.stderr
    assert all(c.startswith(("Get", "List", "Describe", "LookupEvents")) for c in calls)
    assert not log.exists()  # declined: not even a log line
    accepted = CliRunner().invoke(app, args, input="y\n")
    assert accepted.exit_code == 0 and "Containment applied:" in accepted.stderr
    assert "UpdateAccessKey" in calls
