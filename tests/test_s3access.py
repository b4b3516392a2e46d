"""S3 ACLs and Block Public Access where they change the answer: collection, the pure rules of
``policy.s3access``, and their effect on the graph.

Sources: *Access control list (ACL) overview* ("Mapping of ACL permissions and access policy permissions"),
*Blocking public access to your Amazon S3 storage* (IgnorePublicAcls, RestrictPublicBuckets, "The meaning of
'public'"), *Controlling ownership of objects and disabling ACLs for your bucket* (BucketOwnerEnforced).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from blastradius.analyze import analyze_snapshot
from blastradius.aws import ClientFactory
from blastradius.collect.base import GLOBAL_REGION, Scope
from blastradius.collect.s3 import ACCOUNT_PAB_OPERATION, collect_s3
from blastradius.model import S3_BUCKET, AccessKey, Dataset, PolicyDocument, Snapshot, User
from blastradius.policy.s3access import (
    ALL_USERS,
    AUTHENTICATED_USERS,
    BlockPublicAccess,
    acl_statements,
    block_public_access,
    effective_resource_policy,
    is_public_policy,
    restrict_public_policy,
)

OWNER = "111122223333"
OTHER = "444455556666"
OWNER_ID = "ownercanonicalid"
PARTNER_ID = "partnercanonicalid"
KEY = "AKIAQYLPMN5HHHFPZAM2"
LIST = ["s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"]


def grant(permission: str, *, uri: str | None = None, canonical: str | None = None) -> dict[str, Any]:
    grantee = {"type": "Group", "uri": uri} if uri else {"type": "CanonicalUser", "id": canonical}
    return {"grantee": grantee, "permission": permission}


def bucket(
    name: str = "exports",
    *,
    grants: list[dict[str, Any]] | None = None,
    policy: dict[str, Any] | None = None,
    account: str = OWNER,
    **details: Any,
) -> Dataset:
    acl = {"owner": OWNER_ID, "grants": [grant("FULL_CONTROL", canonical=OWNER_ID), *(grants or [])]}
    return Dataset(
        arn=f"arn:aws:s3:::{name}",
        type=S3_BUCKET,
        name=name,
        account_id=account,
        region="us-east-1",
        resource_policy=policy,
        details={"acl": acl, **details},
    )


def public_policy(name: str = "exports", **extra: Any) -> dict[str, Any]:
    statement = {
        "Sid": "Public",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{name}/*",
        **extra,
    }
    return {"Version": "2012-10-17", "Statement": [statement]}


# ----------------------------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("bucket_pab", "account_pab", "expected"),
    [
        pytest.param(None, None, BlockPublicAccess(), id="none-set"),
        pytest.param(True, None, BlockPublicAccess(), id="not-a-mapping-is-unknown-so-off"),
        pytest.param(
            {"IgnorePublicAcls": True}, None, BlockPublicAccess(ignore_public_acls=True), id="bucket"
        ),
        pytest.param(
            {"IgnorePublicAcls": False},
            {"RestrictPublicBuckets": True},
            BlockPublicAccess(restrict_public_buckets=True),
            id="account-setting-wins-most-restrictive",
        ),
        pytest.param(
            {"IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            {"IgnorePublicAcls": False, "RestrictPublicBuckets": False},
            BlockPublicAccess(ignore_public_acls=True, restrict_public_buckets=True),
            id="bucket-setting-wins-most-restrictive",
        ),
    ],
)
def test_block_public_access_combines_bucket_and_account_settings(
    bucket_pab: object, account_pab: dict[str, bool] | None, expected: BlockPublicAccess
) -> None:
    """Blocking public access: S3 applies the most restrictive combination of bucket and account settings."""
    details = {"public_access_block": bucket_pab, "account_public_access_block": account_pab}
    assert block_public_access(details) == expected


@pytest.mark.parametrize(
    ("statement", "public"),
    [
        pytest.param({"Principal": "*"}, True, id="star"),
        pytest.param({"Principal": {"AWS": ["*"]}}, True, id="aws-star"),
        pytest.param({"Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"}}, False, id="fixed-account"),
        pytest.param(
            {"Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}},
            False,
            id="star-limited-to-cidrs",
        ),
        pytest.param(
            {"Principal": "*", "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}},
            False,
            id="star-fixed-vpc-endpoint",
        ),
        pytest.param(
            {"Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}},
            False,
            id="star-fixed-organization",
        ),
        pytest.param(
            {"Principal": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
            True,
            id="star-only-tls-still-public",
        ),
        pytest.param({"Principal": "*", "Effect": "Deny"}, False, id="deny-is-never-a-grant"),
    ],
)
def test_the_meaning_of_public_for_bucket_policies(statement: dict[str, Any], public: bool) -> None:
    """The meaning of 'public': public unless a fixed principal or a fixing condition key narrows it."""
    full = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::exports/*", **statement}
    assert is_public_policy({"Version": "2012-10-17", "Statement": [full]}) is public


def test_acl_permissions_map_to_their_documented_actions() -> None:
    """ACL overview, "Mapping of ACL permissions and access policy permissions" (bucket ACLs)."""
    dataset = bucket(
        grants=[
            grant("READ", uri=ALL_USERS),
            grant("WRITE", uri=AUTHENTICATED_USERS),
            grant("READ_ACP", uri=AUTHENTICATED_USERS),
            grant("FULL_CONTROL", canonical=PARTNER_ID),
        ]
    )
    found = {
        (str(st["Principal"]), a, st["Resource"]) for st in acl_statements(dataset) for a in st["Action"]
    }
    everyone, authenticated, partner = "*", str({"AWS": "*"}), str({"CanonicalUser": PARTNER_ID})
    bucket_arn, objects = "arn:aws:s3:::exports", "arn:aws:s3:::exports/*"
    assert {(p, a) for p, a, r in found if p == everyone} == {(everyone, a) for a in LIST}
    assert {(a, r) for p, a, r in found if p == authenticated} == {
        ("s3:PutObject", objects),
        ("s3:DeleteObject", objects),
        ("s3:GetBucketAcl", bucket_arn),
    }
    # FULL_CONTROL is READ + WRITE + READ_ACP + WRITE_ACP.
    assert {a for p, a, _ in found if p == partner} == {
        *LIST,
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:GetBucketAcl",
        "s3:PutBucketAcl",
    }
    # The owner's own FULL_CONTROL grant only delegates to the owner account's IAM policies: left out.
    assert all("ownercanonicalid" not in str(st["Principal"]) for st in acl_statements(dataset))


def test_ignore_public_acls_drops_public_grants_but_keeps_named_accounts() -> None:
    """IgnorePublicAcls: S3 ignores ACL grants to AllUsers and AuthenticatedUsers, not to an account."""
    dataset = bucket(
        grants=[grant("READ", uri=ALL_USERS), grant("READ", canonical=PARTNER_ID)],
        public_access_block={"IgnorePublicAcls": True},
    )
    assert [st["Principal"] for st in acl_statements(dataset)] == [{"CanonicalUser": PARTNER_ID}]
    assert len(acl_statements(bucket(grants=[grant("READ", uri=ALL_USERS)]))) == 1


def test_bucket_owner_enforced_disables_every_acl() -> None:
    """Object Ownership BucketOwnerEnforced: ACLs no longer affect permissions."""
    dataset = bucket(grants=[grant("READ", uri=ALL_USERS)], object_ownership="BucketOwnerEnforced")
    assert acl_statements(dataset) == []
    assert acl_statements(bucket(grants=[grant("READ", uri=ALL_USERS)], object_ownership="ObjectWriter"))


def test_restrict_public_buckets_limits_allows_to_the_owner_account() -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            public_policy()["Statement"][0],
            {
                "Sid": "Partner",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
                "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::exports",
                "Condition": {"StringEquals": {"aws:PrincipalAccount": OTHER}},
            },
            {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket", "Resource": "*"},
        ],
    }
    restricted = restrict_public_policy(policy, OWNER)["Statement"]
    assert [st["Effect"] for st in restricted] == ["Allow", "Deny"]  # the partner grant can grant no one
    assert restricted[0]["Condition"] == {"StringEquals": {"aws:PrincipalAccount": OWNER}}
    assert restricted[0]["Sid"].startswith("Public (RestrictPublicBuckets")
    assert restricted[1] == policy["Statement"][2]


def test_effective_policy_is_the_dataset_policy_itself_when_nothing_applies() -> None:
    plain = bucket(policy=public_policy())
    assert effective_resource_policy(plain) is plain.resource_policy
    not_public = bucket(
        policy={"Version": "2012-10-17", "Statement": []}, public_access_block={"RestrictPublicBuckets": True}
    )
    assert effective_resource_policy(not_public) is not_public.resource_policy
    table = Dataset(
        arn="arn:aws:dynamodb:us-east-1:1:table/t",
        type="dynamodb-table",
        name="t",
        account_id=OWNER,
        region="us-east-1",
        details={"acl": {"owner": "x", "grants": [grant("READ", uri=ALL_USERS)]}},
    )
    assert effective_resource_policy(table) is None


def test_a_bucket_without_policy_or_acl_has_none_whatever_its_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Decided without reading its Block Public Access settings; with an ACL, they are read.
    calls: list[object] = []
    monkeypatch.setattr(
        "blastradius.policy.s3access.block_public_access",
        lambda details: calls.append(details) or BlockPublicAccess(restrict_public_buckets=True),
    )
    bare = Dataset(
        arn="arn:aws:s3:::bare",
        type=S3_BUCKET,
        name="bare",
        account_id=OWNER,
        region="us-east-1",
        details={"public_access_block": {"RestrictPublicBuckets": True}},
    )
    assert effective_resource_policy(bare) is None
    assert calls == []
    assert effective_resource_policy(bucket(grants=[grant("READ", uri=ALL_USERS)])) is not None
    assert len(calls) == 1


def test_effective_policy_combines_restricted_policy_and_acl_grants() -> None:
    dataset = bucket(
        policy=public_policy(),
        grants=[grant("READ", uri=ALL_USERS)],
        public_access_block={"RestrictPublicBuckets": True},
    )
    document = effective_resource_policy(dataset)
    assert document is not None
    sids = [st["Sid"] for st in document["Statement"]]
    assert sids == [
        "Public (RestrictPublicBuckets: bucket owner account only)",
        "bucket ACL: READ to AllUsers",
    ]


# ----------------------------------------------------------------------------------------------- graph


def leaky(account: str, *statements: dict[str, Any]) -> User:
    return User(
        arn=f"arn:aws:iam::{account}:user/leaky",
        name="leaky",
        inline_policies=(
            (PolicyDocument(name="p", document={"Version": "2012-10-17", "Statement": list(statements)}),)
            if statements
            else ()
        ),
        access_keys=(AccessKey(access_key_id=KEY, user_name="leaky", status="Active"),),
    )


def reach(user: User, *datasets: Dataset) -> dict[str, tuple[str, ...]]:
    snapshot = Snapshot(
        account_id=OWNER,
        collected_at="2026-11-25T00:00:00Z",
        users=(user,),
        datasets=datasets,
        accounts=(OTHER,) if user.arn.split(":")[4] == OTHER else (),
    )
    report = analyze_snapshot(snapshot, KEY)
    return {d.name: d.access for d in report.datasets}


def read_objects(name: str = "exports") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/*"}


def test_public_read_acl_lets_a_user_without_policies_list_the_bucket() -> None:
    """An AllUsers READ grant is s3:ListBucket for anyone; IgnorePublicAcls (bucket or account) and
    BucketOwnerEnforced take it away."""
    public = [grant("READ", uri=ALL_USERS)]
    assert reach(leaky(OWNER), bucket(grants=public)) == {"exports": ("list",)}
    assert reach(leaky(OWNER), bucket(grants=public, public_access_block={"IgnorePublicAcls": True})) == {}
    assert (
        reach(leaky(OWNER), bucket(grants=public, account_public_access_block={"IgnorePublicAcls": True}))
        == {}
    )
    assert reach(leaky(OWNER), bucket(grants=public, object_ownership="BucketOwnerEnforced")) == {}


def test_write_acp_for_authenticated_users_is_admin_of_the_bucket() -> None:
    """WRITE_ACP allows s3:PutBucketAcl: whoever holds it can grant itself everything."""
    found = reach(leaky(OWNER), bucket(grants=[grant("WRITE_ACP", uri=AUTHENTICATED_USERS)]))
    assert found == {"exports": ("admin",)}


def test_cross_account_identity_allow_alone_reaches_nothing() -> None:
    """Cross-account policy evaluation logic: without a resource-based policy (or ACL) of the bucket's
    account allowing, the caller's own identity policy is not enough (a graph fast path used to allow)."""
    plain = Dataset(arn="arn:aws:s3:::exports", type=S3_BUCKET, name="exports", account_id=OWNER, region="r")
    assert reach(leaky(OTHER, read_objects()), plain) == {}
    assert reach(leaky(OWNER, read_objects()), plain) == {"exports": ("read",)}


def test_acl_grant_to_another_account_needs_the_identity_side_too() -> None:
    """Cross-account: the ACL grant (to AuthenticatedUsers) is the resource side; the caller's own account
    must allow as well (Cross-account policy evaluation logic)."""
    granted = bucket(grants=[grant("READ", uri=AUTHENTICATED_USERS)])
    assert reach(leaky(OTHER), granted) == {}
    lister = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::exports"}
    assert reach(leaky(OTHER, lister), granted) == {"exports": ("list",)}


def test_restrict_public_buckets_blocks_cross_account_access_through_a_public_policy() -> None:
    """RestrictPublicBuckets: only the owner account's principals keep what a public policy grants."""
    open_bucket = bucket(policy=public_policy())
    assert reach(leaky(OTHER, read_objects()), open_bucket) == {"exports": ("read",)}
    for setting in ("public_access_block", "account_public_access_block"):
        restricted = bucket(policy=public_policy(), **{setting: {"RestrictPublicBuckets": True}})
        assert reach(leaky(OTHER, read_objects()), restricted) == {}
        # Principals of the bucket owner's account keep their access.
        assert reach(leaky(OWNER, read_objects()), restricted) == {"exports": ("read",)}


def test_restrict_public_buckets_also_blocks_delegation_to_a_named_account_in_a_public_policy() -> None:
    """ "public and cross-account access within any public bucket policy, including non-public delegation to
    specific accounts, is blocked" — but a policy that is not public keeps its cross-account grant."""
    partner = {
        "Sid": "Partner",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::exports/*",
    }
    both = public_policy(Action="s3:ListBucket", Resource="arn:aws:s3:::exports")
    both["Statement"].append(partner)
    only_partner = {"Version": "2012-10-17", "Statement": [partner]}
    restrict = {"RestrictPublicBuckets": True}
    assert reach(leaky(OTHER, read_objects()), bucket(policy=both, public_access_block=restrict)) == {}
    assert reach(leaky(OTHER, read_objects()), bucket(policy=only_partner, public_access_block=restrict)) == {
        "exports": ("read",)
    }


def test_explain_shows_the_acl_grant_as_the_deciding_statement() -> None:
    """``explain`` evaluates the same effective policy as the graph: the ACL grant is the evidence."""
    import json

    from blastradius.explain import explain_dataset

    for details, reachable in (({}, True), ({"public_access_block": {"IgnorePublicAcls": True}}, False)):
        snapshot = Snapshot(
            account_id=OWNER,
            collected_at="2026-11-25T00:00:00Z",
            users=(leaky(OWNER),),
            datasets=(bucket(grants=[grant("READ", uri=ALL_USERS)], **details),),
        )
        explained = explain_dataset(snapshot, KEY, "exports", origin=leaky(OWNER).arn, level="list")
        assert explained.reachable is reachable
        assert ("bucket ACL: READ to AllUsers" in json.dumps(explained.to_json())) is reachable


# -------------------------------------------------------------------------------------------- collector


@pytest.fixture
def s3_session() -> Iterator[boto3.Session]:
    from moto import mock_aws

    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


def _collect(session: boto3.Session, clients: Any = None) -> Any:
    scope = Scope(clients=clients or ClientFactory(session), account_id="123456789012", region=GLOBAL_REGION)
    return collect_s3(scope)


def test_collector_records_acl_ownership_and_both_public_access_blocks(s3_session: boto3.Session) -> None:
    s3 = s3_session.client("s3")
    s3.create_bucket(Bucket="public-exports")
    s3.put_bucket_acl(Bucket="public-exports", ACL="public-read")
    s3.put_public_access_block(
        Bucket="public-exports", PublicAccessBlockConfiguration={"IgnorePublicAcls": True}
    )
    s3.create_bucket(Bucket="enforced")
    s3.put_bucket_ownership_controls(
        Bucket="enforced", OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    s3_session.client("s3control").put_public_access_block(
        AccountId="123456789012", PublicAccessBlockConfiguration={"RestrictPublicBuckets": True}
    )

    result = _collect(s3_session)

    assert result.gaps == ()
    found = {d.name: d for d in result.datasets}
    public = found["public-exports"].details
    assert {"grantee": {"type": "Group", "uri": ALL_USERS}, "permission": "READ"} in public["acl"]["grants"]
    assert public["acl"]["owner"]
    assert public["object_ownership"] == "ObjectWriter"  # no ownership controls: ACLs in force
    assert public["public_access_block"]["IgnorePublicAcls"] is True
    assert public["account_public_access_block"]["RestrictPublicBuckets"] is True
    assert found["enforced"].details["object_ownership"] == "BucketOwnerEnforced"
    assert acl_statements(found["public-exports"]) == []  # ignored by the bucket's IgnorePublicAcls


def test_unreadable_acl_and_account_settings_are_gaps_and_count_as_absent(s3_session: boto3.Session) -> None:
    s3_session.client("s3").create_bucket(Bucket="exports")
    factory = ClientFactory(s3_session)

    def denying(service: str, region: str) -> Any:
        client = factory(service, region)
        for method in ("get_bucket_acl", "get_public_access_block"):
            if service == "s3control" or method == "get_bucket_acl":

                def denied(**_: Any) -> Any:
                    raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "Get")

                setattr(client, method, denied)
        return client

    result = _collect(s3_session, denying)

    assert {g.operation for g in result.gaps} == {"GetBucketAcl", ACCOUNT_PAB_OPERATION}
    (dataset,) = result.datasets
    assert sorted(dataset.details["not_collected"]) == sorted(["GetBucketAcl", ACCOUNT_PAB_OPERATION])
    assert "acl" not in dataset.details and "account_public_access_block" not in dataset.details
    assert block_public_access(dataset.details) == BlockPublicAccess()  # unknown: not assumed on


def test_an_escalation_step_on_a_bucket_weighs_its_effective_policy_acl_included() -> None:
    # The engine caches one parsed policy per bucket: a data-side technique decided before any access
    # (an audit, or a principal's techniques ahead of its grants) must cache the policy AWS evaluates —
    # the bucket policy plus its ACL grants under Block Public Access — not the bare bucket policy,
    # or every later decision on that bucket would miss the ACL's grants.
    from blastradius.escalation import evaluator
    from blastradius.graph import GrantFloor, build_graph
    from blastradius.policy import parse_policy
    from blastradius.rules import load_rules

    exposed = bucket(grants=[grant("READ", uri=ALL_USERS)])
    assert exposed.resource_policy is None
    user = User(
        arn=f"arn:aws:iam::{OWNER}:user/dev",
        name="dev",
        inline_policies=(
            PolicyDocument(
                name="p",
                document={
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:PutBucketPolicy", "Resource": "*"}],
                },
            ),
        ),
    )
    account = Snapshot(
        account_id=OWNER,
        collected_at="2026-11-25T00:00:00Z",
        regions=("us-east-1",),
        users=(user,),
        datasets=(exposed,),
    )
    graph = build_graph(account, load_rules())
    ev = evaluator(graph)
    assert ev is not None
    principal = graph.model.principal(user.arn)
    assert principal is not None
    list(ev.data_edges(principal, GrantFloor(graph.model)))  # decides the technique's steps first
    cached = graph.model.resource_policy(exposed.arn, None, "unused: already parsed")
    expected = parse_policy(effective_resource_policy(exposed) or {}, name="effective")
    assert cached is not None and len(cached.statements) == len(expected.statements) > 0
