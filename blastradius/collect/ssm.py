"""SSM Parameter Store: parameter metadata (type, KMS key, description, tags).

Values are never read (no GetParameter, with or without decryption): the metadata says what a key
could read, and a SecureString's KMS key says what else it would need.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from blastradius.collect.base import (
    Raw,
    Recorder,
    Scope,
    ServiceResult,
    for_each,
    iso,
    not_collected,
    tags_dict,
)
from blastradius.model import SSM_PARAMETER, Dataset

SERVICE = "ssm"
# A SecureString created without KeyId is encrypted with the AWS managed key of SSM.
DEFAULT_SECURESTRING_KEY = "alias/aws/ssm"


def parameter_arn(name: str, *, region: str, account_id: str, partition: str = "aws") -> str:
    """``arn:aws:ssm:REGION:ACCT:parameter/NAME``; a name starting with "/" does not double the slash."""
    return f"arn:{partition}:ssm:{region}:{account_id}:parameter/{name.removeprefix('/')}"


def get_ssm(scope: Scope, recorder: Recorder) -> list[Raw] | None:
    """DescribeParameters, then per parameter ListTagsForResource."""
    ssm = scope.client(SERVICE)
    parameters = recorder.paginate(ssm, "describe_parameters", "Parameters")
    if parameters is None:
        return None

    def details(parameter: Mapping[str, Any]) -> Raw:
        record: Raw = {"Parameter": dict(parameter), "Region": scope.region}
        arn = parameter_arn(
            parameter["Name"], region=scope.region, account_id=scope.account_id, partition=scope.partition
        )
        recorder.fetch(
            record,
            "Tags",
            "ListTagsForResource",
            ssm.list_tags_for_resource,
            resource=arn,
            ResourceType="Parameter",
            ResourceId=parameter["Name"],
        )
        return record

    return for_each(parameters, details, scope.max_workers)


def normalise_parameter(raw: Mapping[str, Any], *, account_id: str, partition: str = "aws") -> Dataset:
    """One raw parameter record (see ``get_ssm``) -> ``Dataset``."""
    parameter = raw["Parameter"]
    name = parameter["Name"]
    kind = parameter.get("Type")
    key = (parameter.get("KeyId") or DEFAULT_SECURESTRING_KEY) if kind == "SecureString" else None
    details = {
        "parameter_type": kind,
        "tier": parameter.get("Tier"),
        "data_type": parameter.get("DataType"),
        "version": parameter.get("Version"),
        "last_modified": iso(parameter.get("LastModifiedDate")),
        "last_modified_user": parameter.get("LastModifiedUser"),
    }
    return Dataset(
        arn=parameter_arn(name, region=raw["Region"], account_id=account_id, partition=partition),
        type=SSM_PARAMETER,
        name=name,
        account_id=account_id,
        region=raw["Region"],
        kms_key=key,
        tags=tags_dict((raw.get("Tags") or {}).get("TagList")),
        description=parameter.get("Description") or None,
        details={**{k: v for k, v in details.items() if v is not None}, **not_collected(raw)},
    )


def normalise_ssm(
    raw: Sequence[Mapping[str, Any]], *, account_id: str, partition: str = "aws"
) -> tuple[Dataset, ...]:
    """Raw parameter records -> datasets, sorted by ARN."""
    datasets = (normalise_parameter(r, account_id=account_id, partition=partition) for r in raw)
    return tuple(sorted(datasets, key=lambda d: d.arn))


def collect_ssm(scope: Scope) -> ServiceResult:
    """Get and normalise the parameters of one region."""
    recorder = Recorder(SERVICE, scope.region)
    raw = get_ssm(scope, recorder)
    datasets = (
        None if raw is None else normalise_ssm(raw, account_id=scope.account_id, partition=scope.partition)
    )
    return recorder.result(datasets, listing_operation="DescribeParameters")
