"""IAM without GetAccountAuthorizationDetails: the per-entity read calls rebuild the same model.

An auditor policy may grant the List/Get reads but not ``iam:GetAccountAuthorizationDetails`` (GAAD).
moto never refuses a call, so the refusal is injected with a botocore event handler on the refused
operations only (``Stubber`` would stub every call of the client), and every other call reaches moto. Both
sides: GAAD allowed → GAAD is used (no per-entity call); GAAD denied → the per-entity reads give the
same users, groups, roles, policies, boundaries, tags and instance profiles, GAAD's refusal is a
warning, and each per-entity call that fails is a gap naming its operation and entity.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from blastradius.aws import ClientFactory
from blastradius.collect.base import GLOBAL_REGION, Scope, ServiceResult
from blastradius.collect.iam import collect_iam

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
ACCOUNT = "123456789012"
ARN = f"arn:aws:iam::{ACCOUNT}"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"{ARN}:root"}, "Action": "sts:AssumeRole"}],
    }
)


def _doc(action: str, resource: str = "*") -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]}
    )


@pytest.fixture
def account(moto: None) -> boto3.Session:
    """A moto account: users with inline, attached and group policies, tags; a role with a boundary-only
    policy, tags and an instance profile; an unattached customer policy."""
    session = boto3.Session(region_name="us-east-1")
    iam = session.client("iam")
    iam.create_policy(PolicyName="ExportsRead", Path="/data/", PolicyDocument=_doc("s3:GetObject"))
    iam.create_policy(PolicyName="Unused", PolicyDocument=_doc("sqs:*"))
    iam.create_policy(PolicyName="Boundary", PolicyDocument=_doc("s3:*"))
    iam.create_user(
        UserName="tconnect-web",
        Tags=[{"Key": "team", "Value": "web"}],
    )
    iam.put_user_policy(UserName="tconnect-web", PolicyName="app-data", PolicyDocument=_doc("dynamodb:Scan"))
    iam.attach_user_policy(UserName="tconnect-web", PolicyArn=f"{ARN}:policy/data/ExportsRead")
    iam.create_group(GroupName="developers")
    iam.put_group_policy(GroupName="developers", PolicyName="dev", PolicyDocument=_doc("logs:*"))
    iam.attach_group_policy(GroupName="developers", PolicyArn=f"{ARN}:policy/data/ExportsRead")
    iam.add_user_to_group(GroupName="developers", UserName="tconnect-web")
    iam.create_access_key(UserName="tconnect-web")
    iam.create_user(UserName="console-admin")
    iam.create_login_profile(UserName="console-admin", Password="Example-Passw0rd!")
    iam.create_role(
        RoleName="data-sync",
        Path="/app/",
        AssumeRolePolicyDocument=TRUST,
        PermissionsBoundary=f"{ARN}:policy/Boundary",
        Tags=[{"Key": "env", "Value": "prod"}],
    )
    iam.put_role_policy(RoleName="data-sync", PolicyName="sync", PolicyDocument=_doc("s3:PutObject"))
    iam.attach_role_policy(RoleName="data-sync", PolicyArn=f"{ARN}:policy/data/ExportsRead")
    iam.create_instance_profile(InstanceProfileName="data-sync")
    iam.add_role_to_instance_profile(InstanceProfileName="data-sync", RoleName="data-sync")
    return session


def _refuse(client: Any, operations: dict[str, str | None]) -> list[str]:
    """Make each operation fail with AccessDenied (for every call, or only for the entity named by the
    value); returns the log of every operation the client was asked for."""
    seen: list[str] = []

    def handler(model: Any, params: dict[str, Any], **_: Any) -> None:
        seen.append(model.name)
        if model.name in operations:
            only = operations[model.name]
            if only is None or only in {v for k, v in params.items() if k.endswith("Name")}:
                raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, model.name)

    client.meta.events.register("before-parameter-build.iam.*", handler)
    return seen


GAAD = "GetAccountAuthorizationDetails"


def _collect(session: boto3.Session, **refused: str | None) -> tuple[ServiceResult, list[str]]:
    clients = ClientFactory(session)
    seen = _refuse(clients("iam", "us-east-1"), refused)
    scope = Scope(clients=clients, account_id=ACCOUNT, region=GLOBAL_REGION, max_workers=2)
    return collect_iam(scope), seen


def _unnamed(policies: Any) -> list[Any]:
    """Managed policies without ``policy_id`` (moto's GAAD omits it; ListPolicies and AWS's GAAD give it)."""
    return [replace(p, policy_id=None) for p in policies]


def test_gaad_allowed_is_used_and_no_per_entity_read_is_made(account: boto3.Session) -> None:
    result, seen = _collect(account)
    assert result.gaps == () and result.warnings == ()
    assert "GetAccountAuthorizationDetails" in seen
    assert not {"ListUsers", "ListRoles", "ListGroups", "GetUserPolicy", "ListPolicies"} & set(seen)


def test_gaad_denied_falls_back_to_per_entity_reads_with_the_same_model(account: boto3.Session) -> None:
    """Same account, GAAD refused: ListUsers/ListRoles/ListGroups & co. rebuild the identical model."""
    via_gaad, _ = _collect(account)
    fallback, seen = _collect(account, **{GAAD: None})

    assert {"ListUsers", "ListGroups", "ListRoles", "GetUserPolicy", "GetRole", "ListPolicies"} <= set(seen)
    assert all(op.startswith(("Get", "List")) for op in seen)  # read-only, as collection must be
    documented = README.split("When `iam:GetAccountAuthorizationDetails` is refused", 1)[1].split("\n\n")[0]
    extra = set(seen) - {
        "GetAccountAuthorizationDetails",
        "ListAccessKeys",
        "GetAccessKeyLastUsed",
        "GetLoginProfile",
    }
    assert all(f"`iam:{op}`" in documented for op in extra), sorted(extra)
    assert fallback.gaps == ()  # nothing is missing: GAAD's refusal alone is a warning
    assert fallback.listing_error is None
    (warning,) = fallback.warnings
    assert "GetAccountAuthorizationDetails failed (AccessDenied)" in warning and "completely" in warning
    assert via_gaad.iam is not None and fallback.iam is not None
    assert fallback.iam.users == via_gaad.iam.users
    assert fallback.iam.groups == via_gaad.iam.groups
    assert fallback.iam.instance_profiles == via_gaad.iam.instance_profiles
    assert _unnamed(fallback.iam.managed_policies) == _unnamed(via_gaad.iam.managed_policies)
    # GetRole also reports MaxSessionDuration, which GAAD's RoleDetail does not carry.
    (gaad_role,), (role,) = via_gaad.iam.roles, fallback.iam.roles
    assert replace(role, max_session_duration=gaad_role.max_session_duration) == gaad_role
    assert role.permissions_boundary_arn == f"{ARN}:policy/Boundary"
    assert dict(role.tags) == {"env": "prod"}
    web = next(u for u in fallback.iam.users if u.name == "tconnect-web")
    assert web.group_names == ("developers",) and dict(web.tags) == {"team": "web"}
    assert {p.name for p in fallback.iam.managed_policies} >= {"ExportsRead", "Unused", "Boundary"}


def test_gaad_denied_and_one_inline_read_denied_is_a_precise_gap(account: boto3.Session) -> None:
    """What the fallback could not read is a gap naming the call and the entity; the rest is kept."""
    result, _ = _collect(account, **{GAAD: None, "GetRolePolicy": "data-sync"})
    assert [(g.operation, g.error_code, g.resource) for g in result.gaps] == [
        ("GetRolePolicy", "AccessDenied", f"{ARN}:role/app/data-sync")
    ]
    assert "1 of those calls failed" in result.warnings[0]
    assert result.iam is not None
    (role,) = result.iam.roles
    assert role.inline_policies == ()  # not seen (the gap says so) ...
    assert role.managed_policy_arns == (f"{ARN}:policy/data/ExportsRead",)  # ... the rest is


def test_gaad_denied_and_list_policies_denied_fetches_attached_policies_one_by_one(
    account: boto3.Session,
) -> None:
    result, seen = _collect(account, **{GAAD: None, "ListPolicies": None})
    assert {(g.operation, g.resource) for g in result.gaps} == {("ListPolicies", None)}
    assert result.iam is not None
    # Attached and boundary policies are still read with GetPolicy + GetPolicyVersion; only the unattached
    # one cannot be known.
    assert {p.name for p in result.iam.managed_policies} == {"ExportsRead", "Boundary"}
    assert "GetPolicy" in seen


def test_gaad_and_every_listing_denied_marks_iam_with_gaad_error(account: boto3.Session) -> None:
    result, _ = _collect(account, **dict.fromkeys((GAAD, "ListUsers", "ListGroups", "ListRoles")))
    assert result.iam is None
    assert result.listing_error == "AccessDenied"
    assert [g.operation for g in result.gaps] == [
        "GetAccountAuthorizationDetails",
        "ListUsers",
        "ListGroups",
        "ListRoles",
    ]
