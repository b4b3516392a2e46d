"""AWS Organizations: the organization the account belongs to, its place in the OU tree, and the
service control policies (SCPs) and resource control policies (RCPs) attached along that path.

Organizations is global: this runs once per account. Only the management account and a delegated
administrator may read the tree and the policies ("Managing the AWS accounts in your organization",
"Delegated administrator for AWS Organizations"); any other member account gets AccessDenied. A
failure to read them is a gap *and* a warning saying the SCPs/RCPs are unknown — the analysis then
applies none of that type, so reach may be wider than real (conservative), never "no SCPs".

An account that is not in an organization (``AWSOrganizationsNotInUseException`` on
DescribeOrganization) is a definite answer, not a gap: no SCP or RCP can apply to it.

Why all-or-nothing per policy type: every level from the root down to the account must allow
(*Service control policies*, "SCP evaluation"), so one unread level would read as "nothing allowed
here" and deny everything. When any listing of a type fails, that type is left out of
``enabled_policy_types`` (so ``Organization.levels`` applies none of it) and the warning says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from blastradius.collect.base import GLOBAL_REGION, Recorder, Scope, ServiceResult
from blastradius.model import RCP, SCP, Organization, OrgPolicy

SERVICE = "organizations"
NOT_IN_USE = "AWSOrganizationsNotInUseException"
POLICY_TYPES = (SCP, RCP)
ENABLED = "ENABLED"
# AWS allows OUs five levels deep; a longer walk means a malformed answer, not a deeper tree.
_MAX_DEPTH = 8
_TYPE_NAMES = {SCP: "SCPs", RCP: "RCPs"}


@dataclass(slots=True, kw_only=True)
class OrgRaw:
    """What the Organizations API said, before normalising.

    ``organization`` None with ``in_use`` False: the account is in no organization. ``path`` is the
    target ids from the account up to its root (None when the walk failed); ``attached`` maps policy
    type -> target id -> policy summaries, ``documents`` policy id -> DescribePolicy's ``Policy``.
    ``unread`` maps a policy type to why it could not be read.
    """

    in_use: bool
    organization: Mapping[str, Any] | None = None
    roots: list[Mapping[str, Any]] | None = None
    path: list[str] | None = None
    attached: dict[str, dict[str, list[Mapping[str, Any]]]] = field(default_factory=dict)
    documents: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    unread: dict[str, str] = field(default_factory=dict)


def get_organizations(scope: Scope, recorder: Recorder) -> OrgRaw | None:
    """DescribeOrganization, ListRoots, ListParents up to the root, then per enabled policy type and
    per level ListPoliciesForTarget and DescribePolicy. None when DescribeOrganization itself failed."""
    org = scope.client(SERVICE)
    ok, described = recorder.call(
        "DescribeOrganization", org.describe_organization, region=GLOBAL_REGION, absent=(NOT_IN_USE,)
    )
    if not ok:
        return None
    if described is None:
        return OrgRaw(in_use=False)
    raw = OrgRaw(in_use=True, organization=described["Organization"])
    raw.roots = recorder.paginate(org, "list_roots", "Roots", region=GLOBAL_REGION)
    raw.path = _walk_to_root(org, recorder, scope.account_id)
    if raw.roots is None or raw.path is None:
        failed = "ListRoots" if raw.roots is None else "ListParents"
        for policy_type in POLICY_TYPES:
            raw.unread[policy_type] = _failure(recorder, failed)
        return raw
    for policy_type in enabled_types(raw.roots, raw.path[-1]):
        reason = _get_policies(org, recorder, raw, policy_type)
        if reason is not None:
            raw.unread[policy_type] = reason
    return raw


def _walk_to_root(org: Any, recorder: Recorder, account_id: str) -> list[str] | None:
    """Target ids from the account up to the root (account first), or None after a gap."""
    path = [account_id]
    for _ in range(_MAX_DEPTH):
        parents = recorder.paginate(
            org, "list_parents", "Parents", resource=path[-1], region=GLOBAL_REGION, ChildId=path[-1]
        )
        if parents is None:
            return None
        if len(parents) != 1:
            # Every account and OU has exactly one parent (ListParents API reference).
            recorder.add_gap(
                "ListParents",
                ValueError(f"{len(parents)} parents listed for {path[-1]}, expected one"),
                resource=path[-1],
                region=GLOBAL_REGION,
            )
            return None
        parent = parents[0]
        path.append(str(parent["Id"]))
        if parent.get("Type") == "ROOT":
            return path
    recorder.add_gap(
        "ListParents",
        ValueError(f"no root within {_MAX_DEPTH} levels above {account_id}"),
        resource=account_id,
        region=GLOBAL_REGION,
    )
    return None


def enabled_types(roots: Sequence[Mapping[str, Any]], root_id: str) -> tuple[str, ...]:
    """SCP/RCP types whose status on the root is ENABLED (a pending change is not yet in force)."""
    for root in roots:
        if root.get("Id") == root_id:
            statuses = {t.get("Type"): t.get("Status") for t in root.get("PolicyTypes", [])}
            return tuple(t for t in POLICY_TYPES if statuses.get(t) == ENABLED)
    return ()


def _get_policies(org: Any, recorder: Recorder, raw: OrgRaw, policy_type: str) -> str | None:
    """Fill ``raw`` with the policies of one type along the path; the reason when any call failed."""
    assert raw.path is not None
    attached: dict[str, list[Mapping[str, Any]]] = {}
    for target in reversed(raw.path):  # root first, the order of Organization.levels
        summaries = recorder.paginate(
            org,
            "list_policies_for_target",
            "Policies",
            resource=target,
            region=GLOBAL_REGION,
            TargetId=target,
            Filter=policy_type,
        )
        if summaries is None:
            return _failure(recorder, "ListPoliciesForTarget", target)
        attached[target] = summaries
    for summaries in attached.values():
        for summary in summaries:
            policy_id = str(summary["Id"])
            if policy_id in raw.documents:
                continue
            ok, described = recorder.call(
                "DescribePolicy",
                org.describe_policy,
                resource=summary.get("Arn") or policy_id,
                region=GLOBAL_REGION,
                PolicyId=policy_id,
            )
            if not ok:
                return _failure(recorder, "DescribePolicy", policy_id)
            raw.documents[policy_id] = described["Policy"]
    raw.attached[policy_type] = attached
    return None


def _failure(recorder: Recorder, operation: str, target: str | None = None) -> str:
    """``ListRoots: AccessDeniedException`` (with ``on TARGET``), from the gap just recorded."""
    code = next((g.error_code for g in reversed(recorder.gaps) if g.operation == operation), "failed")
    return f"{operation}{f' on {target}' if target else ''}: {code}"


def normalise_organizations(raw: OrgRaw, *, account_id: str) -> tuple[Organization | None, tuple[str, ...]]:
    """Raw answers -> the ``Organization`` (None when the account is in none) and the warnings to show.

    Only the collected account's path is known (``account_paths`` has one entry, root first). A policy
    whose content is not JSON makes its whole type unread, like a failed call.
    """
    if not raw.in_use or raw.organization is None:
        return None, ()
    unread = dict(raw.unread)
    policies: list[OrgPolicy] = []
    for policy_type, attached in sorted(raw.attached.items()):
        built = _policies_of_type(policy_type, attached, raw.documents)
        if isinstance(built, str):
            unread[policy_type] = built
        else:
            policies.extend(built)
    path = tuple(reversed(raw.path)) if raw.path else ()
    enabled = enabled_types(raw.roots or [], path[0]) if path else ()
    org = raw.organization
    organization = Organization(
        org_id=str(org["Id"]),
        management_account_id=str(org.get("MasterAccountId") or ""),
        arn=str(org.get("Arn") or ""),
        account_paths={account_id: path} if path else {},
        policies=tuple(sorted(policies, key=lambda p: (p.type, p.policy_id))),
        enabled_policy_types=tuple(t for t in enabled if t not in unread),
    )
    if account_id == organization.management_account_id:
        return organization, ()  # SCPs and RCPs do not apply to the management account anyway
    by_reason: dict[str, list[str]] = {}
    for policy_type in POLICY_TYPES:
        if policy_type in unread:
            by_reason.setdefault(unread[policy_type], []).append(_TYPE_NAMES[policy_type])
    return organization, tuple(unread_warning(" and ".join(names), why) for why, names in by_reason.items())


def _policies_of_type(
    policy_type: str,
    attached: Mapping[str, Sequence[Mapping[str, Any]]],
    documents: Mapping[str, Mapping[str, Any]],
) -> list[OrgPolicy] | str:
    """The policies of one type with the targets (on the path) they are attached to, or why not."""
    targets: dict[str, list[str]] = {}
    summaries: dict[str, Mapping[str, Any]] = {}
    for target, listed in attached.items():
        for summary in listed:
            policy_id = str(summary["Id"])
            summaries.setdefault(policy_id, summary)
            if target not in targets.setdefault(policy_id, []):
                targets[policy_id].append(target)
    out: list[OrgPolicy] = []
    for policy_id, summary in summaries.items():
        document = _document(documents[policy_id])
        if document is None:
            return f"policy {policy_id} has no JSON object as content"
        out.append(
            OrgPolicy(
                policy_id=policy_id,
                arn=str(summary.get("Arn") or ""),
                name=str(summary.get("Name") or policy_id),
                type=policy_type,
                document=document,
                targets=tuple(targets[policy_id]),
                aws_managed=bool(summary.get("AwsManaged")),
            )
        )
    return out


def _document(described: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        document = json.loads(described.get("Content") or "")
    except json.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def unread_warning(what: str, why: str) -> str:
    """The coverage warning for policies that could not be read (``what``: "SCPs", "RCPs", ...)."""
    return (
        f"organizations: the account's {what} could not be read ({why}); none are applied, so the "
        "reach shown may be wider than real. Collect with the management account or a delegated "
        "administrator of AWS Organizations to include them."
    )


def collect_organizations(scope: Scope) -> ServiceResult:
    """Get and normalise the organization of the scope's account (global: runs once)."""
    recorder = Recorder(SERVICE, GLOBAL_REGION)
    raw = get_organizations(scope, recorder)
    if raw is None:
        gaps = recorder.gaps
        error = gaps[0].error_code if gaps else "Unknown"
        warning = unread_warning("SCPs and RCPs", f"DescribeOrganization: {error}")
        return ServiceResult(
            service=SERVICE, region=GLOBAL_REGION, gaps=gaps, listing_error=error, warnings=(warning,)
        )
    organization, warnings = normalise_organizations(raw, account_id=scope.account_id)
    return ServiceResult(
        service=SERVICE,
        region=GLOBAL_REGION,
        organization=organization,
        gaps=recorder.gaps,
        warnings=warnings,
    )
