"""The command line as a responder meets it: wiring, exit codes, stderr diagnoses, the console script.

Helpers here (``invoke``, ``report_of``, ``assert_diagnosis``) are shared by the other CLI test files:
every JSON report a test sees is validated against the shipped schema, and every error must be one
paragraph on stderr with nothing on stdout.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from scenarios import ACCOUNT, REGION, Account, direct_read
from typer.testing import CliRunner, Result

from blastradius import api
from blastradius.cli import app
from blastradius.errors import BlastRadiusError, SnapshotError
from blastradius.schema import report_schema

FIXTURES = Path(__file__).parent / "fixtures"
BAD = FIXTURES / "bad"
# The key of user/app in the snapshots under fixtures/bad (its id decodes to moto's account).
FIXTURE_KEY = "AKIARZPUZDIKO66S32JL"
GOOD_SNAPSHOT = BAD / "malformed_policy.json"  # valid as a snapshot; one of its two policies is bad

REPORT_VALIDATOR = Draft202012Validator(report_schema())


def invoke(*args: str | Path, input: str | None = None) -> Result:
    """Run ``blastradius ARGS`` in-process, stdout and stderr kept apart."""
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def validated(document: dict[str, Any]) -> dict[str, Any]:
    """The report, after checking it against the shipped ``blastradius.report/v1`` schema."""
    REPORT_VALIDATOR.validate(document)
    return document


def report_of(result: Result) -> dict[str, Any]:
    """The JSON report on stdout of a run that produced one (exit 0 or 1), schema-validated."""
    assert result.exit_code in (0, 1), f"exit {result.exit_code}\n{result.stderr}\n{result.exception!r}"
    return validated(json.loads(result.stdout))


def assert_diagnosis(result: Result, pattern: str) -> str:
    """Exit 2, nothing on stdout, and one paragraph on stderr matching ``pattern``; returns it."""
    assert result.exit_code == 2, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    assert result.stdout == ""
    text = result.stderr.strip()
    diagnosis = text[text.index("error: ") :]
    assert "\n\n" not in diagnosis, "the diagnosis should be one paragraph"
    assert "Traceback" not in text
    assert re.search(pattern, diagnosis, re.DOTALL), diagnosis
    return diagnosis


def datasets(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Reachable datasets by name."""
    return {d["name"]: d for d in report["datasets"]}


# -- wiring ------------------------------------------------------------------------------------------


def test_help_lists_the_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("analyze", "rotate", "collect", "demo"):
        assert command in result.stdout


def test_unknown_format_is_a_usage_error() -> None:
    result = invoke("analyze", "--snapshot", GOOD_SNAPSHOT, "--key", FIXTURE_KEY, "--format", "yaml")
    assert_diagnosis(result, r"unknown format 'yaml'.*Choose among: table, json, markdown")


def test_assume_context_must_be_key_equals_value() -> None:
    result = invoke(
        "analyze", "--snapshot", GOOD_SNAPSHOT, "--key", FIXTURE_KEY, "--assume-context", "aws:SourceIp"
    )
    assert_diagnosis(result, r"--assume-context 'aws:SourceIp' is not KEY=VALUE.*aws:SourceIp=10\.0\.0\.5")


def test_secret_stdin_cannot_be_combined_with_a_snapshot() -> None:
    result = invoke(
        "analyze", "--snapshot", GOOD_SNAPSHOT, "--key", FIXTURE_KEY, "--secret-stdin", input="x\n"
    )
    assert_diagnosis(result, r"--secret-stdin needs live credentials")


def test_secret_stdin_with_empty_stdin_says_how_to_feed_it() -> None:
    result = invoke("analyze", "--key", FIXTURE_KEY, "--secret-stdin", input="")
    assert_diagnosis(result, r"stdin held no secret.*echo \"\$SECRET\" \| blastradius")


def test_principal_is_only_for_snapshots() -> None:
    result = invoke("analyze", "--key", FIXTURE_KEY, "--principal", "app")
    assert_diagnosis(result, r"--principal only applies with --snapshot")


class _Captured(BlastRadiusError):
    """Raised by the spies below once they have seen the options."""


@pytest.mark.parametrize("command", ["analyze", "collect"])
def test_endpoint_url_is_read_from_aws_endpoint_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: str
) -> None:
    seen: list[api.LiveOptions] = []

    def spy(*args: Any, live: api.LiveOptions | None = None, **kwargs: Any) -> Any:
        seen.append(live if live is not None else args[0])
        raise _Captured("stop here")

    monkeypatch.setattr(api, command, spy)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    args = ["--key", FIXTURE_KEY] if command == "analyze" else ["--output", tmp_path / "s.json"]
    assert invoke(command, *args).exit_code == 2
    assert invoke(command, *args, "--endpoint-url", "http://127.0.0.1:5000").exit_code == 2
    # The environment variable stands in for the flag; an explicit flag wins.
    assert [live.endpoint_url for live in seen] == ["http://127.0.0.1:4566", "http://127.0.0.1:5000"]


def test_debug_reraises_with_the_original_error() -> None:
    result = invoke("analyze", "--snapshot", BAD / "empty.json", "--key", FIXTURE_KEY, "--debug")
    assert isinstance(result.exception, SnapshotError)
    assert "the file is empty" in str(result.exception)


def test_debug_logging_ends_with_the_command() -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    for _ in range(2):
        result = invoke("analyze", "--snapshot", GOOD_SNAPSHOT, "--key", FIXTURE_KEY, "--debug")
        assert result.exit_code == 0, result.output
    assert root.handlers == handlers
    assert root.level == level


def test_diagnosis_quoting_brackets_is_not_read_as_markup(tmp_path: Path) -> None:
    # "[/x]" in a path is rich's closing-tag syntax: printed as markup it used to crash the error boundary.
    odd = tmp_path / "[" / "x]"
    odd.mkdir(parents=True)
    missing = odd / "snap.json"
    result = invoke("analyze", "--snapshot", missing, "--key", FIXTURE_KEY)
    assert_diagnosis(result, re.escape(f"{missing}: cannot read the file"))


def test_report_written_to_a_bracketed_path(tmp_path: Path) -> None:
    odd = tmp_path / "[" / "x]"
    odd.mkdir(parents=True)
    out = odd / "report.json"
    result = invoke("analyze", "--snapshot", GOOD_SNAPSHOT, "--key", FIXTURE_KEY, "-f", "json", "-o", out)
    assert result.exit_code == 0, result.output
    assert f"report written to {out}" in result.stderr
    validated(json.loads(out.read_text()))


# -- the installed console script, over HTTP ---------------------------------------------------------


def _console_script() -> str:
    found = shutil.which("blastradius", path=str(Path(sys.executable).parent)) or shutil.which("blastradius")
    assert found, "the blastradius console script is not installed"
    return found


@pytest.mark.slow
def test_console_script_against_a_moto_server(moto_server: str) -> None:
    key = direct_read(Account(moto_server))
    # No --endpoint-url: the console script reads AWS_ENDPOINT_URL, as the README promises.
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_server, "AWS_EC2_METADATA_DISABLED": "true"}
    done = subprocess.run(
        [_console_script(), "analyze", "--key", key, "--region", REGION, "-f", "json", "--fail-on", "high"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr  # the customers table (e-mail addresses) is high
    report = validated(json.loads(done.stdout))
    assert report["key"]["principal_arn"] == f"arn:aws:iam::{ACCOUNT}:user/app"
    assert datasets(report)["customers"]["sensitivity"] == "high"
    assert report["coverage"]["complete"] is True
    # stderr carries the per-service progress lines, stdout the report only.
    assert re.search(r"dynamodb\s+us-east-1\s+✓ 1", done.stderr)
