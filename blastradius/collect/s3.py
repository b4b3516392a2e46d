"""S3: every bucket of the account with its region, policy, ACL, object ownership, public access block
(the bucket's and the account's), default encryption, tags and a bounded sample of object keys.

Buckets are global: ListBuckets runs once and each bucket is attributed to its own region (all
buckets are kept, whatever regions were asked for, because a leaked key reaches them all). The
per-bucket calls go to a client in the bucket's region.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from blastradius.collect.base import (
    FAILED_KEY,
    GLOBAL_REGION,
    Raw,
    Recorder,
    Scope,
    ServiceResult,
    for_each,
    iso,
    not_collected,
    tags_dict,
)
from blastradius.model import S3_BUCKET, Dataset

SERVICE = "s3"
CONTROL = "s3control"
ACCOUNT_PAB_OPERATION = "GetPublicAccessBlock (account)"
OBJECT_SAMPLE_SIZE = 200
UNKNOWN_REGION = "unknown"
_KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")


def bucket_arn(name: str, partition: str = "aws") -> str:
    """``arn:aws:s3:::NAME``."""
    return f"arn:{partition}:s3:::{name}"


def bucket_region(location: Mapping[str, Any] | None) -> str:
    """GetBucketLocation's answer as a region name (None means us-east-1, ``EU`` means eu-west-1)."""
    constraint = (location or {}).get("LocationConstraint")
    if not constraint:
        return "us-east-1"
    return "eu-west-1" if constraint == "EU" else str(constraint)


def get_s3(scope: Scope, recorder: Recorder, *, sample_size: int = OBJECT_SAMPLE_SIZE) -> list[Raw] | None:
    """ListBuckets, then per bucket its location, policy, public access block, encryption, tags and a
    sample of object keys. None when the listing itself failed."""
    # No MaxBuckets: without it ListBuckets returns every bucket (and moto truncates silently with it).
    buckets = recorder.paginate(scope.client(SERVICE), "list_buckets", "Buckets")
    if buckets is None:
        return None
    account_pab = _get_account_public_access_block(scope, recorder) if buckets else {}
    records = for_each(buckets, lambda b: _get_bucket(scope, recorder, b, sample_size), scope.max_workers)
    for record in records:
        if account_pab is None:
            record.setdefault(FAILED_KEY, []).append(ACCOUNT_PAB_OPERATION)
        else:
            record["AccountPublicAccessBlock"] = account_pab.get("PublicAccessBlockConfiguration")
    return records


def _get_account_public_access_block(scope: Scope, recorder: Recorder) -> Raw | None:
    """The account-level Block Public Access settings (s3control), ``{}`` when none are set, None
    after a gap. S3 applies the most restrictive combination of these and the bucket's settings
    (*Blocking public access to your Amazon S3 storage*)."""
    control = scope.client(CONTROL)
    ok, response = recorder.call(
        ACCOUNT_PAB_OPERATION,
        control.get_public_access_block,
        resource=f"account {scope.account_id}",
        region=GLOBAL_REGION,
        absent=("NoSuchPublicAccessBlockConfiguration",),
        AccountId=scope.account_id,
    )
    if not ok:
        return None
    return dict(response or {})


def _get_bucket(scope: Scope, recorder: Recorder, bucket: Mapping[str, Any], sample_size: int) -> Raw:
    name = bucket["Name"]
    arn = bucket_arn(name, scope.partition)
    record: Raw = {"Bucket": dict(bucket)}
    if bucket.get("BucketRegion"):
        # Recent ListBuckets responses carry the region; no GetBucketLocation needed.
        record["Region"] = bucket["BucketRegion"]
    else:
        home = scope.client(SERVICE)
        ok, location = recorder.call(
            "GetBucketLocation", home.get_bucket_location, resource=arn, region=GLOBAL_REGION, Bucket=name
        )
        if ok:
            record["Region"] = bucket_region(location)
        else:
            record.setdefault(FAILED_KEY, []).append("GetBucketLocation")
    region = record.get("Region")
    # Unknown region: the home-region client still works, botocore follows S3's region redirects.
    s3 = scope.client(SERVICE, region) if region else scope.client(SERVICE)
    where = {"resource": arn, "region": region or UNKNOWN_REGION}
    recorder.fetch(
        record,
        "Policy",
        "GetBucketPolicy",
        s3.get_bucket_policy,
        absent=("NoSuchBucketPolicy",),
        Bucket=name,
        **where,
    )
    recorder.fetch(
        record,
        "PublicAccessBlock",
        "GetPublicAccessBlock",
        s3.get_public_access_block,
        absent=("NoSuchPublicAccessBlockConfiguration",),
        Bucket=name,
        **where,
    )
    recorder.fetch(record, "Acl", "GetBucketAcl", s3.get_bucket_acl, Bucket=name, **where)
    recorder.fetch(
        record,
        "OwnershipControls",
        "GetBucketOwnershipControls",
        s3.get_bucket_ownership_controls,
        absent=("OwnershipControlsNotFoundError",),
        Bucket=name,
        **where,
    )
    recorder.fetch(
        record,
        "Encryption",
        "GetBucketEncryption",
        s3.get_bucket_encryption,
        absent=("ServerSideEncryptionConfigurationNotFoundError",),
        Bucket=name,
        **where,
    )
    recorder.fetch(
        record,
        "Tagging",
        "GetBucketTagging",
        s3.get_bucket_tagging,
        absent=("NoSuchTagSet",),
        Bucket=name,
        **where,
    )
    recorder.fetch(
        record, "Objects", "ListObjectsV2", s3.list_objects_v2, Bucket=name, MaxKeys=sample_size, **where
    )
    return record


def _encryption(raw: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, str | None]:
    """(display details, KMS key reference) of a GetBucketEncryption response."""
    if raw is None:
        return None, None
    for rule in raw.get("ServerSideEncryptionConfiguration", {}).get("Rules", []):
        default = rule.get("ApplyServerSideEncryptionByDefault")
        if not default:
            continue
        algorithm = default.get("SSEAlgorithm")
        # SSE-KMS without a key id uses the AWS managed key aws/s3: no extra key permission is needed.
        key = default.get("KMSMasterKeyID") if algorithm in _KMS_ALGORITHMS else None
        details = {"algorithm": algorithm, "kms_key": key, "bucket_key": rule.get("BucketKeyEnabled")}
        return details, key
    return None, None


def _acl(raw: Mapping[str, Any]) -> dict[str, Any]:
    """GetBucketAcl -> ``{"owner": canonical id, "grants": [{"grantee": {...}, "permission": ...}]}``."""
    grants = []
    for grant in raw.get("Grants", []):
        grantee = grant.get("Grantee") or {}
        kept = {
            key.lower(): str(grantee[key])
            for key in ("Type", "ID", "URI", "EmailAddress")
            if grantee.get(key) is not None
        }
        grants.append({"grantee": kept, "permission": str(grant.get("Permission", ""))})
    return {"owner": (raw.get("Owner") or {}).get("ID"), "grants": grants}


def _object_ownership(raw: Mapping[str, Any] | None) -> str:
    """The bucket's Object Ownership rule. No ownership controls means ``ObjectWriter``, S3's behaviour
    for buckets created before April 2023 that never set one (*Controlling ownership of objects and
    disabling ACLs for your bucket*)."""
    for rule in ((raw or {}).get("OwnershipControls") or {}).get("Rules", []):
        if rule.get("ObjectOwnership"):
            return str(rule["ObjectOwnership"])
    return "ObjectWriter"


def normalise_bucket(raw: Mapping[str, Any], *, account_id: str, partition: str = "aws") -> Dataset:
    """One raw bucket record (see ``get_s3``) -> ``Dataset``."""
    bucket = raw["Bucket"]
    name = bucket["Name"]
    details: dict[str, Any] = {"created": iso(bucket.get("CreationDate"))}
    if "PublicAccessBlock" in raw:
        pab = raw["PublicAccessBlock"]
        details["public_access_block"] = dict(pab["PublicAccessBlockConfiguration"]) if pab else None
    if "AccountPublicAccessBlock" in raw:
        account_pab = raw["AccountPublicAccessBlock"]
        details["account_public_access_block"] = dict(account_pab) if account_pab else None
    if "Acl" in raw:
        details["acl"] = _acl(raw["Acl"])
    if "OwnershipControls" in raw:
        details["object_ownership"] = _object_ownership(raw["OwnershipControls"])
    encryption, kms_key = _encryption(raw.get("Encryption"))
    if "Encryption" in raw:
        details["encryption"] = encryption
    sample: tuple[str, ...] = ()
    if "Objects" in raw:
        objects = raw["Objects"]
        sample = tuple(o["Key"] for o in objects.get("Contents", []))
        details["objects_sampled"] = len(sample)
        details["objects_truncated"] = bool(objects.get("IsTruncated"))
    policy = raw.get("Policy")
    return Dataset(
        arn=bucket_arn(name, partition),
        type=S3_BUCKET,
        name=name,
        account_id=account_id,
        region=raw.get("Region") or UNKNOWN_REGION,
        resource_policy=json.loads(policy["Policy"]) if policy else None,
        kms_key=kms_key,
        tags=tags_dict((raw.get("Tagging") or {}).get("TagSet")),
        object_keys_sample=sample,
        details={**details, **not_collected(raw)},
    )


def normalise_s3(
    raw: Sequence[Mapping[str, Any]], *, account_id: str, partition: str = "aws"
) -> tuple[Dataset, ...]:
    """Raw bucket records -> datasets, sorted by ARN."""
    datasets = (normalise_bucket(r, account_id=account_id, partition=partition) for r in raw)
    return tuple(sorted(datasets, key=lambda d: d.arn))


def collect_s3(scope: Scope) -> ServiceResult:
    """Get and normalise every bucket (global listing: runs once)."""
    recorder = Recorder(SERVICE, GLOBAL_REGION)
    raw = get_s3(scope, recorder)
    datasets = (
        None if raw is None else normalise_s3(raw, account_id=scope.account_id, partition=scope.partition)
    )
    return recorder.result(datasets, listing_operation="ListBuckets")


# Notification sizing: objects in a bucket, from a bounded ListObjectsV2 listing (keys only, never
# object contents). 1,000 keys per page (the API maximum), so the default bound costs at most 10 calls.
COUNT_BOUND = 10_000


def count_objects(
    client: Any, bucket: str, *, bound: int = COUNT_BOUND, prefix: str = ""
) -> tuple[int, bool]:
    """(objects counted under ``prefix``, whether the listing stopped at ``bound`` before the end).
    Errors propagate."""
    count = 0
    kwargs: dict[str, Any] = {"Bucket": bucket, "MaxKeys": min(1000, bound), "Prefix": prefix}
    while True:
        page = client.list_objects_v2(**kwargs)
        count += int(page.get("KeyCount", len(page.get("Contents", []))))
        if not page.get("IsTruncated"):
            return count, False
        if count >= bound:
            return count, True
        kwargs["ContinuationToken"] = page["NextContinuationToken"]
