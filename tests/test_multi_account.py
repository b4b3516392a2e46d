"""Several accounts in one analysis: --role-arn / --profile collection, merged snapshots, and the graph's
answers across accounts (*Cross-account policy evaluation logic*: both sides must allow)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from compute_account import module_moto
from multi_account import (
    AUDIT_ROLE_B,
    NOT_PIVOT_FUNCTIONS,
    NOT_REACHED_BUCKETS,
    NOT_REACHED_ROLES,
    PIVOT_FUNCTIONS,
    REACHED_BUCKETS,
    REACHED_ROLES,
    REGION,
    A,
    B,
    TwoAccounts,
    build_two_accounts,
)

from blastradius import api
from blastradius.merge import account_services, merge_snapshots
from blastradius.model import CollectionGap, Snapshot
from blastradius.report import Report


@dataclass(frozen=True)
class Collected:
    two: TwoAccounts
    merged: Snapshot  # both accounts, collected with --role-arn


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collected]:
    """The two accounts, built and collected once (moto stays up for the module's live calls)."""
    with module_moto(tmp_path_factory.mktemp("aws")):
        two = build_two_accounts()
        merged = api.collect(api.LiveOptions(regions=(REGION,), role_arns=(AUDIT_ROLE_B,)))
        yield Collected(two=two, merged=merged)


def _reach(report: Report) -> tuple[set[str], set[str]]:
    return {p.arn for p in report.principals}, {d.name for d in report.datasets}


def test_role_arn_collects_the_other_account_and_both_sides_must_allow(collected: Collected) -> None:
    """Cross-account policy evaluation logic: identity policy in A AND trust / bucket policy in B."""
    two, snapshot = collected.two, collected.merged
    assert (snapshot.account_id, snapshot.accounts) == (A, (A, B))
    assert {r.arn.split(":")[4] for r in snapshot.roles} == {A, B}
    report = api.analyze(two.key_id, snapshot=snapshot)
    principals, datasets = _reach(report)
    assert principals >= REACHED_ROLES and not (NOT_REACHED_ROLES & principals)
    assert datasets >= REACHED_BUCKETS, sorted(datasets)
    assert not (NOT_REACHED_BUCKETS & datasets), sorted(NOT_REACHED_BUCKETS & datasets)
    exports = next(d for d in report.datasets if d.name == "b-exports")
    assert [s.kind for s in exports.path] == ["assume", "access"]
    assert exports.sensitivity == "high"
    reports = next(d for d in report.datasets if d.name == "a-reports")  # out to B and back to A
    assert [(s.kind, s.to.split(":")[4]) for s in reports.path] == [
        ("assume", B),
        ("assume", A),
        ("access", ""),
    ]
    shared = next(d for d in report.datasets if d.name == "b-shared")
    assert [s.kind for s in shared.path] == ["access"]
    # A function's configuration of another account needs its function policy too (not collected: so
    # never a pivot); the same permission on A's own function is one.
    pivots = {p.arn for p in report.credential_pivots}
    assert pivots >= PIVOT_FUNCTIONS and not (pivots & NOT_PIVOT_FUNCTIONS)


def test_analyze_live_with_role_arn_identifies_the_key_in_its_own_account(collected: Collected) -> None:
    two = collected.two
    done: list[tuple[str, str]] = []

    class Watch:
        def on_start(self, service: str, region: str) -> None:
            pass

        def on_done(self, service: str, region: str, count: int, error: str | None) -> None:
            done.append((service, region))

    report = api.analyze(
        two.key_id, live=api.LiveOptions(regions=(REGION,), role_arns=(AUDIT_ROLE_B,)), observer=Watch()
    )
    # With several accounts, progress names the account of each run.
    assert {("iam", f"{A}/global"), ("iam", f"{B}/global"), ("lambda", f"{B}/{REGION}")} <= set(done)
    assert report.key.principal_arn == f"arn:aws:iam::{A}:user/dev"
    assert _reach(report)[1] >= REACHED_BUCKETS
    services = report.coverage.services
    assert services[f"{A}/s3"] == services[f"{B}/s3"] == services["s3"] == "ok"


def test_snapshots_of_two_accounts_merge_like_one_collection(collected: Collected, tmp_path: Path) -> None:
    two = collected.two
    a = api.collect(api.LiveOptions(regions=(REGION,)))
    b_only = collected.merged
    paths = []
    for name, snap in (("a.json", a), ("ab.json", b_only)):
        api.save_snapshot(snap, tmp_path / name)
        paths.append(tmp_path / name)
    with pytest.raises(Exception, match=f"account {A} is in both"):
        api.load_snapshots(paths)
    b = _only_account(b_only, B)
    api.save_snapshot(b, tmp_path / "b.json")
    report = api.analyze(two.key_id, snapshot=[tmp_path / "a.json", tmp_path / "b.json"])
    principals, datasets = _reach(report)
    assert principals >= REACHED_ROLES and datasets >= REACHED_BUCKETS
    assert not (NOT_REACHED_BUCKETS & datasets)


def _only_account(snapshot: Snapshot, account: str) -> Snapshot:
    """The part of a merged snapshot that belongs to one account (test helper)."""

    def mine(arn: str) -> bool:
        return arn.split(":")[4] in (account, "aws", "")

    data = snapshot.to_json()
    data["account_id"] = account
    data["accounts"] = []
    for field in ("users", "groups", "roles", "managed_policies", "compute", "instance_profiles"):
        data[field] = [x for x in data[field] if mine(x["arn"])]
    data["datasets"] = [d for d in data["datasets"] if d["account_id"] == account]
    data["services"] = account_services(snapshot)[account]
    data["gaps"] = []
    return Snapshot.from_json(data)


def _snap(account: str, **extra: Any) -> Snapshot:
    extra.setdefault("regions", (REGION,))
    return Snapshot(account_id=account, collected_at="2026-11-25T00:00:00Z", **extra)


def test_merge_keys_coverage_per_account_and_combines_it() -> None:
    a = _snap(A, services={"iam": "ok", "kms": "ok"}, warnings=("w-a",))
    gap = CollectionGap(service="kms", region=REGION, operation="ListKeys", error_code="AccessDenied")
    b = _snap(B, services={"iam": "ok", "kms": "AccessDenied"}, gaps=(gap,), regions=("eu-west-1",))
    merged = merge_snapshots([a, b])
    assert merged.accounts == (A, B) and merged.regions == (REGION, "eu-west-1")
    assert dict(merged.services) == {
        "iam": "ok",
        "kms": "partial",
        f"{A}/iam": "ok",
        f"{A}/kms": "ok",
        f"{B}/iam": "ok",
        f"{B}/kms": "AccessDenied",
    }
    assert merged.gaps[0].account_id == B
    assert merged.gaps[0].describe() == f"kms ListKeys in {REGION} (account {B}): AccessDenied"
    assert merged.warnings == (f"account {A}: w-a",)
    assert account_services(merged) == {
        A: {"iam": "ok", "kms": "ok"},
        B: {"iam": "ok", "kms": "AccessDenied"},
    }
    # Merging is associative: a merged snapshot merges again with a third account.
    c = _snap("333333333333", services={"iam": "ok"})
    again = merge_snapshots([merged, c])
    assert again.accounts == (A, B, "333333333333") and again.services["kms"] == "partial"
    assert again.services["333333333333/iam"] == "ok"
    assert Snapshot.from_json(json.loads(json.dumps(again.to_json()))) == again


def test_merge_refuses_mixed_partitions() -> None:
    with pytest.raises(Exception, match="different partitions"):
        merge_snapshots([_snap(A), _snap(B, partition="aws-cn")])


def test_role_arn_must_be_a_role_arn() -> None:
    from blastradius.errors import UsageError

    with pytest.raises(UsageError, match="not an IAM role ARN"):
        api.collect(api.LiveOptions(role_arns=("arn:aws:iam::222222222222:user/x",)))


def test_sessions_share_one_model_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Collecting several accounts makes a session each; service models are parsed once, not per session."""
    import boto3
    import botocore.loaders
    import botocore.session

    # Without conftest's process-wide loader: here each session must get its own unless blastradius shares.
    monkeypatch.setattr(botocore.session, "create_loader", botocore.loaders.create_loader)

    from blastradius.aws import client

    first, second = boto3.Session(region_name=REGION), boto3.Session(region_name=REGION)
    client(first, "sts", REGION)
    client(second, "sts", REGION)
    loader = first._session.get_component("data_loader")
    assert loader is second._session.get_component("data_loader")
    assert any(p.endswith("boto3/data") for p in loader.search_paths)  # resources still load
    assert second.resource("s3", region_name=REGION).meta.service_name == "s3"


def test_key_of_an_account_not_collected_names_the_accounts(collected: Collected) -> None:
    from test_bad_input import key_of_account

    from blastradius.errors import IdentifyError

    with pytest.raises(
        IdentifyError, match=rf"account 333333333333 .*not among the accounts to collect \({A}, {B}\)"
    ):
        api.analyze(
            key_of_account("333333333333"), live=api.LiveOptions(regions=(REGION,), role_arns=(AUDIT_ROLE_B,))
        )


def test_role_the_auditor_cannot_assume_is_a_diagnosed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """AccessDenied from sts:AssumeRole stops collection with what to fix (the trust policy)."""
    import boto3
    from botocore.stub import Stubber

    from blastradius import aws
    from blastradius.errors import CollectionError

    sts = boto3.client("sts", region_name=REGION)
    stub = Stubber(sts)
    stub.add_client_error("assume_role", "AccessDenied", "not authorized to perform: sts:AssumeRole")
    monkeypatch.setattr(aws, "client", lambda *a, **k: sts)
    with stub, pytest.raises(CollectionError, match=r"cannot assume .*AccessDenied") as caught:
        aws.assume_role_session(boto3.Session(region_name=REGION), AUDIT_ROLE_B)
    assert "trust policy" in caught.value.diagnostics()
