"""Glue: development endpoints with their role.

GetDevEndpoints lists every dev endpoint with ``RoleArn`` (the role the endpoint's Spark code runs
with; anyone who may update the endpoint's SSH keys can run code as that role).
https://docs.aws.amazon.com/glue/latest/webapi/API_GetDevEndpoints.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blastradius.collect.base import Raw, Recorder, Scope, ServiceResult, iso
from blastradius.model import GLUE_DEV_ENDPOINT, ComputeResource

SERVICE = "glue"
LISTING = "GetDevEndpoints"


def get_glue(scope: Scope, recorder: Recorder) -> list[Raw] | None:
    """Every dev endpoint of the region; None when GetDevEndpoints failed."""
    return recorder.paginate(scope.client(SERVICE), "get_dev_endpoints", "DevEndpoints")


def normalise_dev_endpoint(
    raw: Mapping[str, Any], *, account_id: str, region: str, partition: str = "aws"
) -> ComputeResource:
    """One GetDevEndpoints entry -> ``ComputeResource``."""
    name = raw["EndpointName"]
    details = {
        "status": raw.get("Status"),
        "created": iso(raw.get("CreatedTimestamp")),
        "public_address": raw.get("PublicAddress"),
    }
    return ComputeResource(
        arn=f"arn:{partition}:glue:{region}:{account_id}:devEndpoint/{name}",
        type=GLUE_DEV_ENDPOINT,
        name=name,
        account_id=account_id,
        region=region,
        role_arn=raw.get("RoleArn") or None,
        details={k: v for k, v in details.items() if v is not None},
    )


def collect_glue(scope: Scope) -> ServiceResult:
    """Get and normalise the dev endpoints of one region."""
    recorder = Recorder(SERVICE, scope.region)
    raw = get_glue(scope, recorder)
    resources = (
        None
        if raw is None
        else [
            normalise_dev_endpoint(
                e, account_id=scope.account_id, region=scope.region, partition=scope.partition
            )
            for e in raw
        ]
    )
    return recorder.compute_result(resources, listing_operation=LISTING)
