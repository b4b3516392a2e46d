"""``blastradius diff``: did remediation shrink the blast radius? And ``demo --apply`` end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from blastradius import demo
from blastradius.cli import app
from blastradius.diff import diff_reports
from blastradius.report import REPORT_SCHEMA
from blastradius.schema import report_schema


def dataset(
    name: str, access: list[str], sensitivity: str = "high", certainty: str = "definite"
) -> dict[str, Any]:
    return {
        "arn": f"arn:aws:s3:::{name}",
        "name": name,
        "type": "s3-bucket",
        "access": access,
        "certainty": certainty,
        "sensitivity": sensitivity,
        "path": [
            {"from": "arn:aws:iam::123456789012:user/app", "to": f"arn:aws:s3:::{name}", "kind": "access"}
        ],
    }


def report(datasets: list[dict[str, Any]], status: str = "Active", **extra: Any) -> dict[str, Any]:
    return {
        "schema": REPORT_SCHEMA,
        "generated_at": "2026-11-25T00:00:00Z",
        "key": {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "status": status},
        "principals": extra.pop("principals", []),
        "datasets": datasets,
        "coverage": {"warnings": []},
        **extra,
    }


BEFORE = report(
    [dataset("exports", ["list", "read"]), dataset("logs", ["read"], "low"), dataset("pii", ["read"])],
    principals=[{"arn": "arn:aws:iam::123456789012:role/sync", "via": "assume"}],
)
AFTER = report(
    [
        dataset("pii", ["read"], certainty="conditional"),
        dataset("new", ["write"], "medium"),
        dataset("logs", ["read"], "low"),
    ]
)


def write(tmp_path: Path, name: str, data: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_appeared_disappeared_changed_and_paths() -> None:
    diff = diff_reports(BEFORE, AFTER)
    changes = {d.name: d.change for d in diff.datasets}
    assert changes == {"exports": "disappeared", "new": "appeared", "pii": "changed", "logs": "unchanged"}
    pii = next(d for d in diff.datasets if d.name == "pii")
    assert (pii.before_certainty, pii.after_certainty) == ("definite", "conditional")
    assert diff.principals_disappeared == ("arn:aws:iam::123456789012:role/sync",)
    assert [d.name for d in diff.at_or_above("medium")] == ["new", "pii"]


def test_exit_code_follows_what_the_after_report_still_reaches(tmp_path: Path) -> None:
    before, after = write(tmp_path, "b.json", BEFORE), write(tmp_path, "a.json", AFTER)
    still = CliRunner().invoke(app, ["diff", before, after, "--fail-on", "high"])
    assert still.exit_code == 1 and "disappeared" in still.stdout
    empty = write(
        tmp_path, "e.json", report([], status="Inactive", if_reactivated=[dataset("pii", ["read"])])
    )
    done = CliRunner().invoke(app, ["diff", before, empty, "--fail-on", "low", "--format", "json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["summary"]["disappeared"] == 3 and data["would_reach_if_reactivated"] == 1
    assert "now empty" in data["why"] and "Inactive" in data["why"]
    md = CliRunner().invoke(app, ["diff", before, after, "--format", "markdown"])
    assert md.exit_code == 0 and "| disappeared | high | s3-bucket | `exports` |" in md.stdout


def test_diff_refuses_what_is_not_a_report(tmp_path: Path) -> None:
    snapshot = write(tmp_path, "s.json", {"schema": "blastradius.snapshot/v1"})
    result = CliRunner().invoke(app, ["diff", snapshot, snapshot])
    assert result.exit_code == 2 and "not a blastradius.report/v1 report" in result.stderr


def test_demo_apply_contains_the_key_and_shows_the_blast_radius_is_now_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "CUSTOMER_ITEMS", 10)  # speed; the demo's own test keeps the full count
    log = tmp_path / "apply.jsonl"
    result = CliRunner().invoke(app, ["demo", "--apply", "--format", "json", "--audit-log", str(log)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["before"]["datasets"] and data["after"]["datasets"] == []
    assert data["after"]["key"]["status"] == "Inactive"
    assert {d["name"] for d in data["after"]["if_reactivated"]} == {
        d["name"] for d in data["before"]["datasets"]
    }
    assert [a["result"] for a in data["apply"]] == ["changed"] * 4
    assert data["diff"]["summary"]["disappeared"] == len(data["before"]["datasets"])
    assert "WITHOUT asking" in result.stderr and "Containment applied" in result.stderr
    assert log.exists()
    validator = Draft202012Validator(report_schema())
    validator.validate(data["before"])
    validator.validate(data["after"])  # an Inactive key: empty datasets, if_reactivated filled


def test_an_inactive_key_reaches_nothing_in_every_format() -> None:
    """An inactive key cannot sign requests ("Manage access keys for IAM users"): datasets stay "what the
    key can reach" (nothing), and what it would reach if re-activated is kept, in every format."""
    import dataclasses

    from test_render import incident_report

    from blastradius.render import render

    full = incident_report()
    report = dataclasses.replace(full, datasets=(), if_reactivated=full.datasets)
    assert "none: the key is Inactive. If re-activated it would reach" in render(report, "table")
    assert "None: the key is Inactive." in render(report, "markdown")
    document = json.loads(render(report, "json"))
    assert document["datasets"] == [] and len(document["if_reactivated"]) == len(full.datasets)
    Draft202012Validator(report_schema()).validate(document)
