"""The leaked secret goes to sts:GetCallerIdentity and nowhere else: not to stdout, stderr, the report,
the snapshot, the logs (even with --debug), nor the text of any exception. It is never an argument.

The secret is a real one as far as the test is concerned: moto's SecretAccessKey for a key it created.
"""

from __future__ import annotations

import json
import logging
import pickle
import traceback
from pathlib import Path
from typing import Any

import botocore.client
import pytest
import typer
from botocore.exceptions import ClientError
from scenarios import ACCOUNT, REGION, Account, direct_read
from test_cli import assert_diagnosis, datasets, invoke, validated

from blastradius.api import LeakedCredentials
from blastradius.cli import app
from blastradius.errors import IdentifyError


def leaked_key(acct: Account) -> tuple[str, str]:
    """(key id, secret) of a fresh access key of user/app in the account of ``direct_read``."""
    direct_read(acct)
    created = acct.client("iam").create_access_key(UserName="app")["AccessKey"]
    return str(created["AccessKeyId"]), str(created["SecretAccessKey"])


def one_line(text: str) -> str:
    """``text`` with rich's line wrapping undone."""
    return " ".join(text.split())


def exception_text(error: BaseException | None) -> str:
    """Everything an exception would print: the chained traceback, and each repr and str."""
    if error is None:
        return ""
    parts = traceback.format_exception(error)
    seen: BaseException | None = error
    while seen is not None:
        parts += [repr(seen), str(seen), getattr(seen, "hint", "")]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


# -- no secret on the command line -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["--secret", "{secret}"], ["--secret={secret}"], ["--secret-access-key", "{secret}"]],
    ids=["separate-value", "equals-value", "long-name"],
)
def test_a_secret_cannot_be_passed_as_an_argument(args: list[str]) -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    result = invoke("analyze", "--key", "AKIARZPUZDIKO66S32JL", *(a.format(secret=secret) for a in args))
    assert result.exit_code == 2
    assert "No such option" in result.stderr
    assert secret not in result.output


def test_no_command_has_a_secret_option() -> None:
    group = typer.main.get_command(app)
    commands = getattr(group, "commands", {})
    assert {"analyze", "rotate", "collect", "demo"} <= commands.keys()
    for name, command in commands.items():
        options = {opt for param in command.params for opt in param.opts}
        assert {o for o in options if "secret" in o} <= {"--secret-stdin"}, name


def test_leaked_credentials_never_show_themselves() -> None:
    leaked = LeakedCredentials.from_input("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "FwoGZXIvYXdzEXAMPLE")
    for text in (repr(leaked), str(leaked), f"{leaked}", f"{leaked.secret}", f"{leaked.session_token!r}"):
        assert "EXAMPLE" not in text
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(leaked)


# -- end to end, over HTTP -----------------------------------------------------------------------------


@pytest.mark.slow
def test_secret_appears_nowhere(moto_server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    key, secret = leaked_key(Account(moto_server))
    caplog.set_level(logging.DEBUG)
    report_file, snapshot_file = tmp_path / "report.json", tmp_path / "snap.json"
    analyzed = invoke(
        "analyze",
        "--key",
        key,
        "--secret-stdin",
        "--endpoint-url",
        moto_server,
        "--region",
        REGION,
        "--format",
        "json",
        "--output",
        report_file,
        "--debug",
        input=f"{secret}\n",
    )
    assert analyzed.exit_code == 0, analyzed.output
    collected = invoke(
        "collect", "--output", snapshot_file, "--endpoint-url", moto_server, "--region", REGION, "--debug"
    )
    assert collected.exit_code == 0, collected.output

    # It worked: the key was identified with its own secret, and everything was written.
    report = validated(json.loads(report_file.read_text()))
    assert report["key"]["identified_by"] == "sts:GetCallerIdentity (with the leaked key)"
    assert report["key"]["principal_arn"] == f"arn:aws:iam::{ACCOUNT}:user/app"
    assert "customers" in datasets(report)
    assert "DEBUG" in analyzed.stderr  # --debug did log (so the check below is not vacuous)
    assert caplog.records

    # The responder is told, before it happens, that the leaked key shows up in its owner's CloudTrail.
    warning = one_line(analyzed.stderr)
    assert warning.startswith("warning: identifying the key calls sts:GetCallerIdentity WITH THE LEAKED KEY")
    assert "recorded in the key owner's CloudTrail" in warning

    places = {
        "analyze stdout": analyzed.stdout,
        "analyze stderr": analyzed.stderr,
        "collect stdout": collected.stdout,
        "collect stderr": collected.stderr,
        "report file": report_file.read_text(),
        "snapshot file": snapshot_file.read_text(),
        "log": caplog.text,
        "log records": "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text}" for r in caplog.records),
        "exceptions": exception_text(analyzed.exception) + exception_text(collected.exception),
    }
    leaks = [where for where, text in places.items() if secret in text]
    assert leaks == []
    assert key in places["report file"]  # the key id itself is fine, and expected


@pytest.mark.slow
def test_secret_rejected_by_aws_is_not_in_the_error(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    key, secret = leaked_key(Account(moto_server))
    original = botocore.client.BaseClient._make_api_call

    def call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        credentials = self._request_signer._credentials
        if operation_name == "GetCallerIdentity" and credentials.access_key == key:
            # What STS answers when the secret does not belong to the key id.
            raise ClientError(
                {
                    "Error": {
                        "Code": "SignatureDoesNotMatch",
                        "Message": "The request signature we calculated does not match the signature you "
                        "provided. Check your AWS Secret Access Key and signing method.",
                    }
                },
                operation_name,
            )
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)
    caplog.set_level(logging.DEBUG)
    args = ["analyze", "--key", key, "--secret-stdin", "--endpoint-url", moto_server, "--region", REGION]

    result = invoke(*args, input=f"{secret}\n")
    assert_diagnosis(
        result,
        r"GetCallerIdentity with the leaked credentials of AKIA…\w{4} failed \(SignatureDoesNotMatch\): "
        r"the secret does not match the key id",
    )
    debugged = invoke(*args, "--debug", input=f"{secret}\n")
    assert isinstance(debugged.exception, IdentifyError)
    assert isinstance(debugged.exception.__cause__, ClientError)

    for text in (result.output, debugged.output, caplog.text, exception_text(debugged.exception)):
        assert secret not in text


@pytest.mark.slow
def test_self_view_secret_appears_nowhere(
    moto_server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """--self-view makes many calls with the leaked key (not one): the secret still shows nowhere."""
    key, secret = leaked_key(Account(moto_server))
    caplog.set_level(logging.DEBUG)
    report_file = tmp_path / "self-view.json"
    common = ["analyze", "--key", key, "--self-view", "--secret-stdin", "--endpoint-url", moto_server]
    as_json = invoke(
        *common,
        "--region",
        REGION,
        "--format",
        "json",
        "--output",
        report_file,
        "--debug",
        input=f"{secret}\n",
    )
    assert as_json.exit_code == 0, as_json.output
    as_table = invoke(*common, "--region", REGION, "--format", "markdown", input=f"{secret}\n")
    assert as_table.exit_code == 0, as_table.output

    report = validated(json.loads(report_file.read_text()))
    assert report["self_view"]["partial"] is True
    assert len(report["self_view"]["calls"]) > 5  # it did act as the key, many times
    assert "customers" in datasets(report)
    assert "DEBUG" in as_json.stderr and caplog.records

    places = {
        "stdout": as_json.stdout + as_table.stdout,
        "stderr": as_json.stderr + as_table.stderr,
        "report file": report_file.read_text(),
        "log": caplog.text,
        "log records": "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text}" for r in caplog.records),
        "exceptions": exception_text(as_json.exception) + exception_text(as_table.exception),
    }
    assert [where for where, text in places.items() if secret in text] == []
