"""A moto account holding one of each compute resource that runs with a role (shared by several tests)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest

REGION = "us-east-1"
# An environment variable *value* that must never appear in a snapshot or a report.
CANARY = "canary-value-never-stored-7f3a"
# An image moto ships (listing all of its images to pick one costs seconds).
AMI = "ami-12c6146b"
# The smallest CloudFormation template and CodeBuild project moto accepts (shared with moto_account).
STACK_TEMPLATE = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
CODEBUILD_SOURCE = {
    "source": {"type": "S3", "location": "artifacts/src.zip"},
    "artifacts": {"type": "NO_ARTIFACTS"},
}
CODEBUILD_ENVIRONMENT = {
    "type": "LINUX_CONTAINER",
    "image": "aws/codebuild/standard:7.0",
    "computeType": "BUILD_GENERAL1_SMALL",
}


def role(session: boto3.Session, name: str, service: str) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }
    iam = session.client("iam")
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


def function_zip() -> bytes:
    """A Lambda deployment package with one handler that does nothing."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return None\n")
    return buf.getvalue()


def build_compute(session: boto3.Session, region: str = REGION) -> dict[str, str]:
    """One of each compute resource, each with its own role; returns role name -> ARN."""
    roles = {
        name: role(session, name, service)
        for name, service in (
            ("fn-role", "lambda.amazonaws.com"),
            ("web-role", "ec2.amazonaws.com"),
            ("deploy-role", "cloudformation.amazonaws.com"),
            ("build-role", "codebuild.amazonaws.com"),
            ("notebook-role", "sagemaker.amazonaws.com"),
            ("task-role", "ecs-tasks.amazonaws.com"),
            ("exec-role", "ecs-tasks.amazonaws.com"),
            ("glue-role", "glue.amazonaws.com"),
        )
    }
    iam = session.client("iam")
    iam.create_instance_profile(InstanceProfileName="web-profile", Path="/apps/")
    iam.add_role_to_instance_profile(InstanceProfileName="web-profile", RoleName="web-role")
    session.client("lambda", region).create_function(
        FunctionName="billing-sync",
        Runtime="python3.12",
        Role=roles["fn-role"],
        Handler="app.handler",
        Code={"ZipFile": function_zip()},
        Environment={"Variables": {"DB_PASSWORD": CANARY, "STAGE": "prod"}},
        Tags={"team": "billing"},
    )
    ec2 = session.client("ec2", region)
    ec2.run_instances(
        ImageId=AMI,
        MinCount=1,
        MaxCount=1,
        IamInstanceProfile={"Name": "web-profile"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web-1"}]}],
    )
    session.client("cloudformation", region).create_stack(
        StackName="network",
        TemplateBody=STACK_TEMPLATE,
        RoleARN=roles["deploy-role"],
    )
    session.client("codebuild", region).create_project(
        name="release",
        **CODEBUILD_SOURCE,
        environment={
            **CODEBUILD_ENVIRONMENT,
            "environmentVariables": [
                {"name": "NPM_TOKEN", "value": CANARY, "type": "PLAINTEXT"},
                {"name": "DEPLOY_KEY", "value": "prod/deploy-key", "type": "SECRETS_MANAGER"},
            ],
        },
        serviceRole=roles["build-role"],
    )
    session.client("sagemaker", region).create_notebook_instance(
        NotebookInstanceName="research", InstanceType="ml.t3.medium", RoleArn=roles["notebook-role"]
    )
    ecs = session.client("ecs", region)
    container = {"name": "app", "image": "app:1", "memory": 256}
    ecs.register_task_definition(family="api", taskRoleArn=roles["fn-role"], containerDefinitions=[container])
    ecs.register_task_definition(
        family="api",
        taskRoleArn=roles["task-role"],
        executionRoleArn=roles["exec-role"],
        containerDefinitions=[
            {
                **container,
                "environment": [{"name": "STRIPE_API_KEY", "value": CANARY}],
                "secrets": [
                    {"name": "DB_URL", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/db"}
                ],
            }
        ],
    )
    session.client("glue", region).create_dev_endpoint(EndpointName="etl-dev", RoleArn=roles["glue-role"])
    return roles


@contextmanager
def module_moto(tmp: Path) -> Iterator[None]:
    """In-process moto for a module-scoped fixture: the autouse fixture's fake credentials and empty AWS
    config are function-scoped, so they are set here for the module's lifetime."""
    from conftest import MOTO_CREDENTIALS
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as mp:
        empty = tmp / "no-aws-config"
        mp.setenv("AWS_CONFIG_FILE", str(empty))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_DEFAULT_PROFILE", "MOTO_ACCOUNT_ID"):
            mp.delenv(name, raising=False)
        for name, value in MOTO_CREDENTIALS.items():
            mp.setenv(name, value)
        with mock_aws():
            yield
