"""The README is a contract too: the quickstart, the CI command, and the auditor's read-only policy."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

# IAM action names for API operations whose names differ (Service Authorization Reference).
ACTION_FOR_OPERATION = {
    "s3:ListBuckets": "s3:ListAllMyBuckets",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "s3control:GetPublicAccessBlock": "s3:GetAccountPublicAccessBlock",
}


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)


def quickstart() -> list[str]:
    section = README.split("## Quickstart", 1)[1]
    return [line for line in code_blocks(section)[0].splitlines() if line.strip()]


def test_quickstart_is_exactly_two_commands_install_and_demo_then_tests() -> None:
    first, second = quickstart()  # exactly two
    assert "pip install" in first and first.rstrip().endswith("blastradius demo")
    assert "pytest" in second


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert quickstart()[1] in ci.splitlines()


def auditor_policy_actions() -> set[str]:
    section = README.split("## Permissions the auditor needs", 1)[1]
    policy: dict[str, Any] = json.loads(code_blocks(section)[0])
    (statement,) = policy["Statement"]
    return set(statement["Action"])


@pytest.mark.usefixtures("moto")
def test_collection_is_read_only_and_covered_by_the_readme_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every AWS call of identify + collect + evidence is a Get/List/Describe/BatchGet (or CloudTrail's
    read-only LookupEvents) that the README's policy allows.

    The account also runs one of each compute resource, so that the per-resource calls of the compute
    collectors (BatchGetProjects, DescribeNotebookInstance, DescribeTaskDefinition) are recorded too.
    """
    from compute_account import build_compute

    from blastradius import api
    from blastradius.demo import REGION, build_incident_account

    incident = build_incident_account()
    build_compute(boto3.Session(region_name=REGION), REGION)
    calls: set[str] = set()
    original = boto3.Session.client

    def recording_client(self: boto3.Session, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)

        def record(model: Any, **_: Any) -> None:
            service = model.service_model
            # s3control signs as "s3" but its GetPublicAccessBlock is the account-level action.
            prefix = "s3control" if service.service_name == "s3control" else service.signing_name
            calls.add(f"{prefix}:{model.name}")

        client.meta.events.register("before-call", record)
        return client

    monkeypatch.setattr(boto3.Session, "client", recording_client)
    api.analyze(incident.leaked_key_id, live=api.LiveOptions(regions=(REGION,)))
    assert len(calls) > 20
    assert "cloudtrail:LookupEvents" in calls  # the evidence step ran, with the auditor's client
    for call in calls:
        operation = call.split(":", 1)[1]
        assert operation.startswith(("Get", "List", "Describe", "BatchGet", "LookupEvents")), (
            f"{call} is not read-only"
        )
    for per_resource in ("codebuild:BatchGetProjects", "sagemaker:DescribeNotebookInstance"):
        assert per_resource in calls
    assert "ecs:DescribeTaskDefinition" in calls and "ec2:DescribeInstances" in calls
    actions = {ACTION_FOR_OPERATION.get(c, c) for c in calls}
    assert actions <= auditor_policy_actions(), sorted(actions - auditor_policy_actions())
