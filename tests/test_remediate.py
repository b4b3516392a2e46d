"""The rotation runbook: specific to the incident, in the responder's order, safe to paste."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from blastradius import remediate
from blastradius.model import CollectionGap
from blastradius.remediate import UNKNOWN_USER, rotation_plan
from blastradius.report import (
    Coverage,
    CredentialPivot,
    DatasetFinding,
    Escalation,
    Grant,
    KeyInfo,
    PathStep,
    PersistenceEvent,
    PrincipalReach,
    RotationStep,
)
from blastradius.rules import ROTATION_COLLECTIONS, ROTATION_PACK, ROTATION_VARIABLES, load_rules

RULES = load_rules()
ACCOUNT = "123456789012"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
USER_NAME = "tconnect-web-subcontractor"
USER = f"arn:aws:iam::{ACCOUNT}:user/{USER_NAME}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/data-sync"
PATH_ROLE = f"arn:aws:iam::{ACCOUNT}:role/team/etl-runner"
NOW = "2026-11-25T00:00:00Z"
SECRET = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/db-password-AbCdEf"
PARAM = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/prod/api/token"
KMS = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CUSTOMERS = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/tconnect-customers"


def finding(
    arn: str, type: str, name: str, access: tuple[str, ...] = ("read",), **kw: object
) -> DatasetFinding:
    step = PathStep(from_=USER, to=arn, kind="access", actions=("x:Y",))
    defaults: dict[str, object] = {
        "region": arn.split(":")[3] or "us-east-1",
        "certainty": "definite",
        "conditions": (),
        "sensitivity": "medium",
        "sensitivity_reasons": (),
        "estimated_records": None,
        "path": (step,),
        "grants": tuple(Grant(level=a, certainty="definite", path=(step,)) for a in access),
    }
    defaults.update(kw)
    return DatasetFinding(arn=arn, type=type, name=name, access=access, **defaults)  # type: ignore[arg-type]


KEY = KeyInfo(
    access_key_id=KEY_ID,
    account_id=ACCOUNT,
    principal_arn=USER,
    kind="long-term",
    status="Active",
    created="2022-01-10T09:00:00Z",
    last_used={"region": "ap-southeast-2"},
)
PRINCIPALS = (
    PrincipalReach(arn=USER, via="origin"),
    PrincipalReach(arn=ROLE, via="assume"),
    PrincipalReach(arn=PATH_ROLE, via="assume"),
    PrincipalReach(
        arn=f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/support.amazonaws.com/AWSServiceRoleForSupport",
        via="assume",
    ),
)
DATASETS = (
    finding(SECRET, "secretsmanager-secret", "prod/db-password", credential_pivot=True),
    finding(PARAM, "ssm-parameter", "/prod/api/token", access=("read", "write"), credential_pivot=True),
    finding(KMS, "kms-key", "alias/data", access=("read", "admin")),
    finding(
        CUSTOMERS,
        "dynamodb-table",
        "tconnect-customers",
        sensitivity="high",
        personal_data=True,
        sensitivity_reasons=("attribute email",),
        estimated_records=296019,
    ),
    finding(
        "arn:aws:s3:::public-assets", "s3-bucket", "public-assets", sensitivity="none", region="us-east-1"
    ),
)
COVERAGE = Coverage(services={"iam": "ok", "s3": "ok"}, regions=("us-east-1", "eu-west-1"))


def plan(**overrides: object) -> tuple[RotationStep, ...]:
    args: dict[str, object] = {
        "key": KEY,
        "principals": PRINCIPALS,
        "datasets": DATASETS,
        "escalations": (),
        "user_name": USER_NAME,
        "account_id": ACCOUNT,
        "rules": RULES,
        "coverage": COVERAGE,
        "now": NOW,
    }
    args.update(overrides)
    return rotation_plan(**args)  # type: ignore[arg-type]


def commands(steps: tuple[RotationStep, ...]) -> list[str]:
    return [c for s in steps for c in s.commands]


def step(steps: tuple[RotationStep, ...], step_id: str) -> RotationStep:
    return next(s for s in steps if s.id == step_id)


def test_runbook_names_user_key_roles_secrets() -> None:
    steps = plan()
    text = "\n".join(commands(steps))
    assert (
        f"aws iam update-access-key --user-name {USER_NAME} --access-key-id {KEY_ID} --status Inactive"
        in text
    )
    assert "put-role-policy --role-name data-sync " in text
    assert "put-role-policy --role-name etl-runner " in text  # the name, not the IAM path
    assert "AWSServiceRoleForSupport" not in text  # service-linked roles take no inline policy
    assert f"aws secretsmanager rotate-secret --secret-id {SECRET} --region eu-west-1" in text
    assert f"aws kms get-key-policy --key-id {KMS} --policy-name default --region us-east-1" in text
    assert (
        "aws ssm put-parameter --name /prod/api/token --overwrite --value file://NEW-VALUE-FILE "
        "--region us-east-1" in text
    )


def test_runbook_phases_run_in_order_and_steps_are_numbered() -> None:
    steps = plan()
    order = ["contain", "investigate", "eradicate", "recover", "notify"]
    assert [order.index(s.phase) for s in steps] == sorted(order.index(s.phase) for s in steps)
    assert [s.step for s in steps] == list(range(1, len(steps) + 1))
    assert steps[0].id == "deactivate-key"


def test_runbook_never_deletes_before_deactivating() -> None:
    cmds = commands(plan())
    deactivate = next(i for i, c in enumerate(cmds) if f"--access-key-id {KEY_ID} --status Inactive" in c)
    deletes = [i for i, c in enumerate(cmds) if "delete-access-key" in c]
    assert deletes and all(i > deactivate for i in deletes)
    # ... and the deletion waits for a replacement key and its verification.
    assert deletes[0] > next(i for i, c in enumerate(cmds) if "create-access-key" in c)
    assert deletes[0] > next(
        i for i, c in enumerate(cmds) if f"get-access-key-last-used --access-key-id {KEY_ID}" in c
    )


def test_deny_old_sessions_policy_is_valid_json_for_user_and_every_role() -> None:
    revoke = step(plan(), "revoke-sessions")
    targets = []
    for command in revoke.commands:
        argv = shlex.split(command)
        document = json.loads(argv[argv.index("--policy-document") + 1])
        assert document["Statement"][0]["Effect"] == "Deny"
        assert document["Statement"][0]["Condition"] == {"DateLessThan": {"aws:TokenIssueTime": NOW}}
        targets.append(argv[2] + " " + argv[4])
    assert targets == [
        f"put-user-policy {USER_NAME}",
        "put-role-policy data-sync",
        "put-role-policy etl-runner",
    ]


def test_every_command_is_one_well_quoted_shell_line() -> None:
    for command in commands(
        plan(
            escalations=(
                Escalation(
                    technique="iam:CreatePolicyVersion",
                    from_=USER,
                    to=USER,
                    certainty="definite",
                    actions=("iam:CreatePolicyVersion",),
                ),
            )
        )
    ):
        assert "\n" not in command
        shlex.split(command)  # balanced quotes


def test_cloudtrail_is_searched_in_every_covered_region() -> None:
    cmds = [c for c in commands(plan()) if "AttributeKey=AccessKeyId" in c]
    regions = [shlex.split(c)[shlex.split(c).index("--region") + 1] for c in cmds]
    # IAM's region first (global events), then the rest, including where the key was last used.
    assert regions == ["us-east-1", "ap-southeast-2", "eu-west-1"]
    assert all("--start-time 2022-01-10T09:00:00Z" in c for c in cmds)


def test_exposure_date_given_narrows_the_window() -> None:
    cmds = commands(plan(exposed_since="2022-09-01T00:00:00Z"))
    assert all("2022-01-10" not in c for c in cmds)
    assert any("--start-time 2022-09-01T00:00:00Z" in c for c in cmds)


def test_unknown_owner_gets_an_obvious_placeholder_and_a_way_to_find_it() -> None:
    key = KeyInfo(access_key_id=KEY_ID, account_id=ACCOUNT, principal_arn=None, kind="long-term")
    steps = plan(key=key, user_name=None, principals=(), exposed_since=None)
    deactivate = step(steps, "deactivate-key")
    assert any("not in the snapshot" in d for d in deactivate.details)
    assert (
        f"--user-name '{UNKNOWN_USER}' --access-key-id {KEY_ID} --status Inactive" in deactivate.commands[-1]
    )
    assert "list-access-keys" in deactivate.commands[0]
    # No creation date and no exposure date: the window start is a placeholder too, and said so.
    assert any("YYYY-MM-DDTHH:MM:SSZ" in c for c in commands(steps))


def test_session_key_cannot_be_deactivated_but_its_role_sessions_are_denied() -> None:
    key = KeyInfo(
        access_key_id="ASIAIOSFODNN7EXAMPLE",
        account_id=ACCOUNT,
        principal_arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/ci-deployer/build-42",
        kind="session",
    )
    steps = plan(key=key, user_name=None, principals=())
    ids = [s.id for s in steps]
    assert "deactivate-key" not in ids and "delete-old-key" not in ids and "replacement-key" not in ids
    assert ids[0] == "session-key"
    revoke = step(steps, "revoke-sessions")
    assert revoke.commands == (revoke.commands[0],)
    assert "put-role-policy --role-name ci-deployer " in revoke.commands[0]


def test_parameters_and_secrets_never_carry_a_value_on_the_command_line() -> None:
    for command in commands(plan()):
        if "put-parameter" in command:
            assert "--value file://" in command
        assert "--secret-string" not in command


def test_kms_admin_review_only_when_a_key_is_administered() -> None:
    assert "kms-admin" in [s.id for s in plan()]
    read_only_key = tuple(
        d if d.type != "kms-key" else finding(KMS, "kms-key", "alias/data") for d in DATASETS
    )
    assert "kms-admin" not in [s.id for s in plan(datasets=read_only_key)]


def test_notify_lists_personal_data_with_records_and_reasons() -> None:
    notify = step(plan(), "notify-personal-data")
    assert notify.details == (
        "tconnect-customers (dynamodb-table, us-east-1): 296,019 records, high — attribute email; "
        "access read, definite",
    )
    none = plan(datasets=DATASETS[:3])
    assert none[-1].id == "notify-none"


def test_coverage_gaps_become_an_investigate_step() -> None:
    coverage = Coverage(
        services={"iam": "ok", "rds": "AccessDenied"},
        regions=("us-east-1",),
        gaps=(
            CollectionGap(
                service="s3",
                region="us-east-1",
                operation="GetBucketPolicy",
                error_code="AccessDenied",
                resource="tconnect-exports",
            ),
        ),
    )
    gaps = step(plan(coverage=coverage), "coverage-gaps")
    assert gaps.details == (
        "s3 GetBucketPolicy in us-east-1 on tconnect-exports: AccessDenied",
        "rds: AccessDenied",
    )
    assert "coverage-gaps" not in [s.id for s in plan()]


def test_escalation_events_are_looked_up_by_their_cloudtrail_names() -> None:
    escalations = (
        Escalation(
            technique="passrole-lambda",
            from_=USER,
            to=ROLE,
            certainty="definite",
            actions=("iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"),
        ),
        Escalation(technique="iam:CreatePolicyVersion", from_=USER, to=USER, certainty="definite"),
    )
    used = step(plan(escalations=escalations), "escalation-used")
    assert used.details == (
        "CreateFunction20150331: used by passrole-lambda",
        "CreatePolicyVersion: used by iam:CreatePolicyVersion",
    )
    # IAM events live in us-east-1 only; Lambda's in every region.
    assert "for r in us-east-1; do" in used.commands[1]
    assert "for r in us-east-1 ap-southeast-2 eu-west-1; do" in used.commands[0]


def test_plan_is_deterministic() -> None:
    assert plan() == plan()


def test_responder_can_reword_a_step(tmp_path: Path) -> None:
    text = (Path(__file__).parents[1] / "policies" / ROTATION_PACK).read_text(encoding="utf-8")
    text = text.replace('title = "Mark {owner} as compromised"', 'title = "Tag {owner} (incident INC-1)"')
    (tmp_path / ROTATION_PACK).write_text(text, encoding="utf-8")
    steps = plan(rules=load_rules(tmp_path))
    assert step(steps, "tag-compromised").title == f"Tag user/{USER_NAME} (incident INC-1)"


@pytest.mark.parametrize("session", [False, True])
def test_vocabulary_of_rotation_toml_matches_the_facts(session: bool) -> None:
    # rotation.toml is validated against ROTATION_VARIABLES/COLLECTIONS; remediate must fill exactly those.
    key = (
        KEY
        if not session
        else KeyInfo(access_key_id="ASIAX", account_id=None, principal_arn=None, kind="session")
    )
    pivot = finding("arn:aws:s3:::infra-state", "s3-bucket", "infra-state", credential_pivot=True)
    coverage = Coverage(services={"rds": "AccessDenied"}, regions=("us-east-1",))
    facts = remediate._Facts(
        key=key,
        principals=PRINCIPALS,
        datasets=(*DATASETS, pivot),
        escalations=(
            Escalation(
                technique="t", from_=USER, to=ROLE, certainty="definite", actions=("iam:PutRolePolicy",)
            ),
        ),
        user_name=USER_NAME,
        account_id=ACCOUNT,
        exposed_since=None,
        coverage=coverage,
        regions=(),
        now=NOW,
        templates=RULES.rotation,
        actions_seen=(("dynamodb:DescribeTable", ("*",)),),
        persistence=(
            PersistenceEvent(
                event_name="CreateAccessKey",
                time="2026-11-20T10:05:00Z",
                region="us-east-1",
                target="user backdoor",
                created_access_key_id="AKIAI44QH8DHBEXAMPLE",
            ),
        ),
        pivots=tuple(
            CredentialPivot(
                arn=f"arn:aws:x:us-east-1:{ACCOUNT}:{kind}/x",
                kind=kind,
                name="x",
                region="us-east-1",
                names=("PWD",),
            )
            for kind in ("lambda-function", "codebuild-project", "ecs-task-definition")
        ),
    )
    assert set(facts.variables) == set(ROTATION_VARIABLES)
    assert set(facts.collections) == set(ROTATION_COLLECTIONS)
    assert all(facts.collections[name] for name in ROTATION_COLLECTIONS if name != "other_user")
    for name, items in facts.collections.items():
        for item in items:
            assert set(item) == set(ROTATION_COLLECTIONS[name]), name


def test_clock_and_regions_from_the_snapshot_are_accepted() -> None:
    from datetime import UTC, datetime

    steps = plan(now=datetime(2026, 11, 25, tzinfo=UTC), coverage=None, regions=("eu-central-1",))
    revoke = step(steps, "revoke-sessions")
    assert '"aws:TokenIssueTime":"2026-11-25T00:00:00Z"' in revoke.commands[0]
    lookups = step(steps, "cloudtrail-key").commands
    assert [shlex.split(c)[shlex.split(c).index("--region") + 1] for c in lookups] == [
        "us-east-1",
        "ap-southeast-2",
        "eu-central-1",
        "eu-west-1",
    ]


def test_session_key_of_a_user_denies_the_users_sessions() -> None:
    key = KeyInfo(
        access_key_id="ASIAIOSFODNN7EXAMPLE", account_id=ACCOUNT, principal_arn=USER, kind="session"
    )
    revoke = step(plan(key=key, principals=()), "revoke-sessions")
    assert revoke.commands[0].startswith(f"aws iam put-user-policy --user-name {USER_NAME} ")


def test_unknown_owner_sessions_are_denied_with_a_placeholder_user() -> None:
    key = KeyInfo(access_key_id=KEY_ID, account_id=ACCOUNT, principal_arn=None, kind="long-term")
    revoke = step(plan(key=key, user_name=None, principals=()), "revoke-sessions")
    assert revoke.commands[0].startswith(f"aws iam put-user-policy --user-name '{UNKNOWN_USER}' ")
