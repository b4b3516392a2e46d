"""Snapshots for the escalation tests, built from a technique of the pack and a twin kind.

``scenario(technique, twin=None)`` gives the smallest account in which the technique fires for the
leaked key's user (or for a role that user assumes, when the technique needs a role actor), and with
``twin`` the same account changed in one way that must stop it:

* ``missing``   the policy lacks the technique's last step (a second permission it needs);
* ``elsewhere`` the step on the technique's target is scoped to another resource;
* ``deny``      an explicit Deny on its first step ("Policy evaluation logic": an explicit deny wins);
* ``boundary``  a permissions boundary that does not allow its first step ("Permissions boundaries for
  IAM entities": the effective permissions are the intersection);
* ``condition`` its first step is allowed only under a condition the attacker cannot meet (a principal
  tag the actor does not have; for iam:PassRole, ``iam:PassedToService`` naming another service);
* ``trust``     the role does not trust the service the technique hands it to (or, for a role target,
  does not trust the actor);
* ``precondition`` a fact of the account the technique needs is false (the victim user already has two
  access keys; the role has no instance profile; the actor has no permissions boundary to remove).
"""

from __future__ import annotations

from typing import Any

from blastradius.escalation import Technique
from blastradius.model import (
    EC2_INSTANCE,
    KMS_KEY,
    S3_BUCKET,
    AccessKey,
    ComputeResource,
    Dataset,
    Group,
    InstanceProfile,
    ManagedPolicy,
    PolicyDocument,
    Role,
    Snapshot,
    User,
)

ACCOUNT = "111111111111"
REGION = "us-east-1"
KEY = "AKIAQYLPMN5HDTESTKEY"
USER = f"arn:aws:iam::{ACCOUNT}:user/attacker"
PIVOT = f"arn:aws:iam::{ACCOUNT}:role/pivot"
VICTIM_USER = f"arn:aws:iam::{ACCOUNT}:user/victim"
VICTIM_ROLE = f"arn:aws:iam::{ACCOUNT}:role/victim-role"
SERVICE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role"
APP_POLICY = f"arn:aws:iam::{ACCOUNT}:policy/app-policy"
VICTIM_POLICY = f"arn:aws:iam::{ACCOUNT}:policy/victim-policy"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/boundary"
ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
OWN_GROUP = f"arn:aws:iam::{ACCOUNT}:group/devs"
OTHER_GROUP = f"arn:aws:iam::{ACCOUNT}:group/admins"
PROFILE = f"arn:aws:iam::{ACCOUNT}:instance-profile/service-profile"
ELSEWHERE = f"arn:aws:iam::{ACCOUNT}:role/somewhere-else"
BUCKET = "arn:aws:s3:::customer-exports"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/customers"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/db-AbCdEf"
KMS = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b1c2d3e-1111-2222-3333-444455556666"

TWIN_KINDS = ("missing", "elsewhere", "deny", "boundary", "condition", "trust", "precondition")

COMPUTE_ARNS = {
    "lambda-function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:nightly-report",
    "ec2-instance": f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0",
    "cloudformation-stack": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/platform/1a2b3c",
    "codebuild-project": f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/release",
    "sagemaker-notebook": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:notebook-instance/analysis",
    "ecs-task-definition": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/worker:3",
    "glue-dev-endpoint": f"arn:aws:glue:{REGION}:{ACCOUNT}:devEndpoint/etl-dev",
}
DATASET_ARNS = {
    "s3-bucket": BUCKET,
    "dynamodb-table": TABLE,
    "secretsmanager-secret": SECRET,
    "kms-key": KMS,
}


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def trust(principal: dict[str, Any]) -> dict[str, Any]:
    return doc({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"})


def actor_is_role(technique: Technique) -> bool:
    """Techniques that only a role can use are tested from a role the key's user assumes."""
    return "actor-role" in technique.needs


def target_arn(technique: Technique, actor: str) -> str:
    """The resource the technique acts on in the fire scenario."""
    return {
        "self": actor,
        "attached-policy": APP_POLICY,
        "own-group": OWN_GROUP,
        "group": OTHER_GROUP,
        "user": VICTIM_USER,
        "role": VICTIM_ROLE,
        "service-role": SERVICE_ROLE,
        "existing": COMPUTE_ARNS.get(technique.compute_type or "", SERVICE_ROLE),
        "dataset": DATASET_ARNS.get(technique.dataset_type or "", ""),
        "account": "*",
    }[technique.target]


def _step_resource(technique: Technique, on: str, actor: str) -> str:
    if on == "target":
        return target_arn(technique, actor)
    if on == "self":
        return actor
    if on == "passed-role":
        return SERVICE_ROLE
    if on == "role-policy":
        return VICTIM_POLICY
    return "*"  # a resource the attacker creates: any name


def default_twin(technique: Technique, index: int) -> str:
    """A twin kind that makes sense for the technique, varied across the pack."""
    if technique.emitted_by == "assume":
        return "trust"
    if "actor-boundary" in technique.needs:
        return "precondition" if index % 2 else "deny"
    cycle = ["missing", "elsewhere", "deny", "boundary", "condition"]
    hands_a_role = technique.target == "service-role" or (
        technique.target == "existing" and technique.compute_type is None
    )
    if hands_a_role and index % 3 == 0:
        return "trust"  # an existing function's role trusts its service already: not a twin there
    kind = cycle[index % len(cycle)]
    if kind == "missing" and len(technique.steps) < 2:
        kind = "deny"
    if kind == "elsewhere" and not any(s.on in ("target", "self", "passed-role") for s in technique.steps):
        kind = "boundary"
    return kind


def scenario(technique: Technique, twin: str | None = None) -> Snapshot:
    """The account in which ``technique`` fires (``twin`` None) or must not (a twin kind)."""
    role_actor = actor_is_role(technique)
    actor = PIVOT if role_actor else USER
    steps = list(technique.steps)
    if twin == "missing":
        steps = steps[:-1]
    statements: list[dict[str, Any]] = []
    for i, step in enumerate(steps):
        resource = _step_resource(technique, step.on, actor)
        if twin == "elsewhere" and step.on in ("target", "self", "passed-role"):
            resource = ELSEWHERE if resource.startswith("arn:aws:iam") else resource + "-elsewhere"
        statement: dict[str, Any] = {"Effect": "Allow", "Action": step.action, "Resource": resource}
        if twin == "condition" and i == 0:
            if step.on == "passed-role":
                statement["Condition"] = {"StringEquals": {"iam:PassedToService": "states.amazonaws.com"}}
            else:
                statement["Condition"] = {"StringEquals": {"aws:PrincipalTag/team": "platform"}}
        statements.append(statement)
    if twin == "deny":
        statements.append({"Effect": "Deny", "Action": technique.steps[0].action, "Resource": "*"})
    # Something to reach, so that the report has data behind every escalation.
    statements.append(
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::public-assets"}
    )
    technique_policy = PolicyDocument(name="technique", document=doc(*statements))

    managed = [
        ManagedPolicy(arn=ADMIN_POLICY, name="AdministratorAccess", document=doc(_allow_all())),
        ManagedPolicy(
            arn=APP_POLICY,
            name="app-policy",
            document=doc(
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::public-assets/*"}
            ),
        ),
        ManagedPolicy(
            arn=VICTIM_POLICY,
            name="victim-policy",
            document=doc({"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}),
        ),
    ]
    boundary: str | None = None
    if "actor-boundary" in technique.needs and twin != "precondition":
        # A boundary that allows the technique but not the data: removing it is the escalation.
        boundary = BOUNDARY
        managed.append(
            ManagedPolicy(
                arn=BOUNDARY,
                name="boundary",
                document=doc({"Effect": "Allow", "Action": ["iam:*", "sts:AssumeRole"], "Resource": "*"}),
            )
        )
    if twin == "boundary":
        boundary = BOUNDARY
        managed.append(
            ManagedPolicy(
                arn=BOUNDARY,
                name="boundary",
                document=doc(
                    {"Effect": "Allow", "Action": ["s3:ListBucket", "sts:AssumeRole"], "Resource": "*"}
                ),
            )
        )

    user_policies: tuple[PolicyDocument, ...] = ()
    roles: list[Role] = []
    if role_actor:
        user_policies = (
            PolicyDocument(
                name="assume-pivot",
                document=doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": PIVOT}),
            ),
        )
        roles.append(
            Role(
                arn=PIVOT,
                name="pivot",
                role_id="AROAPIVOT",
                trust_policy=trust({"AWS": USER}),
                inline_policies=(technique_policy,),
                managed_policy_arns=(APP_POLICY,),
                permissions_boundary_arn=boundary,
            )
        )
    else:
        user_policies = (technique_policy,)
    keys = (AccessKey(access_key_id=KEY, user_name="attacker", status="Active"),)
    users = [
        User(
            arn=USER,
            name="attacker",
            user_id="AIDAATTACKER",
            inline_policies=user_policies,
            managed_policy_arns=() if role_actor else (APP_POLICY,),
            group_names=("devs",),
            permissions_boundary_arn=None if role_actor else boundary,
            access_keys=keys,
        ),
    ]
    victim_keys = 2 if "keys-at-limit" in technique.needs else 1
    if twin == "precondition" and "keys-below-limit" in technique.needs:
        victim_keys = 2
    if twin == "precondition" and "keys-at-limit" in technique.needs:
        victim_keys = 0
    users.append(
        User(
            arn=VICTIM_USER,
            name="victim",
            user_id="AIDAVICTIM",
            managed_policy_arns=(ADMIN_POLICY,),
            access_keys=tuple(
                AccessKey(access_key_id=f"AKIAVICTIMKEY0000{i:03d}", user_name="victim", status="Active")
                for i in range(victim_keys)
            ),
        )
    )
    # The account root delegates to IAM, so assuming the role also needs the actor's sts:AssumeRole;
    # a trust policy naming the actor itself would not ("AssumeRole" API reference).
    trusted = f"arn:aws:iam::{ACCOUNT}:root"
    if twin == "trust" and technique.target == "role":
        trusted = ELSEWHERE
    roles.append(
        Role(
            arn=VICTIM_ROLE,
            name="victim-role",
            role_id="AROAVICTIM",
            trust_policy=trust({"AWS": trusted}),
            managed_policy_arns=(VICTIM_POLICY,),
        )
    )
    service = technique.trusts[0] if technique.trusts else "lambda.amazonaws.com"
    if twin == "trust" and technique.target in ("service-role", "existing"):
        service = "states.amazonaws.com"  # trusts another service than the one the technique uses
    roles.append(
        Role(
            arn=SERVICE_ROLE,
            name="service-role",
            role_id="AROASERVICE",
            trust_policy=trust({"Service": service}),
            inline_policies=(
                PolicyDocument(
                    name="data",
                    document=doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET}/*"}),
                ),
            ),
        )
    )
    groups = [
        Group(arn=OWN_GROUP, name="devs", group_id="AGPADEVS"),
        Group(arn=OTHER_GROUP, name="admins", group_id="AGPAADMINS", managed_policy_arns=(ADMIN_POLICY,)),
    ]
    profiles: tuple[InstanceProfile, ...] = ()
    if not (twin == "precondition" and "instance-profile" in technique.needs):
        profiles = (InstanceProfile(arn=PROFILE, name="service-profile", role_arns=(SERVICE_ROLE,)),)
    else:
        profiles = (InstanceProfile(arn=PROFILE.replace("service", "other"), name="other-profile"),)
    compute: tuple[ComputeResource, ...] = ()
    if technique.compute_type:
        arn = COMPUTE_ARNS[technique.compute_type]
        ec2 = technique.compute_type == EC2_INSTANCE
        compute = (
            ComputeResource(
                arn=arn,
                type=technique.compute_type,
                name=arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1],
                account_id=ACCOUNT,
                region=REGION,
                role_arn=None if ec2 else SERVICE_ROLE,
                instance_profile_arn=PROFILE if ec2 else None,
            ),
        )
    return Snapshot(
        account_id=ACCOUNT,
        collected_at="2026-11-25T00:00:00Z",
        regions=(REGION,),
        users=tuple(users),
        groups=tuple(groups),
        roles=tuple(roles),
        managed_policies=tuple(managed),
        datasets=_datasets(),
        instance_profiles=profiles,
        compute=compute,
        services={"iam": "ok", "s3": "ok", "dynamodb": "ok", "secretsmanager": "ok", "kms": "ok"},
    )


def _allow_all() -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "*", "Resource": "*"}


def _datasets() -> tuple[Dataset, ...]:
    root = f"arn:aws:iam::{ACCOUNT}:root"
    return (
        Dataset(arn=BUCKET, type=S3_BUCKET, name="customer-exports", account_id=ACCOUNT, region=REGION),
        Dataset(
            arn="arn:aws:s3:::public-assets",
            type=S3_BUCKET,
            name="public-assets",
            account_id=ACCOUNT,
            region=REGION,
        ),
        Dataset(arn=TABLE, type="dynamodb-table", name="customers", account_id=ACCOUNT, region=REGION),
        Dataset(arn=SECRET, type="secretsmanager-secret", name="prod/db", account_id=ACCOUNT, region=REGION),
        Dataset(
            arn=KMS,
            type=KMS_KEY,
            name="data-key",
            account_id=ACCOUNT,
            region=REGION,
            key_manager="CUSTOMER",
            resource_policy=doc(
                {"Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"}
            ),
        ),
    )
