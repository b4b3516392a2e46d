"""Compute collectors (Lambda, EC2, CloudFormation, CodeBuild, SageMaker, ECS, Glue) and instance profiles.

moto 5 implements every API these collectors call (ListFunctions, DescribeInstances, DescribeStacks,
ListProjects/BatchGetProjects, ListNotebookInstances/DescribeNotebookInstance,
ListTaskDefinitionFamilies/DescribeTaskDefinition, GetDevEndpoints, GetAccountAuthorizationDetails with
InstanceProfileList), so the happy paths run against moto; failures are injected on the real clients
(``_deny``) or with botocore's ``Stubber``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from compute_account import AMI, CANARY, build_compute, module_moto

from blastradius.aws import ClientFactory
from blastradius.collect.base import Scope
from blastradius.collect.cloudformation import collect_cloudformation
from blastradius.collect.codebuild import collect_codebuild
from blastradius.collect.ec2 import collect_ec2, resolve_instance_roles
from blastradius.collect.ecs import collect_ecs
from blastradius.collect.glue import collect_glue
from blastradius.collect.iam import normalise_instance_profiles
from blastradius.collect.lambda_ import collect_lambda
from blastradius.collect.runner import COMPUTE_SERVICES, collect_account
from blastradius.collect.sagemaker import collect_sagemaker
from blastradius.model import (
    CLOUDFORMATION_STACK,
    CODEBUILD_PROJECT,
    EC2_INSTANCE,
    ECS_TASK_DEFINITION,
    GLUE_DEV_ENDPOINT,
    LAMBDA_FUNCTION,
    SAGEMAKER_NOTEBOOK,
    ComputeResource,
    InstanceProfile,
    Snapshot,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[boto3.Session, dict[str, str]]]:
    """One in-process moto account with one of each compute resource, built once for the module (tests
    that change state use another region)."""
    with module_moto(tmp_path_factory.mktemp("aws")):
        session = boto3.Session(region_name=REGION)
        yield session, build_compute(session)


@pytest.fixture
def session(account: tuple[boto3.Session, dict[str, str]]) -> boto3.Session:
    return account[0]


@pytest.fixture
def roles(account: tuple[boto3.Session, dict[str, str]]) -> dict[str, str]:
    return account[1]


@pytest.fixture
def clients(session: boto3.Session) -> ClientFactory:
    return ClientFactory(session)


def _scope(clients: Any, region: str = REGION) -> Scope:
    return Scope(clients=clients, account_id=ACCOUNT, region=region, home_region=REGION)


def _deny(client: Any, method: str) -> None:
    """Make ``client.method`` raise AccessDenied."""

    def denied(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "explicit deny"}}, method)

    setattr(client, method, denied)


def _one(resources: tuple[ComputeResource, ...]) -> ComputeResource:
    (resource,) = resources
    return resource


def test_lambda_function_keeps_role_and_env_var_names_never_values(
    roles: dict[str, str], clients: ClientFactory
) -> None:
    result = collect_lambda(_scope(clients))
    fn = _one(result.compute)
    assert (fn.type, fn.name, fn.role_arn) == (LAMBDA_FUNCTION, "billing-sync", roles["fn-role"])
    assert fn.arn == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:billing-sync"
    assert fn.env_var_names == ("DB_PASSWORD", "STAGE")
    assert dict(fn.tags) == {"team": "billing"}
    assert CANARY not in json.dumps(result.compute[0].details) and result.gaps == ()


def test_ec2_instance_gets_its_role_through_the_instance_profile(
    session: boto3.Session, roles: dict[str, str], clients: ClientFactory
) -> None:
    """Using instance profiles: a profile holds one role, which the instance's code receives."""
    instance = _one(collect_ec2(_scope(clients)).compute)
    profile_arn = f"arn:aws:iam::{ACCOUNT}:instance-profile/apps/web-profile"
    assert (instance.type, instance.name, instance.instance_profile_arn) == (
        EC2_INSTANCE,
        "web-1",
        profile_arn,
    )
    assert instance.role_arn is None  # resolved when the account is assembled
    assert instance.arn.startswith(f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-")
    gaad = session.client("iam").get_account_authorization_details()
    profiles = normalise_instance_profiles(gaad["RoleDetailList"])
    assert profiles == (InstanceProfile(arn=profile_arn, name="web-profile", role_arns=(roles["web-role"],)),)
    (resolved,), warnings = resolve_instance_roles([instance], profiles, iam_collected=True)
    assert resolved.role_arn == roles["web-role"] and warnings == ()


def test_instance_profile_unknown_to_iam_is_a_warning_not_a_role() -> None:
    instance = ComputeResource(
        arn=f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-1",
        type=EC2_INSTANCE,
        name="i-1",
        account_id=ACCOUNT,
        region=REGION,
        instance_profile_arn=f"arn:aws:iam::{ACCOUNT}:instance-profile/gone",
    )
    (resolved,), warnings = resolve_instance_roles([instance], (), iam_collected=False)
    assert resolved.role_arn is None and resolved.details["instance_profile_role"] == "unknown"
    assert "IAM was not collected" in warnings[0]


def test_terminated_instances_are_left_out(session: boto3.Session, clients: ClientFactory) -> None:
    region = "eu-west-3"  # its own region: the module's account is shared
    ec2 = session.client("ec2", region)
    (instance,) = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"]
    assert len(collect_ec2(_scope(clients, region)).compute) == 1
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    result = collect_ec2(_scope(clients, region))
    assert (result.compute, result.listing_error) == ((), None)


def test_stack_with_its_service_role(roles: dict[str, str], clients: ClientFactory) -> None:
    stack = _one(collect_cloudformation(_scope(clients)).compute)
    assert (stack.type, stack.name, stack.role_arn) == (CLOUDFORMATION_STACK, "network", roles["deploy-role"])
    assert stack.arn.startswith(f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/network/")


def test_codebuild_project_plaintext_names_only(roles: dict[str, str], clients: ClientFactory) -> None:
    project = _one(collect_codebuild(_scope(clients)).compute)
    assert (project.type, project.name, project.role_arn) == (
        CODEBUILD_PROJECT,
        "release",
        roles["build-role"],
    )
    assert project.env_var_names == ("NPM_TOKEN",)  # the Secrets Manager reference is not a value
    assert project.details["env_var_references"] == ["DEPLOY_KEY"]
    assert CANARY not in json.dumps(project.details)


def test_codebuild_batch_denied_keeps_projects_as_unknown(clients: ClientFactory) -> None:
    _deny(clients("codebuild", REGION), "batch_get_projects")
    result = collect_codebuild(_scope(clients))
    project = _one(result.compute)
    assert (project.name, project.role_arn, project.details["not_collected"]) == (
        "release",
        None,
        ["BatchGetProjects"],
    )
    assert [(g.service, g.operation, g.error_code) for g in result.gaps] == [
        ("codebuild", "BatchGetProjects", "AccessDenied")
    ]
    assert result.listing_error is None


def test_function_tags_denied_is_a_gap_on_that_function(clients: ClientFactory) -> None:
    _deny(clients("lambda", REGION), "list_tags")
    result = collect_lambda(_scope(clients))
    fn = _one(result.compute)
    assert fn.role_arn is not None and fn.details["not_collected"] == ["ListTags"]
    assert [(g.operation, g.resource) for g in result.gaps] == [("ListTags", fn.arn)]


def test_notebook_role_from_its_description(roles: dict[str, str], clients: ClientFactory) -> None:
    notebook = _one(collect_sagemaker(_scope(clients)).compute)
    assert (notebook.type, notebook.name, notebook.role_arn) == (
        SAGEMAKER_NOTEBOOK,
        "research",
        roles["notebook-role"],
    )


def test_notebook_description_denied_is_a_gap_on_that_notebook(clients: ClientFactory) -> None:
    _deny(clients("sagemaker", REGION), "describe_notebook_instance")
    result = collect_sagemaker(_scope(clients))
    notebook = _one(result.compute)
    assert notebook.role_arn is None and notebook.details["not_collected"] == ["DescribeNotebookInstance"]
    (gap,) = result.gaps
    assert (gap.operation, gap.resource) == ("DescribeNotebookInstance", notebook.arn)


def test_task_definition_latest_revision_roles(roles: dict[str, str], clients: ClientFactory) -> None:
    """Only the latest ACTIVE revision per family is read (revision 1 ran with another role)."""
    task = _one(collect_ecs(_scope(clients)).compute)
    assert (task.type, task.name, task.role_arn) == (ECS_TASK_DEFINITION, "api", roles["task-role"])
    assert task.arn == f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/api:2"
    assert task.details["execution_role_arn"] == roles["exec-role"]
    assert task.env_var_names == ("STRIPE_API_KEY",)
    assert task.details["env_var_references"] == ["DB_URL"]


def test_glue_dev_endpoint_role(roles: dict[str, str], clients: ClientFactory) -> None:
    endpoint = _one(collect_glue(_scope(clients)).compute)
    assert (endpoint.type, endpoint.name, endpoint.role_arn) == (
        GLUE_DEV_ENDPOINT,
        "etl-dev",
        roles["glue-role"],
    )
    assert endpoint.arn == f"arn:aws:glue:{REGION}:{ACCOUNT}:devEndpoint/etl-dev"


@pytest.mark.parametrize(
    ("collect", "service", "method", "operation"),
    [
        (collect_lambda, "lambda", "list_functions", "ListFunctions"),
        (collect_ec2, "ec2", "describe_instances", "DescribeInstances"),
        (collect_cloudformation, "cloudformation", "describe_stacks", "DescribeStacks"),
        (collect_codebuild, "codebuild", "list_projects", "ListProjects"),
        (collect_sagemaker, "sagemaker", "list_notebook_instances", "ListNotebookInstances"),
        (collect_ecs, "ecs", "list_task_definition_families", "ListTaskDefinitionFamilies"),
        (collect_glue, "glue", "get_dev_endpoints", "GetDevEndpoints"),
    ],
)
def test_denied_listing_is_the_services_error_not_empty(
    clients: ClientFactory, collect: Any, service: str, method: str, operation: str
) -> None:
    stub = Stubber(clients(service, REGION))
    stub.add_client_error(method, "AccessDeniedException", "denied")
    with stub:
        result = collect(_scope(clients))
    assert (result.compute, result.listing_error) == ((), "AccessDeniedException")
    assert [(g.service, g.operation, g.resource) for g in result.gaps] == [(service, operation, None)]


def test_account_snapshot_holds_compute_and_profiles_and_round_trips(
    session: boto3.Session, roles: dict[str, str]
) -> None:
    snapshot = collect_account(session, regions=[REGION])
    assert {s: snapshot.services[s] for s in COMPUTE_SERVICES} == dict.fromkeys(COMPUTE_SERVICES, "ok")
    by_type = {c.type: c for c in snapshot.compute}
    assert by_type[EC2_INSTANCE].role_arn == roles["web-role"]
    assert {t: c.role_arn for t, c in by_type.items()} == {
        LAMBDA_FUNCTION: roles["fn-role"],
        EC2_INSTANCE: roles["web-role"],
        CLOUDFORMATION_STACK: roles["deploy-role"],
        CODEBUILD_PROJECT: roles["build-role"],
        SAGEMAKER_NOTEBOOK: roles["notebook-role"],
        ECS_TASK_DEFINITION: roles["task-role"],
        GLUE_DEV_ENDPOINT: roles["glue-role"],
    }
    assert [p.name for p in snapshot.instance_profiles] == ["web-profile"]
    text = json.dumps(snapshot.to_json())
    assert CANARY not in text
    assert Snapshot.from_json(json.loads(text)) == snapshot
