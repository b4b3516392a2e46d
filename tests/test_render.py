"""Renderers: the table a responder reads, the Markdown for the ticket, the JSON contract."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from blastradius.errors import UsageError
from blastradius.model import CollectionGap
from blastradius.remediate import rotation_plan
from blastradius.render import GRAPH_FORMATS, RENDERERS, describe_path, render
from blastradius.render.common import ranked, short_name
from blastradius.report import (
    Coverage,
    DatasetFinding,
    Escalation,
    Grant,
    KeyInfo,
    PathStep,
    PrincipalReach,
    Report,
)
from blastradius.rules import load_rules

ACCOUNT = "123456789012"
USER = f"arn:aws:iam::{ACCOUNT}:user/tconnect-web-subcontractor"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/data-sync"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ops-admin"
CUSTOMERS = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/tconnect-customers"
EXPORTS = "arn:aws:s3:::tconnect-exports"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/db-password-AbCdEf"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"

ASSUME = PathStep(
    from_=USER,
    to=ROLE,
    kind="assume",
    actions=("sts:AssumeRole",),
    policy="inline AssumeDataSync",
    statement="Assume",
)
SCAN = PathStep(
    from_=USER,
    to=CUSTOMERS,
    kind="access",
    actions=("dynamodb:Scan", "dynamodb:PutItem"),
    policy="app-data",
    statement="Data",
)
GET_EXPORTS = PathStep(
    from_=ROLE,
    to=EXPORTS,
    kind="access",
    actions=("s3:GetObject",),
    policy="ExportsRead",
    statement="Read",
)
GET_SECRET = PathStep(
    from_=USER,
    to=SECRET,
    kind="access",
    actions=("secretsmanager:GetSecretValue",),
    policy="app-data",
    statement="Secret",
    certainty="conditional",
    conditions=("aws:SourceIp 203.0.113.0/24",),
)
ESCALATE = PathStep(
    from_=USER,
    to=ADMIN_ROLE,
    kind="escalate",
    actions=("iam:PassRole", "lambda:CreateFunction"),
    technique="lambda-passrole",
)
ADMIN_ON_CUSTOMERS = PathStep(
    from_=ADMIN_ROLE,
    to=CUSTOMERS,
    kind="access",
    actions=("dynamodb:DeleteTable",),
    policy="AdministratorAccess",
)


def incident_report(*, gaps: tuple[CollectionGap, ...] = (), with_plan: bool = True) -> Report:
    """The tconnect incident: a subcontractor's key reads customers, exports via a role, a secret."""
    datasets = (
        DatasetFinding(
            arn=EXPORTS,
            type="s3-bucket",
            name="tconnect-exports",
            region="us-east-1",
            access=("read",),
            certainty="definite",
            conditions=(),
            sensitivity="high",
            sensitivity_reasons=("tag data-classification=pii",),
            estimated_records=None,
            path=(ASSUME, GET_EXPORTS),
            grants=(Grant(level="read", certainty="definite", path=(ASSUME, GET_EXPORTS)),),
            personal_data=True,
        ),
        DatasetFinding(
            arn=SECRET,
            type="secretsmanager-secret",
            name="prod/db-password",
            region="us-east-1",
            access=("read",),
            certainty="conditional",
            conditions=("aws:SourceIp 203.0.113.0/24",),
            sensitivity="medium",
            sensitivity_reasons=("name contains 'password'",),
            estimated_records=None,
            path=(GET_SECRET,),
            grants=(
                Grant(
                    level="read",
                    certainty="conditional",
                    path=(GET_SECRET,),
                    conditions=("aws:SourceIp 203.0.113.0/24",),
                ),
            ),
            credential_pivot=True,
        ),
        DatasetFinding(
            arn=CUSTOMERS,
            type="dynamodb-table",
            name="tconnect-customers",
            region="us-east-1",
            access=("read", "write", "admin"),
            certainty="definite",
            conditions=(),
            sensitivity="high",
            sensitivity_reasons=("attribute customer_number", "attribute email"),
            estimated_records=296019,
            path=(SCAN,),
            grants=(
                Grant(level="read", certainty="definite", path=(SCAN,)),
                Grant(level="write", certainty="definite", path=(SCAN,)),
                Grant(level="admin", certainty="definite", path=(ESCALATE, ADMIN_ON_CUSTOMERS)),
            ),
            personal_data=True,
        ),
    )
    key = KeyInfo(
        access_key_id=KEY_ID,
        account_id=ACCOUNT,
        principal_arn=USER,
        kind="long-term",
        status="Active",
        created="2022-01-10T09:00:00Z",
        last_used={"date": "2022-09-14T00:00:00Z", "service": "dynamodb", "region": "us-east-1"},
        identified_by="snapshot",
    )
    principals = (
        PrincipalReach(arn=USER, via="origin"),
        PrincipalReach(arn=ROLE, via="assume", path=(ASSUME,)),
        PrincipalReach(arn=ADMIN_ROLE, via="escalate", path=(ESCALATE,)),
    )
    escalations = (
        Escalation(
            technique="lambda-passrole",
            from_=USER,
            to=ADMIN_ROLE,
            certainty="definite",
            actions=("iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"),
            path=(ESCALATE,),
        ),
    )
    coverage = Coverage(
        services={"iam": "ok", "s3": "ok", "dynamodb": "ok", "secretsmanager": "ok"},
        regions=("us-east-1", "eu-west-1"),
        gaps=gaps,
    )
    plan = ()
    if with_plan:
        plan = rotation_plan(
            key=key,
            principals=principals,
            datasets=datasets,
            escalations=escalations,
            user_name="tconnect-web-subcontractor",
            account_id=ACCOUNT,
            rules=load_rules(),
            coverage=coverage,
            now="2026-11-25T00:00:00Z",
        )
    return Report(
        generated_at="2026-11-25T00:00:00Z",
        key=key,
        principals=principals,
        datasets=datasets,
        escalations=escalations,
        coverage=coverage,
        rotation_plan=plan,
    )


def test_describe_path_reads_as_a_sentence() -> None:
    assume = PathStep(from_=USER, to=ROLE, kind="assume", actions=("sts:AssumeRole",))
    assert describe_path((assume, GET_EXPORTS)) == (
        "user/tconnect-web-subcontractor ─sts:AssumeRole (trust policy of role/data-sync)→ role/data-sync "
        "─s3:GetObject (policy ExportsRead, statement 'Read')→ bucket tconnect-exports"
    )


@pytest.mark.parametrize(
    ("arn", "short"),
    [
        (USER, "user/tconnect-web-subcontractor"),
        (f"arn:aws:iam::{ACCOUNT}:role/team/etl", "role/etl"),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/ci/build-42", "role/ci"),
        (f"arn:aws:iam::{ACCOUNT}:root", f"account {ACCOUNT}"),
        (CUSTOMERS, "table tconnect-customers"),
        (EXPORTS, "bucket tconnect-exports"),
        (f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/prod/db", "parameter /prod/db"),
        ("not-an-arn", "not-an-arn"),
    ],
)
def test_short_names(arn: str, short: str) -> None:
    assert short_name(arn) == short


def test_datasets_rank_by_sensitivity_then_access_then_certainty_then_name() -> None:
    report = incident_report(with_plan=False)
    assert [f.name for f in ranked(report.datasets)] == [
        "tconnect-customers",
        "tconnect-exports",
        "prod/db-password",
    ]


def test_table_render_shows_coverage_even_when_complete() -> None:
    text = render(incident_report(), "table", color=False)
    assert "Coverage: complete" in text
    assert "gaps     none" in text
    assert "\x1b[" not in text  # no colour when not asked for


def test_table_render_lists_gaps_when_incomplete() -> None:
    gap = CollectionGap(
        service="rds", region="us-east-1", operation="DescribeDBInstances", error_code="AccessDenied"
    )
    text = render(incident_report(gaps=(gap,)), "table", color=False, width=200)
    assert "Coverage: INCOMPLETE" in text
    assert "rds DescribeDBInstances in us-east-1: AccessDenied" in text
    assert "unknown, not safe" in text


def test_table_render_ranks_paths_conditions_and_plan() -> None:
    text = render(incident_report(), "table", color=False, width=200)
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if "tconnect-customers" in line and "HIGH" in line)
    last = next(i for i, line in enumerate(lines) if "prod/db-password" in line and "MED" in line)
    assert first < last
    assert "296,019 records" in lines[first]
    assert "─sts:AssumeRole (policy inline AssumeDataSync, statement 'Assume')→ role/data-sync" in text
    assert "if   aws:SourceIp 203.0.113.0/24" in text  # conditions of the conditional secret
    assert (
        "admin user/tconnect-web-subcontractor ─escalate lambda-passrole" in text
    )  # admin only via escalation
    assert "lambda-passrole  user/tconnect-web-subcontractor → role/ops-admin  definite" in text
    assert (
        f"$ aws iam update-access-key --user-name tconnect-web-subcontractor --access-key-id {KEY_ID}" in text
    )


def test_table_commands_are_never_wrapped() -> None:
    report = incident_report()
    text = render(report, "table", color=False, width=60)
    for command in (c for s in report.rotation_plan for c in s.commands):
        assert f"$ {command}" in text


def test_table_prints_names_literally_not_as_markup() -> None:
    report = incident_report(with_plan=False)
    odd = replace(report.datasets[0], name="[bold]evil[/bold]")
    text = render(replace(report, datasets=(odd,)), "table", color=False)
    assert "[bold]evil[/bold]" in text


def test_table_colour_only_when_asked() -> None:
    assert "\x1b[" in render(incident_report(with_plan=False), "table", color=True)


def test_nothing_reachable_with_gaps_is_unknown_not_safe() -> None:
    gap = CollectionGap(service="s3", region="us-east-1", operation="ListBuckets", error_code="AccessDenied")
    report = replace(incident_report(gaps=(gap,), with_plan=False), datasets=())
    assert "unknown, not safe" in render(report, "table", color=False).split("Coverage:")[0]
    assert "Coverage is incomplete: unknown, not safe" in render(report, "markdown")


def test_markdown_contains_every_dataset() -> None:
    report = incident_report()
    text = render(report, "markdown")
    for f in report.datasets:
        assert f"`{f.name}`" in text
        assert f"`{f.arn}`" in text
    for heading in (
        "## Summary",
        "## Datasets",
        "## Paths",
        "## Escalations",
        "## Coverage",
        "## Rotation plan",
    ):
        assert heading in text
    assert text.count("```sh") == sum(1 for s in report.rotation_plan if s.commands)
    assert (
        "| 1 | high | dynamodb-table | `tconnect-customers` | read+write+admin | definite | 296,019 |" in text
    )


def test_markdown_escapes_pipes_in_cells() -> None:
    report = incident_report(with_plan=False)
    odd = replace(report.datasets[0], sensitivity_reasons=("tag a|b=c",))
    assert "tag a\\|b=c" in render(replace(report, datasets=(odd,)), "markdown")


def test_json_render_is_the_contract_and_deterministic() -> None:
    report = incident_report()
    text = render(report, "json")
    assert json.loads(text) == report.to_json()
    assert text == render(incident_report(), "json")
    # The contract's fields first, in order; later issues add fields after them (evidence, ...).
    assert list(json.loads(text))[:9] == [
        "schema",
        "generated_at",
        "key",
        "principals",
        "datasets",
        "escalations",
        "coverage",
        "rotation_plan",
        "credential_pivots",
    ]


def test_registry_and_unknown_format() -> None:
    assert set(RENDERERS) == {"table", "json", "markdown", "html", "dot", "graphml"}
    assert RENDERERS["json"](incident_report(with_plan=False)).startswith("{")
    with pytest.raises(UsageError, match="unknown format 'yaml'"):
        render(incident_report(with_plan=False), "yaml")


@pytest.mark.parametrize("fmt", sorted(set(RENDERERS) - GRAPH_FORMATS))  # graph exports: test_render_graph
def test_rotate_command_renders_only_the_rotation_plan(fmt: str) -> None:
    report = incident_report()
    text = render(report, fmt, only="rotation_plan")
    assert "aws iam update-access-key" in text
    assert "tconnect-customers (dynamodb-table" in text  # the notify step's details
    assert "ExportsRead" not in text  # no dataset paths
    if fmt == "json":
        assert list(json.loads(text)) == ["schema", "generated_at", "key", "rotation_plan"]
    with pytest.raises(UsageError, match="unknown report section 'plan'"):
        render(report, fmt, only="plan")


def test_identification_note_is_shown() -> None:
    report = incident_report(with_plan=False)
    noted = replace(report, key=replace(report.key, note="session key: the role could not be determined"))
    for fmt in ("table", "markdown"):
        assert "session key: the role could not be determined" in render(noted, fmt, width=200)


def test_table_rotation_details_are_bulleted_and_wrapped_under_the_step() -> None:
    """Each detail of a runbook step is one bullet, wrapped within the width, its continuation lines
    aligned with the step's text (as a grid row would be), however many details a step has."""
    report = incident_report()
    long = "dataset " + " ".join(f"word{i}" for i in range(40))
    steps = list(report.rotation_plan)
    steps[0] = replace(steps[0], details=("short one", long, "multi\nline"))
    text = render(replace(report, rotation_plan=tuple(steps)), "table", width=80)
    lines = text.splitlines()
    start = lines.index("    • short one")
    assert lines[start + 1].startswith("    • dataset word0")
    continued = lines[start + 2]
    assert continued.startswith("    word") and not continued.startswith("    •")
    assert all(len(line) <= 80 for line in lines[start : start + 6])
    wrapped = " ".join(line.strip() for line in lines[start + 1 : lines.index("    • multi")])
    assert wrapped == "• " + long
    assert lines[lines.index("    • multi") + 1] == "    line"
