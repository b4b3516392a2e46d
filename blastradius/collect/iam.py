"""IAM: users, groups, roles and managed policies, with access keys and login profiles.

``GetAccountAuthorizationDetails`` (GAAD) gives principals and policies in one paginated call, but
it omits managed policies that are used *only* as permissions boundaries (typically AWS managed
ones); those are fetched with GetPolicy + GetPolicyVersion. Access keys, their last use and login
profiles are per-user calls, fanned out over a small thread pool.
https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetAccountAuthorizationDetails.html

When GAAD itself fails (an auditor policy without ``iam:GetAccountAuthorizationDetails``), the same
GAAD-shaped record is rebuilt from the per-entity read calls — ListUsers / ListGroups / ListRoles,
GetUser / GetRole (boundary, tags and last use, which the List calls omit), List*Policies + Get*Policy
(inline), ListAttached*Policies, ListGroupsForUser, ListInstanceProfilesForRole, ListPolicies +
GetPolicyVersion (customer managed, and AWS managed ones in use), GetPolicy + GetPolicyVersion for any
other policy referenced — and normalised by the same pure code. GAAD's failure is then a coverage
warning; every per-entity call that fails is a gap naming its operation and resource.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError

from blastradius.collect.base import (
    GLOBAL_REGION,
    IamEntities,
    Raw,
    Recorder,
    Scope,
    ServiceResult,
    first_listing_error,
    for_each,
    iso,
    present,
    tags_dict,
)
from blastradius.model import (
    AccessKey,
    Group,
    InstanceProfile,
    JsonDict,
    ManagedPolicy,
    PolicyDocument,
    Role,
    User,
)

SERVICE = "iam"
GAAD_OPERATION = "GetAccountAuthorizationDetails"
GAAD_FILTERS = ("User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy")
GAAD_LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")


@dataclass(slots=True, kw_only=True)
class IamRaw:
    """Raw IAM responses. ``gaad`` is the merged GAAD pages, or the same shape rebuilt entity by entity
    when GAAD failed (``gaad_error`` then names its error); None when neither could list anything. A user
    missing from ``access_keys`` / ``login_profiles`` is one whose call failed (a gap says why)."""

    gaad: Raw | None
    boundary_policies: list[Raw] = field(default_factory=list)
    access_keys: dict[str, list[Raw]] = field(default_factory=dict)
    login_profiles: dict[str, bool] = field(default_factory=dict)
    gaad_error: str | None = None


def get_iam(scope: Scope, recorder: Recorder) -> IamRaw:
    """Call GAAD (all pages, all filters) or, when it fails, the per-entity reads; fetch policies only
    referenced (boundary-only ones), then per-user keys and logins."""
    iam = scope.client(SERVICE)
    gaad_error: str | None = None
    gaad = _get_gaad(iam, recorder)
    if gaad is None:
        gaad_error = first_listing_error(recorder.gaps, GAAD_OPERATION)
        gaad = get_iam_per_entity(iam, recorder, scope.max_workers)
        if gaad is None:
            return IamRaw(gaad=None, gaad_error=gaad_error)
    raw = IamRaw(
        gaad=gaad,
        boundary_policies=_get_boundary_only_policies(iam, recorder, gaad),
        gaad_error=gaad_error,
    )
    users = [(u["UserName"], u["Arn"]) for u in gaad["UserDetailList"]]
    for name, keys, login in for_each(
        users, lambda u: _get_user_extras(iam, recorder, *u), scope.max_workers
    ):
        if keys is not None:
            raw.access_keys[name] = keys
        if login is not None:
            raw.login_profiles[name] = login
    return raw


def _get_gaad(iam: Any, recorder: Recorder) -> Raw | None:
    merged: Raw = {key: [] for key in GAAD_LISTS}
    try:
        pages = iam.get_paginator("get_account_authorization_details").paginate(Filter=list(GAAD_FILTERS))
        for page in pages:
            for key in GAAD_LISTS:
                merged[key].extend(page.get(key, []))
    except (ClientError, BotoCoreError) as e:
        recorder.add_gap(GAAD_OPERATION, e, resource=None, region=None)
        return None
    return merged


def boundary_arns(gaad: Mapping[str, Any]) -> set[str]:
    """Every permissions-boundary policy ARN referenced by a user or role."""
    found: set[str] = set()
    for entity in [*gaad.get("UserDetailList", []), *gaad.get("RoleDetailList", [])]:
        arn = (entity.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        if arn:
            found.add(arn)
    return found


def _get_boundary_only_policies(iam: Any, recorder: Recorder, gaad: Raw) -> list[Raw]:
    """GetPolicy + GetPolicyVersion of every referenced managed policy the GAAD record does not hold:
    boundary-only ones (GAAD omits them) and, in a per-entity record whose ListPolicies failed, the
    attached ones too."""
    known = {p["Arn"] for p in gaad["Policies"]}
    fetched: list[Raw] = []
    for arn in sorted((boundary_arns(gaad) | attached_arns(gaad)) - known):
        ok, response = recorder.call("GetPolicy", iam.get_policy, resource=arn, PolicyArn=arn)
        if not ok:
            continue
        policy = dict(response["Policy"])
        ok, version = recorder.call(
            "GetPolicyVersion",
            iam.get_policy_version,
            resource=arn,
            PolicyArn=arn,
            VersionId=policy["DefaultVersionId"],
        )
        if not ok:
            continue
        policy["PolicyVersionList"] = [{**version["PolicyVersion"], "IsDefaultVersion": True}]
        fetched.append(policy)
    return fetched


def attached_arns(gaad: Mapping[str, Any]) -> set[str]:
    """Every managed policy ARN attached to a user, group or role of a GAAD record."""
    entities = [
        *gaad.get("UserDetailList", []),
        *gaad.get("GroupDetailList", []),
        *gaad.get("RoleDetailList", []),
    ]
    return {p["PolicyArn"] for e in entities for p in e.get("AttachedManagedPolicies") or ()}


# -- GAAD denied: the same record, entity by entity ------------------------------------------------


def get_iam_per_entity(iam: Any, recorder: Recorder, max_workers: int) -> Raw | None:
    """A GAAD-shaped record from per-entity read calls (GAAD was refused); None when no listing worked.

    Per entity: GetUser / GetRole (boundary, tags, last use: ListUsers and ListRoles omit them), inline
    policies (List*Policies + Get*Policy), attached ones (ListAttached*Policies), a user's groups
    (ListGroupsForUser), a role's instance profiles (ListInstanceProfilesForRole). Managed policies:
    ListPolicies (customer managed; AWS managed only when attached) + GetPolicyVersion of the default.
    A failed call is a gap naming its operation and entity; the rest is kept.
    """
    users = recorder.paginate(iam, "list_users", "Users")
    groups = recorder.paginate(iam, "list_groups", "Groups")
    roles = recorder.paginate(iam, "list_roles", "Roles")
    if users is None and groups is None and roles is None:
        return None

    def details(kind: str, listed: list[Raw] | None) -> list[Raw]:
        return for_each(listed or [], lambda e: _entity_detail(iam, recorder, kind, e), max_workers)

    return {
        "UserDetailList": details("User", users),
        "GroupDetailList": details("Group", groups),
        "RoleDetailList": details("Role", roles),
        "Policies": _managed_policies(iam, recorder, max_workers),
    }


def _inline_policies(iam: Any, recorder: Recorder, kind: str, name: str, arn: str) -> list[Raw]:
    """``[{"PolicyName", "PolicyDocument"}]`` of a user, group or role (List*Policies + Get*Policy)."""
    names = recorder.paginate(
        iam, f"list_{kind.lower()}_policies", "PolicyNames", resource=arn, **{f"{kind}Name": name}
    )
    found: list[Raw] = []
    for policy_name in names or ():
        ok, response = recorder.call(
            f"Get{kind}Policy",
            getattr(iam, f"get_{kind.lower()}_policy"),
            resource=arn,
            **{f"{kind}Name": name, "PolicyName": policy_name},
        )
        if ok:
            found.append({"PolicyName": policy_name, "PolicyDocument": response["PolicyDocument"]})
    return found


def _attached_policies(iam: Any, recorder: Recorder, kind: str, name: str, arn: str) -> list[Raw]:
    attached = recorder.paginate(
        iam,
        f"list_attached_{kind.lower()}_policies",
        "AttachedPolicies",
        resource=arn,
        **{f"{kind}Name": name},
    )
    return [{"PolicyName": p["PolicyName"], "PolicyArn": p["PolicyArn"]} for p in attached or ()]


def _entity_detail(iam: Any, recorder: Recorder, kind: str, listed: Raw) -> Raw:
    """A GAAD ``{kind}DetailList`` entry from its List* entry and per-entity reads (kind: User, Group, Role).

    Users and roles are read again with GetUser / GetRole: their List calls omit the permissions
    boundary, tags and (roles) last use.
    """
    name, arn = listed[f"{kind}Name"], listed["Arn"]
    detail = dict(listed)
    if kind != "Group":
        ok, response = recorder.call(
            f"Get{kind}", getattr(iam, f"get_{kind.lower()}"), resource=arn, **{f"{kind}Name": name}
        )
        if ok:
            detail.update(response[kind])
    detail[f"{kind}PolicyList"] = _inline_policies(iam, recorder, kind, name, arn)
    detail["AttachedManagedPolicies"] = _attached_policies(iam, recorder, kind, name, arn)
    if kind == "User":
        groups = recorder.paginate(iam, "list_groups_for_user", "Groups", resource=arn, UserName=name)
        detail["GroupList"] = [g["GroupName"] for g in groups or ()]
    elif kind == "Role":
        profiles = recorder.paginate(
            iam, "list_instance_profiles_for_role", "InstanceProfiles", resource=arn, RoleName=name
        )
        detail["InstanceProfileList"] = list(profiles or ())
    return detail


def _managed_policies(iam: Any, recorder: Recorder, max_workers: int) -> list[Raw]:
    """Customer managed policies, and AWS managed ones in use (GAAD's ``Policies``), with the default
    version's document. A listing that fails leaves attached policies to ``_get_boundary_only_policies``."""
    listed = [
        *(recorder.paginate(iam, "list_policies", "Policies", Scope="Local") or ()),
        *(recorder.paginate(iam, "list_policies", "Policies", Scope="AWS", OnlyAttached=True) or ()),
    ]

    def with_default(policy: Raw) -> Raw | None:
        ok, version = recorder.call(
            "GetPolicyVersion",
            iam.get_policy_version,
            resource=policy["Arn"],
            PolicyArn=policy["Arn"],
            VersionId=policy["DefaultVersionId"],
        )
        if not ok:
            return None
        return {**policy, "PolicyVersionList": [{**version["PolicyVersion"], "IsDefaultVersion": True}]}

    return [p for p in for_each(listed, with_default, max_workers) if p is not None]


def _get_user_extras(
    iam: Any, recorder: Recorder, user_name: str, user_arn: str
) -> tuple[str, list[Raw] | None, bool | None]:
    """(user, access keys with ``LastUsed`` or None on failure, has login profile or None on failure)."""
    keys = recorder.paginate(
        iam, "list_access_keys", "AccessKeyMetadata", resource=user_arn, UserName=user_name
    )
    if keys is not None:
        keys = [dict(k) for k in keys]
        for key in keys:
            ok, last_used = recorder.call(
                "GetAccessKeyLastUsed",
                iam.get_access_key_last_used,
                resource=key["AccessKeyId"],
                AccessKeyId=key["AccessKeyId"],
            )
            if ok:
                key["LastUsed"] = last_used.get("AccessKeyLastUsed", {})
    ok, profile = recorder.call(
        "GetLoginProfile",
        iam.get_login_profile,
        resource=user_arn,
        absent=("NoSuchEntity",),
        UserName=user_name,
    )
    return user_name, keys, (profile is not None) if ok else None


def policy_document(value: object) -> JsonDict:
    """A policy document as a dict: boto3 decodes them already; raw API/CLI dumps may hold JSON text,
    possibly URL-encoded (as the IAM query API returns it)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        text = value.strip()
        decoded = json.loads(text if text.startswith("{") else unquote(text))
        if isinstance(decoded, dict):
            return decoded
    raise ValueError(f"a policy document must be a JSON object, found {type(value).__name__}")


def policy_name_from_arn(arn: str) -> str:
    """``arn:aws:iam::aws:policy/service-role/Foo`` -> ``Foo`` (moto's GAAD omits PolicyName)."""
    return arn.rsplit("/", 1)[-1]


def _inline(policies: Iterable[Mapping[str, Any]] | None) -> tuple[PolicyDocument, ...]:
    return tuple(
        PolicyDocument(name=p["PolicyName"], document=policy_document(p["PolicyDocument"]))
        for p in sorted(policies or (), key=lambda p: str(p["PolicyName"]))
    )


def _attached(policies: Iterable[Mapping[str, Any]] | None) -> tuple[str, ...]:
    return tuple(sorted(p["PolicyArn"] for p in policies or ()))


def _boundary(entity: Mapping[str, Any]) -> str | None:
    arn = (entity.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    return str(arn) if arn else None


def normalise_access_key(raw: Mapping[str, Any]) -> AccessKey:
    """ListAccessKeys metadata (plus ``LastUsed`` from GetAccessKeyLastUsed) -> ``AccessKey``."""
    last_used = raw.get("LastUsed") or {}
    return AccessKey(
        access_key_id=raw["AccessKeyId"],
        user_name=raw["UserName"],
        status=raw["Status"],
        created=iso(raw.get("CreateDate")),
        last_used_date=iso(last_used.get("LastUsedDate")),
        last_used_service=present(last_used.get("ServiceName")),
        last_used_region=present(last_used.get("Region")),
    )


def normalise_user(
    raw: Mapping[str, Any],
    *,
    access_keys: Sequence[Mapping[str, Any]] = (),
    login_profile: bool | None = None,
) -> User:
    """A GAAD ``UserDetailList`` entry -> ``User``."""
    return User(
        arn=raw["Arn"],
        name=raw["UserName"],
        user_id=raw.get("UserId", ""),
        path=raw.get("Path", "/"),
        created=iso(raw.get("CreateDate")),
        inline_policies=_inline(raw.get("UserPolicyList")),
        managed_policy_arns=_attached(raw.get("AttachedManagedPolicies")),
        group_names=tuple(sorted(raw.get("GroupList") or ())),
        permissions_boundary_arn=_boundary(raw),
        tags=tags_dict(raw.get("Tags")),
        access_keys=tuple(
            sorted((normalise_access_key(k) for k in access_keys), key=lambda k: k.access_key_id)
        ),
        has_login_profile=login_profile,
    )


def normalise_group(raw: Mapping[str, Any]) -> Group:
    """A GAAD ``GroupDetailList`` entry -> ``Group``."""
    return Group(
        arn=raw["Arn"],
        name=raw["GroupName"],
        group_id=raw.get("GroupId", ""),
        path=raw.get("Path", "/"),
        inline_policies=_inline(raw.get("GroupPolicyList")),
        managed_policy_arns=_attached(raw.get("AttachedManagedPolicies")),
    )


def normalise_role(raw: Mapping[str, Any]) -> Role:
    """A GAAD ``RoleDetailList`` entry -> ``Role``."""
    last_used = raw.get("RoleLastUsed") or {}
    max_session = raw.get("MaxSessionDuration")
    return Role(
        arn=raw["Arn"],
        name=raw["RoleName"],
        trust_policy=policy_document(raw["AssumeRolePolicyDocument"]),
        role_id=raw.get("RoleId", ""),
        path=raw.get("Path", "/"),
        created=iso(raw.get("CreateDate")),
        inline_policies=_inline(raw.get("RolePolicyList")),
        managed_policy_arns=_attached(raw.get("AttachedManagedPolicies")),
        permissions_boundary_arn=_boundary(raw),
        tags=tags_dict(raw.get("Tags")),
        max_session_duration=int(max_session) if max_session is not None else None,
        last_used_date=iso(last_used.get("LastUsedDate")),
        last_used_region=last_used.get("Region"),
    )


def normalise_instance_profiles(roles: Iterable[Mapping[str, Any]]) -> tuple[InstanceProfile, ...]:
    """Instance profiles from GAAD's ``RoleDetailList[].InstanceProfileList``, sorted by ARN.

    GAAD lists a profile under each role it holds (a profile holds at most one role), so every profile
    that can hand a role to an instance is here; profiles holding no role are not, and need not be.
    """
    found: dict[str, tuple[str, set[str]]] = {}
    for role in roles:
        for profile in role.get("InstanceProfileList") or ():
            _, arns = found.setdefault(profile["Arn"], (profile["InstanceProfileName"], set()))
            arns.update(r["Arn"] for r in profile.get("Roles") or () if r.get("Arn"))
            arns.add(role["Arn"])
    return tuple(
        InstanceProfile(arn=arn, name=name, role_arns=tuple(sorted(roles_)))
        for arn, (name, roles_) in sorted(found.items())
    )


def normalise_managed_policy(raw: Mapping[str, Any]) -> ManagedPolicy:
    """A GAAD ``Policies`` entry (or GetPolicy + its default version) -> ``ManagedPolicy``.

    The document is the default version's; a policy without one is malformed input, not "no permissions".
    """
    arn = raw["Arn"]
    default_id = raw.get("DefaultVersionId")
    versions = raw["PolicyVersionList"]
    default = [
        v for v in versions if v.get("IsDefaultVersion") or (default_id and v.get("VersionId") == default_id)
    ]
    if not default:
        raise ValueError(f"managed policy {arn} has no default version document")
    attachments = raw.get("AttachmentCount")
    boundary_uses = raw.get("PermissionsBoundaryUsageCount")
    return ManagedPolicy(
        arn=arn,
        name=raw.get("PolicyName") or policy_name_from_arn(arn),
        document=policy_document(default[0]["Document"]),
        policy_id=raw.get("PolicyId"),
        default_version_id=default_id or default[0].get("VersionId"),
        attachment_count=int(attachments) if attachments is not None else None,
        boundary_usage_count=int(boundary_uses) if boundary_uses is not None else None,
    )


def normalise_iam(
    gaad: Mapping[str, Any],
    *,
    boundary_policies: Sequence[Mapping[str, Any]] = (),
    access_keys: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    login_profiles: Mapping[str, bool] | None = None,
) -> IamEntities:
    """GAAD output (plus boundary-only policies, keys and login profiles) -> ``IamEntities``.

    Pure: used by the collector and by the importer of saved ``get-account-authorization-details``
    output (which has no keys or login profiles: ``has_login_profile`` stays None, unknown).
    """
    keys = access_keys or {}
    logins = login_profiles or {}
    policies = {p["Arn"]: p for p in [*gaad.get("Policies", []), *boundary_policies]}
    return IamEntities(
        users=tuple(
            sorted(
                (
                    normalise_user(
                        u, access_keys=keys.get(u["UserName"], ()), login_profile=logins.get(u["UserName"])
                    )
                    for u in gaad.get("UserDetailList", [])
                ),
                key=lambda u: u.arn,
            )
        ),
        groups=tuple(
            sorted((normalise_group(g) for g in gaad.get("GroupDetailList", [])), key=lambda g: g.arn)
        ),
        roles=tuple(sorted((normalise_role(r) for r in gaad.get("RoleDetailList", [])), key=lambda r: r.arn)),
        managed_policies=tuple(normalise_managed_policy(policies[arn]) for arn in sorted(policies)),
        instance_profiles=normalise_instance_profiles(gaad.get("RoleDetailList", [])),
    )


def collect_iam(scope: Scope) -> ServiceResult:
    """Get and normalise IAM for the account (a global service: runs once)."""
    recorder = Recorder(SERVICE, GLOBAL_REGION)
    raw = get_iam(scope, recorder)
    gaps = recorder.gaps
    if raw.gaad is None:
        return ServiceResult(
            service=SERVICE,
            region=GLOBAL_REGION,
            gaps=gaps,
            listing_error=first_listing_error(gaps, GAAD_OPERATION),
        )
    entities = normalise_iam(
        raw.gaad,
        boundary_policies=raw.boundary_policies,
        access_keys=raw.access_keys,
        login_profiles=raw.login_profiles,
    )
    warnings: tuple[str, ...] = ()
    if raw.gaad_error is not None:
        # GAAD's refusal lost nothing by itself: what the per-entity reads could not see is in the gaps.
        gaps = tuple(g for g in gaps if g.operation != GAAD_OPERATION)
        warnings = (
            f"iam: {GAAD_OPERATION} failed ({raw.gaad_error}); IAM was read entity by entity instead "
            "(ListUsers, ListGroups, ListRoles, their policies and attachments, ListPolicies)"
            + (f"; {len(gaps)} of those calls failed (see the gaps)" if gaps else ", completely"),
        )
    return ServiceResult(service=SERVICE, region=GLOBAL_REGION, iam=entities, gaps=gaps, warnings=warnings)
