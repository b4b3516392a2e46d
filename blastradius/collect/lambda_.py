"""Lambda: functions with their execution role and the *names* of their environment variables.

ListFunctions returns each function's configuration, including the environment; only the variable
names are kept (the values may be credentials and are dropped in the normaliser, never stored).
ListFunctions lists the unpublished ($LATEST) configuration of each function, which is what
UpdateFunctionCode / UpdateFunctionConfiguration change. Tags come from ListTags per function: policies
may condition access to a function on ``aws:ResourceTag`` (a failed ListTags is a gap, and the function's
``details["not_collected"]`` says so).
https://docs.aws.amazon.com/lambda/latest/api/API_ListFunctions.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blastradius.collect.base import (
    Raw,
    Recorder,
    Scope,
    ServiceResult,
    env_names,
    for_each,
    iso,
    not_collected,
)
from blastradius.model import LAMBDA_FUNCTION, ComputeResource

SERVICE = "lambda"
LISTING = "ListFunctions"


def get_lambda(scope: Scope, recorder: Recorder) -> list[Raw] | None:
    """Every function of the region (all pages) with its tags under ``Tags``; None when ListFunctions
    failed."""
    client = scope.client(SERVICE)
    functions = recorder.paginate(client, "list_functions", "Functions")
    if functions is None:
        return None

    def tagged(function: Raw) -> Raw:
        record = dict(function)
        arn = record["FunctionArn"]
        recorder.fetch(record, "TagsResponse", "ListTags", client.list_tags, resource=arn, Resource=arn)
        return record

    return for_each(functions, tagged, scope.max_workers)


def normalise_function(raw: Mapping[str, Any], *, account_id: str, region: str) -> ComputeResource:
    """One ListFunctions entry -> ``ComputeResource`` (environment variable names only)."""
    environment = raw.get("Environment") or {}
    details = {
        "runtime": raw.get("Runtime"),
        "package_type": raw.get("PackageType"),
        "last_modified": iso(raw.get("LastModified")),
        "kms_key": raw.get("KMSKeyArn"),
    }
    return ComputeResource(
        arn=raw["FunctionArn"],
        type=LAMBDA_FUNCTION,
        name=raw["FunctionName"],
        account_id=account_id,
        region=region,
        role_arn=raw.get("Role") or None,
        env_var_names=env_names(environment.get("Variables")),
        tags={str(k): str(v) for k, v in ((raw.get("TagsResponse") or {}).get("Tags") or {}).items()},
        details={**{k: v for k, v in details.items() if v is not None}, **not_collected(raw)},
    )


def collect_lambda(scope: Scope) -> ServiceResult:
    """Get and normalise the functions of one region."""
    recorder = Recorder(SERVICE, scope.region)
    raw = get_lambda(scope, recorder)
    resources = (
        None
        if raw is None
        else [normalise_function(f, account_id=scope.account_id, region=scope.region) for f in raw]
    )
    return recorder.compute_result(resources, listing_operation=LISTING)
