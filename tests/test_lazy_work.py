"""Work a single-key search leaves out because it cannot change the answer (issue 2's speed target).

Each case checks both that the work is skipped (counted) and that the answer is the one the full
evaluation gives: a role assumption into a principal the search already reaches more cheaply is not
decided; a principal's KMS key verdicts are decided only for the keys of datasets it may be granted;
statements with one Resource list share one scan of the datasets' ARNs; a role's rewrite of a
resource policy is not decided on data its KMS key seals.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_identity_only_policies import ACCOUNT, KEY, NOW, doc

from blastradius import graph
from blastradius.analyze import analyze_snapshot
from blastradius.graph import AccountModel, PermissionGraph, build_graph
from blastradius.model import (
    DYNAMODB_TABLE,
    KMS_KEY,
    S3_BUCKET,
    AccessKey,
    Dataset,
    PolicyDocument,
    Role,
    Snapshot,
    User,
)
from blastradius.reach import reach
from blastradius.rules import load_rules

REGION = "eu-west-1"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ASSUME_TEAM = {
    "Effect": "Allow",
    "Action": "sts:AssumeRole",
    "Resource": f"arn:aws:iam::{ACCOUNT}:role/team-*",
}


def user(*statements: dict[str, Any]) -> User:
    return User(
        arn=ALICE,
        name="alice",
        user_id="AIDAALICE",
        inline_policies=(PolicyDocument(name="p", document=doc(*statements)),),
        access_keys=(AccessKey(access_key_id=KEY, user_name="alice", status="Active"),),
    )


def role(name: str, *statements: dict[str, Any]) -> Role:
    trust = doc({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"})
    inline = (PolicyDocument(name="p", document=doc(*statements)),) if statements else ()
    return Role(
        arn=f"arn:aws:iam::{ACCOUNT}:role/{name}", name=name, trust_policy=trust, inline_policies=inline
    )


def snapshot(
    users: tuple[User, ...], roles: tuple[Role, ...] = (), datasets: tuple[Dataset, ...] = ()
) -> Snapshot:
    return Snapshot(
        account_id=ACCOUNT,
        collected_at="2026-11-25T00:00:00Z",
        regions=(REGION,),
        users=users,
        roles=roles,
        datasets=datasets,
        services={"iam": "ok", "s3": "ok", "kms": "ok", "dynamodb": "ok"},
    )


def count_calls(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    original = getattr(owner, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return calls


def test_assumptions_into_roles_already_reached_more_cheaply_are_not_decided(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """alice assumes team-hub and team-1..5 directly; team-hub may assume team-1..5 too, but those are
    already held at one hop: expanding team-hub decides none of them (a path through it costs more)."""
    members = tuple(role(f"team-{i}") for i in range(1, 6))
    hub = role("team-hub", ASSUME_TEAM)
    snap = snapshot((user(ASSUME_TEAM),), (hub, *members))
    calls = count_calls(monkeypatch, PermissionGraph, "assume_decision")
    result = reach(build_graph(snap, load_rules(), now=NOW), ALICE)
    assert set(result.principals) == {ALICE, hub.arn, *(m.arn for m in members)}
    assert all(len(result.principals[m.arn].edges) == 1 for m in members)
    decided = [(p.arn, r.arn) for _, p, r in calls]
    assert [d for d in decided if d[0] == hub.arn] == []  # nothing left to decide from the hub
    assert len(decided) == 6  # alice -> hub and alice -> each member


def test_with_all_paths_the_equal_cost_assumptions_are_still_decided(monkeypatch: pytest.MonkeyPatch) -> None:
    """``all_paths`` keeps every path of equal best cost, so only strictly cheaper holdings prune: team-1
    reached through team-hub costs more than directly, so it is still pruned, but ties are kept."""
    hub = role("team-hub", ASSUME_TEAM)
    snap = snapshot((user(ASSUME_TEAM),), (hub, role("team-1")))
    calls = count_calls(monkeypatch, PermissionGraph, "assume_decision")
    result = reach(build_graph(snap, load_rules(), now=NOW), ALICE, all_paths=True)
    assert {p.arn for _, p, _ in calls} == {ALICE}  # team-1 at 1 hop beats any path through the hub
    assert len(result.principal_edges[f"arn:aws:iam::{ACCOUNT}:role/team-1"]) == 1


def kms_key(i: int, *, user: str = ROOT) -> Dataset:
    """A key whose policy allows ``kms:*`` to ``user``: by default the account ("Enable IAM policies":
    the key policy delegates to the account's IAM policies); another principal, and then for anyone else
    kms:Decrypt is denied whatever their IAM policies say (Key policies in AWS KMS)."""
    closed = user != ROOT
    return Dataset(
        arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{i:08d}-{1111 if closed else 0:04d}-0000-0000-000000000000",
        type=KMS_KEY,
        name=f"{'closed' if closed else 'key'}-{i}",
        account_id=ACCOUNT,
        region=REGION,
        key_manager="CUSTOMER",
        resource_policy=doc(
            {"Effect": "Allow", "Principal": {"AWS": user}, "Action": "kms:*", "Resource": "*"}
        ),
    )


KEYS = tuple(kms_key(i) for i in range(40))


def encrypted_bucket(name: str, key: Dataset) -> Dataset:
    return Dataset(
        arn=f"arn:aws:s3:::{name}",
        type=S3_BUCKET,
        name=name,
        account_id=ACCOUNT,
        region=REGION,
        kms_key=key.arn,
    )


@pytest.mark.parametrize(
    ("decrypt_on", "expected"),
    [(7, {"exports": "definite"}), (8, {})],
    ids=["the-bucket's-key-allows", "another-key-only: sealed"],
)
def test_key_verdicts_are_decided_for_the_keys_of_granted_datasets_only(
    decrypt_on: int, expected: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading an SSE-KMS object needs kms:Decrypt on its key ("Key policies in AWS KMS"); of 40 keys the
    key may use, only the bucket's key is decided for alice, and the answer is the engine's."""
    get = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::exports/*"}
    decrypt = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEYS[decrypt_on].arn}
    snap = snapshot((user(get, decrypt),), datasets=(*KEYS, encrypted_bucket("exports", KEYS[7])))
    g = build_graph(snap, load_rules(), now=NOW, escalation=False)
    result = reach(g, ALICE)
    reads = {
        d.rsplit(":", 1)[-1]: r.certainty
        for d, levels in result.grants.items()
        for lv, r in levels.items()
        if lv == "read" and d.startswith("arn:aws:s3")
    }
    assert reads == expected
    index = g.model.type_index(KMS_KEY)
    decided = 0
    for (principal, _action, _via), (_, _, evaluated) in g._key_allowed.items():
        assert principal == ALICE
        decided |= evaluated
    assert decided == 1 << index.position[KEYS[7].arn]
    with monkeypatch.context() as patch:  # the engine alone agrees
        patch.setattr(graph, "_USE_MASKS", False)
        report = analyze_snapshot(snap, KEY, now=NOW, escalation=False)
    assert {
        d.name: gr.certainty
        for d in report.datasets
        for gr in d.grants
        if gr.level == "read" and d.type == S3_BUCKET
    } == expected


def test_a_key_asked_about_without_priming_decides_every_key_at_once() -> None:
    """Callers that do not prime (the audit's fold, escalation) get all keys decided at the first
    question, as one batch, and later questions are answered from it."""
    snap = snapshot((user({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}),), datasets=KEYS)
    g = build_graph(snap, load_rules(), now=NOW, escalation=False)
    alice = g.model.principal(ALICE)
    assert alice is not None
    assert g.key_surely_allowed(alice, KEYS[3].arn, "kms:Decrypt")
    ((_, _, evaluated),) = g._key_allowed.values()
    assert evaluated == -1 or evaluated & ((1 << len(KEYS)) - 1) == (1 << len(KEYS)) - 1


def test_statements_with_one_resource_list_share_one_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two principals' statements naming the same table patterns are matched against every table once."""
    tables = tuple(
        Dataset(
            arn=f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{team}-{i}",
            type=DYNAMODB_TABLE,
            name=f"{team}-{i}",
            account_id=ACCOUNT,
            region=REGION,
        )
        for team in ("orders", "people")
        for i in range(20)
    )
    read = {
        "Effect": "Allow",
        "Action": "dynamodb:GetItem",
        "Resource": f"arn:aws:dynamodb:*:{ACCOUNT}:table/orders-*",
    }
    snap = snapshot(
        (user(ASSUME_TEAM, read),), (role("team-a", dict(read)), role("team-b", dict(read))), tables
    )
    scans = count_calls(monkeypatch, AccountModel, "_bulk_scan")
    result = reach(build_graph(snap, load_rules(), now=NOW, escalation=False), ALICE)
    orders = {t.arn for t in tables if t.name.startswith("orders-")}
    assert {d for d, levels in result.grants.items() if "read" in levels} == orders
    assert len([c for c in scans if c[2] == DYNAMODB_TABLE]) <= 1


def test_rewriting_policies_of_data_a_closed_key_seals_is_not_decided_beyond_the_origin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rewriting a bucket policy (endgame-s3-bucket-policy) does not open the bucket's KMS key ("Key
    policies in AWS KMS"): for a role the key reaches, the buckets a closed key seals are not decided at
    all, the open bucket still is (and gives an edge); the key's own principal still has the technique
    listed on the sealed buckets (the report lists every technique of the key itself)."""
    key = kms_key(1, user=f"arn:aws:iam::{ACCOUNT}:role/key-admin")
    sealed = tuple(encrypted_bucket(f"sealed-{i}", key) for i in range(5))
    plain = Dataset(arn="arn:aws:s3:::plain", type=S3_BUCKET, name="plain", account_id=ACCOUNT, region=REGION)
    rewrite = {"Effect": "Allow", "Action": "s3:PutBucketPolicy", "Resource": "*"}
    snap = snapshot((user(ASSUME_TEAM, rewrite),), (role("team-a", rewrite),), (key, *sealed, plain))
    from blastradius import escalation

    calls = count_calls(monkeypatch, escalation.Evaluator, "_evaluate")
    report = analyze_snapshot(snap, KEY, now=NOW)
    team_a = f"arn:aws:iam::{ACCOUNT}:role/team-a"
    decided = [(p.arn, target.resource) for _, p, technique, target in calls if technique.target == "dataset"]
    assert [r for p, r in decided if p == team_a] in ([], [plain.arn])  # never a sealed bucket
    assert {r for p, r in decided if p == ALICE} >= {b.arn for b in sealed}
    listed = {(e.from_, e.resource) for e in report.escalations if e.technique == "endgame-s3-bucket-policy"}
    assert {(ALICE, b.arn) for b in sealed} <= listed
    levels = {d.name: {g.level for g in d.grants} for d in report.datasets}
    assert all(levels[b.name] == {"admin"} for b in sealed)  # s3:PutBucketPolicy itself; no data
    assert {"read", "write"} <= levels["plain"]
