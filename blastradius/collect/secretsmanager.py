"""Secrets Manager: secret metadata (name, KMS key, tags, description, rotation) and resource policies.

GetSecretValue is never called: blastradius describes what a key could read, it does not read it.
"""

from __future__ import annotations

import json
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
from blastradius.model import SECRET, Dataset

SERVICE = "secretsmanager"


def get_secretsmanager(scope: Scope, recorder: Recorder) -> list[Raw] | None:
    """ListSecrets (including those scheduled for deletion: they can be restored), then per secret
    GetResourcePolicy."""
    sm = scope.client(SERVICE)
    secrets = recorder.paginate(sm, "list_secrets", "SecretList", IncludePlannedDeletion=True)
    if secrets is None:
        return None

    def details(secret: Mapping[str, Any]) -> Raw:
        record: Raw = {"Secret": dict(secret), "Region": scope.region}
        arn = secret["ARN"]
        recorder.fetch(
            record,
            "ResourcePolicy",
            "GetResourcePolicy",
            sm.get_resource_policy,
            resource=arn,
            absent=("ResourceNotFoundException",),
            SecretId=arn,
        )
        return record

    return for_each(secrets, details, scope.max_workers)


def normalise_secret(raw: Mapping[str, Any], *, account_id: str) -> Dataset:
    """One raw secret record (see ``get_secretsmanager``) -> ``Dataset``.

    Without ``KmsKeyId`` the secret uses the AWS managed key aws/secretsmanager (``kms_key`` None).
    """
    secret = raw["Secret"]
    policy_text = (raw.get("ResourcePolicy") or {}).get("ResourcePolicy")
    details = {
        "created": iso(secret.get("CreatedDate")),
        "last_changed": iso(secret.get("LastChangedDate")),
        "last_accessed": iso(secret.get("LastAccessedDate")),
        "rotation_enabled": bool(secret.get("RotationEnabled")),
        "owning_service": secret.get("OwningService"),
        "primary_region": secret.get("PrimaryRegion"),
        "deleted_date": iso(secret.get("DeletedDate")),
    }
    return Dataset(
        arn=secret["ARN"],
        type=SECRET,
        name=secret["Name"],
        account_id=account_id,
        region=raw["Region"],
        resource_policy=json.loads(policy_text) if policy_text else None,
        kms_key=secret.get("KmsKeyId"),
        tags=tags_dict(secret.get("Tags")),
        description=secret.get("Description") or None,
        details={**{k: v for k, v in details.items() if v is not None}, **not_collected(raw)},
    )


def normalise_secretsmanager(raw: Sequence[Mapping[str, Any]], *, account_id: str) -> tuple[Dataset, ...]:
    """Raw secret records -> datasets, sorted by ARN."""
    return tuple(sorted((normalise_secret(r, account_id=account_id) for r in raw), key=lambda d: d.arn))


def collect_secretsmanager(scope: Scope) -> ServiceResult:
    """Get and normalise the secrets of one region."""
    recorder = Recorder(SERVICE, scope.region)
    raw = get_secretsmanager(scope, recorder)
    datasets = None if raw is None else normalise_secretsmanager(raw, account_id=scope.account_id)
    return recorder.result(datasets, listing_operation="ListSecrets")
