"""A dataset of another account without a resource-based policy is never reachable on the identity side
alone (*Cross-account policy evaluation logic*, IAM User Guide: "the identity-based policy of the
requester AND the resource-based policy of the resource must allow"). Checked through every decision
path: bitset fast path, per-dataset engine, audit, and against the same dataset once its policy allows.
"""

from __future__ import annotations

from typing import Any

import pytest

from blastradius import graph
from blastradius.analyze import analyze_snapshot
from blastradius.audit import audit_snapshot
from blastradius.model import AccessKey, Dataset, PolicyDocument, Snapshot, User

A, B = "111111111111", "222222222222"
REGION = "us-east-1"
KEY = "AKIAQYLPMN5HDTESTKEY"
DEV = f"arn:aws:iam::{A}:user/dev"
OWN_BUCKET = "arn:aws:s3:::a-data"
BARE_BUCKET = "arn:aws:s3:::b-bare"
SHARED_BUCKET = "arn:aws:s3:::b-shared"
BARE_TABLE = f"arn:aws:dynamodb:{REGION}:{B}:table/b-orders"


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _snapshot() -> Snapshot:
    dev = User(
        arn=DEV,
        name="dev",
        user_id="AIDADEV",
        inline_policies=(
            PolicyDocument(
                name="everything-data",
                document=_doc({"Effect": "Allow", "Action": ["s3:*", "dynamodb:*"], "Resource": "*"}),
            ),
        ),
        access_keys=(AccessKey(access_key_id=KEY, user_name="dev", status="Active"),),
    )
    shared_policy = _doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": DEV},
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [SHARED_BUCKET, f"{SHARED_BUCKET}/*"],
        }
    )
    datasets = (
        Dataset(arn=OWN_BUCKET, type="s3-bucket", name="a-data", account_id=A, region=REGION),
        Dataset(arn=BARE_BUCKET, type="s3-bucket", name="b-bare", account_id=B, region=REGION),
        Dataset(
            arn=SHARED_BUCKET,
            type="s3-bucket",
            name="b-shared",
            account_id=B,
            region=REGION,
            resource_policy=shared_policy,
        ),
        Dataset(arn=BARE_TABLE, type="dynamodb-table", name="b-orders", account_id=B, region=REGION),
    )
    return Snapshot(
        account_id=A,
        accounts=(A, B),
        collected_at="2026-11-25T00:00:00Z",
        regions=(REGION,),
        users=(dev,),
        datasets=datasets,
        services={"iam": "ok", "s3": "ok", "dynamodb": "ok"},
    )


def _reached(snapshot: Snapshot) -> dict[str, set[str]]:
    report = analyze_snapshot(snapshot, KEY).to_json()
    return {d["arn"]: set(d["access"]) for d in report["datasets"]}


@pytest.mark.parametrize("masks", [True, False], ids=["bitsets", "engine"])
def test_other_accounts_bare_datasets_are_not_reached(masks: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph, "_USE_MASKS", masks)
    reached = _reached(_snapshot())
    assert BARE_BUCKET not in reached
    assert BARE_TABLE not in reached


@pytest.mark.parametrize("masks", [True, False], ids=["bitsets", "engine"])
def test_other_accounts_dataset_whose_policy_allows_is_reached(
    masks: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graph, "_USE_MASKS", masks)
    reached = _reached(_snapshot())
    assert OWN_BUCKET in reached  # same account: the identity policy is enough
    assert "read" in reached[SHARED_BUCKET]  # both sides allow
    assert "write" not in reached.get(SHARED_BUCKET, set())  # the bucket policy allows only reads


def test_audit_agrees() -> None:
    audit = audit_snapshot(_snapshot(), jobs=1).to_json()
    (key,) = audit["keys"]
    assert key["datasets_reachable"] == 2  # a-data and b-shared, not the bare bucket or table
