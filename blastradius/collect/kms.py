"""KMS: keys with their key policy, grants, aliases and manager; and resolution of the key references
other datasets hold (alias names, key ids) to key ARNs.

A key policy must itself allow a principal (IAM policies alone are not enough unless the policy
delegates to the account), so ``resource_policy`` is the key policy. AWS managed keys (aliases under
``alias/aws/``) are kept and marked ``key_manager="AWS"``; a dataset protected by one needs no key
permission beyond using the service, so its ``kms_key`` is None after resolution.
https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
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
from blastradius.model import KMS_KEY, Dataset, KmsGrant

SERVICE = "kms"
AWS_ALIAS_PREFIX = "alias/aws/"
AWS_MANAGED = "AWS"
CUSTOMER_MANAGED = "CUSTOMER"


@dataclass(slots=True, kw_only=True)
class KmsRaw:
    """Raw KMS responses of one region; ``aliases`` None when ListAliases failed."""

    region: str
    keys: list[Raw]
    aliases: list[Raw] | None


def get_kms(scope: Scope, recorder: Recorder) -> KmsRaw | None:
    """ListKeys and ListAliases, then per key DescribeKey, GetKeyPolicy, ListGrants and (customer
    keys) ListResourceTags. None when ListKeys failed."""
    kms = scope.client(SERVICE)
    keys = recorder.paginate(kms, "list_keys", "Keys")
    if keys is None:
        return None
    aliases = recorder.paginate(kms, "list_aliases", "Aliases")
    return KmsRaw(
        region=scope.region,
        keys=for_each(keys, lambda key: _get_key(kms, recorder, key), scope.max_workers),
        aliases=aliases,
    )


def _get_key(kms: Any, recorder: Recorder, key: Mapping[str, Any]) -> Raw:
    arn = key["KeyArn"]
    record: Raw = {"Key": dict(key)}
    recorder.fetch(record, "Metadata", "DescribeKey", kms.describe_key, resource=arn, KeyId=arn)
    # The only key policy name KMS supports is "default".
    recorder.fetch(
        record, "Policy", "GetKeyPolicy", kms.get_key_policy, resource=arn, KeyId=arn, PolicyName="default"
    )
    grants = recorder.paginate(kms, "list_grants", "Grants", resource=arn, KeyId=arn)
    if grants is None:
        record.setdefault(FAILED_KEY, []).append("ListGrants")
    else:
        record["Grants"] = grants
    manager = ((record.get("Metadata") or {}).get("KeyMetadata") or {}).get("KeyManager")
    if manager != AWS_MANAGED:  # AWS managed keys cannot be tagged; asking only makes a spurious gap
        tags = recorder.paginate(kms, "list_resource_tags", "Tags", resource=arn, KeyId=arn)
        if tags is None:
            record.setdefault(FAILED_KEY, []).append("ListResourceTags")
        else:
            record["Tags"] = tags
    return record


def _grant(raw: Mapping[str, Any]) -> KmsGrant:
    return KmsGrant(
        grant_id=raw["GrantId"],
        grantee_principal=raw.get("GranteePrincipal", ""),
        operations=tuple(raw.get("Operations", [])),
        retiring_principal=raw.get("RetiringPrincipal"),
        name=raw.get("Name") or None,
        constraints=dict(raw["Constraints"]) if raw.get("Constraints") else None,
    )


def normalise_key(raw: Mapping[str, Any], *, account_id: str, region: str, aliases: Sequence[str]) -> Dataset:
    """One raw key record (see ``get_kms``) with its alias names -> ``Dataset``."""
    key = raw["Key"]
    arn = key["KeyArn"]
    meta = (raw.get("Metadata") or {}).get("KeyMetadata") or {}
    policy = raw.get("Policy")
    # Only AWS can create aliases under alias/aws/, so such a key is AWS managed whatever else says so.
    manager = AWS_MANAGED if any(a.startswith(AWS_ALIAS_PREFIX) for a in aliases) else meta.get("KeyManager")
    details = {
        "key_state": meta.get("KeyState"),
        "enabled": meta.get("Enabled"),
        "key_usage": meta.get("KeyUsage"),
        "key_spec": meta.get("KeySpec"),
        "origin": meta.get("Origin"),
        "multi_region": meta.get("MultiRegion"),
        "created": iso(meta.get("CreationDate")),
        "deletion_date": iso(meta.get("DeletionDate")),
    }
    return Dataset(
        arn=arn,
        type=KMS_KEY,
        name=aliases[0] if aliases else key["KeyId"],
        account_id=account_id,
        region=region,
        resource_policy=json.loads(policy["Policy"]) if policy else None,
        tags=tags_dict(raw.get("Tags"), key="TagKey", value="TagValue"),
        description=meta.get("Description") or None,
        grants=tuple(sorted((_grant(g) for g in raw.get("Grants", [])), key=lambda g: g.grant_id)),
        aliases=tuple(aliases),
        key_manager=manager,
        details={**{k: v for k, v in details.items() if v is not None}, **not_collected(raw)},
    )


def normalise_kms(raw: KmsRaw, *, account_id: str) -> tuple[Dataset, ...]:
    """Raw keys and aliases of one region -> key datasets (aliases attached), sorted by ARN."""
    by_key: dict[str, list[str]] = {}
    for alias in raw.aliases or []:
        if alias.get("TargetKeyId"):
            by_key.setdefault(alias["TargetKeyId"], []).append(alias["AliasName"])
    datasets = (
        normalise_key(
            k, account_id=account_id, region=raw.region, aliases=sorted(by_key.get(k["Key"]["KeyId"], []))
        )
        for k in raw.keys
    )
    return tuple(sorted(datasets, key=lambda d: d.arn))


def collect_kms(scope: Scope) -> ServiceResult:
    """Get and normalise the keys of one region."""
    recorder = Recorder(SERVICE, scope.region)
    raw = get_kms(scope, recorder)
    datasets = None if raw is None else normalise_kms(raw, account_id=scope.account_id)
    return recorder.result(datasets, listing_operation="ListKeys")


@dataclass(frozen=True, slots=True)
class _KeyIndex:
    by_arn: Mapping[str, Dataset]
    by_id: Mapping[tuple[str, str], Dataset]  # (region, key id)
    by_alias: Mapping[tuple[str, str], Dataset]  # (region, alias/NAME)

    @classmethod
    def of(cls, keys: Iterable[Dataset]) -> _KeyIndex:
        by_arn: dict[str, Dataset] = {}
        by_id: dict[tuple[str, str], Dataset] = {}
        by_alias: dict[tuple[str, str], Dataset] = {}
        for key in keys:
            by_arn[key.arn] = key
            by_id[(key.region, key.arn.rsplit("/", 1)[-1])] = key
            for alias in key.aliases:
                by_alias[(key.region, alias)] = key
        return cls(by_arn, by_id, by_alias)


def resolve_kms_references(
    datasets: Sequence[Dataset], *, account_id: str, partition: str = "aws"
) -> tuple[tuple[Dataset, ...], tuple[str, ...]]:
    """Make every non-key dataset's ``kms_key`` a customer-managed key ARN, or None.

    Collectors record what the service says: an alias name, an alias ARN, a key id or a key ARN.
    Aliases and ids resolve against the collected keys of the dataset's region; a key id resolves to
    its ARN even when KMS was not collected; keys managed by AWS become None (noted in
    ``details["kms_key_manager"]``). An alias that cannot be resolved becomes None with
    ``details["kms_key_unresolved"]`` and a warning, which is returned with the new datasets.
    """
    index = _KeyIndex.of(d for d in datasets if d.type == KMS_KEY)
    resolved: list[Dataset] = []
    warnings: list[str] = []
    for dataset in datasets:
        ref = dataset.kms_key
        if dataset.type == KMS_KEY or not ref:
            resolved.append(dataset)
            continue
        arn, aws_managed = _resolve(ref, dataset.region, index, account_id=account_id, partition=partition)
        details = dict(dataset.details)
        if arn != ref:
            details["kms_key_reference"] = ref
        if aws_managed:
            details["kms_key_manager"] = AWS_MANAGED
            arn = None
        elif arn is None:
            details["kms_key_unresolved"] = ref
            warnings.append(
                f"{dataset.type} {dataset.name} ({dataset.region}): KMS key {ref!r} could not be resolved "
                "to a key ARN (was kms collected in that region?); reading it may also need kms:Decrypt "
                "on that key"
            )
        resolved.append(replace(dataset, kms_key=arn, details=details))
    return tuple(resolved), tuple(warnings)


def _resolve(
    ref: str, region: str, index: _KeyIndex, *, account_id: str, partition: str
) -> tuple[str | None, bool]:
    """(key ARN or None, whether the key is AWS managed)."""
    if ref.startswith("arn:"):
        parts = ref.split(":", 5)
        if len(parts) < 6:
            return None, False
        region, ref_account, resource = parts[3], parts[4], parts[5]
        if resource.startswith("key/"):
            key = index.by_arn.get(ref)
            return ref, key is not None and key.key_manager == AWS_MANAGED
        if ref_account != account_id:
            return None, False  # another account's alias: its target is not visible from here
        ref = resource  # alias/NAME, resolved below in the ARN's region
    if ref.startswith(AWS_ALIAS_PREFIX):
        key = index.by_alias.get((region, ref))
        return (key.arn if key else None), True
    if ref.startswith("alias/"):
        key = index.by_alias.get((region, ref))
        if key is None:
            return None, False
        return key.arn, key.key_manager == AWS_MANAGED
    key = index.by_id.get((region, ref))
    if key is not None:
        return key.arn, key.key_manager == AWS_MANAGED
    return f"arn:{partition}:kms:{region}:{account_id}:key/{ref}", False
