"""DynamoDB: tables with their key schema and attribute names (what the classifier reads), item count,
size, encryption key, resource policy and tags. Items are never read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from blastradius.collect.base import (
    FAILED_KEY,
    Raw,
    Recorder,
    Scope,
    ServiceResult,
    for_each,
    iso,
    not_collected,
    tags_dict,
)
from blastradius.model import DYNAMODB_TABLE, Dataset

SERVICE = "dynamodb"


def table_arn(name: str, *, region: str, account_id: str, partition: str = "aws") -> str:
    """``arn:aws:dynamodb:REGION:ACCT:table/NAME``."""
    return f"arn:{partition}:dynamodb:{region}:{account_id}:table/{name}"


def get_dynamodb(scope: Scope, recorder: Recorder) -> list[Raw] | None:
    """ListTables, then per table DescribeTable, GetResourcePolicy and ListTagsOfResource."""
    ddb = scope.client(SERVICE)
    names = recorder.paginate(ddb, "list_tables", "TableNames")
    if names is None:
        return None
    records = for_each(names, lambda name: _get_table(scope, ddb, recorder, name), scope.max_workers)
    return [r for r in records if r is not None]


def _get_table(scope: Scope, ddb: Any, recorder: Recorder, name: str) -> Raw | None:
    arn = table_arn(name, region=scope.region, account_id=scope.account_id, partition=scope.partition)
    record: Raw = {"TableName": name, "Region": scope.region}
    ok, described = recorder.call(
        "DescribeTable",
        ddb.describe_table,
        resource=arn,
        absent=("ResourceNotFoundException",),
        TableName=name,
    )
    if ok and described is None:
        return None  # deleted between ListTables and DescribeTable
    if ok:
        record["Table"] = described["Table"]
        arn = described["Table"].get("TableArn") or arn
    else:
        record.setdefault(FAILED_KEY, []).append("DescribeTable")
    record["TableArn"] = arn
    recorder.fetch(
        record,
        "ResourcePolicy",
        "GetResourcePolicy",
        ddb.get_resource_policy,
        resource=arn,
        absent=("PolicyNotFoundException",),
        ResourceArn=arn,
    )
    tags = recorder.paginate(ddb, "list_tags_of_resource", "Tags", resource=arn, ResourceArn=arn)
    if tags is None:
        record.setdefault(FAILED_KEY, []).append("ListTagsOfResource")
    else:
        record["Tags"] = tags
    return record


def field_names(table: Mapping[str, Any]) -> tuple[str, ...]:
    """Key schema attribute names first, then the other defined attributes (index keys), deduplicated."""
    names = [k["AttributeName"] for k in table.get("KeySchema", [])]
    names += [a["AttributeName"] for a in table.get("AttributeDefinitions", [])]
    return tuple(dict.fromkeys(names))


def _sse_key(table: Mapping[str, Any]) -> str | None:
    # No SSEDescription means the AWS owned key: nothing the account controls or needs permission on.
    sse = table.get("SSEDescription") or {}
    if sse.get("SSEType") == "KMS" and sse.get("Status") in (None, "ENABLED", "ENABLING", "UPDATING"):
        key = sse.get("KMSMasterKeyArn")
        return str(key) if key else None
    return None


def normalise_table(raw: Mapping[str, Any], *, account_id: str) -> Dataset:
    """One raw table record (see ``get_dynamodb``) -> ``Dataset``."""
    table = raw.get("Table") or {}
    policy = raw.get("ResourcePolicy")
    details: dict[str, Any] = {}
    if table:
        details = {
            "status": table.get("TableStatus"),
            "created": iso(table.get("CreationDateTime")),
            "key_schema": [f"{k['AttributeName']} ({k['KeyType']})" for k in table.get("KeySchema", [])],
            "billing_mode": (table.get("BillingModeSummary") or {}).get("BillingMode"),
            "global_secondary_indexes": sorted(
                i["IndexName"] for i in table.get("GlobalSecondaryIndexes") or []
            ),
            "stream_enabled": bool((table.get("StreamSpecification") or {}).get("StreamEnabled")),
            "deletion_protection": table.get("DeletionProtectionEnabled"),
            "replica_regions": sorted(r["RegionName"] for r in table.get("Replicas") or []),
        }
    item_count = table.get("ItemCount")
    size = table.get("TableSizeBytes")
    return Dataset(
        arn=raw["TableArn"],
        type=DYNAMODB_TABLE,
        name=raw["TableName"],
        account_id=account_id,
        region=raw["Region"],
        resource_policy=json.loads(policy["Policy"]) if policy else None,
        kms_key=_sse_key(table),
        tags=tags_dict(raw.get("Tags")),
        field_names=field_names(table),
        estimated_records=int(item_count) if item_count is not None else None,
        size_bytes=int(size) if size is not None else None,
        details={**details, **not_collected(raw)},
    )


def normalise_dynamodb(raw: Sequence[Mapping[str, Any]], *, account_id: str) -> tuple[Dataset, ...]:
    """Raw table records -> datasets, sorted by ARN."""
    return tuple(sorted((normalise_table(r, account_id=account_id) for r in raw), key=lambda d: d.arn))


def collect_dynamodb(scope: Scope) -> ServiceResult:
    """Get and normalise the tables of one region."""
    recorder = Recorder(SERVICE, scope.region)
    raw = get_dynamodb(scope, recorder)
    datasets = None if raw is None else normalise_dynamodb(raw, account_id=scope.account_id)
    return recorder.result(datasets, listing_operation="ListTables")
