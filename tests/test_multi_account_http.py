"""Several accounts end to end over HTTP: the real CLI against a ThreadedMotoServer.

``--role-arn`` (the auditor's credentials assume a role in account B), repeatable ``--profile`` (one
account per profile) and repeatable ``--snapshot`` must all give the answer of *Cross-account policy
evaluation logic*: dev's key reaches B's role and buckets only where both sides allow.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from multi_account import (
    AUDIT_ROLE_B,
    NOT_REACHED_BUCKETS,
    NOT_REACHED_ROLES,
    REACHED_BUCKETS,
    REACHED_ROLES,
    REGION,
    A,
    B,
    TwoAccounts,
    build_two_accounts,
)
from typer.testing import CliRunner

from blastradius.cli import app

pytestmark = pytest.mark.slow


def _cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def _assert_cross_account_answer(report: dict[str, Any]) -> None:
    principals = {p["arn"] for p in report["principals"]}
    datasets = {d["name"] for d in report["datasets"]}
    assert principals >= REACHED_ROLES and not (NOT_REACHED_ROLES & principals)
    assert datasets >= REACHED_BUCKETS and not (NOT_REACHED_BUCKETS & datasets), sorted(datasets)
    assert report["coverage"]["accounts"] == [A, B]


def test_analyze_with_role_arn_over_http(moto_server: str) -> None:
    two = build_two_accounts(moto_server)
    result = _cli(
        "analyze", "--key", two.key_id, "--endpoint-url", moto_server, "--region", REGION,
        "--role-arn", AUDIT_ROLE_B, "--format", "json",
    )  # fmt: skip
    report = json.loads(result.stdout)
    _assert_cross_account_answer(report)
    assert report["coverage"]["services"][f"{B}/s3"] == "ok"


@pytest.fixture
def profiles(moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TwoAccounts:
    """Profile ``a`` (moto's test credentials, account A) and ``b`` (credentials of a session in B)."""
    two = build_two_accounts(moto_server)
    creds = two.b.session.get_credentials()
    assert creds is not None
    frozen = creds.get_frozen_credentials()
    (tmp_path / "credentials").write_text(
        "[a]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
        f"[b]\naws_access_key_id = {frozen.access_key}\naws_secret_access_key = {frozen.secret_key}\n"
        f"aws_session_token = {frozen.token}\n",
        encoding="utf-8",
    )
    (tmp_path / "config").write_text(
        f"[profile a]\nregion = {REGION}\n[profile b]\nregion = {REGION}\n", encoding="utf-8"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return two


def test_one_account_per_profile_in_one_snapshot_or_merged_snapshots(
    profiles: TwoAccounts, moto_server: str, tmp_path: Path
) -> None:
    common = ("--endpoint-url", moto_server, "--region", REGION)
    # Two profiles, one merged snapshot.
    out = tmp_path / "ab.json"
    result = _cli("collect", "--profile", "a", "--profile", "b", "--output", str(out), *common)
    assert f"accounts {A}, {B}" in result.stderr
    snapshot = json.loads(out.read_text(encoding="utf-8"))
    assert snapshot["accounts"] == [A, B]
    assert {s: snapshot["services"][f"{B}/{s}"] for s in ("iam", "s3")} == {"iam": "ok", "s3": "ok"}
    report = json.loads(
        _cli("analyze", "--key", profiles.key_id, "--snapshot", str(out), "--format", "json").stdout
    )
    _assert_cross_account_answer(report)
    # One snapshot per profile, merged by analyze.
    _cli("collect", "--profile", "a", "--output", str(tmp_path / "a.json"), *common)
    _cli("collect", "--profile", "b", "--output", str(tmp_path / "b.json"), *common)
    result = _cli(
        "analyze", "--key", profiles.key_id, "--snapshot", str(tmp_path / "a.json"),
        "--snapshot", str(tmp_path / "b.json"), "--format", "json",
    )  # fmt: skip
    _assert_cross_account_answer(json.loads(result.stdout))
