"""IAM collector: GAAD normalised into users, groups, roles and policies; keys, logins, boundaries, gaps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from blastradius.aws import ClientFactory
from blastradius.collect.base import GLOBAL_REGION, Recorder, Scope
from blastradius.collect.iam import GAAD_FILTERS, collect_iam, get_iam, normalise_iam

ACCOUNT = "123456789012"
ARN = f"arn:aws:iam::{ACCOUNT}"


def _doc(action: str, resource: str = "*") -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]}
    )


TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"{ARN}:root"}, "Action": "sts:AssumeRole"}],
    }
)


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """An in-process moto account with fake auditor credentials."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


def _scope(clients: Any, max_workers: int = 4) -> Scope:
    return Scope(clients=clients, account_id=ACCOUNT, region=GLOBAL_REGION, max_workers=max_workers)


@pytest.fixture
def seeded(session: boto3.Session) -> ClientFactory:
    """The subcontractor incident: a web user with an inline policy, a group and a key; an admin role."""
    iam = session.client("iam")
    iam.create_policy(PolicyName="ExportsRead", Path="/data/", PolicyDocument=_doc("s3:GetObject"))
    iam.create_user(UserName="tconnect-web", Tags=[{"Key": "team", "Value": "web"}])
    iam.put_user_policy(UserName="tconnect-web", PolicyName="app-data", PolicyDocument=_doc("dynamodb:Scan"))
    iam.attach_user_policy(UserName="tconnect-web", PolicyArn=f"{ARN}:policy/data/ExportsRead")
    iam.create_group(GroupName="developers")
    iam.put_group_policy(GroupName="developers", PolicyName="dev", PolicyDocument=_doc("logs:*"))
    iam.add_user_to_group(GroupName="developers", UserName="tconnect-web")
    iam.create_access_key(UserName="tconnect-web")
    iam.create_user(UserName="console-admin")
    iam.create_login_profile(UserName="console-admin", Password="Example-Passw0rd!")
    iam.create_role(
        RoleName="data-sync",
        Path="/app/",
        AssumeRolePolicyDocument=TRUST,
        PermissionsBoundary=f"{ARN}:policy/data/ExportsRead",
    )
    iam.attach_role_policy(RoleName="data-sync", PolicyArn=f"{ARN}:policy/data/ExportsRead")
    return ClientFactory(session)


def test_seeded_account_is_normalised(seeded: ClientFactory) -> None:
    result = collect_iam(_scope(seeded))

    assert result.gaps == ()
    assert result.listing_error is None
    iam = result.iam
    assert iam is not None
    users = {u.name: u for u in iam.users}
    web = users["tconnect-web"]
    assert web.arn == f"{ARN}:user/tconnect-web"
    assert [(p.name, p.document["Statement"][0]["Action"]) for p in web.inline_policies] == [
        ("app-data", "dynamodb:Scan")
    ]
    assert web.managed_policy_arns == (f"{ARN}:policy/data/ExportsRead",)
    assert web.group_names == ("developers",)
    assert dict(web.tags) == {"team": "web"}
    assert [(k.user_name, k.status) for k in web.access_keys] == [("tconnect-web", "Active")]
    assert web.access_keys[0].last_used_service is None  # "N/A" means never used
    assert web.has_login_profile is False
    assert users["console-admin"].has_login_profile is True

    assert [(g.name, [p.name for p in g.inline_policies]) for g in iam.groups] == [("developers", ["dev"])]
    (role,) = iam.roles
    assert (role.arn, role.path) == (f"{ARN}:role/app/data-sync", "/app/")
    assert role.permissions_boundary_arn == f"{ARN}:policy/data/ExportsRead"
    assert role.trust_policy["Statement"][0]["Principal"] == {"AWS": f"{ARN}:root"}

    (policy,) = iam.managed_policies
    # moto's GAAD lacks PolicyName: the name comes from the ARN.
    assert (policy.arn, policy.name, policy.default_version_id) == (
        f"{ARN}:policy/data/ExportsRead",
        "ExportsRead",
        "v1",
    )
    assert policy.document["Statement"][0]["Action"] == "s3:GetObject"
    assert policy.attachment_count == 2


def test_denied_login_profile_of_one_user_is_a_gap_and_the_rest_is_collected(seeded: ClientFactory) -> None:
    iam = seeded("iam", "us-east-1")
    real = iam.get_login_profile

    def denied_for_admin(**kwargs: Any) -> Any:
        if kwargs["UserName"] == "console-admin":
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetLoginProfile")
        return real(**kwargs)

    iam.get_login_profile = denied_for_admin

    result = collect_iam(_scope(seeded))

    assert [(g.operation, g.error_code, g.resource, g.region) for g in result.gaps] == [
        ("GetLoginProfile", "AccessDenied", f"{ARN}:user/console-admin", GLOBAL_REGION)
    ]
    assert result.iam is not None
    users = {u.name: u for u in result.iam.users}
    assert users["console-admin"].has_login_profile is None  # unknown, not "no"
    assert users["tconnect-web"].has_login_profile is False
    assert len(users["tconnect-web"].access_keys) == 1


def test_denied_gaad_marks_iam_with_the_error_not_empty(seeded: ClientFactory) -> None:
    iam = seeded("iam", "us-east-1")
    stub = Stubber(iam)
    stub.add_client_error("get_account_authorization_details", "AccessDenied", "denied")
    stub.activate()

    result = collect_iam(_scope(seeded))

    assert result.iam is None
    assert result.listing_error == "AccessDenied"
    # The per-entity fallback's listings fail too (the Stubber answers no other call).
    assert [(g.operation, g.resource) for g in result.gaps] == [
        ("GetAccountAuthorizationDetails", None),
        ("ListUsers", None),
        ("ListGroups", None),
        ("ListRoles", None),
    ]


# --- stubbed responses: what moto cannot do ---------------------------------------------------------

_WHEN = datetime(2024, 5, 1, tzinfo=UTC)


def _role(name: str, boundary: str | None = None) -> dict[str, Any]:
    role: dict[str, Any] = {
        "Path": "/",
        "RoleName": name,
        "RoleId": f"AROA{name.upper():X<17}",
        "Arn": f"{ARN}:role/{name}",
        "CreateDate": _WHEN,
        "AssumeRolePolicyDocument": TRUST,
        "RolePolicyList": [],
        "AttachedManagedPolicies": [],
        "RoleLastUsed": {"LastUsedDate": _WHEN, "Region": "eu-west-1"},
    }
    if boundary:
        role["PermissionsBoundary"] = {
            "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
            "PermissionsBoundaryArn": boundary,
        }
    return role


def test_gaad_pages_are_merged_and_boundary_only_policy_is_fetched(session: boto3.Session) -> None:
    iam = session.client("iam", region_name="us-east-1")
    boundary = "arn:aws:iam::aws:policy/PowerUserAccess"
    stub = Stubber(iam)
    filters = list(GAAD_FILTERS)
    stub.add_response(
        "get_account_authorization_details",
        {"RoleDetailList": [_role("first")], "IsTruncated": True, "Marker": "page-2"},
        {"Filter": filters},
    )
    stub.add_response(
        "get_account_authorization_details",
        {"RoleDetailList": [_role("second", boundary=boundary)], "IsTruncated": False},
        {"Filter": filters, "Marker": "page-2"},
    )
    stub.add_response(
        "get_policy",
        {
            "Policy": {
                "PolicyName": "PowerUserAccess",
                "PolicyId": "ANPAJYRXTHIB4FOVS3ZXS",
                "Arn": boundary,
                "DefaultVersionId": "v5",
                "AttachmentCount": 0,
                "PermissionsBoundaryUsageCount": 1,
            }
        },
        {"PolicyArn": boundary},
    )
    stub.add_response(
        "get_policy_version",
        {"PolicyVersion": {"Document": _doc("*"), "VersionId": "v5", "IsDefaultVersion": True}},
        {"PolicyArn": boundary, "VersionId": "v5"},
    )
    stub.activate()
    recorder = Recorder("iam", GLOBAL_REGION)

    raw = get_iam(_scope(lambda service, region: iam, max_workers=1), recorder)
    stub.assert_no_pending_responses()

    assert recorder.gaps == ()
    assert raw.gaad is not None
    entities = normalise_iam(raw.gaad, boundary_policies=raw.boundary_policies)
    assert [r.name for r in entities.roles] == ["first", "second"]
    assert entities.roles[0].last_used_region == "eu-west-1"
    assert entities.roles[0].last_used_date == "2024-05-01T00:00:00+00:00"
    (policy,) = entities.managed_policies
    assert (policy.arn, policy.name, policy.aws_managed, policy.boundary_usage_count) == (
        boundary,
        "PowerUserAccess",
        True,
        1,
    )
    assert policy.document["Statement"][0]["Action"] == "*"


def test_boundary_policy_that_cannot_be_read_is_a_gap(session: boto3.Session) -> None:
    iam = session.client("iam", region_name="us-east-1")
    boundary = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    stub = Stubber(iam)
    stub.add_response(
        "get_account_authorization_details", {"RoleDetailList": [_role("r", boundary=boundary)]}
    )
    stub.add_client_error("get_policy", "AccessDenied", "denied")
    stub.activate()
    recorder = Recorder("iam", GLOBAL_REGION)

    raw = get_iam(_scope(lambda service, region: iam, max_workers=1), recorder)

    assert raw.boundary_policies == []
    assert [(g.operation, g.error_code, g.resource) for g in recorder.gaps] == [
        ("GetPolicy", "AccessDenied", boundary)
    ]


def test_policy_documents_as_url_encoded_text_are_decoded() -> None:
    gaad = {
        "UserDetailList": [
            {
                "UserName": "u",
                "Arn": f"{ARN}:user/u",
                "UserPolicyList": [
                    {
                        "PolicyName": "p",
                        "PolicyDocument": "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D",
                    }
                ],
            }
        ]
    }
    (user,) = normalise_iam(gaad).users
    assert user.inline_policies[0].document == {"Version": "2012-10-17", "Statement": []}
    assert user.has_login_profile is None
