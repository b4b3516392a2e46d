"""The benchmark's synthetic snapshot generator: valid, deterministic, private, with usable subjects."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from blastradius.analyze import analyze_snapshot
from blastradius.importers import load_snapshot
from blastradius.model import DATASET_TYPES, RCP, SCP, PolicyDocument, Snapshot
from blastradius.simulate import run_cases

SYNTH = Path(__file__).resolve().parent.parent / "benchmarks" / "synth.py"
N = 50


def _load_synth() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmarks_synth", SYNTH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def synth() -> ModuleType:
    return _load_synth()


def _run_cli(out: Path, seed: int = 7) -> dict[str, object]:
    proc = subprocess.run(
        [
            *(sys.executable, str(SYNTH), "--principals", str(N), "--datasets", str(10 * N)),
            *("--policies", "12", "--seed", str(seed), "--out", str(out)),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(proc.stdout)
    assert isinstance(summary, dict)
    return summary


def test_cli_output_validates_and_is_private(tmp_path: Path) -> None:
    out = tmp_path / "snap.json"
    summary = _run_cli(out)
    assert summary["snapshot"] == str(out)
    assert summary["principals"] == N
    assert summary["datasets"] == 10 * N
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    snapshot = Snapshot.from_json(json.loads(out.read_text(encoding="utf-8")), source=str(out))
    assert snapshot.source == "synthetic"
    assert len(snapshot.users) + len(snapshot.roles) == N
    assert len(snapshot.datasets) == 10 * N
    assert {d.type for d in snapshot.datasets} == set(DATASET_TYPES)

    # Every attached or boundary policy is in the snapshot; every group a user names exists.
    policy_arns = {p.arn for p in snapshot.managed_policies}
    groups = {g.name for g in snapshot.groups}
    for entity in (*snapshot.users, *snapshot.roles, *snapshot.groups):
        assert set(entity.managed_policy_arns) <= policy_arns, entity.arn
    for entity in (*snapshot.users, *snapshot.roles):
        assert entity.permissions_boundary_arn in (None, *policy_arns)
    for user in snapshot.users:
        assert set(user.group_names) <= groups

    # The subjects: active keys of users in the snapshot, with the AWS key-id shape.
    keys = {k.access_key_id: k for u in snapshot.users for k in u.access_keys}
    assert len(keys) == sum(len(u.access_keys) for u in snapshot.users)  # unique
    broad, narrow = summary["broad_keys"], summary["narrow_keys"]
    assert isinstance(broad, list) and isinstance(narrow, list)
    assert broad and narrow and not set(broad) & set(narrow)
    for key_id in [*broad, *narrow]:
        assert key_id in keys
        assert keys[key_id].status == "Active"
    for key_id in keys:
        assert len(key_id) == 20 and key_id.startswith("AKIA")
        assert set(key_id[4:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def test_key_ids_encode_the_account(synth: ModuleType) -> None:
    import base64
    import random

    key_id = synth.access_key_id(random.Random(3), "111111111111")
    head = int.from_bytes(base64.b32decode(key_id[4:])[:6], "big")
    assert head >> 47 == 1
    assert (head & 0x7FFFFFFFFF80) >> 7 == 111111111111


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    sa, sb, sc = _run_cli(a, seed=7), _run_cli(b, seed=7), _run_cli(c, seed=8)
    assert a.read_bytes() == b.read_bytes()
    assert (sa["broad_keys"], sa["narrow_keys"]) == (sb["broad_keys"], sb["narrow_keys"])
    assert a.read_bytes() != c.read_bytes()
    assert sa["broad_keys"] != sc["broad_keys"]


def test_in_process_generation_round_trips(synth: ModuleType) -> None:
    result = synth.generate(N, 10 * N, 12, seed=5)
    data = json.loads(json.dumps(result.snapshot.to_json()))
    assert Snapshot.from_json(data) == result.snapshot
    assert result.broad_keys == synth.generate(N, 10 * N, 12, seed=5).broad_keys


def test_realistic_shapes(synth: ModuleType) -> None:
    snapshot = synth.generate(1000, 2000, 100, seed=1).snapshot
    users, roles = len(snapshot.users), len(snapshot.roles)
    assert 0.25 <= users / (users + roles) <= 0.35
    docs = [p.document for p in snapshot.managed_policies]
    text = json.dumps(docs)
    for needle in ('"NotAction"', '"Deny"', "aws:SourceIp", "aws:PrincipalTag", "aws:SecureTransport", '"*"'):
        assert needle in text, needle
    assert any(r.permissions_boundary_arn for r in snapshot.roles)
    trusts = json.dumps([r.trust_policy for r in snapshot.roles])
    assert "lambda.amazonaws.com" in trusts and synth.ROOT in trusts and ":role/" in trusts
    buckets = [d for d in snapshot.datasets if d.type == "s3-bucket"]
    with_policy = sum(1 for d in buckets if d.resource_policy)
    assert 0.05 <= with_policy / len(buckets) <= 0.15
    assert any(d.kms_key for d in buckets)
    tables = [d for d in snapshot.datasets if d.type == "dynamodb-table"]
    assert any("email" in d.field_names for d in tables)
    keys = [d for d in snapshot.datasets if d.type == "kms-key"]
    assert all(d.resource_policy for d in keys)
    # A few policies are attached almost everywhere (Zipf-like popularity).
    counts = sorted((p.attachment_count or 0 for p in snapshot.managed_policies), reverse=True)
    assert counts[0] > 10 * max(1, counts[len(counts) // 2])


# -- synth.py --org ---------------------------------------------------------------------------------------

BENCH_FIDELITY = SYNTH.parent / "bench_fidelity.py"


def test_org_is_off_by_default_and_adds_only_the_organization(synth: ModuleType) -> None:
    plain = synth.generate(N, 10 * N, 12, seed=5)
    with_org = synth.generate(N, 10 * N, 12, seed=5, org=True)
    assert plain.snapshot.organization is None
    assert with_org.snapshot.organization is not None
    assert (with_org.broad_keys, with_org.narrow_keys) == (plain.broad_keys, plain.narrow_keys)
    # Everything else is the same account: the organisation draws nothing from the seeded generator.
    assert dataclasses.replace(with_org.snapshot, organization=None, services=plain.snapshot.services) == (
        plain.snapshot
    )


def test_org_cli_snapshot_loads_with_the_documented_tree(tmp_path: Path, synth: ModuleType) -> None:
    """The account sits under root → ou-workloads → ou-prod; SCPs and RCPs are enabled and attached at every
    level (FullAWSAccess / RCPFullAWSAccess are attached to every root, OU and account: "Service control
    policies", "Resource control policies (RCPs)", AWS Organizations User Guide); the management account is
    not subject to either."""
    out = tmp_path / "org.json"
    proc = subprocess.run(
        [
            *(sys.executable, str(SYNTH), "--principals", str(N), "--datasets", str(10 * N)),
            *("--policies", "12", "--seed", "7", "--out", str(out), "--org"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(proc.stdout)["organization"] == synth.ORG_ID
    again = tmp_path / "again.json"
    synth.write(N, 10 * N, 12, again, seed=7, org=True)
    assert out.read_bytes() == again.read_bytes()  # deterministic

    snapshot = load_snapshot(out)
    org = snapshot.organization
    assert org is not None and org.org_id == synth.ORG_ID
    assert org.account_paths[snapshot.account_id] == (
        synth.ORG_ROOT,
        synth.OU_WORKLOADS,
        synth.OU_PROD,
        snapshot.account_id,
    )
    scps = org.levels(snapshot.account_id, SCP)
    rcps = org.levels(snapshot.account_id, RCP)
    assert scps is not None and rcps is not None
    assert [sorted(p.name for p in level) for level in scps] == [
        ["FullAWSAccess", "baseline-guardrails"],
        ["FullAWSAccess", "workloads-iam-guardrail"],
        ["FullAWSAccess"],
        ["FullAWSAccess"],
    ]
    assert [sorted(p.name for p in level) for level in rcps] == [
        ["RCPFullAWSAccess", "data-perimeter-identities"],
        ["RCPFullAWSAccess"],
        ["RCPFullAWSAccess"],
        ["RCPFullAWSAccess"],
    ]
    assert org.levels(org.management_account_id, SCP) is None


def _org_case(synth: ModuleType, kind: str, request: dict[str, Any], **extra: Any) -> str:
    """The decision of the generated organisation's SCPs (or RCPs), per level, on one request."""
    org = synth.organization()
    levels = org.levels(synth.ACCOUNT, kind)
    key = "scps" if kind == SCP else "rcps"
    case: dict[str, Any] = {
        "request": {"resource_account": synth.ACCOUNT, **request},
        key: [[p.document for p in level] for level in levels],
        **extra,
    }
    if kind == SCP:
        case["identity_policies"] = [{"Version": "2012-10-17", "Statement": [ALLOW_ALL]}]
    (result,) = run_cases([case], indexed=False)
    return str(result.decision)


ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}
USER = "arn:aws:iam::111111111111:user/dataeng-etl-svc0"


@pytest.mark.parametrize(
    ("action", "resource", "region", "principal", "expected"),
    [
        # "SCP examples": deny member accounts leaving the organisation.
        ("organizations:LeaveOrganization", "*", "us-east-1", USER, "explicit-deny"),
        # "SCP examples": protect the security services' configuration.
        ("cloudtrail:StopLogging", "*", "us-east-1", USER, "explicit-deny"),
        ("guardduty:DeleteDetector", "*", "eu-west-1", USER, "explicit-deny"),
        ("cloudtrail:LookupEvents", "*", "us-east-1", USER, "allow"),
        # "Deny access to AWS based on the requested AWS Region": outside the allow-list denied ...
        ("s3:GetObject", "arn:aws:s3:::orders-exports/a", "ap-southeast-2", USER, "explicit-deny"),
        ("s3:GetObject", "arn:aws:s3:::orders-exports/a", "eu-west-1", USER, "allow"),
        # ... except the global services of its NotAction list.
        ("iam:GetUser", "*", "ap-southeast-2", USER, "allow"),
        # "Prevent IAM users and roles from making certain changes, with an exception for a specified admin
        # role" (ArnNotLike on aws:PrincipalArn).
        ("iam:CreateAccessKey", "arn:aws:iam::111111111111:user/x", "us-east-1", USER, "explicit-deny"),
        ("iam:CreateUser", "arn:aws:iam::111111111111:user/x", "us-east-1", USER, "explicit-deny"),
        (
            "iam:CreateAccessKey",
            "arn:aws:iam::111111111111:user/x",
            "us-east-1",
            "arn:aws:sts::111111111111:assumed-role/OrganizationAccountAccessRole/admin",
            "allow",
        ),
        (
            "iam:CreateUser",
            "arn:aws:iam::111111111111:user/x",
            "us-east-1",
            "arn:aws:sts::111111111111:assumed-role/identity-admin-00042/s",
            "allow",
        ),
    ],
)
def test_org_scps_decide_as_the_aws_examples(
    synth: ModuleType, action: str, resource: str, region: str, principal: str, expected: str
) -> None:
    request = {
        "principal": principal,
        "action": action,
        "resource": resource,
        "context": {"aws:RequestedRegion": region},
    }
    assert _org_case(synth, SCP, request) == expected


OUTSIDER = "arn:aws:iam::222222222222:role/partner-reader"
BUCKET_OBJECT = "arn:aws:s3:::orders-exports-prod-000001/a.csv"


@pytest.mark.parametrize(
    ("principal", "org_id", "context", "action", "expected"),
    [
        # Identity perimeter RCP (aws-samples data-perimeter-policy-examples, "Resource control policy
        # examples"): principals outside the organisation are denied the covered services ...
        (OUTSIDER, "o-partner1234", {}, "s3:GetObject", "explicit-deny"),
        (OUTSIDER, None, {}, "secretsmanager:GetSecretValue", "explicit-deny"),
        # ... principals of the organisation are not ...
        (OUTSIDER, "o-a1b2c3d4e5", {}, "s3:GetObject", "allow"),
        # ... nor AWS services acting with their service principal (the BoolIfExists exception) ...
        ("cloudtrail.amazonaws.com", None, {"aws:PrincipalIsAWSService": "true"}, "s3:PutObject", "allow"),
        # ... and actions outside the statement's list are untouched (RCPFullAWSAccess allows them).
        (OUTSIDER, "o-partner1234", {}, "sqs:SendMessage", "allow"),
    ],
)
def test_org_rcp_is_the_documented_identity_perimeter(
    synth: ModuleType, principal: str, org_id: str | None, context: dict[str, str], action: str, expected: str
) -> None:
    request: dict[str, Any] = {"principal": principal, "action": action, "resource": BUCKET_OBJECT}
    if org_id is not None:
        request["principal_org_id"] = org_id
    if context:
        request["context"] = context
    grant = {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}
    resource_policy = {"Version": "2012-10-17", "Statement": [grant]}
    identity = [{"Version": "2012-10-17", "Statement": [ALLOW_ALL]}]
    decision = _org_case(synth, RCP, request, resource_policy=resource_policy, identity_policies=identity)
    assert decision == expected


def _reach(snapshot: Snapshot, key: str) -> tuple[dict[str, tuple[str, ...]], set[str]]:
    report = analyze_snapshot(snapshot, key)
    return {d.arn: d.access for d in report.datasets}, {e.technique for e in report.escalations}


def test_org_guardrails_leave_the_broad_keys_data_reach_unchanged(synth: ModuleType) -> None:
    """Within the organisation the guardrails do not bite on data: FullAWSAccess allows at every level, the
    SCP denies concern no data action except outside the approved Regions (aws:RequestedRegion is the
    caller's choice: DESIGN.md §4), and the identity-perimeter RCP spares principals whose
    aws:PrincipalOrgID is the organisation's."""
    plain = synth.generate(N, 10 * N, 12, seed=1)
    with_org = synth.generate(N, 10 * N, 12, seed=1, org=True)
    key = plain.broad_keys[0]
    without, _ = _reach(plain.snapshot, key)
    within, _ = _reach(with_org.snapshot, key)
    assert without and within == without


def _with_key_creation(synth: ModuleType, result: Any) -> Snapshot:
    """The snapshot with the broad subject also allowed iam:CreateAccessKey on every user."""
    grant = PolicyDocument(
        name="create-keys",
        document={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iam:CreateAccessKey",
                    "Resource": f"arn:aws:iam::{synth.ACCOUNT}:user/*",
                }
            ],
        },
    )
    key = result.broad_keys[0]
    users = tuple(
        dataclasses.replace(u, inline_policies=(*u.inline_policies, grant))
        if any(k.access_key_id == key for k in u.access_keys)
        else u
        for u in result.snapshot.users
    )
    return dataclasses.replace(result.snapshot, users=users)


def test_org_iam_guardrail_removes_the_create_access_key_escalation(synth: ModuleType) -> None:
    """An explicit deny in any SCP of the path denies ("Policy evaluation logic"): the OU's guardrail denies
    iam:CreateAccessKey to everyone but the exempted admin roles, so the escalation "create an access key for
    another user" (iam-002) and the data it leads to are gone with the organisation."""
    plain = synth.generate(N, 10 * N, 12, seed=1)
    with_org = synth.generate(N, 10 * N, 12, seed=1, org=True)
    key = plain.broad_keys[0]
    baseline, _ = _reach(plain.snapshot, key)
    without, techniques = _reach(_with_key_creation(synth, plain), key)
    assert "iam-002" in techniques
    assert len(without) > len(baseline)  # other users' keys reach more
    within, techniques = _reach(_with_key_creation(synth, with_org), key)
    assert "iam-002" not in techniques
    assert within == baseline


def test_bench_fidelity_runs_at_a_tiny_size(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH_FIDELITY), "--sizes", "60", "--repeat", "1", "--cache-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert results["schema"] == "blastradius.bench-fidelity/v1"
    (row,) = results["results"]
    assert row["principals"] == 60 and row["datasets"] == 600
    assert row["snapshot_with_org"] != row["snapshot_without_org"]
    for variant in ("without_org", "with_org"):
        assert row[variant]["seconds"] > 0 and row[variant]["cpu_seconds"] > 0
        assert len(row[variant]["runs"]) == 1
    assert row["ratio_wall"] == pytest.approx(row["with_org"]["seconds"] / row["without_org"]["seconds"])
    assert row["verdict_cpu"] == ("OK (≤ 1.20)" if row["ratio_cpu"] <= 1.20 else "OVER")
    assert row["reach"]["same"] and row["errors"] == []
    assert row["with_org"]["datasets_reached"] == row["without_org"]["datasets_reached"] > 0
    assert "with/without organisation" in proc.stderr
    # Cached: a second run regenerates nothing.
    assert {p.name for p in tmp_path.glob("synth-org-*.json")}
    second = subprocess.run(
        [sys.executable, str(BENCH_FIDELITY), "--sizes", "60", "--repeat", "1", "--cache-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(second.stdout)["results"][0]["cached"] is True
