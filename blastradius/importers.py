"""Load a snapshot file: a blastradius snapshot, or raw ``aws iam get-account-authorization-details``
output (then only IAM is known, and the snapshot says so).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from blastradius.collect.iam import GAAD_LISTS, normalise_iam
from blastradius.collect.runner import DATA_SERVICES, NOT_COLLECTED, OK
from blastradius.errors import SnapshotError
from blastradius.jsonio import gc_paused
from blastradius.model import Snapshot, load_json_file

GAAD_SOURCE = "gaad"
GAAD_WARNING = (
    "imported from `aws iam get-account-authorization-details` output: only IAM is known. Datasets "
    "(S3, DynamoDB, Secrets Manager, SSM, KMS) were not collected, so no data store can be shown as "
    "reachable; nor was compute (Lambda, EC2, CloudFormation, CodeBuild, SageMaker, ECS, Glue); access "
    "keys and login profiles are not in that output either"
)


def load_snapshot(path: Path) -> Snapshot:
    """Read a blastradius snapshot or GAAD output; anything else is a ``SnapshotError`` naming the file."""
    # One pause for parsing and building: with the collector back on in between, its first pass would
    # scan the whole parsed document, which is garbage a moment later.
    with gc_paused():
        data = load_json_file(path)
        if isinstance(data, dict) and "schema" in data:
            snapshot = Snapshot.from_json(data, source=str(path))
            del data  # freed while the collector is still paused
            return snapshot
    if is_gaad(data):
        return snapshot_from_gaad(data, source=str(path), collected_at=_mtime(path))
    found = (
        "an object without a 'schema' field" if isinstance(data, dict) else f"a JSON {type(data).__name__}"
    )
    raise SnapshotError(
        f"{path}: neither a blastradius snapshot nor `aws iam get-account-authorization-details` output "
        f"(found {found}, with no UserDetailList/RoleDetailList/Policies)",
        hint="Create a snapshot with `blastradius collect --output FILE`.",
    )


def is_gaad(data: object) -> bool:
    """Whether ``data`` is GAAD output: one object, or a list of pages (raw API pagination)."""
    pages = data if isinstance(data, list) else [data]
    return bool(pages) and all(isinstance(p, dict) and any(k in p for k in GAAD_LISTS) for p in pages)


def snapshot_from_gaad(data: object, *, source: str, collected_at: str) -> Snapshot:
    """Normalise GAAD output with the IAM collector's normaliser into a snapshot with source ``gaad``."""
    pages: list[object] = data if isinstance(data, list) else [data]
    merged: dict[str, list[Any]] = {key: [] for key in GAAD_LISTS}
    for i, page in enumerate(pages):
        if not isinstance(page, dict):
            raise SnapshotError(f"{source}: page [{i}] must be a JSON object, found {type(page).__name__}")
        for key in GAAD_LISTS:
            items = page.get(key, [])
            if not isinstance(items, list):
                where = f"[{i}].{key}" if isinstance(data, list) else key
                raise SnapshotError(f"{source}: field {where} must be a list, found {type(items).__name__}")
            merged[key].extend(items)
    try:
        iam = normalise_iam(merged)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise SnapshotError(
            f"{source}: malformed get-account-authorization-details output ({type(e).__name__}: {e})",
            hint="Produce it again with `aws iam get-account-authorization-details --output json > FILE`.",
        ) from e
    arns = [u.arn for u in iam.users] + [r.arn for r in iam.roles] + [g.arn for g in iam.groups]
    arns += [p.arn for p in iam.managed_policies if not p.aws_managed]
    account_id, partition = _account_of(arns, source)
    return Snapshot(
        account_id=account_id,
        collected_at=collected_at,
        partition=partition,
        source=GAAD_SOURCE,
        users=iam.users,
        groups=iam.groups,
        roles=iam.roles,
        managed_policies=iam.managed_policies,
        instance_profiles=iam.instance_profiles,
        services={"iam": OK, **dict.fromkeys(DATA_SERVICES, NOT_COLLECTED)},
        warnings=(GAAD_WARNING,),
    )


def _account_of(arns: list[str], source: str) -> tuple[str, str]:
    """(account id, partition) shared by the ARNs; several accounts means the file is not one account."""
    found = {(parts[4], parts[1]) for arn in arns if len(parts := arn.split(":")) > 5 and parts[4].isdigit()}
    if not found:
        raise SnapshotError(
            f"{source}: cannot tell the account id: no user, group, role or customer managed policy ARN",
        )
    if len(found) > 1:
        accounts = ", ".join(sorted(a for a, _ in found))
        raise SnapshotError(
            f"{source}: ARNs of several accounts ({accounts}); a snapshot describes one account"
        )
    return found.pop()


def _mtime(path: Path) -> str:
    """When the file was written: the best "collected at" for imported output."""
    stamp = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    return stamp.isoformat(timespec="seconds").replace("+00:00", "Z")
