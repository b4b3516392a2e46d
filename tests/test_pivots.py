"""Credential pivots: compute environment variables named like credentials, readable by the key, are listed
(report ``credential_pivots``) and rotated (runbook); their values are never read.

Which principal may read a function's environment is the engine's answer for
lambda:GetFunctionConfiguration / lambda:GetFunction on the function ARN (*Actions, resources, and
condition keys for AWS Lambda*); ecs:DescribeTaskDefinition supports no resource-level permissions
(*Actions, resources, and condition keys for Amazon ECS*), so only Resource "*" grants it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from compute_account import CANARY, module_moto
from jsonschema import Draft202012Validator
from scenarios import ACCOUNT, REGION, Account, allow, trust
from typer.testing import CliRunner

from blastradius import api
from blastradius.classify import credential_env_vars
from blastradius.cli import app
from blastradius.errors import RulePackError
from blastradius.rules import load_rules

SCHEMA = json.loads(
    (Path(__file__).resolve().parent.parent / "blastradius" / "schema" / "report.schema.json").read_text()
)
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:billing-sync"
QUIET = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:thumbnails"


def _functions(acct: Account) -> None:
    """billing-sync keeps a database password in its environment; thumbnails nothing secret."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return None\n")
    role = acct.role("fn", trust({"Service": "lambda.amazonaws.com"}))
    lam = acct.client("lambda")
    for name, env in (
        ("billing-sync", {"DB_PASSWORD": CANARY, "STRIPE_API_KEY": CANARY, "STAGE": "prod"}),
        ("thumbnails", {"STAGE": "prod", "BUCKET": "images"}),
    ):
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": buf.getvalue()},
            Environment={"Variables": env},
            Tags={"team": name.split("-")[0]},
        )


@dataclass(frozen=True)
class Incident:
    keys: dict[str, str]  # user name -> access key id
    snapshot: Path
    task_definition: str
    secret: str
    role: str


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Incident]:
    """One moto account with every user of these tests, collected once (analyses then run offline)."""
    with module_moto(tmp_path_factory.mktemp("aws")):
        yield _build(tmp_path_factory.mktemp("pivots") / "snapshot.json")


def _build(path: Path) -> Incident:
    acct = Account()
    _functions(acct)
    task = _task_definition(acct)
    secret = acct.client("secretsmanager").create_secret(Name="prod/db-password", SecretString=CANARY)["ARN"]
    role = acct.role(
        "lambda-reader", trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), allow("lambda:GetFunction", "*")
    )
    keys = {
        "ops": acct.user("ops", allow("lambda:GetFunctionConfiguration", FUNCTION)),
        "other": acct.user("other", allow(["lambda:GetFunctionConfiguration", "lambda:GetFunction"], QUIET)),
        "denied": acct.user(
            "denied",
            allow("lambda:*", "*"),
            {"Effect": "Deny", "Action": "lambda:Get*", "Resource": FUNCTION},
        ),
        "via-role": acct.user("via-role", allow("sts:AssumeRole", role)),
        "office": acct.user(
            "office",
            allow(
                "lambda:GetFunctionConfiguration",
                FUNCTION,
                Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
            ),
        ),
        "secrets": acct.user("secrets", allow("secretsmanager:GetSecretValue", secret)),
        "ecs-scoped": acct.user("ecs-scoped", allow("ecs:DescribeTaskDefinition", task)),
        "ecs-anywhere": acct.user("ecs-anywhere", allow("ecs:DescribeTaskDefinition", "*")),
        "tag-billing": acct.user("tag-billing", _by_team("billing")),
        "tag-payments": acct.user("tag-payments", _by_team("payments")),
    }
    snapshot = api.collect(
        api.LiveOptions(regions=(REGION,)), services=["iam", "lambda", "ecs", "secretsmanager"]
    )
    api.save_snapshot(snapshot, path)
    return Incident(keys=keys, snapshot=path, task_definition=task, secret=str(secret), role=role)


def _by_team(team: str) -> dict[str, Any]:
    return allow(
        "lambda:GetFunctionConfiguration",
        "*",
        Condition={"StringEquals": {"aws:ResourceTag/team": team}},
    )


def _report(incident: Incident, user: str) -> dict[str, Any]:
    """The real CLI's JSON for that user's key, on the collected snapshot."""
    key = incident.keys[user]
    result = CliRunner().invoke(
        app, ["analyze", "--key", key, "--snapshot", str(incident.snapshot), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert CANARY not in result.stdout  # a value is never read, so it can never be printed
    report: dict[str, Any] = json.loads(result.stdout)
    Draft202012Validator(SCHEMA).validate(report)
    return report


def _pivots(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["arn"]: p for p in report["credential_pivots"]}


def _step(report: dict[str, Any], step_id: str) -> dict[str, Any] | None:
    return next((s for s in report["rotation_plan"] if s["id"] == step_id), None)


def test_function_environment_readable_by_the_key_is_a_pivot_and_rotated(incident: Incident) -> None:
    report = _report(incident, "ops")
    pivot = _pivots(report)[FUNCTION]
    assert (pivot["kind"], pivot["name"], pivot["names"]) == (
        "lambda-function",
        "billing-sync",
        ["DB_PASSWORD", "STRIPE_API_KEY"],
    )
    assert pivot["certainty"] == "definite"
    assert [(s["kind"], s["actions"]) for s in pivot["path"]] == [
        ("access", ["lambda:GetFunctionConfiguration"])
    ]
    assert QUIET not in _pivots(report)  # names that say nothing about credentials
    step = _step(report, "rotate-environment-credentials")
    assert step is not None and step["phase"] == "eradicate"
    assert (
        f"aws lambda get-function-configuration --region {REGION} --function-name {FUNCTION} "
        "--query 'keys(Environment.Variables)'"
    ) in step["commands"]
    assert any(c.startswith("aws lambda update-function-configuration") for c in step["commands"])
    assert step["details"] == [f"billing-sync ({REGION}): DB_PASSWORD, STRIPE_API_KEY — readable by user/ops"]
    assert CANARY not in incident.snapshot.read_text(encoding="utf-8")


def test_permission_on_another_function_is_no_pivot(incident: Incident) -> None:
    report = _report(incident, "other")
    assert FUNCTION not in _pivots(report)
    assert _step(report, "rotate-environment-credentials") is None


def test_explicit_deny_on_reading_the_function_is_no_pivot(incident: Incident) -> None:
    """Policy evaluation logic: an explicit deny overrides the allow."""
    assert FUNCTION not in _pivots(_report(incident, "denied"))


def test_pivot_through_an_assumed_role_carries_the_whole_path(incident: Incident) -> None:
    pivot = _pivots(_report(incident, "via-role"))[FUNCTION]
    role = incident.role
    assert [(s["kind"], s["to"]) for s in pivot["path"]] == [("assume", role), ("access", FUNCTION)]
    assert pivot["path"][1]["actions"] == ["lambda:GetFunction"]


def test_source_ip_condition_makes_the_pivot_conditional(incident: Incident) -> None:
    pivot = _pivots(_report(incident, "office"))[FUNCTION]
    assert pivot["certainty"] == "conditional"
    assert any("aws:SourceIp" in c for c in pivot["conditions"])


def test_resource_tag_condition_decides_on_the_collected_function_tags(incident: Incident) -> None:
    """ABAC on the function (aws:ResourceTag/team): billing-sync is tagged team=billing."""
    assert _pivots(_report(incident, "tag-billing"))[FUNCTION]["certainty"] == "definite"
    assert FUNCTION not in _pivots(_report(incident, "tag-payments"))


def test_readable_credential_secret_is_listed_as_a_pivot_too(incident: Incident) -> None:
    pivot = _pivots(_report(incident, "secrets"))[incident.secret]
    assert pivot["kind"] == "secretsmanager-secret" and pivot["names"] == []
    assert "name contains 'password'" in pivot["reasons"]


def _task_definition(acct: Account) -> str:
    ecs = acct.client("ecs")
    definition = ecs.register_task_definition(
        family="api",
        containerDefinitions=[
            {
                "name": "app",
                "image": "app:1",
                "memory": 256,
                "environment": [{"name": "DB_PASSWORD", "value": CANARY}],
            }
        ],
    )
    return str(definition["taskDefinition"]["taskDefinitionArn"])


def test_task_definition_pivot_needs_resource_star(incident: Incident) -> None:
    """ecs:DescribeTaskDefinition has no resource-level permissions: an ARN-scoped allow never applies."""
    arn = incident.task_definition
    assert arn not in _pivots(_report(incident, "ecs-scoped"))
    report = _report(incident, "ecs-anywhere")
    assert _pivots(report)[arn]["names"] == ["DB_PASSWORD"]
    step = _step(report, "rotate-task-credentials")
    assert step is not None and any("deregister-task-definition" in c for c in step["commands"])


@pytest.mark.parametrize(
    ("name", "credential"),
    [
        ("DB_PASSWORD", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("githubToken", True),
        ("DATABASE_URL", True),
        ("PGPASSWORD", True),
        ("STRIPE_API_KEY", True),
        ("STAGE", False),
        ("LOG_LEVEL", False),
        ("BUCKET_NAME", False),
    ],
)
def test_env_var_names_that_say_credential(name: str, credential: bool) -> None:
    hits = credential_env_vars("lambda-function", [name], load_rules())
    assert bool(hits) is credential


def test_env_var_rule_types_must_be_compute_types(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parent.parent / "policies"
    for name in ("datastores.toml", "rotation.toml"):
        (tmp_path / name).write_text((shipped / name).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "sensitivity.toml").write_text(
        '[[rule]]\nid = "x"\non = "env_var"\nterms = ["password"]\ntypes = ["s3-bucket"]\n'
        'level = "medium"\nreason = "environment variable {var}"\n',
        encoding="utf-8",
    )
    with pytest.raises(RulePackError, match=r"sensitivity\.toml.*types"):
        load_rules(tmp_path)


def test_runbook_commands_per_compute_type() -> None:
    """Each compute type gets the commands that list the variable names and replace the environment."""
    from blastradius.remediate import rotation_plan
    from blastradius.report import CredentialPivot, KeyInfo

    project = f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/release"
    plan = rotation_plan(
        key=KeyInfo(access_key_id="AKIAEXAMPLE", account_id=ACCOUNT, principal_arn=None, kind="long-term"),
        principals=(),
        datasets=(),
        escalations=(),
        user_name="ops",
        account_id=ACCOUNT,
        rules=load_rules(),
        pivots=(
            CredentialPivot(
                arn=project, kind="codebuild-project", name="release", region=REGION, names=("NPM_TOKEN",)
            ),
        ),
    )
    (step,) = [s for s in plan if s.id == "rotate-build-credentials"]
    assert step.commands == (
        f"aws codebuild batch-get-projects --region {REGION} --names release "
        "--query 'projects[].environment.environmentVariables[].name'",
        f"aws codebuild update-project --region {REGION} --name release --environment file://NEW-ENVIRONMENT-FILE.json",
    )
    assert not [s for s in plan if s.id in ("rotate-environment-credentials", "rotate-task-credentials")]


@pytest.mark.parametrize(
    ("fmt", "heading"), [("table", "Credential pivots (1)"), ("markdown", "## Credential pivots")]
)
def test_text_reports_list_the_pivots(incident: Incident, fmt: str, heading: str) -> None:
    key = incident.keys["ops"]
    result = CliRunner().invoke(
        app, ["analyze", "--key", key, "--snapshot", str(incident.snapshot), "--format", fmt]
    )
    assert result.exit_code == 0, result.output
    assert heading in result.stdout
    assert "DB_PASSWORD, STRIPE_API_KEY" in result.stdout and CANARY not in result.stdout
