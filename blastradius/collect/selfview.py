"""Self-view: what a leaked key can read about itself, collected *as the key* (``analyze --self-view``).

For the case where nobody holds auditor credentials for the key's account (a vendor's key, a key found by
a scanner). The leaked credentials make read-only calls about their own principal — sts:GetCallerIdentity,
then for a user iam:GetUser, its inline, attached and group policies and its permissions boundary, its
access keys; for a role session iam:GetRole and the role's policies — and optionally list the data stores
they can see (s3:ListBuckets, dynamodb:ListTables, secretsmanager:ListSecrets, ssm:DescribeParameters,
kms:ListKeys). Every call is recorded one by one with its result (``SelfViewCall``).

The snapshot built from this (``source="self-view"``) is partial by construction: no other principal,
no trust or resource policy, no key policy. A denied read is a gap: *unknown*, never "no access".
Every call made here is a Get/List/Describe call; each is visible in the key owner's CloudTrail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from blastradius import aws
from blastradius.aws import CallerIdentity, error_code, error_message, parse_caller_identity
from blastradius.collect.base import FAILED_KEY
from blastradius.collect.dynamodb import normalise_table, table_arn
from blastradius.collect.iam import (
    normalise_group,
    normalise_managed_policy,
    normalise_role,
    normalise_user,
    policy_document,
)
from blastradius.collect.s3 import normalise_bucket
from blastradius.collect.secretsmanager import normalise_secret
from blastradius.collect.ssm import normalise_parameter
from blastradius.errors import IdentifyError
from blastradius.keys import Secret, parse_access_key_id
from blastradius.model import CollectionGap, Dataset, Group, ManagedPolicy, Role, Snapshot, User
from blastradius.report import SelfView, SelfViewCall

ALLOWED = "allowed"
DENIED = "denied"
FAILED = "failed"

# Error codes by which AWS says "not allowed" (IAM, STS, S3, DynamoDB, Secrets Manager, SSM, KMS).
DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "Forbidden"}
)

# Every operation a self-view may make: read-only by construction (tests check each call against this).
OPERATIONS = (
    "sts:GetCallerIdentity",
    "iam:GetUser",
    "iam:ListUserPolicies",
    "iam:GetUserPolicy",
    "iam:ListAttachedUserPolicies",
    "iam:ListGroupsForUser",
    "iam:ListGroupPolicies",
    "iam:GetGroupPolicy",
    "iam:ListAttachedGroupPolicies",
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
    "iam:GetRole",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "s3:ListBuckets",
    "dynamodb:ListTables",
    "secretsmanager:ListSecrets",
    "ssm:DescribeParameters",
    "kms:ListKeys",
)

KMS_NOTE = "keys (listed only: without their key policies they are not analysed)"
PARTIAL_NOTE = (
    "self-view: only what the leaked key could read about itself was analysed — no other principal, "
    "no trust, resource or key policy of the account; a denied read means unknown, not no access"
)


@dataclass(slots=True)
class _Calls:
    """Makes the calls as the key and records each one (a failed call returns None, never raises)."""

    calls: list[SelfViewCall] = field(default_factory=list)
    gaps: list[CollectionGap] = field(default_factory=list)

    def __call__(
        self,
        operation: str,
        fn: Callable[[], Any],
        *,
        target: str | None,
        region: str,
        detail: Callable[[Any], str] | None = None,
    ) -> Any | None:
        assert operation in OPERATIONS, operation
        try:
            response = fn()
        except (ClientError, BotoCoreError) as e:
            code = error_code(e)
            self.calls.append(
                SelfViewCall(
                    step=len(self.calls) + 1,
                    operation=operation,
                    target=target,
                    result=DENIED if code in DENIED_CODES else FAILED,
                    error=code,
                )
            )
            service, _, action = operation.partition(":")
            self.gaps.append(
                CollectionGap(
                    service=service,
                    region=region,
                    operation=action,
                    error_code=code,
                    message=error_message(e),
                    resource=target,
                )
            )
            return None
        self.calls.append(
            SelfViewCall(
                step=len(self.calls) + 1,
                operation=operation,
                target=target,
                result=ALLOWED,
                detail=detail(response) if detail is not None else None,
            )
        )
        return response

    def denied(self, operation: str) -> bool:
        """Whether any call of ``operation`` did not succeed."""
        return any(c.operation == operation and c.result != ALLOWED for c in self.calls)


def _pages(client: Any, method: str, key: str, **kwargs: Any) -> Callable[[], list[Any]]:
    """A call that returns every item of a paginated listing."""

    def run() -> list[Any]:
        items: list[Any] = []
        for page in client.get_paginator(method).paginate(**kwargs):
            items.extend(page.get(key, []))
        return items

    return run


def _call(fn: Callable[..., Any], **kwargs: Any) -> Callable[[], Any]:
    """``fn(**kwargs)``, to be called later (by ``_Calls``, which records its outcome)."""
    return lambda: fn(**kwargs)


def _count(noun: str) -> Callable[[Any], str]:
    return lambda items: f"{len(items)} {noun}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SelfViewResult:
    """What a self-view collected: who the key is, the partial snapshot, and the calls that built it."""

    caller: CallerIdentity
    snapshot: Snapshot
    view: SelfView

    @property
    def principal_arn(self) -> str:
        """The key's principal as the snapshot holds it (with its path when GetUser/GetRole was allowed)."""
        arns = [u.arn for u in self.snapshot.users] + [r.arn for r in self.snapshot.roles]
        return arns[0] if arns else self.caller.principal_arn


class _Reader:
    """The IAM reads of one principal's policies, shared by users, groups and roles."""

    def __init__(self, iam: Any, calls: _Calls, unknown: list[str]) -> None:
        self.iam, self.calls, self.unknown = iam, calls, unknown
        self.managed: dict[str, ManagedPolicy] = {}
        self._tried: set[str] = set()

    def inline(self, kind: str, name: str) -> list[dict[str, Any]]:
        """Inline policies of a user, group or role: List*Policies then Get*Policy for each."""
        cap = kind.capitalize()
        names = self.calls(
            f"iam:List{cap}Policies",
            _pages(self.iam, f"list_{kind}_policies", "PolicyNames", **{f"{cap}Name": name}),
            target=f"{kind}/{name}",
            region=aws.DEFAULT_REGION,
            detail=_count("inline policies"),
        )
        if names is None:
            self.unknown.append(f"inline policies of {kind}/{name} (iam:List{cap}Policies not allowed)")
            return []
        out: list[dict[str, Any]] = []
        for policy_name in names:
            got = self.calls(
                f"iam:Get{cap}Policy",
                _call(
                    getattr(self.iam, f"get_{kind}_policy"), **{f"{cap}Name": name, "PolicyName": policy_name}
                ),
                target=f"{kind}/{name} policy {policy_name}",
                region=aws.DEFAULT_REGION,
            )
            if got is None:
                self.unknown.append(f"inline policy {policy_name} of {kind}/{name} (not readable)")
                continue
            out.append({"PolicyName": policy_name, "PolicyDocument": policy_document(got["PolicyDocument"])})
        return out

    def attached(self, kind: str, name: str) -> list[dict[str, Any]]:
        """Managed policies attached to a user, group or role, each read with GetPolicy + GetPolicyVersion."""
        cap = kind.capitalize()
        attached = self.calls(
            f"iam:ListAttached{cap}Policies",
            _pages(self.iam, f"list_attached_{kind}_policies", "AttachedPolicies", **{f"{cap}Name": name}),
            target=f"{kind}/{name}",
            region=aws.DEFAULT_REGION,
            detail=_count("attached managed policies"),
        )
        if attached is None:
            self.unknown.append(
                f"managed policies attached to {kind}/{name} (iam:ListAttached{cap}Policies not allowed)"
            )
            return []
        for policy in attached:
            self.policy(str(policy["PolicyArn"]))
        return [{"PolicyArn": p["PolicyArn"], "PolicyName": p.get("PolicyName")} for p in attached]

    def policy(self, arn: str) -> None:
        """One managed policy's default version (once per ARN)."""
        if arn in self._tried:
            return
        self._tried.add(arn)
        got = self.calls(
            "iam:GetPolicy", lambda: self.iam.get_policy(PolicyArn=arn), target=arn, region=aws.DEFAULT_REGION
        )
        if got is None:
            self.unknown.append(f"managed policy {arn} (iam:GetPolicy not allowed)")
            return
        policy = dict(got["Policy"])
        version_id = policy["DefaultVersionId"]
        version = self.calls(
            "iam:GetPolicyVersion",
            lambda: self.iam.get_policy_version(PolicyArn=arn, VersionId=version_id),
            target=f"{arn} {version_id}",
            region=aws.DEFAULT_REGION,
        )
        if version is None:
            self.unknown.append(f"managed policy {arn} (iam:GetPolicyVersion not allowed)")
            return
        policy["PolicyVersionList"] = [{**version["PolicyVersion"], "IsDefaultVersion": True}]
        self.managed[arn] = normalise_managed_policy(policy)


def _user(reader: _Reader, caller: CallerIdentity, key_id: str) -> tuple[User, list[Group]]:
    """The key's user with its policies, groups, boundary and (its own) access keys."""
    calls, iam = reader.calls, reader.iam
    name = caller.principal_arn.rsplit("/", 1)[-1]
    got = calls(
        "iam:GetUser", lambda: iam.get_user(UserName=name), target=f"user/{name}", region=aws.DEFAULT_REGION
    )
    raw: dict[str, Any] = {"Arn": caller.principal_arn, "UserName": name, "UserId": caller.user_id}
    if got is None:
        reader.unknown.append(
            f"user/{name} itself (iam:GetUser not allowed): its permissions boundary and tags are unknown"
        )
    else:
        raw = dict(got["User"])
        if boundary := (raw.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn"):
            reader.policy(str(boundary))
    raw["UserPolicyList"] = reader.inline("user", name)
    raw["AttachedManagedPolicies"] = reader.attached("user", name)
    groups_raw = calls(
        "iam:ListGroupsForUser",
        _pages(iam, "list_groups_for_user", "Groups", UserName=name),
        target=f"user/{name}",
        region=aws.DEFAULT_REGION,
        detail=_count("groups"),
    )
    groups: list[Group] = []
    if groups_raw is None:
        reader.unknown.append(f"groups of user/{name} and their policies (iam:ListGroupsForUser not allowed)")
        groups_raw = []
    for group in groups_raw:
        group_name = str(group["GroupName"])
        groups.append(
            normalise_group(
                {
                    **group,
                    "GroupPolicyList": reader.inline("group", group_name),
                    "AttachedManagedPolicies": reader.attached("group", group_name),
                }
            )
        )
    raw["GroupList"] = [g.name for g in groups]
    keys = calls(
        "iam:ListAccessKeys",
        _pages(iam, "list_access_keys", "AccessKeyMetadata", UserName=name),
        target=f"user/{name}",
        region=aws.DEFAULT_REGION,
        detail=_count("access keys"),
    )
    own: dict[str, Any] | None = None
    if keys is not None:
        for meta in keys:
            if meta["AccessKeyId"] == key_id:
                own = dict(meta)
        if own is not None:
            used = calls(
                "iam:GetAccessKeyLastUsed",
                lambda: iam.get_access_key_last_used(AccessKeyId=key_id),
                target=key_id,
                region=aws.DEFAULT_REGION,
            )
            if used is not None:
                own["LastUsed"] = used.get("AccessKeyLastUsed") or {}
    return normalise_user(raw, access_keys=[own] if own else ()), groups


_EMPTY_TRUST = {"Version": "2012-10-17", "Statement": []}


def _role(reader: _Reader, caller: CallerIdentity) -> Role:
    """The session's role with its policies and boundary."""
    calls, iam = reader.calls, reader.iam
    name = caller.role_name or caller.principal_arn.rsplit("/", 1)[-1]
    got = calls(
        "iam:GetRole", lambda: iam.get_role(RoleName=name), target=f"role/{name}", region=aws.DEFAULT_REGION
    )
    raw: dict[str, Any] = {
        "Arn": caller.principal_arn,
        "RoleName": name,
        "AssumeRolePolicyDocument": _EMPTY_TRUST,
    }
    if got is None:
        reader.unknown.append(
            f"role/{name} itself (iam:GetRole not allowed): its permissions boundary and tags are unknown"
        )
    else:
        raw = dict(got["Role"])
        if boundary := (raw.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn"):
            reader.policy(str(boundary))
    raw["RolePolicyList"] = reader.inline("role", name)
    raw["AttachedManagedPolicies"] = reader.attached("role", name)
    return normalise_role(raw)


def _not_read(*operations: str) -> dict[str, Any]:
    """Raw-record marker: these reads were not made (a self-view lists names only)."""
    return {FAILED_KEY: [f"{op} (not read in a self-view)" for op in operations]}


@dataclass(frozen=True, slots=True)
class _Listing:
    """One data-store listing a self-view may make, and how a listed item becomes a dataset."""

    operation: str  # service:Action
    method: str  # boto3 paginator name
    key: str  # the items' key in each page
    noun: str  # for the call's detail
    regional: bool
    to_dataset: Callable[[Any, str, str, str], Dataset | None]  # (item, region, account, partition)


def _bucket(item: Any, region: str, account: str, partition: str) -> Dataset:
    del region  # s3:ListBuckets is global; the bucket's region is not read in a self-view
    raw = {"Bucket": item, **_not_read("GetBucketPolicy", "GetBucketTagging", "GetBucketEncryption")}
    return normalise_bucket(raw, account_id=account, partition=partition)


def _table(item: Any, region: str, account: str, partition: str) -> Dataset:
    arn = table_arn(item, region=region, account_id=account, partition=partition)
    raw = {"TableArn": arn, "TableName": item, "Region": region, **_not_read("DescribeTable")}
    return normalise_table(raw, account_id=account)


def _secret(item: Any, region: str, account: str, partition: str) -> Dataset:
    del partition  # the listed ARN carries it
    raw = {"Secret": item, "Region": region, **_not_read("GetResourcePolicy")}
    return normalise_secret(raw, account_id=account)


def _parameter(item: Any, region: str, account: str, partition: str) -> Dataset:
    raw = {"Parameter": item, "Region": region, **_not_read("ListTagsForResource")}
    return normalise_parameter(raw, account_id=account, partition=partition)


def _key_not_analysed(item: Any, region: str, account: str, partition: str) -> None:
    del item, region, account, partition  # without its key policy a KMS key cannot be decided


LISTINGS = (
    _Listing("s3:ListBuckets", "list_buckets", "Buckets", "buckets", False, _bucket),
    _Listing("dynamodb:ListTables", "list_tables", "TableNames", "tables", True, _table),
    _Listing("secretsmanager:ListSecrets", "list_secrets", "SecretList", "secrets", True, _secret),
    _Listing("ssm:DescribeParameters", "describe_parameters", "Parameters", "parameters", True, _parameter),
    _Listing("kms:ListKeys", "list_keys", "Keys", KMS_NOTE, True, _key_not_analysed),
)


def _probe(
    leaked: boto3.Session,
    calls: _Calls,
    account: str,
    partition: str,
    regions: tuple[str, ...],
    endpoint: str | None,
) -> tuple[list[Dataset], dict[str, str]]:
    """List the data stores the key can see (names only); returns datasets and per-service status
    (``partial`` when listed: names without policies; the error code when a listing was refused)."""
    datasets: list[Dataset] = []
    status: dict[str, str] = {}
    for listing in LISTINGS:
        service = listing.operation.split(":", 1)[0]
        for region in regions if listing.regional else regions[:1]:
            client = aws.client(leaked, service, region, endpoint)
            items = calls(
                listing.operation,
                _pages(client, listing.method, listing.key),
                target=region if listing.regional else None,
                region=region if listing.regional else "global",
                detail=_count(listing.noun),
            )
            if items is None:
                status[service] = calls.calls[-1].error or FAILED
                continue
            status.setdefault(service, "partial")
            for item in items:
                if (dataset := listing.to_dataset(item, region, account, partition)) is not None:
                    datasets.append(dataset)
    return datasets, status


def collect_self_view(
    key_id: str,
    secret: Secret,
    session_token: Secret | None = None,
    *,
    regions: Iterable[str] = (),
    endpoint_url: str | None = None,
    probe_data: bool = True,
    now: dt.datetime | None = None,
) -> SelfViewResult:
    """Read, as the leaked key, what it can see of itself; build a partial snapshot from it.

    Raises ``IdentifyError`` only when the key cannot even say who it is (sts:GetCallerIdentity fails);
    every later refusal is recorded as a call with its result and a gap, and the analysis goes on.
    """
    parsed = parse_access_key_id(key_id)
    if parsed.kind == "session" and not session_token:
        raise IdentifyError(
            f"{parsed.masked} is a session (ASIA) key: a self-view also needs its session token",
            hint="Give the session token as the second line on stdin.",
        )
    chosen = tuple(dict.fromkeys(regions)) or (aws.DEFAULT_REGION,)
    leaked = boto3.Session(
        aws_access_key_id=parsed.access_key_id,
        aws_secret_access_key=secret.reveal(),
        aws_session_token=session_token.reveal() if session_token else None,
        region_name=chosen[0],
    )
    calls = _Calls()
    sts = aws.client(leaked, "sts", chosen[0], endpoint_url)
    response = calls("sts:GetCallerIdentity", sts.get_caller_identity, target=None, region=chosen[0])
    if response is None:
        failed = calls.calls[-1]
        raise IdentifyError(
            f"sts:GetCallerIdentity with the leaked credentials of {parsed.masked} failed ({failed.error}); "
            "a self-view cannot start without knowing who the key is",
            hint="If the key is deactivated or deleted it is already contained.",
        )
    caller = parse_caller_identity(response)
    unknown: list[str] = []
    reader = _Reader(aws.client(leaked, "iam", chosen[0], endpoint_url), calls, unknown)
    users: list[User] = []
    groups: list[Group] = []
    roles: list[Role] = []
    if caller.role_name is not None:
        roles.append(_role(reader, caller))
    elif ":user/" in caller.principal_arn:
        user, groups = _user(reader, caller, parsed.access_key_id)
        users.append(user)
    else:
        unknown.append(f"{caller.arn} is neither an IAM user nor a role session: its policies cannot be read")
    services = {"iam": "partial"}
    datasets: list[Dataset] = []
    if probe_data:
        datasets, status = _probe(leaked, calls, caller.account_id, caller.partition, chosen, endpoint_url)
        services.update(status)
        denied = sorted(s for s, v in status.items() if v != "partial")
        if denied:
            unknown.append(
                f"data stores of {', '.join(denied)}: listing not allowed, so none of them is analysed "
                "(unknown, not unreachable)"
            )
    snapshot = Snapshot(
        account_id=caller.account_id,
        collected_at=(now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        regions=chosen,
        partition=caller.partition,
        source="self-view",
        users=tuple(users),
        groups=tuple(groups),
        roles=tuple(roles),
        managed_policies=tuple(reader.managed[a] for a in sorted(reader.managed)),
        datasets=tuple(sorted({d.arn: d for d in datasets}.values(), key=lambda d: d.arn)),
        gaps=tuple(calls.gaps),
        services=services,
        warnings=(PARTIAL_NOTE, *(f"not readable as the key: {u}" for u in unknown)),
    )
    view = SelfView(calls=tuple(calls.calls), unknown=tuple(unknown))
    return SelfViewResult(caller=caller, snapshot=snapshot, view=view)
