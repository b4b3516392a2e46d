"""Exit codes a pipeline can trust: a gap in coverage is not a clean result.

``--fail-on`` exits 1 on a finding at or above the level; when nothing is found but a collected service
that could hide such a dataset has gaps (AccessDenied, throttling, not collected), the answer is not
verified and the exit code is 3, never 0 ("unknown never reads as safe", README *Pipelines*). A gap in
``organizations`` cannot hide reach (unread SCPs/RCPs are not applied: reach is over-estimated).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_cli import invoke, validated

ACCOUNT = "123456789012"
APP_KEY = "AKIARZPUZDIKO66S32JL"  # decodes to ACCOUNT, as the snapshot says
INTERN_KEY = "AKIARZPUZDIKO66SABCD"  # same account, another key
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/customers"
OK_SERVICES = dict.fromkeys(("iam", "s3", "dynamodb", "secretsmanager", "ssm", "kms"), "ok")


def _user(name: str, key: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    policies = (
        [{"name": f"{name}-data", "document": {"Version": "2012-10-17", "Statement": statements}}]
        if statements
        else []
    )
    return {
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "name": name,
        "inline_policies": policies,
        "access_keys": [
            {"access_key_id": key, "user_name": name, "status": "Active", "created": "2026-10-01T00:00:00Z"}
        ],
    }


def snapshot(
    tmp_path: Path, *, services: dict[str, str] | None = None, gaps: list[dict[str, Any]] | None = None
) -> Path:
    """app reads the customers table (e-mail addresses: high); intern has no policy at all."""
    document: dict[str, Any] = {
        "schema": "blastradius.snapshot/v1",
        "account_id": ACCOUNT,
        "collected_at": "2026-11-25T00:00:00Z",
        "regions": ["us-east-1"],
        "users": [
            _user("app", APP_KEY, [{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE}]),
            _user("intern", INTERN_KEY, []),
        ],
        "datasets": [
            {
                "arn": TABLE,
                "type": "dynamodb-table",
                "name": "customers",
                "account_id": ACCOUNT,
                "region": "us-east-1",
                "field_names": ["customer_number", "email"],
            }
        ],
        "services": {**OK_SERVICES, **(services or {})},
    }
    if gaps:
        document["gaps"] = gaps
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(document))
    return path


def _gap(service: str, operation: str, error: str = "AccessDenied") -> dict[str, Any]:
    return {"service": service, "region": "us-east-1", "operation": operation, "error_code": error}


KMS_DENIED = {"services": {"kms": "AccessDenied"}, "gaps": [_gap("kms", "ListKeys")]}
THROTTLED_S3 = {
    "services": {"s3": "partial"},
    "gaps": [_gap("s3", "GetBucketPolicy", "Throttling") | {"resource": "arn:aws:s3:::exports"}],
}
ORG_DENIED = {
    "services": {"organizations": "AccessDenied"},
    "gaps": [_gap("organizations", "DescribeOrganization")],
}


def analyze(path: Path, key: str, *fail_on: str) -> tuple[int, str, dict[str, Any]]:
    result = invoke("analyze", "--snapshot", path, "--key", key, "--format", "json", *fail_on)
    assert result.exit_code in (0, 1, 3), f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    # The report is on stdout whatever the code, valid against the shipped schema.
    return result.exit_code, result.stderr, validated(json.loads(result.stdout))


@pytest.mark.parametrize(
    ("who", "coverage", "fail_on", "expected"),
    [
        pytest.param("intern", {}, "high", 0, id="complete-and-nothing-found-is-clean-0"),
        pytest.param("intern", KMS_DENIED, "high", 3, id="kms-access-denied-nothing-found-is-unverified-3"),
        pytest.param("intern", THROTTLED_S3, "low", 3, id="throttled-s3-nothing-found-is-unverified-3"),
        pytest.param("intern", KMS_DENIED, "none", 0, id="fail-on-none-never-fails-even-with-gaps"),
        pytest.param("intern", ORG_DENIED, "high", 0, id="organizations-gap-only-widens-reach-0"),
        pytest.param("app", {}, "high", 1, id="finding-complete-1"),
        pytest.param("app", KMS_DENIED, "high", 1, id="finding-beats-incomplete-1"),
    ],
)
def test_analyze_fail_on_distinguishes_clean_from_unverified(
    tmp_path: Path, who: str, coverage: dict[str, Any], fail_on: str, expected: int
) -> None:
    key = APP_KEY if who == "app" else INTERN_KEY
    code, stderr, document = analyze(snapshot(tmp_path, **coverage), key, "--fail-on", fail_on)
    assert code == expected, stderr
    assert bool(document["datasets"]) == (who == "app")
    if expected == 3:
        assert "not a verified clean result (exit 3" in stderr
        assert document["coverage"]["complete"] is False
    else:
        assert "exit 3" not in stderr


def test_gaad_import_without_data_services_is_unverified(tmp_path: Path) -> None:
    """A get-account-authorization-details snapshot holds IAM only: the data stores were never seen."""
    raw = Path(__file__).parent / "fixtures" / "gaad_incident.json"
    users = json.loads(raw.read_text())["UserDetailList"]
    result = invoke(
        "analyze", "--snapshot", raw, "--key", INTERN_KEY, "--principal", users[0]["UserName"],
        "--format", "json", "--fail-on", "high",
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "s3" in result.stderr and "dynamodb" in result.stderr


@pytest.mark.parametrize(
    ("coverage", "fail_on", "expected"),
    [
        pytest.param({}, "high", 1, id="active-key-reaches-high-1"),
        pytest.param(KMS_DENIED, "high", 1, id="finding-beats-incomplete-1"),
    ],
)
def test_audit_findings_exit_1(tmp_path: Path, coverage: dict[str, Any], fail_on: str, expected: int) -> None:
    result = invoke("audit", "--snapshot", snapshot(tmp_path, **coverage), "--fail-on", fail_on, "-f", "json")
    assert result.exit_code == expected, result.output


def _without_app(path: Path) -> Path:
    """The snapshot with only intern's key (who reaches nothing)."""
    document = json.loads(path.read_text())
    document["users"] = [u for u in document["users"] if u["name"] != "app"]
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("coverage", "fail_on", "expected"),
    [
        pytest.param({}, "high", 0, id="complete-nothing-reached-0"),
        pytest.param(KMS_DENIED, "high", 3, id="kms-denied-nothing-reached-3"),
        pytest.param(THROTTLED_S3, "medium", 3, id="throttled-s3-nothing-reached-3"),
        pytest.param(KMS_DENIED, "none", 0, id="fail-on-none-0"),
        pytest.param(ORG_DENIED, "high", 0, id="organizations-gap-only-widens-0"),
    ],
)
def test_audit_fail_on_distinguishes_clean_from_unverified(
    tmp_path: Path, coverage: dict[str, Any], fail_on: str, expected: int
) -> None:
    path = _without_app(snapshot(tmp_path, **coverage))
    result = invoke("audit", "--snapshot", path, "--fail-on", fail_on, "-f", "json")
    assert result.exit_code == expected, result.output
    assert json.loads(result.stdout)["schema"] == "blastradius.audit/v1"  # the report is still written
    assert ("not a verified clean result" in result.stderr) == (expected == 3)
