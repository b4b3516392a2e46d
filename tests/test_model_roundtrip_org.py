"""Organizations, compute resources and instance profiles survive the snapshot round-trip."""

from __future__ import annotations

import pytest

from blastradius.errors import SnapshotError
from blastradius.model import (
    RCP,
    SCP,
    ComputeResource,
    InstanceProfile,
    Organization,
    OrgPolicy,
    Snapshot,
)

DENY_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def _org() -> Organization:
    return Organization(
        org_id="o-abc123",
        management_account_id="999999999999",
        account_paths={
            "111111111111": ("r-ab12", "ou-ab12-11111111", "111111111111"),
            "999999999999": ("r-ab12", "999999999999"),
        },
        policies=(
            OrgPolicy(
                policy_id="p-FullAWSAccess",
                arn="arn:aws:organizations::aws:policy/scp/p-full",
                name="FullAWSAccess",
                type=SCP,
                document=ALLOW_ALL,
                targets=("r-ab12", "ou-ab12-11111111", "111111111111"),
                aws_managed=True,
            ),
            OrgPolicy(
                policy_id="p-deny",
                arn="arn:aws:organizations::999999999999:policy/o-abc123/scp/p-deny",
                name="deny",
                type=SCP,
                document=DENY_ALL,
                targets=("ou-ab12-11111111",),
            ),
            OrgPolicy(
                policy_id="p-rcp",
                arn="arn:aws:organizations::999999999999:policy/o-abc123/rcp/p-rcp",
                name="rcp",
                type=RCP,
                document=DENY_ALL,
                targets=("r-ab12",),
            ),
        ),
        enabled_policy_types=(SCP,),
    )


def test_round_trip_keeps_organization_compute_and_profiles() -> None:
    snap = Snapshot(
        account_id="111111111111",
        collected_at="2026-11-25T00:00:00Z",
        organization=_org(),
        instance_profiles=(
            InstanceProfile(
                arn="arn:aws:iam::111111111111:instance-profile/web",
                name="web",
                role_arns=("arn:aws:iam::111111111111:role/web",),
            ),
        ),
        compute=(
            ComputeResource(
                arn="arn:aws:lambda:us-east-1:111111111111:function:f",
                type="lambda-function",
                name="f",
                account_id="111111111111",
                region="us-east-1",
                role_arn="arn:aws:iam::111111111111:role/web",
                env_var_names=("DB_PASSWORD",),
            ),
        ),
        accounts=("111111111111", "222222222222"),
    )
    assert Snapshot.from_json(snap.to_json()) == snap


def test_levels_per_level_root_first_for_a_member_account() -> None:
    levels = _org().levels("111111111111", SCP)
    assert levels is not None
    assert [[p.name for p in level] for level in levels] == [
        ["FullAWSAccess"],
        ["FullAWSAccess", "deny"],
        ["FullAWSAccess"],
    ]


def test_levels_none_for_management_account_disabled_type_and_unknown_account() -> None:
    org = _org()
    # "SCPs don't affect users or roles in the management account" (AWS Organizations user guide).
    assert org.levels("999999999999", SCP) is None
    assert org.levels("111111111111", RCP) is None  # RCPs not enabled on the root
    assert org.levels("333333333333", SCP) is None


def test_malformed_account_path_is_named() -> None:
    data = Snapshot(account_id="111111111111", collected_at="x", organization=_org()).to_json()
    data["organization"]["account_paths"]["111111111111"] = "r-ab12"
    with pytest.raises(SnapshotError, match=r"organization\.account_paths\.111111111111"):
        Snapshot.from_json(data)
