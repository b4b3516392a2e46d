"""Bad input, as a responder under pressure produces it: each case gets a one-paragraph diagnosis on stderr
and exit 2 when nothing useful can be produced, or a report whose coverage states what is missing.

AWS failures are injected just above botocore's retry layer (``BaseClient._make_api_call``), which is
where a ClientError surfaces once botocore has given up retrying. The injected codes and messages are
AWS's own ("Common Errors" and the STS, IAM and DynamoDB API references), not moto's.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.client
import pytest
from botocore.exceptions import ClientError
from scenarios import ACCOUNT, OTHER_ACCOUNT, Account, direct_read
from test_cli import BAD, FIXTURE_KEY, FIXTURES, assert_diagnosis, datasets, invoke, report_of

from blastradius import api
from blastradius.errors import SnapshotError
from blastradius.importers import load_snapshot
from blastradius.keys import parse_access_key_id

# The session key id AWS uses as an example in its documentation; it decodes to account 609629065308.
DOC_EXAMPLE_SESSION_KEY = "ASIAY34FZKBOKMUTVV7A"
DOC_EXAMPLE_ACCOUNT = "609629065308"
PASTED_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def key_of_account(account: str, prefix: str = "AKIA") -> str:
    """A current-generation key id that decodes (offline) to ``account``: the inverse of keys.py's decode."""
    head = (1 << 47) | (int(account) << 7) | 0x2A  # marker bit, account id shifted by 7, arbitrary low bits
    return prefix + base64.b32encode(head.to_bytes(6, "big") + b"\x5e\x1f\x0a\x77").decode()


def test_key_of_account_round_trips() -> None:
    assert parse_access_key_id(key_of_account(OTHER_ACCOUNT)).account_id == OTHER_ACCOUNT
    assert parse_access_key_id(DOC_EXAMPLE_SESSION_KEY).account_id == DOC_EXAMPLE_ACCOUNT


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[list[str], dict[str, tuple[str, str]]]]:
    """(operations sent, operation -> (error code, message) to fail with once retries are exhausted)."""
    sent: list[str] = []
    failures: dict[str, tuple[str, str]] = {}
    original = botocore.client.BaseClient._make_api_call

    def call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        sent.append(operation_name)
        if operation_name in failures:
            code, message = failures[operation_name]
            raise ClientError(
                {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}},
                operation_name,
            )
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)
    yield sent, failures


@pytest.fixture
def leaked_key_unused(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every use of the leaked secret (sts:GetCallerIdentity with the leaked key)."""
    used: list[str] = []

    def spy(key_id: str, *args: Any, **kwargs: Any) -> Any:
        used.append(key_id)
        raise AssertionError("the leaked key must not be used here")

    monkeypatch.setattr(api, "identify_with_secret", spy)
    return used


# -- key ids -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "match"),
    [
        pytest.param(
            "XYZA7F3KQ2M5ZT4PW6RB",
            r"'XYZA'… \(20 characters\) is not an AWS access key id: it must start with AKIA.*"
            r"look like AKIAIOSFODNN7EXAMPLE",
            id="unknown-prefix",
        ),
        pytest.param(
            "AKIA7F3KQ2M5Z",
            r"'AKIA'… \(13 characters\) has 13 characters; an access key id has 20.*"
            r"copied completely",
            id="too-short",
        ),
        pytest.param("akia7f3kq2m5zt4pw6rb", r"'akia'… .*must start with AKIA", id="all-lower-case"),
        pytest.param(
            "AKIA7f3kq2m5zt4pw6rb",
            r"characters outside A-Z and 2-7.*lower case letters",
            id="lower-case-tail",
        ),
        pytest.param(
            "AIDA7F3KQ2M5ZT4PW6RB",
            r"is an IAM user id, not an access key id.*starts with AKIA",
            id="user-id-pasted",
        ),
        pytest.param(
            PASTED_SECRET,
            r"'wJal'… \(40 characters\) looks like a secret access key, not an access key id.*"
            r"the secret is never needed",
            id="secret-pasted-into-key",
        ),
    ],
)
@pytest.mark.parametrize("command", ["analyze", "rotate"])
def test_malformed_key_id_fails_before_any_aws_call(
    aws_calls: tuple[list[str], Any], key: str, match: str, command: str
) -> None:
    result = invoke(command, "--key", key)
    assert_diagnosis(result, match)
    assert key[4:] not in result.output  # never echoed whole: it may be a pasted secret
    assert aws_calls[0] == []


def test_malformed_key_id_in_snapshot_mode() -> None:
    result = invoke("analyze", "--snapshot", BAD / "malformed_policy.json", "--key", PASTED_SECRET)
    assert_diagnosis(result, r"looks like a secret access key")
    assert PASTED_SECRET not in result.output


# -- a key of another account ------------------------------------------------------------------------


def test_key_decoding_to_another_account_names_both(moto: None, aws_calls: tuple[list[str], Any]) -> None:
    result = invoke("analyze", "--key", key_of_account(OTHER_ACCOUNT))
    assert_diagnosis(
        result,
        rf"belongs to account {OTHER_ACCOUNT} \(decoded from the key id\), but the auditor credentials are "
        rf"of account {ACCOUNT}.*auditor credentials of account {OTHER_ACCOUNT}",
    )
    # Nothing is collected for an account the analysis cannot be about.
    assert aws_calls[0] == ["GetCallerIdentity"]


def test_key_of_another_account_is_refused_before_the_leaked_secret_is_used(
    moto: None, leaked_key_unused: list[str]
) -> None:
    # Using the leaked key shows in its owner's CloudTrail: never do it when the analysis cannot go on.
    result = invoke("analyze", "--key", key_of_account(OTHER_ACCOUNT), "--secret-stdin", input="s3cr3t\n")
    assert_diagnosis(result, rf"belongs to account {OTHER_ACCOUNT}.*of account {ACCOUNT}")
    assert leaked_key_unused == []


def test_moto_key_while_the_auditor_is_in_another_account(
    moto: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = direct_read(Account())  # created in moto's default account
    monkeypatch.setenv("MOTO_ACCOUNT_ID", OTHER_ACCOUNT)  # the auditor's calls now land in another account
    result = invoke("analyze", "--key", key)
    assert_diagnosis(
        result, rf"belongs to account {ACCOUNT}.*auditor credentials are of account {OTHER_ACCOUNT}"
    )


def test_session_key_of_another_account_than_the_snapshot() -> None:
    result = invoke(
        "analyze", "--snapshot", FIXTURES / "gaad_incident.json", "--key", DOC_EXAMPLE_SESSION_KEY
    )
    assert_diagnosis(
        result,
        rf"ASIA…VV7A belongs to account {DOC_EXAMPLE_ACCOUNT}, not the snapshot's account {ACCOUNT}.*"
        rf"credentials of account {DOC_EXAMPLE_ACCOUNT}",
    )


# -- auditor credentials -----------------------------------------------------------------------------

REJECTED = [
    pytest.param(
        "ExpiredToken",
        "The security token included in the request is expired",
        r"the session token has expired; refresh the credentials",
        id="expired-token",
    ),
    pytest.param(
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
        r"AWS does not recognise the access key id",
        id="invalid-client-token-id",
    ),
]


@pytest.mark.parametrize(("code", "aws_message", "match"), REJECTED)
@pytest.mark.parametrize("command", ["analyze", "collect"])
def test_rejected_auditor_credentials(
    moto: None,
    aws_calls: tuple[list[str], dict[str, tuple[str, str]]],
    tmp_path: Path,
    code: str,
    aws_message: str,
    match: str,
    command: str,
) -> None:
    aws_calls[1]["GetCallerIdentity"] = (code, aws_message)
    args = ["--key", FIXTURE_KEY] if command == "analyze" else ["--output", tmp_path / "snap.json"]
    result = invoke(command, *args)
    assert_diagnosis(
        result,
        rf"the auditor credentials were rejected by sts:GetCallerIdentity \({code}\): {match}.*"
        r"aws sts get-caller-identity",
    )
    assert not (tmp_path / "snap.json").exists()


def test_rejected_auditor_credentials_stop_before_the_leaked_key_is_used(
    moto: None, aws_calls: tuple[list[str], dict[str, tuple[str, str]]], leaked_key_unused: list[str]
) -> None:
    aws_calls[1]["GetCallerIdentity"] = (
        "ExpiredToken",
        "The security token included in the request is expired",
    )
    result = invoke("analyze", "--key", FIXTURE_KEY, "--secret-stdin", input="s3cr3t\n")
    assert_diagnosis(result, r"auditor credentials were rejected.*ExpiredToken")
    assert leaked_key_unused == []


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials anywhere in the chain, and no instance metadata lookup that could hang."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty-aws-config"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["analyze", "--key", FIXTURE_KEY], id="analyze"),
        pytest.param(["analyze", "--key", FIXTURE_KEY, "--region", "eu-west-1"], id="analyze-with-region"),
        pytest.param(["rotate", "--key", FIXTURE_KEY], id="rotate"),
        pytest.param(["collect", "--output", "{tmp}/snap.json"], id="collect"),
    ],
)
def test_no_credentials_at_all(no_credentials: None, tmp_path: Path, args: list[str]) -> None:
    started = time.monotonic()
    result = invoke(*(a.format(tmp=tmp_path) for a in args))
    assert_diagnosis(
        result, r"no AWS credentials found for the auditor: use --profile, .* or --snapshot to work offline"
    )
    assert time.monotonic() - started < 10  # no metadata-service timeout
    assert not (tmp_path / "snap.json").exists()


def test_no_credentials_stops_before_the_leaked_key_is_used(
    no_credentials: None, leaked_key_unused: list[str]
) -> None:
    result = invoke("analyze", "--key", FIXTURE_KEY, "--secret-stdin", input="s3cr3t\n")
    assert_diagnosis(result, r"no AWS credentials found for the auditor")
    assert leaked_key_unused == []


def test_unknown_profile() -> None:
    result = invoke("analyze", "--key", FIXTURE_KEY, "--profile", "incident-response")
    assert_diagnosis(result, r"AWS profile 'incident-response' is not configured.*list-profiles")


# -- regions -----------------------------------------------------------------------------------------


def test_region_that_is_no_region_name_fails_before_any_call(aws_calls: tuple[list[str], Any]) -> None:
    result = invoke("analyze", "--key", FIXTURE_KEY, "--region", "mars-north-9")
    assert_diagnosis(result, r"'mars-north-9' is not an AWS region name.*us-east-1 or eu-west-2")
    # Not even GetCallerIdentity may be sent to a region that cannot exist.
    assert aws_calls[0] == []


@pytest.mark.parametrize(
    ("region", "match"),
    [
        pytest.param(
            "eu-south-9", r"region 'eu-south-9' does not exist.*describe-regions", id="no-such-region"
        ),
        pytest.param(
            "ap-east-1", r"region 'ap-east-1' is not enabled in this account.*opt-in", id="not-opted-in"
        ),
    ],
)
@pytest.mark.parametrize("command", ["analyze", "collect"])
def test_region_that_does_not_exist_or_is_not_enabled(
    moto: None, aws_calls: tuple[list[str], Any], tmp_path: Path, region: str, match: str, command: str
) -> None:
    args = ["--key", FIXTURE_KEY] if command == "analyze" else ["--output", tmp_path / "snap.json"]
    result = invoke(command, *args, "--region", "us-east-1", "--region", region)
    assert_diagnosis(result, match)
    assert aws_calls[0] == ["DescribeRegions"]  # checked before identifying or collecting anything


# -- partial failures: a report whose coverage says what is missing ---------------------------------


def test_access_denied_on_one_service_is_a_gap_in_the_report(
    moto: None, aws_calls: tuple[list[str], dict[str, tuple[str, str]]]
) -> None:
    key = direct_read(Account())
    aws_calls[1]["ListTables"] = (
        "AccessDeniedException",
        f"User: arn:aws:iam::{ACCOUNT}:user/auditor is not authorized to perform: dynamodb:ListTables",
    )
    result = invoke("analyze", "--key", key, "--format", "json")
    assert result.exit_code == 0, result.output
    report = report_of(result)
    coverage = report["coverage"]
    assert coverage["services"]["dynamodb"] == "AccessDeniedException"
    assert {s for s, status in coverage["services"].items() if status != "ok"} == {"dynamodb"}
    assert coverage["complete"] is False
    assert [(g["service"], g["operation"], g["error"], g["resource"]) for g in coverage["gaps"]] == [
        ("dynamodb", "ListTables", "AccessDeniedException", None)
    ]
    assert "customers" not in datasets(report)  # not seen — and the report says why, not "safe"
    assert any("blind spot" in step["title"] for step in report["rotation_plan"])
    assert "✗ AccessDeniedException" in result.stderr


@pytest.mark.parametrize(
    ("operation", "service", "status", "resource"),
    [
        pytest.param("ListSecrets", "secretsmanager", "ThrottlingException", None, id="listing-throttled"),
        pytest.param(
            "DescribeTable",
            "dynamodb",
            "partial",
            f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/customers",
            id="per-resource-call-throttled",
        ),
    ],
)
def test_throttling_after_retries_is_a_gap_and_the_run_continues(
    moto: None,
    aws_calls: tuple[list[str], dict[str, tuple[str, str]]],
    operation: str,
    service: str,
    status: str,
    resource: str | None,
) -> None:
    key = direct_read(Account())
    aws_calls[1][operation] = ("ThrottlingException", "Rate exceeded")
    result = invoke("analyze", "--key", key, "--format", "json")
    assert result.exit_code == 0, result.output
    coverage = report_of(result)["coverage"]
    assert coverage["services"][service] == status
    assert [(g["service"], g["operation"], g["error"], g["resource"]) for g in coverage["gaps"]] == [
        (service, operation, "ThrottlingException", resource)
    ]
    # The other services were still collected, and the customers table is still found through IAM.
    assert coverage["services"]["iam"] == coverage["services"]["s3"] == "ok"
    assert "customers" in datasets(report_of(result))


def test_malformed_policy_in_snapshot_is_skipped_with_a_warning_naming_it() -> None:
    result = invoke(
        "analyze", "--snapshot", BAD / "malformed_policy.json", "--key", FIXTURE_KEY, "-f", "json"
    )
    assert result.exit_code == 0, result.output
    report = report_of(result)
    warnings = [w for w in report["coverage"]["warnings"] if "legacy-exports" in w]
    assert warnings, report["coverage"]["warnings"]
    assert "'Permit'" in warnings[0]
    # The well-formed policy of the same user still counts.
    assert datasets(report)["customers"]["access"] == ["read"]


def test_unknown_condition_operator_makes_the_dataset_conditional_not_dropped() -> None:
    result = invoke(
        "analyze", "--snapshot", BAD / "unknown_condition_operator.json", "--key", FIXTURE_KEY, "-f", "json"
    )
    assert result.exit_code == 0, result.output
    exports = datasets(report_of(result))["exports"]
    assert exports["certainty"] == "conditional"
    assert any("unknown condition operator StringMatchesRegex" in c for c in exports["conditions"])
    assert all(g["certainty"] == "conditional" for g in exports["grants"])


# -- snapshot files ------------------------------------------------------------------------------------

MALFORMED_SNAPSHOTS = [
    pytest.param(
        "truncated.json",
        r"truncated\.json: not valid JSON at line \d+, column \d+ \(.*\) — the file looks truncated",
        r"copied completely",
        id="truncated",
    ),
    pytest.param(
        "schema_v99.json",
        r"snapshot schema 'blastradius\.snapshot/v99' is not supported by this version",
        r"Upgrade blastradius",
        id="newer-schema",
    ),
    pytest.param(
        "not_json.json",
        r"not_json\.json: not valid JSON at line 1, column 1",
        r"blastradius collect --output FILE",
        id="not-json",
    ),
    pytest.param("empty.json", r"empty\.json: the file is empty", r"Collect the snapshot again", id="empty"),
    pytest.param(
        "json_list.json",
        r"json_list\.json: neither a blastradius snapshot nor `aws iam get-account-authorization-details` "
        r"output \(found a JSON list",
        r"blastradius collect --output FILE",
        id="json-list",
    ),
    pytest.param(
        "wrong_field_type.json",
        r"wrong_field_type\.json: snapshot\.users: expected list, found dict",
        r"collect the snapshot again",
        id="wrong-field-type",
    ),
    pytest.param(
        "utf16_powershell.json",
        r"utf16_powershell\.json: not UTF-8 text",
        r"save the file as UTF-8",
        id="utf16-from-powershell",
    ),
]


@pytest.mark.parametrize(("name", "message", "hint"), MALFORMED_SNAPSHOTS)
def test_malformed_snapshot_is_refused_naming_the_file(name: str, message: str, hint: str) -> None:
    with pytest.raises(SnapshotError, match=message) as caught:
        load_snapshot(BAD / name)
    assert re.search(hint, caught.value.hint)


@pytest.mark.parametrize(("name", "message", "hint"), MALFORMED_SNAPSHOTS)
@pytest.mark.parametrize("command", ["analyze", "rotate"])
def test_malformed_snapshot_through_the_cli(name: str, message: str, hint: str, command: str) -> None:
    result = invoke(command, "--snapshot", BAD / name, "--key", FIXTURE_KEY, "--format", "json")
    assert_diagnosis(result, f"{message}.*{hint}")


def test_missing_snapshot_file(tmp_path: Path) -> None:
    result = invoke("analyze", "--snapshot", tmp_path / "nope.json", "--key", FIXTURE_KEY)
    assert_diagnosis(
        result, r"nope\.json: cannot read the file \(No such file or directory\).*Check the path"
    )


def test_raw_gaad_output_is_accepted_and_coverage_says_iam_only() -> None:
    gaad = BAD / "gaad_raw_output.json"
    result = invoke("analyze", "--snapshot", gaad, "--key", FIXTURE_KEY, "--principal", "app", "-f", "json")
    assert result.exit_code == 0, result.output
    report = report_of(result)
    coverage = report["coverage"]
    assert coverage["source"] == "gaad"
    assert {s for s, status in coverage["services"].items() if status == "ok"} == {"iam"}
    assert set(coverage["services"].values()) == {"ok", "not collected"}
    assert coverage["complete"] is False
    assert any("only IAM is known" in w for w in coverage["warnings"])
    assert report["key"]["principal_arn"] == f"arn:aws:iam::{ACCOUNT}:user/app"
    assert "--principal" in report["key"]["identified_by"]


def test_raw_gaad_output_without_principal_says_it_lists_no_keys() -> None:
    result = invoke("analyze", "--snapshot", BAD / "gaad_raw_output.json", "--key", FIXTURE_KEY)
    assert_diagnosis(
        result,
        r"AKIA…32JL is not among the access keys of the users in the snapshot of account 123456789012.*"
        r"get-account-authorization-details output lists no access keys",
    )


def test_principal_not_in_the_snapshot() -> None:
    result = invoke(
        "analyze", "--snapshot", BAD / "gaad_raw_output.json", "--key", FIXTURE_KEY, "--principal", "bob"
    )
    assert_diagnosis(
        result, r"--principal 'bob' is not a user or role in the snapshot of account 123456789012"
    )


def test_principal_contradicting_the_snapshot(tmp_path: Path) -> None:
    data = json.loads((BAD / "malformed_policy.json").read_text())
    data["users"].append({"arn": f"arn:aws:iam::{ACCOUNT}:user/ops", "name": "ops"})
    snapshot = tmp_path / "two-users.json"
    snapshot.write_text(json.dumps(data))
    result = invoke("analyze", "--snapshot", snapshot, "--key", FIXTURE_KEY, "--principal", "ops")
    assert_diagnosis(
        result,
        rf"the snapshot lists access key AKIA…32JL under arn:aws:iam::{ACCOUNT}:user/app, not "
        rf"arn:aws:iam::{ACCOUNT}:user/ops.*Drop --principal",
    )
    agreeing = invoke(
        "analyze", "--snapshot", snapshot, "--key", FIXTURE_KEY, "--principal", "app", "-f", "json"
    )
    assert report_of(agreeing)["key"]["identified_by"] == "snapshot"
