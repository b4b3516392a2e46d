"""End to end over HTTP: the real CLI against a ThreadedMotoServer on 127.0.0.1, one named incident each.

moto does not evaluate IAM policies; the expected answers below come from the AWS documentation
("Policy evaluation logic", "Permissions boundaries for IAM entities", "Key policies in AWS KMS", ...).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from scenarios import ACCOUNT, REGION, SCENARIOS, Account
from typer.testing import CliRunner

from blastradius.cli import app

pytestmark = pytest.mark.slow


def run_analyze(endpoint: str, key: str, *extra: str) -> tuple[int, dict[str, Any]]:
    """``blastradius analyze --key K --endpoint-url URL --format json`` through the real CLI."""
    result = CliRunner().invoke(
        app,
        ["analyze", "--key", key, "--endpoint-url", endpoint, "--region", REGION, "--format", "json", *extra],
    )
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def datasets(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in report["datasets"]}


def scenario(moto_server: str, name: str) -> dict[str, Any]:
    key = SCENARIOS[name](Account(moto_server))
    _, report = run_analyze(moto_server, key)
    assert report["schema"] == "blastradius.report/v1"
    assert report["key"]["access_key_id"] == key
    return report


def test_direct_read_of_customers_table(moto_server: str) -> None:
    report = scenario(moto_server, "direct_read")
    # moto has no CloudTrail LookupEvents: over HTTP as in-process, that is a gap ("could not look").
    assert [(g["operation"], g["error"]) for g in report["evidence"]["gaps"]] == [
        ("LookupEvents", "NotImplemented")
    ]
    found = datasets(report)
    table = found["customers"]
    assert "read" in table["access"]
    assert table["certainty"] == "definite"
    assert table["sensitivity"] == "high"
    assert [s["kind"] for s in table["grants"][-1]["path"]] == ["access"]
    assert table["path"][0]["from"] == f"arn:aws:iam::{ACCOUNT}:user/app"


def test_role_chain_of_two_hops_reaches_exports(moto_server: str) -> None:
    report = scenario(moto_server, "role_chain_two_hops")
    bucket = datasets(report)["chain-exports"]
    read = next(g for g in bucket["grants"] if g["level"] == "read")
    assert [s["kind"] for s in read["path"]] == ["assume", "assume", "access"]
    assert [s["to"] for s in read["path"][:2]] == [
        f"arn:aws:iam::{ACCOUNT}:role/hop1",
        f"arn:aws:iam::{ACCOUNT}:role/hop2",
    ]
    assert {p["arn"] for p in report["principals"]} >= {
        f"arn:aws:iam::{ACCOUNT}:role/hop1",
        f"arn:aws:iam::{ACCOUNT}:role/hop2",
    }


def test_explicit_deny_on_payments_table(moto_server: str) -> None:
    found = datasets(scenario(moto_server, "explicit_deny"))
    assert "payments" not in found  # an explicit deny overrides any allow
    assert {"read", "write", "admin"} <= set(found["orders"]["access"])


def test_boundary_limits_a_role_to_listing(moto_server: str) -> None:
    report = scenario(moto_server, "boundary_limits_role")
    bucket = datasets(report)["bounded-data"]
    # Effective permissions are the intersection of the identity policy (s3:*) and the boundary.
    assert bucket["access"] == ["list"]


def test_cross_account_trust_denied(moto_server: str) -> None:
    report = scenario(moto_server, "cross_account_trust_denied")
    assert "partner-data" not in datasets(report)
    assert [p["arn"] for p in report["principals"]] == [f"arn:aws:iam::{ACCOUNT}:user/integration"]


def test_resource_policy_grants_a_user_without_identity_policy(moto_server: str) -> None:
    bucket = datasets(scenario(moto_server, "resource_policy_grants_user"))["shared-reports"]
    assert bucket["access"] == ["read"]
    assert bucket["certainty"] == "definite"
    assert "shared-reports" in (bucket["path"][0]["policy"] or "")


def test_kms_key_policy_blocks_decrypt(moto_server: str) -> None:
    found = datasets(scenario(moto_server, "kms_key_policy_blocks_decrypt"))
    # The key policy neither names the user nor enables IAM policies: kms:Decrypt is denied, so the
    # sealed secret cannot be read even though secretsmanager:GetSecretValue is allowed.
    assert "read" not in found.get("sealed/db-password", {}).get("access", [])
    assert "read" in found["plain/api-token"]["access"]


def test_ip_conditioned_access_is_conditional(moto_server: str) -> None:
    table = datasets(scenario(moto_server, "ip_conditioned_access"))["corp-customers"]
    assert table["certainty"] == "conditional"
    assert any("aws:SourceIp" in c and "203.0.113.0/24" in c for c in table["conditions"])
