"""Resource policies that decide nothing beyond the identity decision, by bitsets, as the engine decides.

A bucket policy that does not name the principal can still change its answer in two ways: a Deny that
applies to it ("Policy evaluation logic": an explicit deny wins), and its Allows' sub-resource patterns
(``bucket/reports/*``), which the engine adds to the object keys an attacker may pick. The bitset path
(``AccountModel.identity_only``) must therefore treat a Deny on a key the attacker picks
(``aws:SecureTransport``: DESIGN.md §4) as never applying — unless ``--assume-context`` pins the key — and
must match identity patterns against the policy's picks too. Every case is also decided by the engine
alone (``_USE_MASKS`` off) and both must agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from blastradius import graph
from blastradius.analyze import analyze_snapshot
from blastradius.model import S3_BUCKET, AccessKey, Dataset, PolicyDocument, Snapshot, User
from blastradius.rules import load_rules

NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
ACCOUNT = "111111111111"
KEY = "AKIAQYLPMN5HDTESTKEY"
OTHER = f"arn:aws:iam::{ACCOUNT}:role/someone-else"


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def bucket(name: str, *statements: dict[str, Any]) -> Dataset:
    arn = f"arn:aws:s3:::{name}"
    return Dataset(
        arn=arn,
        type=S3_BUCKET,
        name=name,
        account_id=ACCOUNT,
        region="us-east-1",
        resource_policy=doc(*statements) if statements else None,
    )


def deny_unless(name: str, condition: dict[str, Any]) -> dict[str, Any]:
    arn = f"arn:aws:s3:::{name}"
    return {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": condition,
    }


def allow_other(name: str, resource: str = "/*") -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Principal": {"AWS": OTHER},
        "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": f"arn:aws:s3:::{name}{resource}",
    }


def snapshot(identity: dict[str, Any], *datasets: Dataset) -> Snapshot:
    user = User(
        arn=f"arn:aws:iam::{ACCOUNT}:user/alice",
        name="alice",
        user_id="AIDAALICE",
        inline_policies=(PolicyDocument(name="p", document=doc(identity)),),
        access_keys=(AccessKey(access_key_id=KEY, user_name="alice", status="Active"),),
    )
    return Snapshot(
        account_id=ACCOUNT,
        collected_at="2026-11-25T00:00:00Z",
        regions=("us-east-1",),
        users=(user,),
        datasets=datasets,
        services={"iam": "ok", "s3": "ok"},
    )


def reads(snap: Snapshot, monkeypatch: pytest.MonkeyPatch, **overrides: str) -> dict[str, str]:
    """Bucket name -> certainty of the read grant, by bitsets and by the engine alone (must agree)."""

    def run() -> dict[str, str]:
        report = analyze_snapshot(snap, KEY, now=NOW, context_overrides=overrides or None)
        return {d.name: g.certainty for d in report.datasets for g in d.grants if g.level == "read"}

    fast = run()
    with monkeypatch.context() as patch:
        patch.setattr(graph, "_USE_MASKS", False)
        assert run() == fast
    return fast


def by_bitsets(snap: Snapshot, name: str, **overrides: str) -> bool:
    """Whether the bitset path decides the bucket's read level for a principal its policy does not name."""
    model = graph.build_graph(snap, load_rules(), now=NOW, context_overrides=overrides or None).model
    pos = model.type_index(S3_BUCKET).position[f"arn:aws:s3:::{name}"]
    yes, _ = model.identity_only(S3_BUCKET, "read", ACCOUNT, 1 << pos)
    return bool(yes >> pos & 1)


READ_ALL = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}


def tls_only() -> Snapshot:
    """A reader of every bucket; bucket "tls-only" denies plain-HTTP calls, bucket "open" has no policy."""
    return snapshot(
        READ_ALL,
        bucket(
            "tls-only",
            deny_unless("tls-only", {"Bool": {"aws:SecureTransport": "false"}}),
            allow_other("tls-only"),
        ),
        bucket("open"),
    )


def test_deny_on_a_key_the_attacker_picks_never_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    """ "Bool aws:SecureTransport false" denies plain-HTTP calls; the attacker calls over TLS."""
    snap = tls_only()
    assert reads(snap, monkeypatch) == {"tls-only": "definite", "open": "definite"}
    assert by_bitsets(snap, "tls-only")


def test_deny_on_a_pinned_key_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    """--assume-context pins the key: the Deny then applies as written (explicit deny wins)."""
    snap = tls_only()
    assert reads(snap, monkeypatch, **{"aws:SecureTransport": "false"}) == {"open": "definite"}
    assert not by_bitsets(snap, "tls-only", **{"aws:SecureTransport": "false"})


def test_deny_on_a_key_the_attacker_cannot_pick_keeps_the_grant_conditional(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Deny unless the call comes from the corporate range: an outsider's address is unknown."""
    snap = snapshot(
        READ_ALL,
        bucket(
            "office-only",
            deny_unless("office-only", {"NotIpAddress": {"aws:SourceIp": "198.51.100.0/24"}}),
            allow_other("office-only"),
        ),
    )
    assert reads(snap, monkeypatch) == {"office-only": "conditional"}
    assert not by_bitsets(snap, "office-only")


def test_identity_pattern_matching_only_a_policy_pick_grants(monkeypatch: pytest.MonkeyPatch) -> None:
    """An identity Allow on ``*/reports/*`` reads objects under reports/ of any bucket: the bucket
    policy's ``reports/*`` pattern is one such object key the attacker may ask for."""
    reports = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::*/reports/*"}
    snap = snapshot(
        reports,
        bucket("with-reports", allow_other("with-reports", "/reports/*")),
        bucket("no-reports", allow_other("no-reports", "/exports/*")),
    )
    assert reads(snap, monkeypatch) == {"with-reports": "definite"}
    assert by_bitsets(snap, "with-reports") and by_bitsets(snap, "no-reports")
