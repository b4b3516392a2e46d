"""Credential pivots: credentials for something else that the leaked key can read.

Two sources, both judged by names only (``policies/sensitivity.toml``), never by reading a value:

* datasets the classifier marks ``credential_pivot`` (secrets and parameters whose name, description or
  tags say credential; S3 objects that look like key files) that the key can read (or administer, which
  lets it grant itself read);
* compute whose environment variable *names* match an ``env_var`` rule with ``credential_pivot``
  (``DB_PASSWORD``, ``STRIPE_API_KEY``): the values are in the resource's configuration, so whoever may
  read that configuration holds them. Whether a reachable principal may is asked of the policy engine
  (``PermissionGraph.resource_edge``), with the action that returns the configuration:

  - Lambda: ``lambda:GetFunctionConfiguration`` or ``lambda:GetFunction`` on the function (*Actions,
    resources, and condition keys for AWS Lambda*);
  - CodeBuild: ``codebuild:BatchGetProjects`` on the project (plain-text variables only);
  - ECS: ``ecs:DescribeTaskDefinition``, which supports no resource-level permissions (Resource ``*``).

  Function policies (Lambda resource-based policies) are not collected, so a function of another
  account is only a pivot when the engine could allow it without one, which it never does: such
  cross-account reads are not reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from blastradius.classify import credential_env_vars
from blastradius.graph import Edge, PermissionGraph, path_step
from blastradius.model import CODEBUILD_PROJECT, ECS_TASK_DEFINITION, LAMBDA_FUNCTION, ComputeResource
from blastradius.report import (
    CONDITIONAL,
    DEFINITE,
    CredentialPivot,
    DatasetFinding,
    PrincipalReach,
)
from blastradius.rules import RuleSet

# Compute type -> (action, evaluated on the resource ARN (False) or on "*" (True)), in preference order.
CONFIG_READ_ACTIONS: Mapping[str, tuple[tuple[str, bool], ...]] = {
    LAMBDA_FUNCTION: (("lambda:GetFunctionConfiguration", False), ("lambda:GetFunction", False)),
    CODEBUILD_PROJECT: (("codebuild:BatchGetProjects", False),),
    ECS_TASK_DEFINITION: (("ecs:DescribeTaskDefinition", True),),
}


def credential_pivots(
    graph: PermissionGraph,
    principals: Sequence[PrincipalReach],
    datasets: Sequence[DatasetFinding],
    rules: RuleSet,
) -> tuple[CredentialPivot, ...]:
    """Every credential pivot the key reaches: readable credential datasets, then compute env vars."""
    out = [_dataset_pivot(d) for d in datasets if d.credential_pivot and _readable(d)]
    for resource in graph.model.snapshot.compute:
        if resource.type not in CONFIG_READ_ACTIONS or not resource.env_var_names:
            continue
        hits = credential_env_vars(resource.type, resource.env_var_names, rules)
        if not hits:
            continue
        found = _best_reader(graph, principals, resource)
        if found is None:
            continue
        reach, edge = found
        path = (*reach.path, path_step(edge))
        certainty = DEFINITE if all(s.certainty == DEFINITE for s in path) else CONDITIONAL
        out.append(
            CredentialPivot(
                arn=resource.arn,
                kind=resource.type,
                name=resource.name,
                region=resource.region,
                names=tuple(h.name for h in hits),
                reasons=tuple(h.reason for h in hits),
                certainty=certainty,
                conditions=tuple(dict.fromkeys(c for s in path for c in s.conditions)),
                path=path,
            )
        )
    return tuple(sorted(out, key=lambda p: (p.certainty != DEFINITE, p.kind, p.name, p.arn)))


def _readable(d: DatasetFinding) -> bool:
    return "read" in d.access or "admin" in d.access


def _dataset_pivot(d: DatasetFinding) -> CredentialPivot:
    grant = next((g for g in d.grants if g.level == "read"), None) or next(
        (g for g in d.grants if g.level == "admin"), None
    )
    path = grant.path if grant is not None else d.path
    return CredentialPivot(
        arn=d.arn,
        kind=d.type,
        name=d.name,
        region=d.region,
        reasons=d.sensitivity_reasons,
        certainty=grant.certainty if grant is not None else d.certainty,
        conditions=grant.conditions if grant is not None else d.conditions,
        path=path,
    )


def _best_reader(
    graph: PermissionGraph, principals: Sequence[PrincipalReach], resource: ComputeResource
) -> tuple[PrincipalReach, Edge] | None:
    """The first reachable principal (origin first, then by path length) that may read the configuration,
    preferring a definite allow over a conditional one."""
    fallback: tuple[PrincipalReach, Edge] | None = None
    for reach in principals:
        for action, any_resource in CONFIG_READ_ACTIONS[resource.type]:
            edge = graph.resource_edge(
                reach.arn,
                resource.arn,
                action,
                resource="*" if any_resource else None,
                resource_account=resource.account_id,
                tags=resource.tags,
            )
            if edge is None:
                continue
            if edge.certainty == DEFINITE and reach.certainty == DEFINITE:
                return reach, edge
            if fallback is None:
                fallback = (reach, edge)
    return fallback
