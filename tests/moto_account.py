"""Build a snapshot's account inside an active moto ``mock_aws()``, with boto3, as an operator would.

``materialise(snapshot)`` creates what the snapshot describes (managed policies, groups, roles, users
with their keys, instance profiles, compute resources that run with a role, and data sets) so that
``blastradius analyze --key`` can collect it live and the test can compare the live answer with the
snapshot's. The snapshot's account id must be moto's: set ``MOTO_ACCOUNT_ID`` to it before entering
``mock_aws()`` (checked with GetCallerIdentity), so every ARN the fixtures name stays the same.

What moto names itself is mapped, never guessed: access key ids (returned as ``keys``, snapshot key id ->
real one), EC2 instance ids, CloudFormation stack ids, Secrets Manager suffixes, KMS key ids and ECS
task-definition revisions (returned as ``arns``; every policy document is written with those ARNs
replaced, so a statement scoped to the fixture's instance is scoped to the real instance).

Two things moto 5.2 cannot hold as AWS does, and how they are represented:

* AWS managed policies (``arn:aws:iam::aws:policy/...``). Loading moto's catalogue
  (``MOTO_IAM_LOAD_MANAGED_POLICIES``) costs seconds per account, and its GetAccountAuthorizationDetails
  would then list all ~1,300 of them; a customer managed stand-in of the same name would be a different
  thing (the actor could rewrite it: iam-001). Instead each AWS managed policy the snapshot names is
  added to moto's IAM backend as moto's own ``AWSManagedPolicy``, with the snapshot's document, so the
  API returns it under its AWS ARN exactly as it returns the ones it loads itself.
* User permissions boundaries. moto has no PutUserPermissionsBoundary and drops ``PermissionsBoundary``
  on CreateUser, but its GetAccountAuthorizationDetails and GetUser serialise a ``permissions_boundary``
  attribute of its user model when one is there; the boundary is set on that model, and checked to
  come back through the API, so a moto that changes this fails here rather than silently dropping it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from compute_account import AMI, CODEBUILD_ENVIRONMENT, CODEBUILD_SOURCE, STACK_TEMPLATE, function_zip

from blastradius.model import (
    CLOUDFORMATION_STACK,
    CODEBUILD_PROJECT,
    DYNAMODB_TABLE,
    EC2_INSTANCE,
    ECS_TASK_DEFINITION,
    GLUE_DEV_ENDPOINT,
    KMS_KEY,
    LAMBDA_FUNCTION,
    S3_BUCKET,
    SAGEMAKER_NOTEBOOK,
    SECRET,
    ComputeResource,
    Dataset,
    Snapshot,
)

Client = Callable[..., Any]
AWS_MANAGED_PREFIX = "arn:aws:iam::aws:policy/"


@dataclass(slots=True, kw_only=True)
class Materialised:
    """What moto named: the snapshot's access key ids and resource ARNs -> the real ones."""

    keys: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)


def materialise(snapshot: Snapshot, region: str | None = None) -> Materialised:
    """Create ``snapshot``'s account in the active moto; returns the ids moto chose."""
    region = region or (snapshot.regions[0] if snapshot.regions else "us-east-1")
    client = _clients(region)
    account = client("sts").get_caller_identity()["Account"]
    assert account == snapshot.account_id, f"set MOTO_ACCOUNT_ID={snapshot.account_id} (moto is {account})"
    out = Materialised()
    iam = client("iam")
    # Principals first without policies: compute and data sets need their roles, and policies need
    # the ARNs moto gives compute and data sets.
    for role in snapshot.roles:
        iam.create_role(
            RoleName=role.name,
            Path=role.path,
            AssumeRolePolicyDocument=json.dumps(role.trust_policy),
            **({"MaxSessionDuration": role.max_session_duration} if role.max_session_duration else {}),
            **({"Tags": _tags(role.tags)} if role.tags else {}),
        )
    for profile in snapshot.instance_profiles:
        iam.create_instance_profile(InstanceProfileName=profile.name, Path=_path(profile.arn))
        for role_arn in profile.role_arns:
            iam.add_role_to_instance_profile(InstanceProfileName=profile.name, RoleName=_name(role_arn))
    for resource in snapshot.compute:
        out.arns[resource.arn] = _create_compute(client, region, resource)
    for dataset in snapshot.datasets:
        real = _create_dataset(client, dataset)
        if real != dataset.arn:
            out.arns[dataset.arn] = real
    # Now every policy, written with moto's ARNs.
    for policy in snapshot.managed_policies:
        document = _rewrite(policy.document, out.arns)
        if policy.arn.startswith(AWS_MANAGED_PREFIX):
            _add_aws_managed_policy(iam, account, policy.arn, document)
        else:
            created = iam.create_policy(
                PolicyName=policy.name, Path=_path(policy.arn), PolicyDocument=document
            )
            assert created["Policy"]["Arn"] == policy.arn, (created["Policy"]["Arn"], policy.arn)
    for dataset in snapshot.datasets:
        _put_resource_policy(client, dataset, out.arns)
    for group in snapshot.groups:
        iam.create_group(GroupName=group.name, Path=group.path)
        for inline in group.inline_policies:
            iam.put_group_policy(
                GroupName=group.name,
                PolicyName=inline.name,
                PolicyDocument=_rewrite(inline.document, out.arns),
            )
        for arn in group.managed_policy_arns:
            iam.attach_group_policy(GroupName=group.name, PolicyArn=arn)
    for role in snapshot.roles:
        for inline in role.inline_policies:
            iam.put_role_policy(
                RoleName=role.name, PolicyName=inline.name, PolicyDocument=_rewrite(inline.document, out.arns)
            )
        for arn in role.managed_policy_arns:
            iam.attach_role_policy(RoleName=role.name, PolicyArn=arn)
        if role.permissions_boundary_arn:
            boundary = role.permissions_boundary_arn
            iam.put_role_permissions_boundary(RoleName=role.name, PermissionsBoundary=boundary)
    for user in snapshot.users:
        iam.create_user(
            UserName=user.name, Path=user.path, **({"Tags": _tags(user.tags)} if user.tags else {})
        )
        for inline in user.inline_policies:
            iam.put_user_policy(
                UserName=user.name, PolicyName=inline.name, PolicyDocument=_rewrite(inline.document, out.arns)
            )
        for arn in user.managed_policy_arns:
            iam.attach_user_policy(UserName=user.name, PolicyArn=arn)
        for group_name in user.group_names:
            iam.add_user_to_group(GroupName=group_name, UserName=user.name)
        if user.permissions_boundary_arn:
            boundary = user.permissions_boundary_arn
            _set_user_boundary(iam, account, user.name, boundary)
        if user.has_login_profile:
            iam.create_login_profile(UserName=user.name, Password="Not-a-real-password-1!")
        for key in user.access_keys:
            real = iam.create_access_key(UserName=user.name)["AccessKey"]["AccessKeyId"]
            if key.status != "Active":
                iam.update_access_key(UserName=user.name, AccessKeyId=real, Status=key.status)
            out.keys[key.access_key_id] = real
    return out


def _add_aws_managed_policy(iam: Any, account: str, arn: str, document: str) -> None:
    """An AWS managed policy in moto's IAM backend, as moto adds the ones it loads (module docstring)."""
    from moto.iam.models import AWSManagedPolicy, iam_backends

    backend = iam_backends[account]["global"]
    now = datetime.now(UTC)
    policy = AWSManagedPolicy(
        _name(arn),
        account_id=account,
        region=backend.region_name,
        default_version_id="v1",
        path=_path(arn),
        document=document,
        create_date=now,
        update_date=now,
    )
    assert policy.arn == arn, (policy.arn, arn)
    backend.aws_managed_policies.append(policy)
    backend.managed_policies[arn] = policy
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Arn"] == arn


def _set_user_boundary(iam: Any, account: str, user_name: str, policy_arn: str) -> None:
    """A user's permissions boundary, set on moto's user model (see the module docstring)."""
    from moto.iam.models import iam_backends

    user = iam_backends[account]["global"].users[user_name]
    user.permissions_boundary = {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
        "PermissionsBoundaryArn": policy_arn,
    }
    got = iam.get_user(UserName=user_name)["User"].get("PermissionsBoundary", {})
    assert got.get("PermissionsBoundaryArn") == policy_arn, f"moto no longer returns a user boundary: {got}"


def _create_compute(client: Client, region: str, resource: ComputeResource) -> str:
    """One compute resource that runs with a role; returns the ARN moto gave it."""
    kind = resource.type
    if kind == LAMBDA_FUNCTION:
        name = resource.arn.rsplit(":", 1)[-1]
        created = client("lambda", region).create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=_required(resource.role_arn, resource),
            Handler="app.handler",
            Code={"ZipFile": function_zip()},
            Environment={"Variables": dict.fromkeys(resource.env_var_names, "placeholder")},
        )
        return str(created["FunctionArn"])
    if kind == EC2_INSTANCE:
        profile = {"Arn": resource.instance_profile_arn} if resource.instance_profile_arn else None
        ec2 = client("ec2", region)
        reservation = ec2.run_instances(
            ImageId=AMI, MinCount=1, MaxCount=1, **({"IamInstanceProfile": profile} if profile else {})
        )
        instance_id = reservation["Instances"][0]["InstanceId"]
        return f"arn:aws:ec2:{region}:{resource.account_id}:instance/{instance_id}"
    if kind == CLOUDFORMATION_STACK:
        name = resource.arn.split(":stack/", 1)[1].split("/", 1)[0]
        created = client("cloudformation", region).create_stack(
            StackName=name,
            TemplateBody=STACK_TEMPLATE,
            **({"RoleARN": resource.role_arn} if resource.role_arn else {}),
        )
        return str(created["StackId"])
    if kind == CODEBUILD_PROJECT:
        created = client("codebuild", region).create_project(
            name=resource.arn.rsplit("/", 1)[-1],
            **CODEBUILD_SOURCE,
            environment=CODEBUILD_ENVIRONMENT,
            serviceRole=_required(resource.role_arn, resource),
        )
        return str(created["project"]["arn"])
    if kind == SAGEMAKER_NOTEBOOK:
        created = client("sagemaker", region).create_notebook_instance(
            NotebookInstanceName=resource.arn.rsplit("/", 1)[-1],
            InstanceType="ml.t3.medium",
            RoleArn=_required(resource.role_arn, resource),
        )
        return str(created["NotebookInstanceArn"])
    if kind == ECS_TASK_DEFINITION:
        family = resource.arn.rsplit("/", 1)[-1].split(":", 1)[0]
        created = client("ecs", region).register_task_definition(
            family=family,
            containerDefinitions=[{"name": "app", "image": "app:1", "memory": 256}],
            **({"taskRoleArn": resource.role_arn} if resource.role_arn else {}),
        )
        return str(created["taskDefinition"]["taskDefinitionArn"])
    if kind == GLUE_DEV_ENDPOINT:
        name = resource.arn.rsplit("/", 1)[-1]
        client("glue", region).create_dev_endpoint(
            EndpointName=name, RoleArn=_required(resource.role_arn, resource)
        )
        return f"arn:aws:glue:{region}:{resource.account_id}:devEndpoint/{name}"
    raise NotImplementedError(f"materialise: compute type {kind} ({resource.arn})")


def _create_dataset(client: Client, dataset: Dataset) -> str:
    """One data set, without its resource policy (written once every ARN is known); returns its ARN."""
    region = dataset.region
    if dataset.type == S3_BUCKET:
        s3 = client("s3", region)
        location = (
            {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        s3.create_bucket(Bucket=dataset.name, **location)
        if dataset.tags:
            s3.put_bucket_tagging(Bucket=dataset.name, Tagging={"TagSet": _tags(dataset.tags)})
        return dataset.arn
    if dataset.type == DYNAMODB_TABLE:
        created = client("dynamodb", region).create_table(
            TableName=dataset.name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            **({"Tags": _tags(dataset.tags)} if dataset.tags else {}),
        )
        return str(created["TableDescription"]["TableArn"])
    if dataset.type == SECRET:
        created = client("secretsmanager", region).create_secret(
            Name=dataset.name,
            SecretString="not-a-real-secret",
            **({"Description": dataset.description} if dataset.description else {}),
            **({"Tags": _tags(dataset.tags)} if dataset.tags else {}),
        )
        return str(created["ARN"])
    if dataset.type == KMS_KEY:
        # The key policy is set at creation: a KMS key always has one (the default would differ).
        created = client("kms", region).create_key(
            **({"Policy": json.dumps(dataset.resource_policy)} if dataset.resource_policy else {}),
            **({"Description": dataset.description} if dataset.description else {}),
            **(
                {"Tags": [{"TagKey": k, "TagValue": v} for k, v in dataset.tags.items()]}
                if dataset.tags
                else {}
            ),
        )
        return str(created["KeyMetadata"]["Arn"])
    raise NotImplementedError(f"materialise: data set type {dataset.type} ({dataset.arn})")


def _put_resource_policy(client: Client, dataset: Dataset, arns: dict[str, str]) -> None:
    if dataset.resource_policy is None or dataset.type == KMS_KEY:
        return
    document = _rewrite(dataset.resource_policy, arns)
    real = arns.get(dataset.arn, dataset.arn)
    if dataset.type == S3_BUCKET:
        client("s3", dataset.region).put_bucket_policy(Bucket=dataset.name, Policy=document)
    elif dataset.type == DYNAMODB_TABLE:
        client("dynamodb", dataset.region).put_resource_policy(ResourceArn=real, Policy=document)
    elif dataset.type == SECRET:
        client("secretsmanager", dataset.region).put_resource_policy(SecretId=real, ResourcePolicy=document)


def _rewrite(document: Any, arns: dict[str, str]) -> str:
    """The policy as JSON, every fixture ARN moto renamed replaced by moto's (longest first, so that an
    ARN that extends another, ``…-elsewhere``, keeps its suffix)."""
    text = json.dumps(document)
    for old in sorted(arns, key=len, reverse=True):
        text = text.replace(old, arns[old])
    return text


# Clients outlive a ``mock_aws()``: moto intercepts every botocore request while a mock is active, whenever
# the client was made. Making them once per test process saves ~50 ms a scenario (a client builds a
# method per operation of its service: EC2 has hundreds). The credentials are moto's fake ones.
_CLIENTS: dict[tuple[str, str], Any] = {}


def _clients(region: str) -> Client:
    """``boto3`` clients made once per service and region, defaulting to ``region``."""

    def client(service: str, in_region: str | None = None) -> Any:
        key = (service, in_region or region)
        if key not in _CLIENTS:
            _CLIENTS[key] = boto3.Session().client(service, region_name=key[1])
        return _CLIENTS[key]

    return client


def _required(value: str | None, resource: ComputeResource) -> str:
    assert value, f"{resource.type} {resource.arn} needs a role in moto"
    return value


def _name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _path(arn: str) -> str:
    """The IAM path of an IAM ARN (``arn:aws:iam::1:policy/a/b/name`` -> ``/a/b/``)."""
    inner = arn.split(":", 5)[5].split("/")[1:-1]
    return "/" + "".join(f"{part}/" for part in inner)


def _tags(tags: Any) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]
