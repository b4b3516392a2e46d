"""The boto3 edge: sessions, configured clients, regions, and translation of botocore errors.

Everything that touches boto3 configuration lives here so that every collector gets the same
retry policy, timeouts, user agent and endpoint override. Messages built here never contain
credentials: only error codes, operation names and what to do next.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import botocore.loaders
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)

from blastradius.errors import CollectionError, UsageError

DEFAULT_REGION = "us-east-1"
USER_AGENT_EXTRA = "blastradius"
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 60
# Adaptive mode adds client-side rate limiting on top of retries: collection fans out over many
# read calls and should slow down on throttling instead of turning it into gaps.
RETRIES = {"mode": "adaptive", "max_attempts": 10}

# Longest AWS error message kept in a gap or error (they can quote request details).
_MESSAGE_LIMIT = 300

_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
# The session name the auditor's assumed-role sessions carry (visible in the target's CloudTrail).
AUDIT_SESSION_NAME = "blastradius-audit"

# Error codes meaning "these credentials are not accepted at all", with what to do about it.
AUTH_ERROR_DIAGNOSES: dict[str, str] = {
    "ExpiredToken": "the session token has expired; refresh the credentials "
    "(`aws sso login`, or request new temporary credentials)",
    "ExpiredTokenException": "the session token has expired; refresh the credentials "
    "(`aws sso login`, or request new temporary credentials)",
    "RequestExpired": "the request expired before AWS received it; check the system clock",
    "InvalidClientTokenId": "AWS does not recognise the access key id: it was deleted, or it belongs to "
    "another partition (aws-cn, aws-us-gov) than the endpoint called",
    "UnrecognizedClientException": "AWS does not recognise the access key id or security token: "
    "the key was deleted, or the session token does not belong to it",
    "InvalidAccessKeyId": "AWS does not recognise the access key id: it was deleted or mistyped",
    "SignatureDoesNotMatch": "the secret access key does not match the access key id "
    "(or the system clock is far off)",
    "AuthFailure": "AWS rejected the credentials (wrong secret, deleted key, or clock skew)",
}

NO_CREDENTIALS_MESSAGE = (
    "no AWS credentials found for the auditor: use --profile, environment variables "
    "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), SSO login, or --snapshot to work offline"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerIdentity:
    """Who a set of credentials is (sts:GetCallerIdentity), with the IAM principal it acts as.

    ``principal_arn`` is the IAM form: for an assumed-role session
    ``arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`` it is ``arn:aws:iam::ACCT:role/ROLE`` (the STS ARN
    does not carry the role's path; match by ``role_name`` against a snapshot to recover it).
    """

    account_id: str
    arn: str
    user_id: str
    principal_arn: str
    partition: str = "aws"
    role_name: str | None = None
    session_name: str | None = None


def make_session(profile: str | None) -> boto3.Session:
    """A boto3 session from the standard credential chain, or from the named ``profile``."""
    try:
        return boto3.Session(profile_name=profile) if profile else boto3.Session()
    except ProfileNotFound as e:
        raise CollectionError(
            f"AWS profile {profile!r} is not configured",
            hint="List the configured profiles with `aws configure list-profiles`.",
        ) from e


def assume_role_session(
    session: boto3.Session, role_arn: str, *, endpoint_url: str | None = None, region: str | None = None
) -> boto3.Session:
    """A session acting as ``role_arn``, assumed with ``session``'s credentials (sts:AssumeRole).

    Used to collect another account (``--role-arn``): the temporary credentials live only inside the
    returned session. Every later call with it is read-only collection like any other.
    """
    if not _ROLE_ARN_RE.match(role_arn):
        raise UsageError(
            f"--role-arn {role_arn!r} is not an IAM role ARN",
            hint="Role ARNs look like arn:aws:iam::222222222222:role/SecurityAudit.",
        )
    where = region or home_region(session)
    sts = client(session, "sts", where, endpoint_url)
    try:
        response = sts.assume_role(RoleArn=role_arn, RoleSessionName=AUDIT_SESSION_NAME)
    except (ClientError, BotoCoreError) as e:
        raise credentials_error(e, "sts:AssumeRole") or CollectionError(
            f"the auditor credentials cannot assume {role_arn} (sts:AssumeRole: {error_code(e)}): "
            f"{error_message(e)}",
            hint="The role's trust policy must allow the auditor's account or role, and the auditor's own "
            "policies must allow sts:AssumeRole on it.",
        ) from e
    credentials = response["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=where,
    )


def client_config(service: str, endpoint_url: str | None) -> Config:
    """The botocore configuration every blastradius client uses."""
    options: dict[str, Any] = {
        "retries": dict(RETRIES),
        "user_agent_extra": USER_AGENT_EXTRA,
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "read_timeout": READ_TIMEOUT_SECONDS,
    }
    if service == "s3" and endpoint_url:
        # Emulators (moto server, LocalStack) serve buckets by path, not by virtual host.
        options["s3"] = {"addressing_style": "path"}
    return Config(**options)


_LOADERS: dict[str, botocore.loaders.Loader] = {}
_LOADERS_LOCK = threading.Lock()


def _share_loader(session: boto3.Session) -> None:
    """Let the session read service models through one process-wide botocore loader.

    Every boto3 session otherwise parses each service's model JSON again (EC2's and SageMaker's take a
    good part of a second each); collecting several accounts, or analysing repeatedly in one process,
    creates many sessions. The loaded models are read-only data, so sharing them changes nothing else.
    Keyed by AWS_DATA_PATH, which the loader reads when it is created.
    """
    core = getattr(session, "_session", None)
    if core is None:
        return
    with _LOADERS_LOCK:
        key = os.environ.get("AWS_DATA_PATH", "")
        loader = _LOADERS.get(key)
        if loader is None:
            loader = _LOADERS[key] = botocore.loaders.create_loader(key or None)
            # As boto3.Session does for its own loader: resource models live in boto3's data folder.
            loader.search_paths.append(os.path.join(os.path.dirname(boto3.__file__), "data"))
        if core.get_component("data_loader") is not loader:
            core.register_component("data_loader", loader)


def client(session: boto3.Session, service: str, region: str, endpoint_url: str | None = None) -> Any:
    """A configured boto3 client.

    Without ``endpoint_url`` boto3 itself honours ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>``
    (boto3 >= 1.28); an explicit ``endpoint_url`` is passed through and so always wins over them.
    """
    kwargs: dict[str, Any] = {"region_name": region, "config": client_config(service, endpoint_url)}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    _share_loader(session)
    made = session.client(service, **kwargs)
    if service == "s3control" and endpoint_url:
        made.meta.events.register("before-sign.s3-control", _EndpointHost(endpoint_url))
    return made


class _EndpointHost:
    """Keeps an explicit endpoint's host for S3 Control, whose endpoint rules put the account id in front
    of it (``{AccountId}.127.0.0.1``, which does not resolve); the account id also travels in the
    ``x-amz-account-id`` header, which is what emulators read. Runs before signing, so the signature
    covers the host actually used."""

    def __init__(self, endpoint_url: str) -> None:
        self.host = urlsplit(endpoint_url).netloc

    def __call__(self, request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        if parts.netloc != self.host and parts.netloc.endswith("." + self.host):
            request.url = urlunsplit(parts._replace(netloc=self.host))


class ClientFactory:
    """Creates and caches clients per (service, region); safe to share between threads.

    boto3 clients are thread-safe but creating them from one session is not, hence the lock.
    """

    def __init__(self, session: boto3.Session, endpoint_url: str | None = None) -> None:
        self.session = session
        self.endpoint_url = endpoint_url
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], Any] = {}

    def __call__(self, service: str, region: str) -> Any:
        """The cached client for ``service`` in ``region``."""
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                self._clients[key] = client(self.session, service, region, self.endpoint_url)
            return self._clients[key]


def home_region(session: boto3.Session) -> str:
    """The session's configured region, else us-east-1."""
    region = session.region_name
    return region if isinstance(region, str) and region else DEFAULT_REGION


def resolve_regions(
    session: boto3.Session,
    regions: Sequence[str],
    all_regions: bool,
    endpoint_url: str | None = None,
) -> tuple[str, ...]:
    """The regions to collect: explicit ones (validated), every enabled one, or the session's region.

    ``all_regions`` asks ec2:DescribeRegions for the regions enabled in the account. Explicit names
    are checked for shape, then against DescribeRegions (exists, opted in) when the auditor may call
    it, else against botocore's list of known regions.
    """
    if all_regions:
        described = _describe_regions(session, endpoint_url, all_regions=False)
        if isinstance(described, ClientError | BotoCoreError):
            raise _with_auth_diagnosis(described, "ec2:DescribeRegions") or CollectionError(
                f"cannot list the enabled regions (ec2:DescribeRegions: {error_code(described)})",
                hint="Pass the regions explicitly with --region instead of --all-regions.",
            ) from described
        return tuple(sorted(name for name, status in described.items() if status != "not-opted-in"))
    if not regions:
        return (home_region(session),)
    wanted = tuple(dict.fromkeys(r.strip() for r in regions))
    for name in wanted:
        if not _REGION_RE.match(name):
            raise CollectionError(
                f"{name!r} is not an AWS region name",
                hint="Region names look like us-east-1 or eu-west-2.",
            )
    described = _describe_regions(session, endpoint_url, all_regions=True)
    if isinstance(described, dict):
        for name in wanted:
            if name not in described:
                raise CollectionError(
                    f"region {name!r} does not exist in this account's partition",
                    hint="List the regions with `aws ec2 describe-regions --all-regions`.",
                )
            if described[name] == "not-opted-in":
                raise CollectionError(
                    f"region {name!r} is not enabled in this account (it is an opt-in region)",
                    hint="Nothing can be stored in a disabled region; leave it out of --region.",
                )
        return wanted
    known = _known_regions(session)
    for name in wanted:
        if name not in known:
            raise CollectionError(
                f"region {name!r} is unknown (and ec2:DescribeRegions is not allowed to check it)",
                hint="Check the spelling; region names look like us-east-1 or eu-west-2.",
            )
    return wanted


def _describe_regions(
    session: boto3.Session, endpoint_url: str | None, *, all_regions: bool
) -> dict[str, str] | ClientError | BotoCoreError:
    """Region name -> opt-in status, or the error that prevented asking."""
    ec2 = client(session, "ec2", home_region(session), endpoint_url)
    try:
        response = ec2.describe_regions(AllRegions=all_regions)
    except (ClientError, BotoCoreError) as e:
        if isinstance(e, NoCredentialsError):
            raise CollectionError(NO_CREDENTIALS_MESSAGE) from e
        return e
    return {r["RegionName"]: r.get("OptInStatus", "opt-in-not-required") for r in response["Regions"]}


def _known_regions(session: boto3.Session) -> set[str]:
    known: set[str] = set()
    for partition in session.get_available_partitions():
        known.update(session.get_available_regions("ec2", partition_name=partition))
    return known


def error_code(error: BaseException) -> str:
    """The AWS error code of a ClientError, or the botocore exception's class name."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code")
        return str(code) if code else "ClientError"
    return type(error).__name__


def error_message(error: BaseException) -> str:
    """A short, credential-free description of a botocore error."""
    if isinstance(error, ClientError):
        message = str(error.response.get("Error", {}).get("Message") or "")
    else:
        message = str(error)
    return message if len(message) <= _MESSAGE_LIMIT else message[: _MESSAGE_LIMIT - 1] + "…"


def credentials_error(error: BaseException, operation: str) -> CollectionError | None:
    """A ``CollectionError`` when ``error`` means the credentials themselves are unusable, else None."""
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return CollectionError(NO_CREDENTIALS_MESSAGE)
    if isinstance(error, SSOError | TokenRetrievalError):
        return CollectionError(
            f"the SSO session could not provide credentials ({type(error).__name__})",
            hint="Log in again with `aws sso login --profile PROFILE`.",
        )
    if isinstance(error, CredentialRetrievalError):
        return CollectionError(
            "the configured credential provider failed (credential_process or similar)",
            hint="Run the provider by hand to see its error, or use another --profile.",
        )
    return _with_auth_diagnosis(error, operation)


def _with_auth_diagnosis(error: BaseException, operation: str) -> CollectionError | None:
    code = error_code(error)
    if code in AUTH_ERROR_DIAGNOSES:
        return CollectionError(
            f"the auditor credentials were rejected by {operation} ({code}): {AUTH_ERROR_DIAGNOSES[code]}",
            hint="Check which credentials are in use with `aws sts get-caller-identity` "
            "(and --profile / AWS_PROFILE).",
        )
    return None


def parse_caller_identity(response: dict[str, Any]) -> CallerIdentity:
    """Build a ``CallerIdentity`` from a GetCallerIdentity response."""
    arn = str(response["Arn"])
    parts = arn.split(":", 5)
    partition = parts[1] if len(parts) == 6 else "aws"
    account = str(response["Account"])
    resource = parts[5] if len(parts) == 6 else ""
    principal = arn
    role_name = session_name = None
    if parts[2:3] == ["sts"] and resource.startswith("assumed-role/"):
        # arn:aws:sts::ACCT:assumed-role/ROLE/SESSION -> arn:aws:iam::ACCT:role/ROLE. The STS ARN drops
        # the role's path, so the path-less form is the best we can say without the account's IAM data.
        _, role_name, session_name = resource.split("/", 2)
        principal = f"arn:{partition}:iam::{account}:role/{role_name}"
    return CallerIdentity(
        account_id=account,
        arn=arn,
        user_id=str(response.get("UserId", "")),
        principal_arn=principal,
        partition=partition,
        role_name=role_name,
        session_name=session_name,
    )


def caller_identity(
    session: boto3.Session, *, endpoint_url: str | None = None, region: str | None = None
) -> CallerIdentity:
    """sts:GetCallerIdentity of ``session``; unusable credentials become a diagnosed ``CollectionError``."""
    sts = client(session, "sts", region or home_region(session), endpoint_url)
    try:
        response = sts.get_caller_identity()
    except (ClientError, BotoCoreError) as e:
        raise credentials_error(e, "sts:GetCallerIdentity") or CollectionError(
            f"sts:GetCallerIdentity failed ({error_code(e)}): {error_message(e)}",
            hint="Check network access to AWS (or --endpoint-url) and the credentials in use.",
        ) from e
    return parse_caller_identity(response)
