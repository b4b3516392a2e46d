"""CloudFormation: stacks with the service role they deploy with.

DescribeStacks without a stack name describes every stack that is not deleted, with ``RoleARN``
(the service role CloudFormation assumes for stack operations; absent when the stack uses the
caller's own credentials).
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blastradius.collect.base import Raw, Recorder, Scope, ServiceResult, iso, tags_dict
from blastradius.model import CLOUDFORMATION_STACK, ComputeResource

SERVICE = "cloudformation"
LISTING = "DescribeStacks"


def get_cloudformation(scope: Scope, recorder: Recorder) -> list[Raw] | None:
    """Every live stack of the region; None when DescribeStacks failed."""
    return recorder.paginate(scope.client(SERVICE), "describe_stacks", "Stacks")


def normalise_stack(raw: Mapping[str, Any], *, account_id: str, region: str) -> ComputeResource:
    """One DescribeStacks entry -> ``ComputeResource``."""
    details = {
        "status": raw.get("StackStatus"),
        "created": iso(raw.get("CreationTime")),
        "updated": iso(raw.get("LastUpdatedTime")),
        "capabilities": list(raw["Capabilities"]) if raw.get("Capabilities") else None,
    }
    return ComputeResource(
        arn=raw["StackId"],
        type=CLOUDFORMATION_STACK,
        name=raw["StackName"],
        account_id=account_id,
        region=region,
        role_arn=raw.get("RoleARN") or None,
        tags=tags_dict(raw.get("Tags")),
        details={k: v for k, v in details.items() if v is not None},
    )


def collect_cloudformation(scope: Scope) -> ServiceResult:
    """Get and normalise the stacks of one region."""
    recorder = Recorder(SERVICE, scope.region)
    raw = get_cloudformation(scope, recorder)
    resources = (
        None
        if raw is None
        else [normalise_stack(s, account_id=scope.account_id, region=scope.region) for s in raw]
    )
    return recorder.compute_result(resources, listing_operation=LISTING)
