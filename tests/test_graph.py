"""Graph and reach on hand-built snapshots: the cases a pattern matcher gets wrong.

Each test names the AWS rule it relies on; expected answers come from the AWS documentation.
"""

from __future__ import annotations

from typing import Any

from blastradius.analyze import analyze_snapshot
from blastradius.model import (
    DYNAMODB_TABLE,
    KMS_KEY,
    S3_BUCKET,
    SECRET,
    AccessKey,
    Dataset,
    KmsGrant,
    ManagedPolicy,
    PolicyDocument,
    Role,
    Snapshot,
    User,
)
from blastradius.report import Report

ACCT = "111122223333"
KEY = "AKIAQYLPMN5HHHFPZAM2"  # found by id among the snapshot users' keys
USER_ARN = f"arn:aws:iam::{ACCT}:user/leaky"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def user(*statements: dict[str, Any], boundary: str | None = None) -> User:
    return User(
        arn=USER_ARN,
        name="leaky",
        user_id="AIDAEXAMPLE",
        inline_policies=(PolicyDocument(name="p", document=policy(*statements)),) if statements else (),
        permissions_boundary_arn=boundary,
        access_keys=(AccessKey(access_key_id=KEY, user_name="leaky", status="Active"),),
    )


def bucket(name: str, **kw: Any) -> Dataset:
    return Dataset(
        arn=f"arn:aws:s3:::{name}", type=S3_BUCKET, name=name, account_id=ACCT, region="us-east-1", **kw
    )


def table(name: str, **kw: Any) -> Dataset:
    return Dataset(
        arn=f"arn:aws:dynamodb:us-east-1:{ACCT}:table/{name}",
        type=DYNAMODB_TABLE,
        name=name,
        account_id=ACCT,
        region="us-east-1",
        **kw,
    )


def analyze(*, users: tuple[User, ...], datasets: tuple[Dataset, ...] = (), **kw: Any) -> Report:
    snap = Snapshot(
        account_id=ACCT, collected_at="2026-11-25T00:00:00Z", users=users, datasets=datasets, **kw
    )
    return analyze_snapshot(snap, KEY)


def access(report: Report) -> dict[str, tuple[str, ...]]:
    return {d.name: d.access for d in report.datasets}


def test_object_grant_on_a_prefix_reaches_the_bucket__resource_element_wildcards() -> None:
    report = analyze(
        users=(user(allow("s3:GetObject", "arn:aws:s3:::exports/2022/*")),), datasets=(bucket("exports"),)
    )
    assert access(report) == {"exports": ("read",)}


def test_deny_on_one_prefix_leaves_the_rest_of_the_bucket__explicit_deny_is_per_request() -> None:
    report = analyze(
        users=(
            user(
                allow("s3:GetObject", "arn:aws:s3:::exports/*"),
                deny("s3:GetObject", "arn:aws:s3:::exports/hr/*"),
            ),
        ),
        datasets=(bucket("exports"),),
    )
    assert access(report) == {"exports": ("read",)}


def test_deny_on_the_whole_bucket_objects_blocks_read__explicit_deny_overrides_allow() -> None:
    report = analyze(
        users=(user(allow("s3:*", "*"), deny("s3:GetObject*", "arn:aws:s3:::exports/*")),),
        datasets=(bucket("exports"),),
    )
    assert "read" not in access(report)["exports"]


def test_query_on_an_index_that_does_not_exist_is_not_read__dynamodb_index_arns() -> None:
    # Allow on table/app-* also matches table/app-payments/index/x, but a table without indexes has no
    # index to query; the explicit deny on the table ARN then leaves nothing readable.
    report = analyze(
        users=(
            user(
                allow("dynamodb:Query", f"arn:aws:dynamodb:us-east-1:{ACCT}:table/app-*"),
                deny("dynamodb:*", f"arn:aws:dynamodb:us-east-1:{ACCT}:table/app-payments"),
            ),
        ),
        datasets=(
            table("app-payments"),
            table("app-orders", details={"global_secondary_indexes": ["by-date"]}),
        ),
    )
    assert access(report) == {"app-orders": ("read",)}


def test_role_trusting_the_account_needs_an_identity_allow__trust_policy_delegation() -> None:
    role = Role(
        arn=f"arn:aws:iam::{ACCT}:role/data",
        name="data",
        trust_policy=policy({"Effect": "Allow", "Principal": {"AWS": ACCT}, "Action": "sts:AssumeRole"}),
        inline_policies=(PolicyDocument(name="r", document=policy(allow("s3:GetObject", "*"))),),
    )
    without = analyze(users=(user(),), datasets=(bucket("b"),), roles=(role,))
    assert access(without) == {}
    with_allow = analyze(
        users=(user(allow("sts:AssumeRole", role.arn)),), datasets=(bucket("b"),), roles=(role,)
    )
    assert access(with_allow) == {"b": ("read",)}
    assert [p.via for p in with_allow.principals] == ["origin", "assume"]


def test_kms_grant_allows_decrypt_when_the_key_policy_does_not__kms_grants() -> None:
    key_arn = f"arn:aws:kms:us-east-1:{ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    key_policy = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCT}:role/admin"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    secret = Dataset(
        arn=f"arn:aws:secretsmanager:us-east-1:{ACCT}:secret:db-AbCdEf",
        type=SECRET,
        name="db",
        account_id=ACCT,
        region="us-east-1",
        kms_key=key_arn,
    )

    def key(*grants: KmsGrant) -> Dataset:
        return Dataset(
            arn=key_arn,
            type=KMS_KEY,
            name="k",
            account_id=ACCT,
            region="us-east-1",
            resource_policy=key_policy,
            key_manager="CUSTOMER",
            grants=grants,
        )

    reader = user(allow("secretsmanager:GetSecretValue", "*"))
    sealed = analyze(users=(reader,), datasets=(secret, key()))
    assert "db" not in access(sealed)
    granted = analyze(
        users=(reader,),
        datasets=(secret, key(KmsGrant(grant_id="g1", grantee_principal=USER_ARN, operations=("Decrypt",)))),
    )
    assert access(granted)["db"] == ("read",)


def test_uncollected_kms_key_makes_read_conditional_not_absent__unknown_is_not_safe() -> None:
    secret = Dataset(
        arn=f"arn:aws:secretsmanager:us-east-1:{ACCT}:secret:db-AbCdEf",
        type=SECRET,
        name="db",
        account_id=ACCT,
        region="us-east-1",
        kms_key=f"arn:aws:kms:us-east-1:{ACCT}:key/missing",
    )
    report = analyze(users=(user(allow("secretsmanager:GetSecretValue", "*")),), datasets=(secret,))
    (finding,) = report.datasets
    assert finding.certainty == "conditional"
    assert any("not collected" in c for c in finding.conditions)


def test_boundary_caps_identity_permissions__permissions_boundaries() -> None:
    boundary = ManagedPolicy(
        arn=f"arn:aws:iam::{ACCT}:policy/ListOnly",
        name="ListOnly",
        document=policy(allow("s3:ListBucket", "*")),
    )
    report = analyze(
        users=(user(allow("s3:*", "*"), boundary=boundary.arn),),
        datasets=(bucket("b"),),
        managed_policies=(boundary,),
    )
    assert access(report) == {"b": ("list",)}


def test_missing_boundary_policy_is_a_warning_and_reach_is_not_understated() -> None:
    report = analyze(
        users=(user(allow("s3:GetObject", "*"), boundary=f"arn:aws:iam::{ACCT}:policy/Gone"),),
        datasets=(bucket("b"),),
    )
    assert access(report) == {"b": ("read",)}
    assert any("policy/Gone" in w for w in report.coverage.warnings)


def test_malformed_policy_is_a_warning_and_the_rest_still_counts() -> None:
    broken = PolicyDocument(
        name="broken", document={"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}
    )
    good = PolicyDocument(name="good", document=policy(allow("s3:GetObject", "*")))
    u = User(
        arn=USER_ARN,
        name="leaky",
        inline_policies=(broken, good),
        access_keys=(AccessKey(access_key_id=KEY, user_name="leaky", status="Active"),),
    )
    report = analyze(users=(u,), datasets=(bucket("b"),))
    assert access(report) == {"b": ("read",)}
    assert any("broken" in w for w in report.coverage.warnings)


def test_resource_tag_condition_uses_the_datasets_tags__aws_resourcetag() -> None:
    statement = allow("dynamodb:GetItem", "*", Condition={"StringEquals": {"aws:ResourceTag/team": "web"}})
    report = analyze(
        users=(user(statement),),
        datasets=(
            table("web-data", tags={"team": "web"}),
            table("hr-data", tags={"team": "hr"}),
            table("untagged"),
        ),
    )
    assert access(report) == {"web-data": ("read",)}
    assert report.datasets[0].certainty == "definite"


def _assumable(name: str, *statements: dict[str, Any], trust: dict[str, Any] | None = None) -> Role:
    return Role(
        arn=f"arn:aws:iam::{ACCT}:role/{name}",
        name=name,
        trust_policy=trust
        or policy({"Effect": "Allow", "Principal": {"AWS": ACCT}, "Action": "sts:AssumeRole"}),
        inline_policies=(PolicyDocument(name="r", document=policy(*statements)),) if statements else (),
    )


def test_bucket_policy_naming_a_role_session_is_found__role_session_principals() -> None:
    """A resource policy naming ``assumed-role/ROLE/SESSION`` grants that session directly (*Policy
    evaluation logic*); the attacker picks the session name, so the role reaches the bucket."""
    session = f"arn:aws:sts::{ACCT}:assumed-role/reader/incident"
    shared = bucket(
        "shared",
        resource_policy=policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": session},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::shared/*",
            }
        ),
    )
    reader = _assumable("reader")
    found = analyze(users=(user(allow("sts:AssumeRole", reader.arn)),), datasets=(shared,), roles=(reader,))
    assert access(found) == {"shared": ("read",)}
    assert access(analyze(users=(user(),), datasets=(shared,), roles=(reader,))) == {}


def test_trust_policy_naming_a_role_session_is_found__role_session_principals() -> None:
    """A trust policy naming a session of role hop1 lets that session assume role data."""
    hop1 = _assumable("hop1")
    data = _assumable(
        "data",
        allow("s3:GetObject", "arn:aws:s3:::b/*"),
        trust=policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:sts::{ACCT}:assumed-role/hop1/batch"},
                "Action": "sts:AssumeRole",
            }
        ),
    )
    found = analyze(
        users=(user(allow("sts:AssumeRole", hop1.arn)),), datasets=(bucket("b"),), roles=(hop1, data)
    )
    assert access(found) == {"b": ("read",)}
