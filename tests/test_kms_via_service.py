"""``kms:ViaService``: present only when a service calls KMS for the caller ("AWS KMS condition keys").

The attacker's own ``kms:Decrypt`` carries no ``kms:ViaService`` (a ``StringLike`` on it is then false,
its ``...IfExists`` form true). Reading an S3 object, a DynamoDB item, a secret or a SecureString
encrypted with a customer managed key makes that service call KMS with
``kms:ViaService = <service>.<key's region>.amazonaws.com``. Each case is decided by bitsets and by the
engine alone, which must agree.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from test_identity_only_policies import ACCOUNT, KEY, NOW, doc

from blastradius import graph
from blastradius.analyze import analyze_snapshot
from blastradius.model import KMS_KEY, S3_BUCKET, AccessKey, Dataset, PolicyDocument, Snapshot, User

REGION = "eu-west-1"
KMS = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b1c2d3e-1111-2222-3333-444455556666"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def decrypt(condition: dict[str, Any] | None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KMS}
    if condition is not None:
        statement["Condition"] = condition
    return statement


def account(*statements: dict[str, Any]) -> Snapshot:
    user = User(
        arn=f"arn:aws:iam::{ACCOUNT}:user/alice",
        name="alice",
        user_id="AIDAALICE",
        inline_policies=(PolicyDocument(name="p", document=doc(*statements)),),
        access_keys=(AccessKey(access_key_id=KEY, user_name="alice", status="Active"),),
    )
    key = Dataset(
        arn=KMS,
        type=KMS_KEY,
        name="data-key",
        account_id=ACCOUNT,
        region=REGION,
        key_manager="CUSTOMER",
        # "Enable IAM policies": the key policy delegates to the account's IAM policies.
        resource_policy=doc(
            {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}
        ),
    )
    exports = Dataset(
        arn="arn:aws:s3:::exports",
        type=S3_BUCKET,
        name="exports",
        account_id=ACCOUNT,
        region=REGION,
        kms_key=KMS,
    )
    return Snapshot(
        account_id=ACCOUNT,
        collected_at="2026-11-25T00:00:00Z",
        regions=(REGION,),
        users=(user,),
        datasets=(key, exports),
        services={"iam": "ok", "s3": "ok", "kms": "ok"},
    )


def reads(snap: Snapshot, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Dataset name -> certainty of its read grant, by bitsets and by the engine alone (must agree)."""

    def run() -> dict[str, str]:
        report = analyze_snapshot(snap, KEY, now=NOW, escalation=False)
        return {d.name: g.certainty for d in report.datasets for g in d.grants if g.level == "read"}

    fast = run()
    with monkeypatch.context() as patch:
        patch.setattr(graph, "_USE_MASKS", False)
        assert run() == fast
    return fast


GET = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::exports/*"}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}, {"exports": "definite"}),
        ({"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}, {"exports": "definite"}),
        ({"StringLikeIfExists": {"kms:ViaService": "s3.*"}}, {"exports": "definite", "data-key": "definite"}),
        (None, {"exports": "definite", "data-key": "definite"}),
    ],
    ids=["through-s3-any-region", "through-s3-in-the-keys-region", "if-exists-also-direct", "unconditional"],
)
def test_decrypt_through_the_data_store_is_allowed(
    condition: dict[str, Any] | None, expected: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 calls kms:Decrypt for the reader with kms:ViaService = s3.<key's region>.amazonaws.com; the
    attacker's own kms:Decrypt on the key has no kms:ViaService, so only the IfExists form (or no
    condition) also gives the key itself."""
    assert reads(account(GET, decrypt(condition)), monkeypatch) == expected


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
        {"StringLike": {"kms:ViaService": "dynamodb.*.amazonaws.com"}},
    ],
    ids=["another-region", "another-service"],
)
def test_decrypt_only_through_another_service_or_region_seals_the_data(
    condition: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The objects stay sealed: S3 in the key's region is the only service that calls this key for
    them, and the attacker's direct kms:Decrypt has no kms:ViaService at all."""
    assert reads(account(GET, decrypt(condition)), monkeypatch) == {}


def test_a_deny_unless_through_a_service_blocks_direct_use_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deny kms:* when kms:ViaService is absent (Null: true): the attacker cannot decrypt with the key
    directly, but reading the bucket through S3 still works (explicit deny wins where it applies)."""
    deny_direct = {
        "Effect": "Deny",
        "Action": "kms:*",
        "Resource": "*",
        "Condition": {"Null": {"kms:ViaService": "true"}},
    }
    assert reads(account(GET, decrypt(None), deny_direct), monkeypatch) == {"exports": "definite"}


def test_explain_checks_the_key_through_the_data_store() -> None:
    """``explain`` makes the key check analyze makes: kms:Decrypt with kms:ViaService set by S3."""
    from blastradius.explain import explain_dataset

    snap = account(GET, decrypt({"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}))
    result = explain_dataset(snap, KEY, "exports", origin=f"arn:aws:iam::{ACCOUNT}:user/alice", now=NOW)
    assert result.reachable and result.certainty == "definite"
    (step,) = result.steps
    assert len(step.notes) == 1 and step.notes[0].startswith(f"kms:Decrypt on {KMS}: allow")


# -- kms:ResourceAliases ---------------------------------------------------------------------------------


def with_aliases(snap: Snapshot, aliases: tuple[str, ...], kms: str = "ok") -> Snapshot:
    datasets = tuple(
        dataclasses.replace(d, aliases=aliases) if d.type == KMS_KEY else d for d in snap.datasets
    )
    return dataclasses.replace(snap, datasets=datasets, services={**snap.services, "kms": kms})


BY_ALIAS = {"ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/orders-*"}}


@pytest.mark.parametrize(
    ("aliases", "kms", "expected"),
    [
        (("alias/orders-data",), "ok", {"exports": "definite", "data-key": "definite"}),
        (("alias/payments-data", "alias/orders-data"), "ok", {"exports": "definite", "data-key": "definite"}),
        (("alias/payments-data",), "ok", {}),
        ((), "ok", {}),
        ((), "partial", {"exports": "conditional", "data-key": "conditional"}),
    ],
    ids=["matching-alias", "one-of-several", "other-alias", "no-alias", "aliases-not-collected"],
)
def test_resource_aliases_come_from_the_key(
    aliases: tuple[str, ...], kms: str, expected: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """kms:ResourceAliases is the key's aliases ("AWS KMS condition keys": "the aliases associated with
    the KMS key"), known from the snapshot: a ForAnyValue match decides, a key without an alias has no
    value (ForAnyValue of nothing is false), and only when aliases were not collected does it stay
    conditional."""
    snap = with_aliases(account(GET, decrypt(BY_ALIAS)), aliases, kms)
    assert reads(snap, monkeypatch) == expected
