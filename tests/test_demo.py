"""``blastradius demo``: the reference incident shows what a responder needs first."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from blastradius.cli import app
from blastradius.demo import DB_SECRET, LEAKED_USER, PAYMENTS_TABLE, SIGNING_PARAMETER, SYNC_ROLE


def test_demo_ranks_customers_table_first_and_writes_a_runbook_for_this_incident() -> None:
    result = CliRunner().invoke(app, ["demo", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    top = report["datasets"][0]
    assert top["name"] == "tconnect-customers"
    assert top["sensitivity"] == "high" and "read" in top["access"]
    assert {"attribute email", "attribute customer_number"} <= set(top["sensitivity_reasons"])
    assert top["estimated_records"] >= 1000
    names = {d["name"] for d in report["datasets"]}
    assert PAYMENTS_TABLE not in names  # explicit deny
    assert SIGNING_PARAMETER not in names  # KMS key it may not use
    exports = next(d for d in report["datasets"] if d["name"] == "tconnect-exports")
    assert [s["kind"] for s in exports["path"]] == ["assume", "access"]
    conditional = next(d for d in report["datasets"] if d["certainty"] == "conditional")
    assert any("aws:SourceIp" in c for c in conditional["conditions"])

    runbook = json.dumps(report["rotation_plan"])
    key = report["key"]["access_key_id"]
    for must in (LEAKED_USER, key, SYNC_ROLE, DB_SECRET, "update-access-key"):
        assert must in runbook, must
    first = report["rotation_plan"][0]
    assert first["phase"] == "contain" and "--status Inactive" in first["commands"][0]


def test_demo_table_output_names_the_path_and_coverage() -> None:
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "tconnect-customers" in out and "sts:AssumeRole" in out
    assert "Coverage" in out and "Rotation plan" in out


def test_the_demo_pipeline_imports_no_module_from_its_collection_threads() -> None:
    # moto imports a service's modules on its first request; from the collection's threads, several
    # imports at once can crash CPython 3.11 (python/cpython#106905). The demo imports them first.
    import sys
    from datetime import timedelta

    from blastradius import api, demo

    with demo.incident_account() as (incident, session, created):  # imports them before collecting
        before = set(sys.modules)
        with demo.demo_clock(created + timedelta(hours=1)):
            report = api.analyze(
                incident.leaked_key_id, live=api.LiveOptions(regions=(demo.REGION,)), session=session
            )
        assert report.datasets
        assert sorted(set(sys.modules) - before) == []
