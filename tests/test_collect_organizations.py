"""The Organizations collector: OU path, SCPs and RCPs with their attachments, and what happens when the
account may not read them (a gap and a warning, never "no SCPs").

moto implements Organizations with SCPs and RCPs, but answers the tree and policy reads only for the
management account; botocore's Stubber plays the API for pagination and AWS's AccessDenied answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from scenarios import ACCOUNT, RCP_FULL_AWS_ACCESS, Account, organization_member

from blastradius.collect.base import GLOBAL_REGION, Scope
from blastradius.collect.organizations import collect_organizations
from blastradius.collect.runner import collect_account
from blastradius.model import RCP, SCP, Snapshot

MEMBER = "222222222222"
MANAGEMENT = "111111111111"
ROOT = "r-ab12"
OU = "ou-ab12-11111111"
ORG = {
    "Id": "o-abcdefghij",
    "Arn": f"arn:aws:organizations::{MANAGEMENT}:organization/o-abcdefghij",
    "FeatureSet": "ALL",
    "MasterAccountArn": f"arn:aws:organizations::{MANAGEMENT}:account/o-abcdefghij/{MANAGEMENT}",
    "MasterAccountId": MANAGEMENT,
    "MasterAccountEmail": "root@example.com",
}
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
DENY_S3 = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
RCP_ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
}


@pytest.fixture
def moto_session() -> Iterator[boto3.Session]:
    from moto import mock_aws

    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


# ------------------------------------------------------------------------------------------------ moto


def test_not_in_an_organization_is_a_definite_answer_not_a_gap(moto_session: boto3.Session) -> None:
    """AWSOrganizationsNotInUseException ("Your account isn't a member of an organization"): no SCPs."""
    snapshot = collect_account(moto_session, regions=["us-east-1"], services=["organizations"])
    assert snapshot.organization is None
    assert snapshot.services["organizations"] == "ok"
    assert snapshot.gaps == () and snapshot.warnings == ()


def test_management_account_collects_its_path_and_both_policy_types(moto_session: boto3.Session) -> None:
    organization_member(Account(), delegated=False)

    snapshot = collect_account(moto_session, regions=["us-east-1"], services=["organizations"])

    org = snapshot.organization
    assert org is not None and snapshot.gaps == () and snapshot.warnings == ()
    assert org.management_account_id == ACCOUNT and org.org_id.startswith("o-")
    assert set(org.enabled_policy_types) == {SCP, RCP}
    (path,) = org.account_paths.values()
    assert path[0].startswith("r-") and path[-1] == ACCOUNT
    # The management account is not subject to SCPs or RCPs (Service control policies (SCPs)).
    assert org.levels(ACCOUNT, SCP) is None and org.levels(ACCOUNT, RCP) is None
    # The snapshot survives its JSON round-trip with the organization in it.
    again = Snapshot.from_json(json.loads(json.dumps(snapshot.to_json())))
    assert again.organization == org


def test_member_account_as_delegated_admin_gets_every_level_root_first(moto_session: boto3.Session) -> None:
    member = organization_member(
        Account(), ou_scps={"DenyS3": DENY_S3}, account_rcps={"RcpDenyAll": {**DENY_S3, "Statement": []}}
    )

    snapshot = collect_account(member.session, regions=["us-east-1"], services=["organizations"])

    org = snapshot.organization
    assert org is not None and snapshot.gaps == () and snapshot.warnings == ()
    assert snapshot.account_id == member.account_id != org.management_account_id
    root, ou, account = org.account_paths[member.account_id]
    assert root.startswith("r-") and ou.startswith("ou-") and account == member.account_id
    scps = org.levels(member.account_id, SCP)
    assert scps is not None
    assert [sorted(p.name for p in level) for level in scps] == [
        ["FullAWSAccess"],
        ["DenyS3", "FullAWSAccess"],
        ["FullAWSAccess"],
    ]
    deny = next(p for level in scps for p in level if p.name == "DenyS3")
    assert deny.document == DENY_S3 and deny.targets == (ou,) and not deny.aws_managed
    rcps = org.levels(member.account_id, RCP)
    assert rcps is not None
    assert [sorted(p.name for p in level) for level in rcps] == [
        ["RCPFullAWSAccess"],
        ["RCPFullAWSAccess"],
        ["RCPFullAWSAccess", "RcpDenyAll"],
    ]
    default = next(p for p in org.policies if p.policy_id == RCP_FULL_AWS_ACCESS)
    assert default.aws_managed and default.targets == (root, ou, account)


def test_member_account_that_may_not_read_the_tree_records_gap_and_warning(
    moto_session: boto3.Session,
) -> None:
    member = organization_member(Account(), ou_scps={"DenyS3": DENY_S3}, delegated=False)

    snapshot = collect_account(member.session, regions=["us-east-1"], services=["organizations"])

    org = snapshot.organization
    assert org is not None  # what a member may read: the organization itself
    assert org.account_paths == {} and org.policies == ()
    assert org.levels(member.account_id, SCP) is None  # unknown place in the tree: nothing applied
    assert snapshot.services["organizations"] == "partial"
    assert [g.operation for g in snapshot.gaps] == ["ListParents"]
    (warning,) = snapshot.warnings
    assert "SCPs and RCPs could not be read" in warning and "wider than real" in warning


def test_organization_calls_are_read_only_and_in_the_readme_policy(
    moto_session: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_readme import ACTION_FOR_OPERATION, auditor_policy_actions

    member = organization_member(Account(), ou_scps={"DenyS3": DENY_S3})
    calls: set[str] = set()
    original = boto3.Session.client

    def recording_client(self: boto3.Session, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register(
            "before-call",
            lambda model, **_: calls.add(f"{model.service_model.signing_name}:{model.name}"),
        )
        return client

    monkeypatch.setattr(boto3.Session, "client", recording_client)
    collect_account(member.session, regions=["us-east-1"], services=["organizations"])
    org_calls = {c for c in calls if c.startswith("organizations:")}
    assert org_calls == {
        "organizations:DescribeOrganization",
        "organizations:ListRoots",
        "organizations:ListParents",
        "organizations:ListPoliciesForTarget",
        "organizations:DescribePolicy",
    }
    assert {ACTION_FOR_OPERATION.get(c, c) for c in org_calls} <= auditor_policy_actions()


# --------------------------------------------------------------------------------------------- Stubber


class StubbedOrg:
    """An Organizations client played by botocore's Stubber, and a scope that hands it out."""

    def __init__(self, account_id: str = MEMBER) -> None:
        self.client = boto3.client("organizations", region_name="us-east-1")
        self.stub = Stubber(self.client)
        self.scope = Scope(
            clients=lambda service, region: self.client, account_id=account_id, region=GLOBAL_REGION
        )

    def ok(self, operation: str, response: dict[str, Any], params: dict[str, Any] | None = None) -> None:
        self.stub.add_response(operation, response, params)

    def error(self, operation: str, code: str, status: int = 400) -> None:
        self.stub.add_client_error(
            operation, service_error_code=code, service_message=f"{code} (stub)", http_status_code=status
        )

    def run(self) -> Any:
        with self.stub:
            result = collect_organizations(self.scope)
        self.stub.assert_no_pending_responses()
        return result


def _root(*types: tuple[str, str]) -> dict[str, Any]:
    return {
        "Id": ROOT,
        "Arn": f"arn:aws:organizations::{MANAGEMENT}:root/o-abcdefghij/{ROOT}",
        "Name": "Root",
        "PolicyTypes": [{"Type": t, "Status": s} for t, s in types],
    }


def _summary(policy_id: str, name: str, policy_type: str = SCP, managed: bool = False) -> dict[str, Any]:
    kind = policy_type.lower()
    return {
        "Id": policy_id,
        "Arn": f"arn:aws:organizations::{MANAGEMENT}:policy/o-abcdefghij/{kind}/{policy_id}",
        "Name": name,
        "Description": name,
        "Type": policy_type,
        "AwsManaged": managed,
    }


def _described(summary: dict[str, Any], document: dict[str, Any] | str) -> dict[str, Any]:
    content = document if isinstance(document, str) else json.dumps(document)
    return {"Policy": {"PolicySummary": summary, "Content": content}}


def _tree(org: StubbedOrg, *root_types: tuple[str, str]) -> None:
    org.ok("describe_organization", {"Organization": ORG})
    org.ok("list_roots", {"Roots": [_root(*root_types)]})
    org.ok("list_parents", {"Parents": [{"Id": OU, "Type": "ORGANIZATIONAL_UNIT"}]}, {"ChildId": MEMBER})
    org.ok("list_parents", {"Parents": [{"Id": ROOT, "Type": "ROOT"}]}, {"ChildId": OU})


FULL = _summary("p-FullAWSAccess", "FullAWSAccess", managed=True)
DENY = _summary("p-denys3", "DenyS3")
RCP_FULL = _summary("p-RCPFullAWSAccess", "RCPFullAWSAccess", RCP, managed=True)


def test_paginated_policy_listings_are_followed_to_the_last_page() -> None:
    org = StubbedOrg()
    _tree(org, (SCP, "ENABLED"))
    org.ok("list_policies_for_target", {"Policies": [FULL]}, {"TargetId": ROOT, "Filter": SCP})
    org.ok(
        "list_policies_for_target",
        {"Policies": [FULL], "NextToken": "page-2"},
        {"TargetId": OU, "Filter": SCP},
    )
    org.ok(
        "list_policies_for_target",
        {"Policies": [DENY]},
        {"TargetId": OU, "Filter": SCP, "NextToken": "page-2"},
    )
    org.ok("list_policies_for_target", {"Policies": [FULL]}, {"TargetId": MEMBER, "Filter": SCP})
    org.ok("describe_policy", _described(FULL, ALLOW_ALL), {"PolicyId": "p-FullAWSAccess"})
    org.ok("describe_policy", _described(DENY, DENY_S3), {"PolicyId": "p-denys3"})

    result = org.run()

    assert result.gaps == () and result.warnings == ()
    organization = result.organization
    assert organization.account_paths == {MEMBER: (ROOT, OU, MEMBER)}
    assert organization.enabled_policy_types == (SCP,)  # RCPs not enabled on the root
    levels = organization.levels(MEMBER, SCP)
    assert [[p.policy_id for p in level] for level in levels] == [
        ["p-FullAWSAccess"],
        ["p-FullAWSAccess", "p-denys3"],
        ["p-FullAWSAccess"],
    ]
    assert organization.levels(MEMBER, RCP) is None


def test_paginated_parent_listing_is_followed() -> None:
    org = StubbedOrg()
    org.ok("describe_organization", {"Organization": ORG})
    org.ok("list_roots", {"Roots": [_root()]})
    org.ok("list_parents", {"Parents": [], "NextToken": "t"}, {"ChildId": MEMBER})
    org.ok("list_parents", {"Parents": [{"Id": ROOT, "Type": "ROOT"}]}, {"ChildId": MEMBER, "NextToken": "t"})

    result = org.run()

    assert result.organization.account_paths == {MEMBER: (ROOT, MEMBER)}
    assert result.organization.enabled_policy_types == () and result.gaps == ()


def test_access_denied_on_describe_organization_is_a_gap_saying_scps_are_unknown() -> None:
    org = StubbedOrg()
    org.error("describe_organization", "AccessDeniedException", 403)

    result = org.run()

    assert result.organization is None
    assert result.listing_error == "AccessDeniedException"
    assert [(g.operation, g.error_code) for g in result.gaps] == [
        ("DescribeOrganization", "AccessDeniedException")
    ]
    (warning,) = result.warnings
    assert "SCPs and RCPs could not be read" in warning and "AccessDeniedException" in warning


def test_member_account_denied_list_roots_keeps_the_org_but_applies_nothing() -> None:
    """A member account that is not a delegated administrator: AccessDeniedException on ListRoots
    (and every other read but DescribeOrganization)."""
    org = StubbedOrg()
    org.ok("describe_organization", {"Organization": ORG})
    org.error("list_roots", "AccessDeniedException", 403)
    # Not-in-use after DescribeOrganization said otherwise is no answer: a gap like any other.
    org.error("list_parents", "AWSOrganizationsNotInUseException")

    result = org.run()

    organization = result.organization
    assert organization.org_id == "o-abcdefghij" and organization.management_account_id == MANAGEMENT
    assert organization.levels(MEMBER, SCP) is None and organization.levels(MEMBER, RCP) is None
    assert {g.operation for g in result.gaps} == {"ListRoots", "ListParents"}
    (warning,) = result.warnings
    assert "SCPs and RCPs" in warning and "ListRoots: AccessDeniedException" in warning


def test_one_unreadable_policy_type_is_left_out_alone() -> None:
    """RCP documents denied, SCPs readable: SCPs apply, RCPs do not (and the warning says so)."""
    org = StubbedOrg()
    _tree(org, (SCP, "ENABLED"), (RCP, "ENABLED"))
    for target in (ROOT, OU, MEMBER):
        org.ok("list_policies_for_target", {"Policies": [FULL]}, {"TargetId": target, "Filter": SCP})
    org.ok("describe_policy", _described(FULL, ALLOW_ALL), {"PolicyId": "p-FullAWSAccess"})
    for target in (ROOT, OU, MEMBER):
        org.ok("list_policies_for_target", {"Policies": [RCP_FULL]}, {"TargetId": target, "Filter": RCP})
    org.error("describe_policy", "AccessDeniedException", 403)

    result = org.run()

    organization = result.organization
    assert organization.enabled_policy_types == (SCP,)
    assert organization.levels(MEMBER, SCP) is not None and organization.levels(MEMBER, RCP) is None
    assert {p.type for p in organization.policies} == {SCP}
    (warning,) = result.warnings
    assert "RCPs could not be read" in warning and "SCPs" not in warning
    assert [(g.operation, g.resource) for g in result.gaps] == [("DescribePolicy", RCP_FULL["Arn"])]


def test_policy_listing_denied_on_one_level_drops_the_type_rather_than_deny_everything() -> None:
    """Every level must allow (Service control policies (SCPs)): an unread level must not read as empty."""
    org = StubbedOrg()
    _tree(org, (SCP, "ENABLED"))
    org.ok("list_policies_for_target", {"Policies": [FULL]}, {"TargetId": ROOT, "Filter": SCP})
    org.error("list_policies_for_target", "AccessDeniedException", 403)

    result = org.run()

    assert result.organization.levels(MEMBER, SCP) is None
    assert result.organization.account_paths == {MEMBER: (ROOT, OU, MEMBER)}
    assert "ListPoliciesForTarget on " + OU in result.warnings[0]


def test_policy_type_pending_enable_is_not_yet_in_force() -> None:
    org = StubbedOrg()
    _tree(org, (SCP, "PENDING_ENABLE"), (RCP, "ENABLED"))
    for target in (ROOT, OU, MEMBER):
        org.ok("list_policies_for_target", {"Policies": [RCP_FULL]}, {"TargetId": target, "Filter": RCP})
    org.ok("describe_policy", _described(RCP_FULL, RCP_ALLOW_ALL), {"PolicyId": "p-RCPFullAWSAccess"})

    organization = org.run().organization

    assert organization.enabled_policy_types == (RCP,)
    assert organization.levels(MEMBER, SCP) is None
    assert [len(level) for level in organization.levels(MEMBER, RCP)] == [1, 1, 1]


def test_policy_content_that_is_not_json_makes_its_type_unread() -> None:
    org = StubbedOrg()
    _tree(org, (SCP, "ENABLED"))
    for target in (ROOT, OU, MEMBER):
        org.ok("list_policies_for_target", {"Policies": [FULL]}, {"TargetId": target, "Filter": SCP})
    org.ok("describe_policy", _described(FULL, "{not json"), {"PolicyId": "p-FullAWSAccess"})

    result = org.run()

    assert result.organization.levels(MEMBER, SCP) is None and result.organization.policies == ()
    assert "no JSON object as content" in result.warnings[0]


def test_management_account_gets_no_warning_since_scps_never_apply_to_it() -> None:
    org = StubbedOrg(account_id=MANAGEMENT)
    org.ok("describe_organization", {"Organization": ORG})
    org.error("list_roots", "AccessDeniedException", 403)
    org.ok("list_parents", {"Parents": [{"Id": ROOT, "Type": "ROOT"}]}, {"ChildId": MANAGEMENT})

    result = org.run()

    assert result.warnings == () and [g.operation for g in result.gaps] == ["ListRoots"]


def test_a_parent_chain_without_a_root_is_a_gap_not_a_loop() -> None:
    org = StubbedOrg()
    org.ok("describe_organization", {"Organization": ORG})
    org.ok("list_roots", {"Roots": [_root((SCP, "ENABLED"))]})
    org.ok("list_parents", {"Parents": [{"Id": OU, "Type": "ORGANIZATIONAL_UNIT"}]}, {"ChildId": MEMBER})
    for _ in range(7):
        org.ok("list_parents", {"Parents": [{"Id": OU, "Type": "ORGANIZATIONAL_UNIT"}]}, {"ChildId": OU})

    result = org.run()

    assert result.organization.account_paths == {}
    assert [g.operation for g in result.gaps] == ["ListParents"]
    assert "SCPs and RCPs could not be read" in result.warnings[0]
