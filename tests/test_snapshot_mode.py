"""Pipeline and post-incident review: collect once, analyse offline — private files, byte-identical JSON,
exit codes by severity, every format, and the runbook from a snapshot.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from conftest import MOTO_CREDENTIALS
from scenarios import ACCOUNT, REGION, Account, direct_read, role_chain_two_hops
from test_cli import _console_script, datasets, invoke, report_of, validated

from blastradius.importers import load_snapshot

EPOCH = "1764028800"  # 2025-11-25T00:00:00Z


class Incident(NamedTuple):
    """A collected account and the keys of its users."""

    snapshot: Path
    app: str  # reads the customers table (e-mail addresses): high
    jump: str  # reaches a pii-tagged bucket through two roles: high
    intern: str  # no policy at all: reaches nothing


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Incident]:
    """One account collected through ``blastradius collect`` against in-process moto, for the module."""
    from moto import mock_aws

    empty = tmp_path_factory.mktemp("aws") / "empty"
    empty.write_text("")
    snapshot = tmp_path_factory.mktemp("incident") / "snap.json"
    with pytest.MonkeyPatch.context() as mp, mock_aws():
        for name, value in {**MOTO_CREDENTIALS, "AWS_CONFIG_FILE": str(empty)}.items():
            mp.setenv(name, value)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        acct = Account()
        keys = direct_read(acct), role_chain_two_hops(acct), acct.user("intern")
        result = invoke("collect", "--output", snapshot, "--region", REGION)
        assert result.exit_code == 0, result.output
    yield Incident(snapshot, *keys)


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that would leave new files world-readable: the tool must not rely on the caller's."""
    previous = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(previous)


# -- collect -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_collect_over_http_writes_a_private_snapshot(
    moto_server: str, tmp_path: Path, open_umask: None
) -> None:
    key = direct_read(Account(moto_server))
    snapshot = tmp_path / "snap.json"
    snapshot.write_text("old")
    snapshot.chmod(0o644)  # an existing, readable file is tightened too
    result = invoke("collect", "--output", snapshot, "--endpoint-url", moto_server, "--region", REGION)
    assert result.exit_code == 0, result.output
    assert mode(snapshot) == 0o600
    assert result.stdout == ""
    assert (
        f"snapshot of account {ACCOUNT} written to {snapshot} (1 users, 0 roles, 1 datasets" in result.stderr
    )
    loaded = load_snapshot(snapshot)
    assert loaded.schema == "blastradius.snapshot/v1"
    assert [k.access_key_id for u in loaded.users for k in u.access_keys] == [key]


def test_collect_snapshot_is_private(incident: Incident) -> None:
    assert mode(incident.snapshot) == 0o600


# -- analyze --snapshot --------------------------------------------------------------------------------


def test_same_snapshot_gives_byte_identical_json(incident: Incident) -> None:
    # Two processes with different hash seeds: set and dict ordering may not leak into the output.
    args = [_console_script(), "analyze", "--snapshot", str(incident.snapshot), "--key", incident.jump]
    runs = [
        subprocess.run(
            [*args, "--format", "json"],
            env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "PYTHONHASHSEED": seed},
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
        for seed in ("1", "2")
    ]
    assert runs[0] == runs[1]
    report = validated(json.loads(runs[0]))
    assert report["generated_at"] == "2025-11-25T00:00:00Z"
    assert "chain-exports" in datasets(report)


def test_same_snapshot_in_process_is_byte_identical(
    incident: Incident, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    args = ("analyze", "--snapshot", incident.snapshot, "--key", incident.app, "--format", "json")
    first, second = invoke(*args), invoke(*args)
    assert first.stdout == second.stdout
    assert report_of(first)["generated_at"] == "2025-11-25T00:00:00Z"


def test_report_file_is_private(incident: Incident, tmp_path: Path, open_umask: None) -> None:
    out = tmp_path / "report.json"
    out.write_text("stale")
    out.chmod(0o644)
    result = invoke(
        "analyze", "--snapshot", incident.snapshot, "--key", incident.app, "-f", "json", "-o", out
    )
    assert result.exit_code == 0, result.output
    assert mode(out) == 0o600
    assert result.stdout == ""  # the report went to the file only
    assert f"report written to {out}" in result.stderr
    assert validated(json.loads(out.read_text()))["key"]["access_key_id"] == incident.app


@pytest.mark.parametrize(
    ("who", "fail_on", "exit_code"),
    [
        pytest.param("app", "high", 1, id="high-dataset-fails-on-high"),
        pytest.param("app", "medium", 1, id="high-dataset-fails-on-medium"),
        pytest.param("app", "none", 0, id="fail-on-none-never-fails"),
        pytest.param("app", None, 0, id="default-is-none"),
        pytest.param("jump", "high", 1, id="high-through-two-roles"),
        pytest.param("intern", "high", 0, id="nothing-reachable"),
        pytest.param("intern", "low", 0, id="nothing-reachable-low"),
    ],
)
def test_fail_on_sets_the_exit_code(
    incident: Incident, who: str, fail_on: str | None, exit_code: int
) -> None:
    key = getattr(incident, who)
    extra = ["--fail-on", fail_on] if fail_on else []
    result = invoke("analyze", "--snapshot", incident.snapshot, "--key", key, "--format", "json", *extra)
    assert result.exit_code == exit_code, result.output
    report = report_of(result)  # the report is complete whatever the exit code
    assert bool(report["datasets"]) == (who != "intern")


def test_fail_on_with_output_file_still_writes_the_report(incident: Incident, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = invoke(
        "analyze",
        "--snapshot",
        incident.snapshot,
        "--key",
        incident.app,
        "-f",
        "json",
        "-o",
        out,
        "--fail-on",
        "high",
    )
    assert result.exit_code == 1
    assert datasets(validated(json.loads(out.read_text())))["customers"]["sensitivity"] == "high"


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        pytest.param("markdown", ["# blastradius report: {key}", "| high | dynamodb-table | `customers` |"]),
        pytest.param("table", ["leaked key {key} → user/app", "HIGH  dynamodb-table  customers  read"]),
    ],
)
def test_markdown_and_table_formats(incident: Incident, fmt: str, expected: list[str]) -> None:
    result = invoke("analyze", "--snapshot", incident.snapshot, "--key", incident.app, "--format", fmt)
    assert result.exit_code == 0, result.output
    for text in expected:
        assert text.format(key=incident.app) in result.stdout
    assert "\x1b[" not in result.stdout  # no colour codes when stdout is not a terminal
    assert "Rotation plan" in result.stdout


def test_rotate_prints_the_runbook_naming_user_and_key(incident: Incident) -> None:
    result = invoke("rotate", "--key", incident.app, "--snapshot", incident.snapshot)
    assert result.exit_code == 0, result.output
    runbook = result.stdout
    assert (
        f"aws iam update-access-key --user-name app --access-key-id {incident.app} --status Inactive"
        in runbook
    )
    assert f"Deactivate the leaked key {incident.app} of user/app" in runbook
    assert "aws iam put-user-policy --user-name app --policy-name AWSRevokeOlderSessions" in runbook
    assert "Reachable datasets" not in runbook  # the runbook only


def test_rotate_as_json(incident: Incident, tmp_path: Path) -> None:
    out = tmp_path / "runbook.json"
    result = invoke("rotate", "--key", incident.app, "--snapshot", incident.snapshot, "-f", "json", "-o", out)
    assert result.exit_code == 0, result.output
    assert mode(out) == 0o600
    plan = json.loads(out.read_text())["rotation_plan"]
    assert plan[0]["phase"] == "contain"
    assert any(incident.app in command for step in plan for command in step["commands"])


def test_session_key_of_the_account_gives_a_report_that_says_what_is_unknown(incident: Incident) -> None:
    from test_bad_input import key_of_account

    key = key_of_account(ACCOUNT, prefix="ASIA")
    report = report_of(invoke("analyze", "--snapshot", incident.snapshot, "--key", key, "-f", "json"))
    assert report["key"]["account_id"] == ACCOUNT
    assert "owner role unknown" in (report["key"]["note"] or "")
    assert any("not found in the snapshot" in w for w in report["coverage"]["warnings"])


def test_exposed_since_starts_the_investigation_window_of_the_runbook(incident: Incident) -> None:
    """``--exposed-since`` replaces the key's creation date in the CloudTrail look-ups."""
    args = ("rotate", "--key", incident.app, "--snapshot", incident.snapshot, "--format", "json")
    result = invoke(*args, "--exposed-since", "2022-01-31")
    assert result.exit_code == 0, result.stderr
    assert "--start-time 2022-01-31T00:00:00Z" in result.stdout
    bad = invoke(*args, "--exposed-since", "last year")
    assert bad.exit_code == 2 and "ISO 8601" in bad.stderr
