"""Policy-evaluation fidelity end to end over HTTP (issue 3): the real CLI against a ThreadedMotoServer.

SCP deny, RCP deny, a permissions boundary on an intermediate role of a chain, a KMS grant, and a resource
policy naming a role session. moto does not evaluate policies; every expected answer below comes from the
AWS documentation page named in the test's docstring.

The SCP and RCP scenarios run in a member account of an organization (the management account is not
subject to SCPs or RCPs), collected with the member's own credentials as a delegated administrator would
(see ``scenarios.share_organization_with``).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import MOTO_CREDENTIALS
from scenarios import (
    Account,
    MemberAccount,
    boundary_on_intermediate_role,
    kms_grant_opens_key,
    public_acls_and_block_public_access,
    rcp_denies_bucket_reads,
    resource_policy_names_session,
    scp_denies_table,
)
from typer.testing import CliRunner

from blastradius.cli import app
from blastradius.model import RCP, SCP, Snapshot, load_json_file

pytestmark = pytest.mark.slow

REGION = "us-east-1"


def cli(*args: str, endpoint: str | None = None, env: dict[str, str] | None = None) -> Any:
    """Run the real CLI (against the moto server when ``endpoint`` is given)."""
    where = ["--endpoint-url", endpoint, "--region", REGION] if endpoint else []
    result = CliRunner().invoke(app, [*args, *where], env=env)
    assert result.exit_code in (0, 1), result.output
    return result


def analyze(endpoint: str, key: str) -> dict[str, Any]:
    """``blastradius analyze --key K --format json`` against the moto server; the parsed report."""
    report: dict[str, Any] = json.loads(
        cli("analyze", "--key", key, "--format", "json", endpoint=endpoint).stdout
    )
    assert report["key"]["access_key_id"] == key
    return report


def datasets(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in report["datasets"]}


# ------------------------------------------------------------------------------------------ SCP / RCP


@dataclass(frozen=True)
class Collected:
    """A member-account scenario collected over HTTP with the member's credentials (the auditor's
    workflow: ``collect`` once, ``analyze --snapshot`` offline)."""

    member: MemberAccount
    key: str
    path: Path
    snapshot: Snapshot

    def analyze(self) -> dict[str, dict[str, Any]]:
        result = cli("analyze", "--snapshot", str(self.path), "--key", self.key, "--format", "json")
        return datasets(json.loads(result.stdout))


def _collected(endpoint: str, tmp: Path, build: Callable[[Account], tuple[MemberAccount, str]]) -> Collected:
    # Module scope runs before the per-test autouse fixture: set moto's fake credentials here too.
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            **MOTO_CREDENTIALS,
            "AWS_CONFIG_FILE": str(tmp / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-config"),
        }.items():
            env.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_DEFAULT_PROFILE"):
            env.delenv(name, raising=False)
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
        member, key = build(Account(endpoint))
        path = tmp / "member.json"
        services = [
            arg for name in ("iam", "s3", "dynamodb", "organizations") for arg in ("--services", name)
        ]
        cli("collect", "--output", str(path), *services, endpoint=endpoint, env=member.credentials)
    return Collected(member, key, path, Snapshot.from_json(load_json_file(path), source=str(path)))


@pytest.fixture(scope="module")
def scp_collected(_moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Collected:
    return _collected(_moto_server, tmp_path_factory.mktemp("scp"), scp_denies_table)


@pytest.fixture(scope="module")
def rcp_collected(_moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Collected:
    return _collected(_moto_server, tmp_path_factory.mktemp("rcp"), rcp_denies_bucket_reads)


def _assert_org_collected(collected: Collected, policy_type: str, name: str) -> None:
    snapshot, member = collected.snapshot, collected.member
    org = snapshot.organization
    assert org is not None and snapshot.account_id == member.account_id
    assert snapshot.services["organizations"] == "ok" and not snapshot.warnings and not snapshot.gaps
    assert org.management_account_id != member.account_id
    assert set(org.enabled_policy_types) == {SCP, RCP}
    levels = org.levels(member.account_id, policy_type)
    assert levels is not None and len(levels) == 3  # root, OU workloads, the account
    assert all(levels), "every level has at least the default policy"
    assert name in {p.name for level in levels for p in level}


def test_scp_deny_scenario_collects_the_organization(scp_collected: Collected) -> None:
    _assert_org_collected(scp_collected, SCP, "DenyDynamoDB")
    org = scp_collected.snapshot.organization
    assert org is not None
    ou_level = org.levels(scp_collected.member.account_id, SCP)[1]  # type: ignore[index]
    deny = next(p for p in ou_level if p.name == "DenyDynamoDB")
    assert deny.document["Statement"][0] == {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}


def test_scp_deny_on_the_ou_blocks_the_table(scp_collected: Collected) -> None:
    """Service control policies (SCPs): an explicit Deny in an SCP at any level from the root to the
    account denies, whatever the identity policy allows; SCPs do not grant, so the bucket stays readable."""
    found = scp_collected.analyze()
    assert "read" in found["member-reports"]["access"]
    assert "member-orders" not in found


def test_rcp_deny_scenario_collects_the_organization(rcp_collected: Collected) -> None:
    _assert_org_collected(rcp_collected, RCP, "DenyVaultReads")
    org = rcp_collected.snapshot.organization
    assert org is not None
    account_level = org.levels(rcp_collected.member.account_id, RCP)[2]  # type: ignore[index]
    assert {p.name for p in account_level} == {"RCPFullAWSAccess", "DenyVaultReads"}


def test_rcp_deny_on_the_account_blocks_reading_the_vault(rcp_collected: Collected) -> None:
    """Resource control policies (RCPs): an explicit Deny in an RCP applying to the resource's account
    denies even a same-account principal whose identity policy allows; other buckets are unaffected."""
    found = rcp_collected.analyze()
    assert {"read", "write"} <= set(found["member-scratch"]["access"])
    # s3:GetObject is denied by the RCP whatever the bucket policy says; read remains only by rewriting the
    # bucket policy (an escalation) for the read actions the RCP does not name (e.g. s3:GetObjectVersion).
    vault_read = [g for g in found["member-vault"]["grants"] if g["level"] == "read"]
    assert all(any(step.get("technique") for step in g["path"]) for g in vault_read)
    assert all("s3:GetObject" not in step["actions"] for g in vault_read for step in g["path"])
    assert "write" in found["member-vault"]["access"]  # the RCP denies only s3:GetObject


# ---------------------------------------------------------------------------------- boundary, KMS, session


def test_boundary_on_an_intermediate_role_caps_it_but_lets_the_chain_through(moto_server: str) -> None:
    """Permissions boundaries for IAM entities: a role's effective permissions are the intersection of its
    identity policy and its boundary. hop1's boundary allows only sts:AssumeRole, so hop1's own
    s3:GetObject on hop1-data is capped, while assuming hop2 (which has no boundary) still works."""
    report = analyze(moto_server, boundary_on_intermediate_role(Account(moto_server)))
    found = datasets(report)
    assert "hop1-data" not in found
    read = next(g for g in found["chain-data"]["grants"] if g["level"] == "read")
    assert [s["kind"] for s in read["path"]] == ["assume", "assume", "access"]
    assert read["path"][1]["to"].endswith(":role/hop2") and read["certainty"] == "definite"


def test_kms_grant_opens_one_key_and_not_the_other(moto_server: str) -> None:
    """Grants in AWS KMS: a grant gives its grantee the listed operations even when the key policy does not
    name it; without a grant, a key policy that neither names the user nor enables IAM policies denies
    kms:Decrypt, so the secret under that key cannot be read (Key policies in AWS KMS)."""
    found = datasets(analyze(moto_server, kms_grant_opens_key(Account(moto_server))))
    assert "read" in found["granted/db-password"]["access"]
    assert found["granted/db-password"]["certainty"] == "definite"
    assert "read" not in found.get("closed/db-password", {}).get("access", [])


def test_resource_policy_naming_a_role_session_grants_through_that_session(moto_server: str) -> None:
    """Policy evaluation logic (resource-based policies): a bucket policy naming a role session ARN grants
    that session directly, even though the role's own policies allow nothing on S3; the attacker names the
    session when calling sts:AssumeRole. A session of a role the key cannot assume gains nothing."""
    report = analyze(moto_server, resource_policy_names_session(Account(moto_server)))
    # Every collector, S3 Control's account-level Block Public Access included, worked over HTTP.
    assert report["coverage"]["gaps"] == [] and report["coverage"]["complete"] is True
    found = datasets(report)
    assert "other-reports" not in found
    read = next(g for g in found["session-reports"]["grants"] if g["level"] == "read")
    assert [s["kind"] for s in read["path"]] == ["assume", "access"]
    assert read["path"][0]["to"].endswith(":role/reader")


def test_public_read_acl_lists_the_bucket_unless_ignored_or_disabled(moto_server: str) -> None:
    """Access control list (ACL) overview: an AllUsers READ grant allows s3:ListBucket to anyone. Blocking
    public access to your Amazon S3 storage: IgnorePublicAcls makes S3 ignore it; Object Ownership
    BucketOwnerEnforced disables ACLs altogether."""
    report = analyze(moto_server, public_acls_and_block_public_access(Account(moto_server)))
    found = datasets(report)
    assert set(found) == {"acl-open"}
    assert found["acl-open"]["access"] == ["list"] and found["acl-open"]["certainty"] == "definite"
    assert found["acl-open"]["path"][0]["statement"] == "bucket ACL: READ to AllUsers"
