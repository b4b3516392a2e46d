"""S3 bucket ACLs and Block Public Access, turned into the bucket policy the engine should evaluate.

Two S3 features change who can reach a bucket beyond what its bucket policy says:

* **ACLs** (*Access control list (ACL) overview*): a bucket ACL grant is a resource-based permission
  like a bucket policy statement. Its "Mapping of ACL permissions and access policy permissions" gives the
  equivalent actions: ``READ`` → s3:ListBucket, s3:ListBucketVersions, s3:ListBucketMultipartUploads;
  ``WRITE`` → s3:PutObject (and deleting objects); ``READ_ACP`` → s3:GetBucketAcl; ``WRITE_ACP`` →
  s3:PutBucketAcl; ``FULL_CONTROL`` → all of them. Grantees: the ``AllUsers`` group is anyone (``"*"``), the
  ``AuthenticatedUsers`` group any AWS principal of any account (``{"AWS": "*"}``), a canonical user id
  an account. ACLs are disabled when Object Ownership is ``BucketOwnerEnforced`` (*Controlling ownership
  of objects and disabling ACLs for your bucket*), and public grants (``AllUsers``/``AuthenticatedUsers``)
  are ignored when ``IgnorePublicAcls`` is on.
* **RestrictPublicBuckets** (*Blocking public access to your Amazon S3 storage*): when the bucket policy
  is public, only AWS service principals and principals of the bucket owner's account keep the access it
  grants — "public and cross-account access within any public bucket policy, including non-public
  delegation to specific accounts, is blocked".

BlockPublicAcls and BlockPublicPolicy only refuse *new* public ACLs and policies ("Enabling this setting
doesn't affect existing policies or ACLs"), so they change nothing about existing access. Block Public Access
settings combine the bucket's and the account's, the most restrictive winning. A
setting or ACL that could not be collected is taken as absent: the answer may then be wider than real,
never narrower. ``effective_resource_policy`` is the single entry point the graph uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from blastradius.model import S3_BUCKET, Dataset

__all__ = [
    "ALL_USERS",
    "AUTHENTICATED_USERS",
    "BlockPublicAccess",
    "acl_statements",
    "block_public_access",
    "effective_resource_policy",
    "is_public_policy",
    "restrict_public_policy",
]

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
BUCKET_OWNER_ENFORCED = "BucketOwnerEnforced"

_BUCKET = "bucket"
_OBJECT = "object"
# "Mapping of ACL permissions and access policy permissions" (bucket ACLs): permission -> (resource, actions).
_ACL_ACTIONS: Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "READ": ((_BUCKET, ("s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads")),),
    "WRITE": ((_OBJECT, ("s3:PutObject", "s3:DeleteObject")),),
    "READ_ACP": ((_BUCKET, ("s3:GetBucketAcl",)),),
    "WRITE_ACP": ((_BUCKET, ("s3:PutBucketAcl",)),),
}
_ACL_ORDER = ("READ", "WRITE", "READ_ACP", "WRITE_ACP")

# Condition keys whose fixed values make a statement non-public ("The meaning of 'public'"). Any use of one
# counts, whatever its operator or values: calling a policy public when AWS would not would narrow the
# answer, so the doubt goes to "not public".
_FIXING_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:SourceIp",
        "aws:SourceArn",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:SourceOwner",
        "aws:SourceAccount",
        "aws:SourceOrgID",
        "aws:SourceOrgPaths",
        "aws:userid",
        "aws:PrincipalArn",
        "aws:PrincipalAccount",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
        "s3:DataAccessPointArn",
        "s3:DataAccessPointAccount",
    )
)
_RESTRICTED_SID = " (RestrictPublicBuckets: bucket owner account only)"


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockPublicAccess:
    """The Block Public Access settings in force for one bucket (bucket OR account setting)."""

    ignore_public_acls: bool = False
    restrict_public_buckets: bool = False


def block_public_access(details: Mapping[str, Any]) -> BlockPublicAccess:
    """The effective settings from a bucket's ``details`` (``public_access_block`` and
    ``account_public_access_block``, as the S3 collector records them). Unknown counts as off."""
    bucket = _mapping(details.get("public_access_block"))
    account = _mapping(details.get("account_public_access_block"))
    return BlockPublicAccess(
        ignore_public_acls=bool(bucket.get("IgnorePublicAcls") or account.get("IgnorePublicAcls")),
        restrict_public_buckets=bool(
            bucket.get("RestrictPublicBuckets") or account.get("RestrictPublicBuckets")
        ),
    )


def _mapping(value: object) -> Mapping[str, Any]:
    """``details`` are display data: anything but a mapping (None, a hand-written flag) is "not known"."""
    return value if isinstance(value, Mapping) else {}


def acl_statements(dataset: Dataset, settings: BlockPublicAccess | None = None) -> list[dict[str, Any]]:
    """The bucket ACL's grants as Allow statements, after Object Ownership and IgnorePublicAcls.

    Grants to the bucket owner's own canonical id are left out: naming the owner account only delegates
    to its IAM policies (*Policy evaluation logic*), which the engine evaluates anyway.
    """
    acl = dataset.details.get("acl")
    if not isinstance(acl, Mapping) or dataset.details.get("object_ownership") == BUCKET_OWNER_ENFORCED:
        return []
    settings = settings or block_public_access(dataset.details)
    owner = acl.get("owner")
    by_grantee: dict[tuple[str, str], set[str]] = {}
    principals: dict[tuple[str, str], str | dict[str, str]] = {}
    grants = acl.get("grants")
    for grant in (_mapping(g) for g in (grants if isinstance(grants, list) else ())):
        grantee = _mapping(grant.get("grantee"))
        permission = str(grant.get("permission", ""))
        principal = _grantee_principal(grantee, owner, dataset.account_id, settings)
        if principal is None:
            continue
        label = str(grantee.get("uri") or grantee.get("id") or grantee.get("emailaddress") or "")
        label = label.rsplit("/", 1)[-1]
        key = (label, repr(principal))
        principals[key] = principal
        permissions = _ACL_ORDER if permission == "FULL_CONTROL" else (permission,)
        by_grantee.setdefault(key, set()).update(p for p in permissions if p in _ACL_ACTIONS)
    statements: list[dict[str, Any]] = []
    for key in sorted(by_grantee):
        for permission in (p for p in _ACL_ORDER if p in by_grantee[key]):
            for kind, actions in _ACL_ACTIONS[permission]:
                statements.append(
                    {
                        "Sid": f"bucket ACL: {permission} to {key[0]}",
                        "Effect": "Allow",
                        "Principal": principals[key],
                        "Action": list(actions),
                        "Resource": dataset.arn if kind == _BUCKET else f"{dataset.arn}/*",
                    }
                )
    return statements


def _grantee_principal(
    grantee: Mapping[str, Any], owner: object, account_id: str, settings: BlockPublicAccess
) -> str | dict[str, str] | None:
    """The policy ``Principal`` equivalent to an ACL grantee; None when the grant changes nothing."""
    kind = grantee.get("type")
    if kind == "Group":
        uri = grantee.get("uri")
        if uri in (ALL_USERS, AUTHENTICATED_USERS):
            if settings.ignore_public_acls:
                return None
            return "*" if uri == ALL_USERS else {"AWS": "*"}
        if uri == LOG_DELIVERY:
            return {"Service": "logging.s3.amazonaws.com"}
        return None  # no other predefined group exists
    if kind == "CanonicalUser":
        if grantee.get("id") == owner:
            return None
        return {"CanonicalUser": str(grantee.get("id"))}
    if kind == "AmazonCustomerByEmail":
        # An e-mail grantee is an account S3 resolved when the grant was made; which one is unknown here.
        return {"CanonicalUser": f"email:{grantee.get('emailaddress')}"}
    return None


def _statements(document: Mapping[str, Any]) -> list[Any]:
    raw = document.get("Statement", [])
    return [raw] if isinstance(raw, Mapping) else list(raw) if isinstance(raw, list) else []


def _values(value: object) -> Sequence[object]:
    return value if isinstance(value, list) else [value]


def _wildcard_principal(statement: Mapping[str, Any]) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any(v == "*" for v in _values(principal.get("AWS")))
    return False


def _condition_keys(statement: Mapping[str, Any]) -> Iterable[str]:
    condition = statement.get("Condition")
    if not isinstance(condition, Mapping):
        return ()
    return (str(k).lower() for block in condition.values() if isinstance(block, Mapping) for k in block)


def is_public_statement(statement: Mapping[str, Any]) -> bool:
    """An Allow to a wildcard principal that no fixing condition key narrows ("The meaning of 'public'")."""
    return (
        statement.get("Effect") == "Allow"
        and _wildcard_principal(statement)
        and not any(k in _FIXING_KEYS for k in _condition_keys(statement))
    )


def is_public_policy(document: Mapping[str, Any] | None) -> bool:
    """Whether S3 would consider this bucket policy public (one public statement is enough)."""
    return document is not None and any(
        isinstance(st, Mapping) and is_public_statement(st) for st in _statements(document)
    )


def restrict_public_policy(document: Mapping[str, Any], owner_account: str) -> dict[str, Any]:
    """The policy as RestrictPublicBuckets enforces it: every Allow holds only for principals of the
    owner account (``aws:PrincipalAccount``); Deny statements are unchanged.

    An Allow that already requires another account under ``StringEquals`` can grant no one any more and
    is dropped. AWS service principals keep their access in AWS; they are not modelled here (a leaked
    key is never one).
    """
    statements: list[dict[str, Any]] = []
    for st in _statements(document):
        if not isinstance(st, Mapping) or st.get("Effect") != "Allow":
            statements.append(dict(st) if isinstance(st, Mapping) else st)
            continue
        raw_condition = st.get("Condition")
        if raw_condition is not None and not isinstance(raw_condition, Mapping):
            statements.append(dict(st))  # malformed: left for the parser to report
            continue
        condition = {
            op: dict(block) for op, block in (raw_condition or {}).items() if isinstance(block, Mapping)
        }
        equals = condition.setdefault("StringEquals", {})
        existing = next((k for k in equals if str(k).lower() == "aws:principalaccount"), None)
        if existing is not None:
            if owner_account not in {str(v) for v in _values(equals[existing])}:
                continue
            del equals[existing]
        equals["aws:PrincipalAccount"] = owner_account
        sid = f"{st.get('Sid') or ''}{_RESTRICTED_SID}".strip()
        statements.append({**st, "Sid": sid, "Condition": condition})
    return {**document, "Statement": statements}


def effective_resource_policy(dataset: Dataset) -> dict[str, Any] | None:
    """The resource policy the engine should evaluate for ``dataset``: for an S3 bucket, its bucket
    policy under RestrictPublicBuckets plus its ACL grants as statements; anything else unchanged.

    Returns the dataset's own document (not a copy) when nothing changes.
    """
    policy = dataset.resource_policy
    if dataset.type != S3_BUCKET:
        return policy
    if policy is None and not isinstance(dataset.details.get("acl"), Mapping):
        return None  # no policy to restrict, no ACL grant to add: most buckets of a large account
    settings = block_public_access(dataset.details)
    if policy is not None and settings.restrict_public_buckets and is_public_policy(policy):
        policy = restrict_public_policy(policy, dataset.account_id)
    extra = acl_statements(dataset, settings)
    if not extra:
        return policy
    if policy is None:
        return {"Version": "2012-10-17", "Statement": extra}
    if not isinstance(policy.get("Statement"), Mapping | list):
        return policy  # malformed: the parser reports it; its ACL grants are still in details
    return {**policy, "Statement": [*_statements(policy), *extra]}
