"""``aws:RequestedRegion`` on data requests is the dataset's region ("AWS global condition context keys").

Buckets, tables, secrets, parameters and KMS keys are regional: a request on one is served only by an
endpoint of its region, so the key's holder cannot pick another Region for it. A Region-deny SCP (the
AWS example "Deny access to AWS based on the requested AWS Region") therefore denies data outside the
allowed Regions, and an identity Allow limited to one Region gives only that Region's data. Where the
snapshot does not know a dataset's Region, the attacker still picks (the Deny never applies, the Allow
holds: the report errs on the side of exposure). ``--assume-context aws:RequestedRegion=…`` wins over
both. Every case is also decided by the engine alone (``_USE_MASKS`` off), and both must agree.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from test_org_apply import ACCT, KEY, NOW, bucket, doc, org, scp, user

from blastradius import graph
from blastradius.analyze import analyze_snapshot
from blastradius.model import DYNAMODB_TABLE, KMS_KEY, Dataset, Organization, Snapshot, User

REGION_DENY = doc(
    {
        "Sid": "DenyAllOutsideUsEast1",
        "Effect": "Deny",
        "NotAction": ["iam:*", "sts:*", "organizations:*", "support:*"],
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1"]}},
    }
)
READ_ALL = {"Effect": "Allow", "Action": ["s3:GetObject", "dynamodb:GetItem", "kms:Decrypt"], "Resource": "*"}


def located(name: str, region: str) -> Dataset:
    return dataclasses.replace(bucket(name), region=region)


def table(name: str, region: str) -> Dataset:
    return Dataset(
        arn=f"arn:aws:dynamodb:{region}:{ACCT}:table/{name}",
        type=DYNAMODB_TABLE,
        name=name,
        account_id=ACCT,
        region=region,
    )


def reads(
    organization: Organization | None,
    users: tuple[User, ...],
    datasets: tuple[Dataset, ...],
    monkeypatch: pytest.MonkeyPatch,
    overrides: dict[str, str] | None = None,
) -> dict[str, str]:
    """Dataset name -> certainty of its read grant, by bitsets and by the engine alone (must agree)."""
    snap = Snapshot(
        account_id=ACCT,
        collected_at="2026-11-25T00:00:00Z",
        users=users,
        datasets=datasets,
        organization=organization,
        services={"iam": "ok", "s3": "ok", "dynamodb": "ok", "kms": "ok"},
    )

    def run() -> dict[str, str]:
        report = analyze_snapshot(snap, KEY, now=NOW, context_overrides=overrides, escalation=False)
        return {d.name: g.certainty for d in report.datasets for g in d.grants if g.level == "read"}

    fast = run()
    with monkeypatch.context() as patch:
        patch.setattr(graph, "_USE_MASKS", False)
        assert run() == fast
    return fast


def test_region_deny_scp_denies_data_outside_the_allowed_region(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SCP's Deny applies to the eu-west-1 bucket and table (their requests go to eu-west-1), not
    to the us-east-1 ones: explicit deny in an SCP ("Policy evaluation logic")."""
    datasets = (
        located("us-data", "us-east-1"),
        located("eu-data", "eu-west-1"),
        table("us-table", "us-east-1"),
        table("eu-table", "eu-west-1"),
    )
    denied = reads(org(scp("p-region", REGION_DENY, ACCT)), (user(READ_ALL),), datasets, monkeypatch)
    assert denied == {"us-data": "definite", "us-table": "definite"}
    everything = reads(org(), (user(READ_ALL),), datasets, monkeypatch)  # the deny side's twin
    assert set(everything) == {"us-data", "eu-data", "us-table", "eu-table"}


def test_identity_allow_limited_to_a_region_gives_that_region_only(monkeypatch: pytest.MonkeyPatch) -> None:
    allow_eu = {**READ_ALL, "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}
    datasets = (located("us-data", "us-east-1"), located("eu-data", "eu-west-1"))
    assert reads(None, (user(allow_eu),), datasets, monkeypatch) == {"eu-data": "definite"}


def test_a_dataset_of_unknown_region_lets_the_attacker_pick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the Region in the snapshot, the request's Region is the attacker's choice (DESIGN.md §4):
    the Region deny cannot be shown to apply, and an Allow for one Region holds."""
    nowhere = (located("somewhere", ""),)  # GetBucketLocation refused: no Region known
    assert reads(org(scp("p-region", REGION_DENY, ACCT)), (user(READ_ALL),), nowhere, monkeypatch) == {
        "somewhere": "definite"
    }
    allow_eu = {**READ_ALL, "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}
    assert reads(None, (user(allow_eu),), nowhere, monkeypatch) == {"somewhere": "definite"}


def test_assume_context_overrides_the_datasets_region(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--assume-context`` wins over what the snapshot says, here as everywhere else."""
    allow_eu = {**READ_ALL, "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}
    datasets = (located("us-data", "us-east-1"), located("eu-data", "eu-west-1"))
    pinned = reads(None, (user(allow_eu),), datasets, monkeypatch, {"aws:RequestedRegion": "us-east-1"})
    assert pinned == {}


def test_region_deny_applies_to_the_kms_key_of_encrypted_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading SSE-KMS data makes S3 call kms:Decrypt in the key's Region (the bucket's): the Region deny
    seals data encrypted with a key outside the allowed Region, whatever the bucket grants."""
    key = Dataset(
        arn=f"arn:aws:kms:eu-west-1:{ACCT}:key/0b1c2d3e-1111-2222-3333-444455556666",
        type=KMS_KEY,
        name="eu-key",
        account_id=ACCT,
        region="eu-west-1",
        key_manager="CUSTOMER",
        resource_policy=doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ),
    )
    sealed = dataclasses.replace(located("eu-sealed", "eu-west-1"), kms_key=key.arn)
    region_deny_but_s3: Any = doc(
        {**REGION_DENY["Statement"][0], "NotAction": ["iam:*", "sts:*", "s3:*"]}  # S3 itself exempt
    )
    found = reads(
        org(scp("p-region", region_deny_but_s3, ACCT)), (user(READ_ALL),), (key, sealed), monkeypatch
    )
    assert found == {}
    assert reads(org(), (user(READ_ALL),), (key, sealed), monkeypatch) == {
        "eu-key": "definite",
        "eu-sealed": "definite",
    }
