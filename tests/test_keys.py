"""Access key ids: parsing, the offline account decode, and identifying a leaked key's owner."""

from __future__ import annotations

import json
import os
import pickle
import traceback
from collections.abc import Iterator
from typing import Any, NoReturn
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from blastradius import aws
from blastradius.errors import IdentifyError, KeyFormatError
from blastradius.keys import (
    LONG_TERM,
    SESSION,
    Secret,
    account_from_key_id,
    identify_offline,
    identify_with_auditor,
    identify_with_secret,
    parse_access_key_id,
    principal_in_snapshot,
)
from blastradius.model import AccessKey, Role, Snapshot, User

ACCOUNT = "123456789012"  # moto's default account
OTHER_ACCOUNT = "111122223333"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": []})
LEAKED_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
LEAKED_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLETOKEN"


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """An in-process moto account with fake auditor credentials."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


# --- parsing and the offline decode ---------------------------------------------------------------


def test_decodes_account_of_published_example_key() -> None:
    # Aidan Steele's example key and its account (awsteele.com, "AWS Access Key ID formats").
    parsed = parse_access_key_id("ASIAY34FZKBOKMUTVV7A")
    assert (parsed.kind, parsed.account_id) == (SESSION, "609629065308")
    assert account_from_key_id("ASIAY34FZKBOKMUTVV7A") == "609629065308"


def test_decode_pads_account_to_twelve_digits() -> None:
    # Tal Be'ery's example, whose account starts with a zero.
    assert account_from_key_id("ASIAQNZGKIQY56JQ7WML") == "029608264753"


def test_old_generation_key_does_not_encode_its_account() -> None:
    parsed = parse_access_key_id("AKIAIOSFODNN7EXAMPLE")
    assert (parsed.kind, parsed.account_id) == (LONG_TERM, None)
    with pytest.raises(IdentifyError, match="old-generation key id"):
        account_from_key_id("AKIAIOSFODNN7EXAMPLE")


def test_whitespace_around_a_pasted_key_is_ignored() -> None:
    assert parse_access_key_id("  AKIAIOSFODNN7EXAMPLE\n").access_key_id == "AKIAIOSFODNN7EXAMPLE"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("AKIAIOSFODNN7EXAMPL", "has 19 characters", id="too-short"),
        pytest.param("AKIAIOSFODNN7EXAMPLEX", "has 21 characters", id="too-long"),
        pytest.param("akiaiosfodnn7example", "must start with AKIA", id="lower-case-prefix"),
        pytest.param("AKIAIOSFODNN7EXAMPLe", "outside A-Z and 2-7", id="lower-case-letter"),
        pytest.param("AKIAIOSFODNN0EXAMPLE", "outside A-Z and 2-7", id="digit-zero"),
        pytest.param("AIDAIOSFODNN7EXAMPLE", "is an IAM user id", id="user-id-not-key"),
        pytest.param("AROAIOSFODNN7EXAMPLE", "is an IAM role id", id="role-id-not-key"),
        pytest.param("", "not an AWS access key id", id="empty"),
        pytest.param(LEAKED_SECRET, "looks like a secret access key", id="secret-pasted-as-key"),
    ],
)
def test_malformed_key_ids_are_refused(text: str, message: str) -> None:
    with pytest.raises(KeyFormatError, match=message):
        parse_access_key_id(text)


def test_secret_pasted_as_key_id_is_not_echoed() -> None:
    with pytest.raises(KeyFormatError) as caught:
        parse_access_key_id(LEAKED_SECRET)
    assert LEAKED_SECRET not in caught.value.diagnostics()
    assert LEAKED_SECRET[4:] not in str(caught.value)


# --- the Secret wrapper -----------------------------------------------------------------------------


def test_secret_never_shows_itself() -> None:
    secret = Secret(LEAKED_SECRET)
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret:>50}", repr([secret])]
    shown.append("%s" % (secret,))  # noqa: UP031 - the old formatting path too
    for text in shown:
        assert LEAKED_SECRET not in text
    assert secret.reveal() == LEAKED_SECRET
    with pytest.raises(TypeError):
        pickle.dumps(secret)


# --- identify with the auditor's credentials --------------------------------------------------------


def test_auditor_identifies_user_of_long_term_key(session: boto3.Session) -> None:
    iam = session.client("iam")
    iam.create_user(UserName="tconnect-web", Path="/contractors/")
    key_id = iam.create_access_key(UserName="tconnect-web")["AccessKey"]["AccessKeyId"]
    assert account_from_key_id(key_id) == ACCOUNT  # moto encodes the account like AWS does

    owner = identify_with_auditor(session, key_id)

    assert owner.account_id == ACCOUNT
    assert owner.principal_arn == f"arn:aws:iam::{ACCOUNT}:user/contractors/tconnect-web"
    assert (owner.user_name, owner.status, owner.kind) == ("tconnect-web", "Active", LONG_TERM)
    assert owner.identified_by == "sts:GetAccessKeyInfo+iam:GetAccessKeyLastUsed"
    assert owner.created is not None
    assert owner.last_used_service is None  # moto answers "N/A" for a never-used key


def test_auditor_falls_back_to_listing_users_when_last_used_is_denied(
    session: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    iam = session.client("iam")
    iam.create_user(UserName="app")
    key_id = iam.create_access_key(UserName="app")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="app", AccessKeyId=key_id, Status="Inactive")
    real_client = aws.client

    def denying_client(*args: Any, **kwargs: Any) -> Any:
        made = real_client(*args, **kwargs)
        if made.meta.service_model.service_name == "iam":

            def deny(**_: Any) -> NoReturn:
                error = {"Error": {"Code": "AccessDenied", "Message": "not allowed"}}
                raise ClientError(error, "GetAccessKeyLastUsed")

            made.get_access_key_last_used = deny
        return made

    monkeypatch.setattr(aws, "client", denying_client)

    owner = identify_with_auditor(session, key_id)

    assert owner.identified_by == "iam:ListUsers+iam:ListAccessKeys"
    assert (owner.user_name, owner.status) == ("app", "Inactive")


def test_key_of_another_account_names_both_accounts(session: boto3.Session) -> None:
    with mock.patch.dict(os.environ, {"MOTO_ACCOUNT_ID": OTHER_ACCOUNT}):
        other_iam = boto3.client("iam", region_name="us-east-1")
        other_iam.create_user(UserName="partner")
        key_id = other_iam.create_access_key(UserName="partner")["AccessKey"]["AccessKeyId"]

    with pytest.raises(
        IdentifyError, match=f"belongs to account {OTHER_ACCOUNT}, not .* {ACCOUNT}"
    ) as caught:
        identify_with_auditor(session, key_id)
    assert f"credentials of account {OTHER_ACCOUNT}" in caught.value.diagnostics()


def test_session_key_gives_account_but_not_its_role(session: boto3.Session) -> None:
    session.client("iam").create_role(RoleName="data-sync", AssumeRolePolicyDocument=TRUST)
    creds = session.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/data-sync", RoleSessionName="s1"
    )["Credentials"]

    owner = identify_with_auditor(session, creds["AccessKeyId"])

    assert (owner.kind, owner.account_id, owner.principal_arn) == (SESSION, ACCOUNT, None)
    assert (
        owner.note == f"session key of account {ACCOUNT}; owner role unknown without the secret or CloudTrail"
    )


def test_unknown_key_of_the_auditors_account_is_reported(session: boto3.Session) -> None:
    session.client("iam").create_user(UserName="someone")
    key_id = _key_for(ACCOUNT)
    with pytest.raises(IdentifyError, match="not an access key of any user"):
        identify_with_auditor(session, key_id)


def _key_for(account: str) -> str:
    """A syntactically valid AKIA id encoding ``account`` (as moto generates them)."""
    from moto.iam.utils import generate_access_key_id_from_account_id

    return str(generate_access_key_id_from_account_id(account, prefix="AKIA"))


# --- identify with the leaked secret ----------------------------------------------------------------


def test_secret_identifies_user_with_get_caller_identity(session: boto3.Session) -> None:
    iam = session.client("iam")
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]

    identity = identify_with_secret(key["AccessKeyId"], key["SecretAccessKey"], None)

    assert identity.account_id == ACCOUNT
    assert identity.principal_arn == f"arn:aws:iam::{ACCOUNT}:user/alice"


def test_assumed_role_session_resolves_to_role_arn_and_snapshot_path(session: boto3.Session) -> None:
    session.client("iam").create_role(RoleName="data-sync", Path="/app/", AssumeRolePolicyDocument=TRUST)
    creds = session.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/app/data-sync", RoleSessionName="etl"
    )["Credentials"]

    identity = identify_with_secret(
        creds["AccessKeyId"], Secret(creds["SecretAccessKey"]), Secret(creds["SessionToken"])
    )

    assert identity.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/data-sync/etl"
    assert identity.principal_arn == f"arn:aws:iam::{ACCOUNT}:role/data-sync"  # STS drops the path
    assert (identity.role_name, identity.session_name) == ("data-sync", "etl")
    snapshot = Snapshot(
        account_id=ACCOUNT,
        collected_at="2026-01-01T00:00:00Z",
        roles=(Role(arn=f"arn:aws:iam::{ACCOUNT}:role/app/data-sync", name="data-sync", trust_policy={}),),
    )
    assert (
        principal_in_snapshot(snapshot, identity.principal_arn)
        == f"arn:aws:iam::{ACCOUNT}:role/app/data-sync"
    )


def test_session_key_without_token_is_refused_before_any_call() -> None:
    with pytest.raises(IdentifyError, match="also needs its session token"):
        identify_with_secret("ASIAY34FZKBOKMUTVV7A", LEAKED_SECRET, None)


def test_rejected_secret_never_appears_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_client = aws.client

    def rejecting_client(*args: Any, **kwargs: Any) -> Any:
        made = real_client(*args, **kwargs)
        stub = Stubber(made)
        stub.add_client_error(
            "get_caller_identity",
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
            http_status_code=403,
        )
        stub.activate()
        return made

    monkeypatch.setattr(aws, "client", rejecting_client)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    with pytest.raises(IdentifyError, match="the secret does not match the key id") as caught:
        identify_with_secret("AKIAIOSFODNN7EXAMPLE", LEAKED_SECRET, LEAKED_TOKEN)

    error = caught.value
    rendered = (
        "".join(traceback.format_exception(error)) + error.diagnostics() + repr(error) + repr(error.args)
    )
    assert LEAKED_SECRET not in rendered
    assert LEAKED_TOKEN not in rendered


# --- identify offline from a snapshot ---------------------------------------------------------------


def _snapshot(key_id: str, *, source: str = "collect") -> Snapshot:
    user = User(
        arn=f"arn:aws:iam::{ACCOUNT}:user/tconnect-web",
        name="tconnect-web",
        access_keys=(
            AccessKey(
                access_key_id=key_id,
                user_name="tconnect-web",
                status="Active",
                last_used_date="2022-09-14T10:00:00+00:00",
                last_used_service="dynamodb",
                last_used_region="us-east-1",
            ),
        ),
    )
    return Snapshot(account_id=ACCOUNT, collected_at="2026-01-01T00:00:00Z", users=(user,), source=source)


def test_offline_finds_key_among_users() -> None:
    key_id = _key_for(ACCOUNT)
    owner = identify_offline(_snapshot(key_id), key_id)
    assert (owner.principal_arn, owner.status, owner.identified_by) == (
        f"arn:aws:iam::{ACCOUNT}:user/tconnect-web",
        "Active",
        "snapshot",
    )
    assert (owner.last_used_service, owner.last_used_region) == ("dynamodb", "us-east-1")


def test_offline_key_of_another_account_names_both() -> None:
    with pytest.raises(
        IdentifyError, match=f"belongs to account {OTHER_ACCOUNT}, not the snapshot's account"
    ):
        identify_offline(_snapshot(_key_for(ACCOUNT)), _key_for(OTHER_ACCOUNT))


def test_offline_unknown_key_in_gaad_import_explains_why() -> None:
    with pytest.raises(IdentifyError) as caught:
        identify_offline(_snapshot(_key_for(ACCOUNT), source="gaad"), "AKIAIOSFODNN7EXAMPLE")
    assert "lists no access keys" in caught.value.diagnostics()


def test_offline_session_key_of_snapshot_account() -> None:
    session_key = "ASIA" + _key_for(ACCOUNT)[4:]
    owner = identify_offline(_snapshot(_key_for(ACCOUNT)), session_key)
    assert (owner.kind, owner.principal_arn) == (SESSION, None)
    assert owner.note is not None and "owner role unknown" in owner.note
