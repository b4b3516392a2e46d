"""ECS: task definitions with their task role and execution role.

Only the latest ACTIVE revision of each family is read (ListTaskDefinitionFamilies, then
DescribeTaskDefinition by family name, which resolves to that revision): it is what a new task or
service update runs by default, and older active revisions usually carry the same roles. An older
revision with another role is therefore not seen. The task role is ``role_arn`` (the containers'
credentials); the execution role (the agent pulling images and secrets) is
``details["execution_role_arn"]``. Only names of plain ``environment`` variables are kept; ``secrets``
entries are references (Secrets Manager / SSM) and listed under ``details["env_var_references"]``.
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeTaskDefinition.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blastradius.collect.base import (
    Raw,
    Recorder,
    Scope,
    ServiceResult,
    env_names,
    for_each,
    iso,
    not_collected,
    tags_dict,
)
from blastradius.model import ECS_TASK_DEFINITION, ComputeResource

SERVICE = "ecs"
LISTING = "ListTaskDefinitionFamilies"


def get_ecs(scope: Scope, recorder: Recorder) -> list[Raw] | None:
    """The latest active revision of every task definition family; None when the listing failed."""
    ecs = scope.client(SERVICE)
    families = recorder.paginate(ecs, "list_task_definition_families", "families", status="ACTIVE")
    if families is None:
        return None

    def describe(family: str) -> Raw:
        record: Raw = {"family": family}
        recorder.fetch(
            record,
            "Description",
            "DescribeTaskDefinition",
            ecs.describe_task_definition,
            resource=family,
            taskDefinition=family,
        )
        return record

    return for_each(list(families), describe, scope.max_workers)


def normalise_task_definition(
    raw: Mapping[str, Any], *, account_id: str, region: str, partition: str = "aws"
) -> ComputeResource:
    """One family record (see ``get_ecs``) -> ``ComputeResource`` for its latest active revision."""
    family = raw["family"]
    described = raw.get("Description") or {}
    definition = described.get("taskDefinition") or {}
    containers = definition.get("containerDefinitions") or []
    plain = [v for c in containers for v in c.get("environment") or []]
    references = sorted({str(s["name"]) for c in containers for s in c.get("secrets") or [] if s.get("name")})
    details: dict[str, Any] = {
        "family": family,
        "revision": definition.get("revision"),
        "execution_role_arn": definition.get("executionRoleArn"),
        "registered": iso(definition.get("registeredAt")),
        "env_var_references": references or None,
        **not_collected(raw),
    }
    arn = (
        definition.get("taskDefinitionArn")
        or f"arn:{partition}:ecs:{region}:{account_id}:task-definition/{family}"
    )
    return ComputeResource(
        arn=arn,
        type=ECS_TASK_DEFINITION,
        name=family,
        account_id=account_id,
        region=region,
        role_arn=definition.get("taskRoleArn") or None,
        env_var_names=env_names(plain),
        tags=tags_dict(described.get("tags"), key="key", value="value"),
        details={k: v for k, v in details.items() if v is not None},
    )


def collect_ecs(scope: Scope) -> ServiceResult:
    """Get and normalise the task definitions of one region."""
    recorder = Recorder(SERVICE, scope.region)
    raw = get_ecs(scope, recorder)
    resources = (
        None
        if raw is None
        else [
            normalise_task_definition(
                t, account_id=scope.account_id, region=scope.region, partition=scope.partition
            )
            for t in raw
        ]
    )
    return recorder.compute_result(resources, listing_operation=LISTING)
