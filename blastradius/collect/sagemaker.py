"""SageMaker: notebook instances with their execution role.

ListNotebookInstances gives names; DescribeNotebookInstance gives ``RoleArn`` (the role the notebook's
code runs with, which anyone who may open the notebook's Jupyter URL can use).
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeNotebookInstance.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blastradius.collect.base import (
    Raw,
    Recorder,
    Scope,
    ServiceResult,
    for_each,
    iso,
    not_collected,
)
from blastradius.model import SAGEMAKER_NOTEBOOK, ComputeResource

SERVICE = "sagemaker"
LISTING = "ListNotebookInstances"


def get_sagemaker(scope: Scope, recorder: Recorder) -> list[Raw] | None:
    """Every notebook instance of the region with its description under ``Description``; None when
    ListNotebookInstances failed."""
    sagemaker = scope.client(SERVICE)
    listed = recorder.paginate(sagemaker, "list_notebook_instances", "NotebookInstances")
    if listed is None:
        return None

    def describe(summary: Mapping[str, Any]) -> Raw:
        record: Raw = {"Summary": dict(summary)}
        name = summary["NotebookInstanceName"]
        recorder.fetch(
            record,
            "Description",
            "DescribeNotebookInstance",
            sagemaker.describe_notebook_instance,
            resource=summary.get("NotebookInstanceArn") or name,
            NotebookInstanceName=name,
        )
        return record

    return for_each(listed, describe, scope.max_workers)


def normalise_notebook(raw: Mapping[str, Any], *, account_id: str, region: str) -> ComputeResource:
    """One notebook record (see ``get_sagemaker``) -> ``ComputeResource``."""
    summary = raw["Summary"]
    described = raw.get("Description") or {}
    details = {
        "status": summary.get("NotebookInstanceStatus"),
        "instance_type": summary.get("InstanceType"),
        "created": iso(summary.get("CreationTime")),
        "direct_internet_access": described.get("DirectInternetAccess"),
        "root_access": described.get("RootAccess"),
    }
    return ComputeResource(
        arn=summary["NotebookInstanceArn"],
        type=SAGEMAKER_NOTEBOOK,
        name=summary["NotebookInstanceName"],
        account_id=account_id,
        region=region,
        role_arn=described.get("RoleArn") or None,
        details={**{k: v for k, v in details.items() if v is not None}, **not_collected(raw)},
    )


def collect_sagemaker(scope: Scope) -> ServiceResult:
    """Get and normalise the notebook instances of one region."""
    recorder = Recorder(SERVICE, scope.region)
    raw = get_sagemaker(scope, recorder)
    resources = (
        None
        if raw is None
        else [normalise_notebook(n, account_id=scope.account_id, region=scope.region) for n in raw]
    )
    return recorder.compute_result(resources, listing_operation=LISTING)
