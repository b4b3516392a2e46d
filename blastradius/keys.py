"""Access key ids: parsing, the offline account decode, and finding who owns a leaked key.

Three ways to identify a key, from least to most invasive:

- ``identify_offline``: look the key up in a snapshot's users.
- ``identify_with_auditor``: the responder's own credentials ask sts:GetAccessKeyInfo (which account)
  and iam:GetAccessKeyLastUsed (which user, last use); the leaked secret is not needed.
- ``identify_with_secret``: the leaked credentials call sts:GetCallerIdentity, and nothing else.

The secret access key and session token are wrapped in ``Secret`` as soon as they enter, so no repr,
log line or exception message can show them.
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, NoReturn

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from blastradius import aws
from blastradius.aws import CallerIdentity, error_code, error_message, parse_caller_identity
from blastradius.collect.base import iso, present
from blastradius.errors import IdentifyError, KeyFormatError
from blastradius.model import Snapshot

LONG_TERM: Final = "long-term"
SESSION: Final = "session"
KEY_PREFIXES: Final = {"AKIA": LONG_TERM, "ASIA": SESSION}
# Other documented unique-id prefixes people paste by mistake.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids
OTHER_PREFIXES: Final = {
    "AIDA": "an IAM user id",
    "AROA": "an IAM role id",
    "AGPA": "an IAM group id",
    "ANPA": "a managed policy id",
    "ANVA": "a managed policy version id",
    "AIPA": "an EC2 instance profile id",
    "APKA": "a CloudFront public key id",
    "ASCA": "a certificate id",
    "ABIA": "an STS service bearer token",
    "ACCA": "a context-specific credential",
}
KEY_ID_LENGTH: Final = 20
_BASE32 = re.compile(r"^[A-Z2-7]+$")

SESSION_OWNER_UNKNOWN = (
    "session key of account {account}; owner role unknown without the secret or CloudTrail"
)


class Secret:
    """A credential that never shows itself: ``repr``/``str`` are masked, pickling is refused.

    ``reveal()`` is the only way to the value, used at the single point where boto3 needs it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The wrapped value (pass it straight to boto3; never format it)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedKey:
    """A syntactically valid access key id. ``account_id`` is the offline decode, None for
    old-generation ids that do not encode it."""

    access_key_id: str
    kind: str  # long-term | session
    prefix: str
    account_id: str | None

    @property
    def masked(self) -> str:
        """``AKIA…WXYZ``, for messages and progress lines."""
        return f"{self.access_key_id[:4]}…{self.access_key_id[-4:]}"


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyOwner:
    """Who a leaked key belongs to, and how we know (``identified_by``)."""

    access_key_id: str
    account_id: str
    kind: str  # long-term | session
    identified_by: str  # snapshot | sts:GetAccessKeyInfo+iam:GetAccessKeyLastUsed | iam:ListAccessKeys | ...
    principal_arn: str | None = None
    user_name: str | None = None
    status: str | None = None  # Active | Inactive
    created: str | None = None
    last_used_date: str | None = None
    last_used_service: str | None = None
    last_used_region: str | None = None
    note: str | None = None


def _describe_bad_input(text: str) -> str:
    # Never echo the input whole: someone may paste the *secret* key into --key by mistake.
    head = text[:4]
    return f"{head!r}… ({len(text)} characters)" if len(text) > 4 else repr(text)


def parse_access_key_id(text: str) -> ParsedKey:
    """Validate an access key id (AKIA long-term or ASIA session, 20 characters of A-Z and 2-7)."""
    key = text.strip()
    shown = _describe_bad_input(key)
    prefix = key[:4]
    if prefix not in KEY_PREFIXES:
        if prefix in OTHER_PREFIXES:
            raise KeyFormatError(
                f"{shown} is {OTHER_PREFIXES[prefix]}, not an access key id",
                hint="An access key id starts with AKIA (long-term) or ASIA (temporary session).",
            )
        if len(key) == 40:
            raise KeyFormatError(
                f"{shown} looks like a secret access key, not an access key id",
                hint="Pass the key *id* (AKIA…/ASIA…, 20 characters); the secret is never needed for --key.",
            )
        raise KeyFormatError(
            f"{shown} is not an AWS access key id: it must start with AKIA (long-term) or ASIA (session)",
            hint="Access key ids look like AKIAIOSFODNN7EXAMPLE.",
        )
    if len(key) != KEY_ID_LENGTH:
        raise KeyFormatError(
            f"{shown} has {len(key)} characters; an access key id has {KEY_ID_LENGTH}",
            hint="Check that the key id was copied completely.",
        )
    if not _BASE32.match(key):
        raise KeyFormatError(
            f"{shown} contains characters outside A-Z and 2-7, which access key ids never use",
            hint="Check for lower case letters, 0, 1, 8 or 9 (O and I are letters in key ids).",
        )
    return ParsedKey(
        access_key_id=key, kind=KEY_PREFIXES[prefix], prefix=prefix, account_id=_decode_account(key)
    )


def _decode_account(key_id: str) -> str | None:
    # The 16 characters after the prefix are base32 (80 bits). In current-generation ids the first
    # bit is 1 and the next 40 bits hold the account id shifted left by one, hence the mask and the
    # shift by 7 over the first 6 bytes. Old-generation ids (AKIAI…, AKIAJ…: first bit 0) do not
    # encode the account. Aidan Steele, https://awsteele.com/blog/2020/09/26/aws-access-key-format.html;
    # Tal Be'ery's correction; WithSecure, "A bitwise analysis of AWS access key identifiers".
    decoded = base64.b32decode(key_id[4:])
    if not decoded[0] & 0x80:
        return None
    value = (int.from_bytes(decoded[0:6], "big") & 0x7FFFFFFFFF80) >> 7
    return f"{value:012d}"


def account_from_key_id(key_id: str) -> str:
    """The account id encoded in an access key id, decoded offline (no AWS call)."""
    parsed = parse_access_key_id(key_id)
    if parsed.account_id is None:
        raise IdentifyError(
            f"{parsed.masked} is an old-generation key id, which does not encode its account",
            hint="Ask AWS instead: `aws sts get-access-key-info --access-key-id KEY` (any credentials work).",
        )
    return parsed.account_id


def identify_offline(snapshot: Snapshot, key_id: str) -> KeyOwner:
    """Find the key among a snapshot's users' access keys."""
    parsed = parse_access_key_id(key_id)
    for user in snapshot.users:
        for key in user.access_keys:
            if key.access_key_id == parsed.access_key_id:
                return KeyOwner(
                    access_key_id=key.access_key_id,
                    account_id=snapshot.account_id,
                    kind=parsed.kind,
                    identified_by="snapshot",
                    principal_arn=user.arn,
                    user_name=user.name,
                    status=key.status,
                    created=key.created,
                    last_used_date=key.last_used_date,
                    last_used_service=key.last_used_service,
                    last_used_region=key.last_used_region,
                )
    # A merged snapshot (several accounts) lists them all in ``accounts``.
    if parsed.account_id is not None and parsed.account_id not in (snapshot.account_id, *snapshot.accounts):
        _other_account(parsed, parsed.account_id, snapshot.account_id, "the snapshot's")
    if parsed.account_id is not None and parsed.account_id != snapshot.account_id and parsed.kind == SESSION:
        return _session_owner(parsed, parsed.account_id, "snapshot (offline decode)")
    if parsed.kind == SESSION:
        return _session_owner(parsed, snapshot.account_id, "snapshot (offline decode)")
    hint = "Collect a fresh snapshot (the key may be newer than it), or name the principal explicitly."
    if snapshot.source == "gaad":
        hint = (
            "get-account-authorization-details output lists no access keys: collect a snapshot "
            "(`blastradius collect`), or name the principal explicitly."
        )
    elif snapshot.services.get("iam") not in (None, "ok"):
        hint = (
            f"IAM was only partly collected ({snapshot.services.get('iam')}); see the snapshot's gaps. "
            + hint
        )
    raise IdentifyError(
        f"access key {parsed.masked} is not among the access keys of the users in the snapshot "
        f"of account {snapshot.account_id}",
        hint=hint,
    )


def _other_account(parsed: ParsedKey, key_account: str, auditor_account: str, whose: str) -> NoReturn:
    raise IdentifyError(
        f"access key {parsed.masked} belongs to account {key_account}, not {whose} account {auditor_account}",
        hint=f"Run again with credentials of account {key_account} (--profile), or with its snapshot.",
    )


def _session_owner(parsed: ParsedKey, account_id: str, identified_by: str) -> KeyOwner:
    return KeyOwner(
        access_key_id=parsed.access_key_id,
        account_id=account_id,
        kind=SESSION,
        identified_by=identified_by,
        note=SESSION_OWNER_UNKNOWN.format(account=account_id),
    )


def identify_with_auditor(
    session: boto3.Session, key_id: str, *, endpoint_url: str | None = None, region: str | None = None
) -> KeyOwner:
    """Identify a key with the responder's own credentials (the leaked secret is not needed).

    sts:GetAccessKeyInfo gives the key's account (falling back to the offline decode); for a
    long-term key iam:GetAccessKeyLastUsed gives the user and last use, with ListUsers +
    ListAccessKeys as the fallback when that call is denied.
    """
    parsed = parse_access_key_id(key_id)
    where = region or aws.home_region(session)
    auditor = aws.caller_identity(session, endpoint_url=endpoint_url, region=where)
    sts = aws.client(session, "sts", where, endpoint_url)
    try:
        key_account = str(sts.get_access_key_info(AccessKeyId=parsed.access_key_id)["Account"])
        how = "sts:GetAccessKeyInfo"
    except (ClientError, BotoCoreError):
        key_account = parsed.account_id or auditor.account_id
        how = "offline decode" if parsed.account_id else "assumed auditor account"
    if key_account != auditor.account_id:
        _other_account(parsed, key_account, auditor.account_id, "the auditor's")
    if parsed.kind == SESSION:
        return _session_owner(parsed, key_account, how)
    iam = aws.client(session, "iam", where, endpoint_url)
    try:
        last = iam.get_access_key_last_used(AccessKeyId=parsed.access_key_id)
    except (ClientError, BotoCoreError):
        return _find_by_listing(iam, parsed, key_account)
    user_name = str(last["UserName"])
    how = f"{how}+iam:GetAccessKeyLastUsed"
    owner = _key_of_user(iam, parsed, key_account, user_name, partition=auditor.partition, how=how)
    used = last.get("AccessKeyLastUsed") or {}
    return _with_last_used(owner, used)


def _with_last_used(owner: KeyOwner, used: Mapping[str, Any]) -> KeyOwner:
    return replace(
        owner,
        last_used_date=iso(used.get("LastUsedDate")),
        last_used_service=present(used.get("ServiceName")),
        last_used_region=present(used.get("Region")),
    )


def _key_of_user(
    iam: Any, parsed: ParsedKey, account: str, user_name: str, *, partition: str, how: str
) -> KeyOwner:
    """Status, creation date and user ARN of a key whose user is known (best effort: the key's owner
    is established even when these reads are denied)."""
    principal = status = created = None
    # Without GetUser the path-less user ARN still names the owner exactly enough.
    with contextlib.suppress(ClientError, BotoCoreError):
        principal = str(iam.get_user(UserName=user_name)["User"]["Arn"])
    try:
        for page in iam.get_paginator("list_access_keys").paginate(UserName=user_name):
            for meta in page["AccessKeyMetadata"]:
                if meta["AccessKeyId"] == parsed.access_key_id:
                    status = meta["Status"]
                    created = iso(meta.get("CreateDate"))
    except (ClientError, BotoCoreError):
        pass  # status unknown (None) rather than guessed
    return KeyOwner(
        access_key_id=parsed.access_key_id,
        account_id=account,
        kind=LONG_TERM,
        identified_by=how,
        principal_arn=principal or f"arn:{partition}:iam::{account}:user/{user_name}",
        user_name=user_name,
        status=status,
        created=created,
    )


def _find_by_listing(iam: Any, parsed: ParsedKey, account: str) -> KeyOwner:
    try:
        for page in iam.get_paginator("list_users").paginate():
            for user in page["Users"]:
                for keys in iam.get_paginator("list_access_keys").paginate(UserName=user["UserName"]):
                    for meta in keys["AccessKeyMetadata"]:
                        if meta["AccessKeyId"] == parsed.access_key_id:
                            return KeyOwner(
                                access_key_id=parsed.access_key_id,
                                account_id=account,
                                kind=LONG_TERM,
                                identified_by="iam:ListUsers+iam:ListAccessKeys",
                                principal_arn=user["Arn"],
                                user_name=user["UserName"],
                                status=meta["Status"],
                                created=iso(meta.get("CreateDate")),
                            )
    except (ClientError, BotoCoreError) as e:
        raise IdentifyError(
            f"cannot find the owner of {parsed.masked}: iam:GetAccessKeyLastUsed and the user listing "
            f"both failed ({error_code(e)})",
            hint="The auditor needs iam:GetAccessKeyLastUsed, or iam:ListUsers and iam:ListAccessKeys.",
        ) from e
    raise IdentifyError(
        f"access key {parsed.masked} is not an access key of any user in account {account}",
        hint="It may have been deleted, or be the account root user's key (check the root user's "
        "security credentials page).",
    )


# Why GetCallerIdentity refused the leaked credentials, in words for the responder.
_SECRET_ERRORS: Final = {
    "InvalidClientTokenId": "AWS does not know this key id: it was deleted, or is of another partition",
    "SignatureDoesNotMatch": "the secret does not match the key id",
    "ExpiredToken": "the session token has expired; these temporary credentials are no longer usable",
    "InvalidToken": "the session token is not valid for this key id",
    "AccessDenied": "the key is valid but its policies deny even sts:GetCallerIdentity (unusual)",
}


def identify_with_secret(
    key_id: str,
    secret: Secret | str,
    session_token: Secret | str | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> CallerIdentity:
    """Ask AWS who the leaked credentials are with sts:GetCallerIdentity — the only call made with them.

    GetCallerIdentity needs no permission and cannot be denied by policy. For an assumed-role session
    the result's ``principal_arn`` is the role's IAM ARN (without its path, which STS does not give).
    """
    parsed = parse_access_key_id(key_id)
    secret = secret if isinstance(secret, Secret) else Secret(secret)
    token = (
        session_token if isinstance(session_token, Secret) or session_token is None else Secret(session_token)
    )
    if parsed.kind == SESSION and not token:
        raise IdentifyError(
            f"{parsed.masked} is a session (ASIA) key: GetCallerIdentity also needs its session token",
            hint="Pass the leaked session token too, or identify the key with the auditor's credentials.",
        )
    leaked = boto3.Session(
        aws_access_key_id=parsed.access_key_id,
        aws_secret_access_key=secret.reveal(),
        aws_session_token=token.reveal() if token else None,
        region_name=region or aws.DEFAULT_REGION,
    )
    sts = aws.client(leaked, "sts", region or aws.DEFAULT_REGION, endpoint_url)
    try:
        response = sts.get_caller_identity()
    except ClientError as e:
        code = error_code(e)
        raise IdentifyError(
            f"sts:GetCallerIdentity with the leaked credentials of {parsed.masked} failed ({code}): "
            + _SECRET_ERRORS.get(code, error_message(e)),
            hint="If the key is deactivated or deleted it is already contained; otherwise identify it "
            "with the auditor's credentials (--key without the secret).",
        ) from e
    except BotoCoreError as e:
        raise IdentifyError(
            f"sts:GetCallerIdentity with the leaked credentials of {parsed.masked} could not be sent "
            f"({type(e).__name__})",
            hint="Check network access to AWS (or --endpoint-url).",
        ) from e
    return parse_caller_identity(response)


def principal_in_snapshot(snapshot: Snapshot, principal_arn: str) -> str | None:
    """The snapshot's ARN (with path) of a user or role given by a possibly path-less IAM ARN, such as
    ``CallerIdentity.principal_arn`` of an assumed role. None when the snapshot does not hold it."""
    kind, _, rest = principal_arn.split(":", 5)[-1].partition("/")
    name = rest.rsplit("/", 1)[-1]
    candidates = snapshot.users if kind == "user" else snapshot.roles if kind == "role" else ()
    for entity in candidates:
        if entity.arn == principal_arn or entity.name == name:
            return entity.arn
    return None
