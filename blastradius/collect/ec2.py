"""EC2: instances with the instance profile that hands them a role.

DescribeInstances names the profile (``IamInstanceProfile.Arn``); which role the profile holds comes
from IAM (GetAccountAuthorizationDetails lists each role's instance profiles) and is filled in when
the account's results are assembled (``resolve_instance_roles``). Terminated instances can no longer
run anything and are left out.
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from blastradius.collect.base import Raw, Recorder, Scope, ServiceResult, iso, tags_dict
from blastradius.model import EC2_INSTANCE, ComputeResource, InstanceProfile

SERVICE = "ec2"
LISTING = "DescribeInstances"
GONE = frozenset({"terminated", "shutting-down"})


def get_ec2(scope: Scope, recorder: Recorder) -> list[Raw] | None:
    """Every instance of the region (reservations flattened); None when DescribeInstances failed."""
    reservations = recorder.paginate(scope.client(SERVICE), "describe_instances", "Reservations")
    if reservations is None:
        return None
    return [instance for r in reservations for instance in r.get("Instances", [])]


def normalise_instance(
    raw: Mapping[str, Any], *, account_id: str, region: str, partition: str = "aws"
) -> ComputeResource:
    """One DescribeInstances instance -> ``ComputeResource`` (role resolved later from its profile)."""
    instance_id = raw["InstanceId"]
    tags = tags_dict(raw.get("Tags"))
    profile = (raw.get("IamInstanceProfile") or {}).get("Arn")
    details = {
        "state": (raw.get("State") or {}).get("Name"),
        "launched": iso(raw.get("LaunchTime")),
        "platform": raw.get("PlatformDetails") or raw.get("Platform"),
        "public_ip": raw.get("PublicIpAddress"),
        "vpc": raw.get("VpcId"),
    }
    return ComputeResource(
        arn=f"arn:{partition}:ec2:{region}:{account_id}:instance/{instance_id}",
        type=EC2_INSTANCE,
        name=tags.get("Name") or instance_id,
        account_id=account_id,
        region=region,
        instance_profile_arn=str(profile) if profile else None,
        tags=tags,
        details={"instance_id": instance_id, **{k: v for k, v in details.items() if v is not None}},
    )


def collect_ec2(scope: Scope) -> ServiceResult:
    """Get and normalise the instances of one region (terminated ones left out)."""
    recorder = Recorder(SERVICE, scope.region)
    raw = get_ec2(scope, recorder)
    resources = (
        None
        if raw is None
        else [
            normalise_instance(i, account_id=scope.account_id, region=scope.region, partition=scope.partition)
            for i in raw
            if (i.get("State") or {}).get("Name") not in GONE
        ]
    )
    return recorder.compute_result(resources, listing_operation=LISTING)


def resolve_instance_roles(
    compute: Sequence[ComputeResource], profiles: Iterable[InstanceProfile], *, iam_collected: bool
) -> tuple[tuple[ComputeResource, ...], tuple[str, ...]]:
    """Give each instance the role of its instance profile; warn about profiles IAM did not list.

    A profile holds at most one role (*Using instance profiles*). ``iam_collected`` False means the
    profiles are unknown rather than empty, so the warning says so.
    """
    by_arn = {p.arn: p for p in profiles}
    out: list[ComputeResource] = []
    warnings: list[str] = []
    for resource in compute:
        arn = resource.instance_profile_arn
        if resource.type != EC2_INSTANCE or arn is None or resource.role_arn is not None:
            out.append(resource)
            continue
        profile = by_arn.get(arn)
        if profile is None or not profile.role_arns:
            why = "IAM was not collected" if not iam_collected else "IAM lists no role in it"
            warnings.append(
                f"instance {resource.name} ({resource.region}) uses instance profile {arn}, whose role is "
                f"unknown ({why})"
            )
            out.append(replace(resource, details={**resource.details, "instance_profile_role": "unknown"}))
            continue
        out.append(replace(resource, role_arn=profile.role_arns[0]))
    return tuple(out), tuple(warnings)
