"""``blastradius audit``: every access key of an account ranked by blast radius, from one graph.

A multi-user moto account (collected once through the real ``collect`` command) with users whose reach
is disjoint, overlapping and empty, an inactive key, a user reaching a sensitive table through a role and
one reaching an administrator role. Expected reach follows the AWS documentation (*Policy evaluation
logic*: an identity Allow is needed within the account; *Switching to an IAM role*: sts:AssumeRole must be
allowed by the caller's policy and by the role's trust policy); moto only stores the policies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from conftest import MOTO_CREDENTIALS
from jsonschema import Draft202012Validator
from scenarios import ACCOUNT, REGION, Account, allow, trust
from test_cli import invoke

from blastradius.analyze import analyze_snapshot
from blastradius.audit import AUDIT_SCHEMA, audit_snapshot, build_audit_graph
from blastradius.graph import build_graph
from blastradius.importers import load_snapshot
from blastradius.model import User
from blastradius.report import DatasetFinding, Report
from blastradius.rules import load_rules
from blastradius.schema import audit_schema

AUDIT_VALIDATOR = Draft202012Validator(audit_schema())
EPOCH = "1764028800"  # 2025-11-25T00:00:00Z


class Estate(NamedTuple):
    """A collected multi-user account and its users' key ids."""

    snapshot: Path
    keys: dict[str, str]  # user name -> key id


def _estate(acct: Account) -> dict[str, str]:
    customers = acct.table("customers", "customer_number", "email")
    orders = acct.table("orders", "order_id")  # medium (sensitivity.toml name-commerce)
    acct.bucket("app-logs")  # low (sensitivity.toml: logs)
    acct.bucket("hr-exports", tags={"data-classification": "pii"})
    reader = acct.role(
        "exports-reader",
        trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
        allow("s3:GetObject", "arn:aws:s3:::hr-exports/*"),
    )
    admin = acct.role("break-glass", trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), allow("*", "*"))
    keys = {
        "alice": acct.user("alice", allow(["dynamodb:GetItem", "dynamodb:Scan"], customers)),  # high
        "carol": acct.user("carol", allow("dynamodb:Scan", [customers, orders])),  # overlaps alice
        "gina": acct.user("gina", allow("s3:GetObject", "arn:aws:s3:::app-logs/*")),  # disjoint, none
        "bob": acct.user("bob"),  # nothing at all
        "dave": acct.user("dave", allow("sts:AssumeRole", reader)),  # high, through a role
        "erin": acct.user("erin", allow("sts:AssumeRole", admin)),  # admin, through a role
        "frank": acct.user("frank", allow("dynamodb:Scan", customers)),  # high, but inactive
    }
    acct.client("iam").update_access_key(UserName="frank", AccessKeyId=keys["frank"], Status="Inactive")
    return keys


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    """The account, collected through ``blastradius collect`` against in-process moto."""
    from moto import mock_aws

    empty = tmp_path_factory.mktemp("aws") / "empty"
    empty.write_text("")
    snapshot = tmp_path_factory.mktemp("estate") / "snap.json"
    with pytest.MonkeyPatch.context() as mp, mock_aws():
        for name, value in {**MOTO_CREDENTIALS, "AWS_CONFIG_FILE": str(empty)}.items():
            mp.setenv(name, value)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        keys = _estate(Account())
        result = invoke("collect", "--output", snapshot, "--region", REGION)
        assert result.exit_code == 0, result.output
    yield Estate(snapshot, keys)


def audited(*args: str | Path, exit_code: int = 0) -> dict[str, Any]:
    """Run ``blastradius audit ARGS --format json``; the schema-validated document."""
    result = invoke("audit", *args, "--format", "json")
    assert result.exit_code == exit_code, f"{result.output}\n{result.exception!r}"
    document: dict[str, Any] = json.loads(result.stdout)
    AUDIT_VALIDATOR.validate(document)
    return document


def by_user(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Audit rows by user name."""
    return {k["user_name"]: k for k in document["keys"]}


def test_every_key_is_ranked_by_blast_radius(estate: Estate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    document = audited("--snapshot", estate.snapshot)
    assert document["schema"] == AUDIT_SCHEMA
    rows = by_user(document)
    assert set(rows) == set(estate.keys)
    assert {u: r["access_key_id"] for u, r in rows.items()} == estate.keys
    order = [k["user_name"] for k in document["keys"]]
    assert [k["rank"] for k in document["keys"]] == list(range(1, len(order) + 1))
    # An administrator first; then the keys reaching one high dataset each, more datasets first.
    assert order[0] == "erin"
    assert set(order[1:5]) == {"alice", "carol", "dave", "frank"}
    assert order[1] == "carol"  # customers (high) and orders (medium: commerce data)
    assert order.index("frank") > order.index("alice")  # same reach, inactive ranks lower
    assert order[-2:] == ["gina", "bob"]  # a log bucket beats nothing at all

    erin = rows["erin"]
    assert erin["admin_reachable"] is True and erin["admin_certainty"] == "definite"
    # The admin role itself, and (with escalation techniques) the synthetic admin of the account it leads to.
    assert f"arn:aws:iam::{ACCOUNT}:role/break-glass" in erin["admin_principals"]
    assert set(erin["admin_principals"]) <= {
        f"arn:aws:iam::{ACCOUNT}:role/break-glass",
        f"account-admin:{ACCOUNT}",
    }
    # break-glass, exports-reader assumed from it, and (an administrator escalates to anyone) every other
    # principal of the account.
    assert erin["principals_reachable"] >= 2
    assert erin["sensitivity"]["high"]["datasets"] >= 2  # admin reads every table and bucket

    dave = rows["dave"]
    assert dave["admin_reachable"] is False and dave["principals_reachable"] == 1
    assert dave["highest_sensitivity"] == "high"
    assert [(d["name"], d["access"], d["certainty"]) for d in dave["top_datasets"]] == [
        ("hr-exports", ["read"], "definite")
    ]
    assert rows["alice"]["sensitivity"]["high"] == {
        "datasets": 1,
        "definite": 1,
        "levels": {"list": 0, "read": 1, "write": 0, "admin": 0},
    }
    carol = rows["carol"]
    assert carol["datasets_reachable"] == 2
    assert carol["sensitivity"]["high"]["datasets"] == 1 and carol["sensitivity"]["medium"]["datasets"] == 1
    assert rows["frank"]["status"] == "Inactive" and rows["frank"]["highest_sensitivity"] == "high"
    assert rows["gina"]["highest_sensitivity"] == "low" and rows["gina"]["datasets_reachable"] == 1
    bob = rows["bob"]
    assert bob["datasets_reachable"] == 0 and bob["highest_sensitivity"] is None
    assert bob["top_datasets"] == [] and bob["principals_reachable"] == 0
    for row in rows.values():
        assert row["age_days"] == 0 or row["age_days"] is None or row["age_days"] >= 0
        assert set(row["last_used"]) == {"date", "service", "region"}
    # Only erin (through the break-glass administrator role) can escalate; nobody else holds an escalation
    # technique's permissions.
    assert {u for u, row in rows.items() if row["escalation_possible"]} == {"erin"}

    summary = document["summary"]
    assert summary["keys"] == 7 and summary["active_keys"] == 6
    assert summary["keys_reaching_admin"] == 1
    assert summary["keys_reaching"]["high"] == 5  # erin, alice, carol, dave, frank


def test_audit_reach_equals_analyze_for_every_key(estate: Estate) -> None:
    """One graph for all keys gives, per key, exactly the datasets, levels and certainty of ``analyze``."""
    snapshot = load_snapshot(estate.snapshot)
    users = [u for u in snapshot.users if u.access_keys]
    audit = build_audit_graph(build_graph(snapshot, load_rules()), [u.arn for u in users])
    for user in users:
        report = analyze_snapshot(snapshot, _key_of(user))
        expected = {d.arn: {g.level: g.certainty for g in d.grants} for d in _reach(report)}
        assert audit.dataset_levels(user.arn) == expected, user.name


@pytest.mark.parametrize(
    ("fail_on", "exit_code"), [("high", 1), ("medium", 1), ("none", 0)], ids=["high", "medium", "off"]
)
def test_fail_on_counts_active_keys(estate: Estate, fail_on: str, exit_code: int) -> None:
    audited("--snapshot", estate.snapshot, "--fail-on", fail_on, exit_code=exit_code)


def test_an_inactive_key_alone_does_not_fail_the_audit(estate: Estate, tmp_path: Path) -> None:
    """Only frank's (inactive) key reaches the customers table: --fail-on high passes."""
    data = json.loads(estate.snapshot.read_text())
    keep = {"frank", "gina", "bob"}
    data["users"] = [u for u in data["users"] if u["name"] in keep]
    trimmed = tmp_path / "trimmed.json"
    trimmed.write_text(json.dumps(data))
    document = audited("--snapshot", trimmed, "--fail-on", "high", exit_code=0)
    assert by_user(document)["frank"]["highest_sensitivity"] == "high"
    assert document["keys"][0]["user_name"] == "frank"
    # The same key active again: the audit fails.
    for user in data["users"]:
        for key in user["access_keys"]:
            key["status"] = "Active"
    trimmed.write_text(json.dumps(data))
    audited("--snapshot", trimmed, "--fail-on", "high", exit_code=1)


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_human_formats_list_every_key(estate: Estate, fmt: str, tmp_path: Path) -> None:
    out = tmp_path / f"audit.{fmt}"
    result = invoke("audit", "--snapshot", estate.snapshot, "--format", fmt, "--output", out)
    assert result.exit_code == 0, result.output
    assert (out.stat().st_mode & 0o777) == 0o600
    text = out.read_text()
    for key in estate.keys.values():
        assert key in text
    assert "break-glass" in text or "YES" in text
    assert "hr-exports" in text  # dave's most sensitive dataset, named


def test_unknown_format_is_a_usage_error(estate: Estate) -> None:
    result = invoke("audit", "--snapshot", estate.snapshot, "--format", "html5")
    assert result.exit_code == 2
    assert "unknown audit format 'html5'" in result.stderr


def test_audit_json_is_deterministic(estate: Estate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    first = invoke("audit", "--snapshot", estate.snapshot, "--format", "json").stdout
    second = invoke("audit", "--snapshot", estate.snapshot, "--format", "json").stdout
    assert first == second


def test_schema_rejects_a_broken_document(estate: Estate) -> None:
    document = audit_snapshot(load_snapshot(estate.snapshot)).to_json()
    AUDIT_VALIDATOR.validate(document)
    Draft202012Validator.check_schema(audit_schema())
    broken = json.loads(json.dumps(document))
    broken["keys"][0]["top_datasets"] = [{"arn": "x", "name": "x", "type": "t", "sensitivity": "huge"}]
    assert list(AUDIT_VALIDATOR.iter_errors(broken))
    del broken["keys"]
    assert list(AUDIT_VALIDATOR.iter_errors(broken))


def test_live_audit_collects_once_with_the_auditor_credentials(moto: None) -> None:
    """Without --snapshot the auditor's credentials collect the account, then every key is ranked."""
    keys = _estate(Account())
    document = audited("--region", REGION)
    rows = by_user(document)
    assert set(rows) == set(keys)
    assert document["keys"][0]["user_name"] == "erin"
    assert document["coverage"]["source"] == "collect"


def _key_of(user: User) -> str:
    """An active key of the user when it has one (an inactive key's reach is what it would regain)."""
    active = [k for k in user.access_keys if k.status == "Active"]
    return (active or list(user.access_keys))[0].access_key_id


def _reach(report: Report) -> tuple[DatasetFinding, ...]:
    """What the key's user reaches: for an inactive key, what it would reach again if re-activated."""
    return report.datasets or tuple(getattr(report, "if_reactivated", ()))


# -- admin reachable: the documented evaluation, not action names -------------------------------------


def _admin_snapshot(statement: dict[str, Any], boundary: dict[str, Any] | None = None) -> Any:
    from blastradius.model import AccessKey, ManagedPolicy, PolicyDocument, Role, Snapshot, User

    role_arn = f"arn:aws:iam::{ACCOUNT}:role/ops"
    policies = []
    if boundary is not None:
        policies.append(
            ManagedPolicy(
                arn=f"arn:aws:iam::{ACCOUNT}:policy/Boundary",
                name="Boundary",
                document={"Version": "2012-10-17", "Statement": [boundary]},
            )
        )
    return Snapshot(
        account_id=ACCOUNT,
        collected_at="2026-11-25T00:00:00Z",
        users=(
            User(
                arn=f"arn:aws:iam::{ACCOUNT}:user/u",
                name="u",
                inline_policies=(
                    PolicyDocument(
                        name="hop",
                        document={
                            "Version": "2012-10-17",
                            "Statement": [
                                {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}
                            ],
                        },
                    ),
                ),
                access_keys=(
                    AccessKey(access_key_id="AKIARZPUZDIKO66S32JL", user_name="u", status="Active"),
                ),
            ),
        ),
        roles=(
            Role(
                arn=role_arn,
                name="ops",
                trust_policy={
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                inline_policies=(
                    PolicyDocument(name="p", document={"Version": "2012-10-17", "Statement": [statement]}),
                ),
                permissions_boundary_arn=policies[0].arn if policies else None,
            ),
        ),
        managed_policies=tuple(policies),
        services={"iam": "ok"},
    )


ADMIN = {"Effect": "Allow", "Action": "*", "Resource": "*"}


@pytest.mark.parametrize(
    ("statement", "boundary", "expected", "principals"),
    [
        # The role, and the synthetic admin of the account its iam:* lets it escalate to.
        (ADMIN, None, (True, "definite"), 2),
        # aws:MultiFactorAuthPresent cannot be met with a long-term key: the admin is conditional.
        (
            {**ADMIN, "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}},
            None,
            (True, "conditional"),
            2,
        ),
        # A permissions boundary limits the role to S3 (Permissions boundaries for IAM entities).
        (ADMIN, {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, (False, None), 1),
        # iam:* alone does not allow every action, but it escalates: the role can attach
        # AdministratorAccess to itself (pathfinding.cloud iam paths), reaching the account admin.
        ({"Effect": "Allow", "Action": "iam:*", "Resource": "*"}, None, (True, "definite"), 2),
    ],
    ids=["allow-star", "mfa-conditional", "boundary-limits", "iam-only"],
)
def test_admin_reachable_follows_the_evaluation_logic(
    statement: dict[str, Any],
    boundary: dict[str, Any] | None,
    expected: tuple[bool, str | None],
    principals: int,
) -> None:
    (key,) = audit_snapshot(_admin_snapshot(statement, boundary), jobs=1).keys
    assert (key.admin_reachable, key.admin_certainty) == expected
    assert key.principals_reachable == principals
