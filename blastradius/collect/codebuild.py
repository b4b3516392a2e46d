"""CodeBuild: projects with their service role and the names of their plain-text environment variables.

ListProjects gives names; BatchGetProjects (up to 100 names a call) gives ``serviceRole`` and the
environment. Only names of ``PLAINTEXT`` variables are kept as ``env_var_names`` (their values are
visible to anyone who may call BatchGetProjects); ``PARAMETER_STORE`` / ``SECRETS_MANAGER`` variables
hold a reference, not the value, and are listed under ``details["env_var_references"]``.
https://docs.aws.amazon.com/codebuild/latest/APIReference/API_BatchGetProjects.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blastradius.collect.base import (
    FAILED_KEY,
    Raw,
    Recorder,
    Scope,
    ServiceResult,
    env_names,
    iso,
    tags_dict,
)
from blastradius.model import CODEBUILD_PROJECT, ComputeResource

SERVICE = "codebuild"
LISTING = "ListProjects"
BATCH = 100  # BatchGetProjects takes at most 100 names
PLAINTEXT = "PLAINTEXT"


def get_codebuild(scope: Scope, recorder: Recorder) -> list[Raw] | None:
    """Every project of the region, described; a project whose batch failed is ``{"name": ...}`` with
    ``BatchGetProjects`` under ``FAILED_KEY``. None when ListProjects failed."""
    codebuild = scope.client(SERVICE)
    names = recorder.paginate(codebuild, "list_projects", "projects")
    if names is None:
        return None
    out: list[Raw] = []
    for start in range(0, len(names), BATCH):
        chunk = names[start : start + BATCH]
        ok, response = recorder.call(
            "BatchGetProjects",
            codebuild.batch_get_projects,
            resource=chunk[0] if len(chunk) == 1 else None,
            names=chunk,
        )
        if not ok:
            out.extend({"name": name, FAILED_KEY: ["BatchGetProjects"]} for name in chunk)
            continue
        # A project deleted between the two calls is in projectsNotFound: it no longer exists.
        out.extend(response.get("projects", []))
    return out


def normalise_project(
    raw: Mapping[str, Any], *, account_id: str, region: str, partition: str = "aws"
) -> ComputeResource:
    """One BatchGetProjects project (or a name whose description failed) -> ``ComputeResource``."""
    name = raw["name"]
    variables = (raw.get("environment") or {}).get("environmentVariables") or []
    plain = [v for v in variables if v.get("type", PLAINTEXT) == PLAINTEXT]
    references = sorted({str(v["name"]) for v in variables if v.get("type", PLAINTEXT) != PLAINTEXT})
    details: dict[str, Any] = {"created": iso(raw.get("created"))}
    if references:
        details["env_var_references"] = references
    if raw.get(FAILED_KEY):
        details["not_collected"] = sorted(raw[FAILED_KEY])
    return ComputeResource(
        arn=raw.get("arn") or f"arn:{partition}:codebuild:{region}:{account_id}:project/{name}",
        type=CODEBUILD_PROJECT,
        name=name,
        account_id=account_id,
        region=region,
        role_arn=raw.get("serviceRole") or None,
        env_var_names=env_names(plain),
        tags=tags_dict(raw.get("tags"), key="key", value="value"),
        details={k: v for k, v in details.items() if v is not None},
    )


def collect_codebuild(scope: Scope) -> ServiceResult:
    """Get and normalise the projects of one region."""
    recorder = Recorder(SERVICE, scope.region)
    raw = get_codebuild(scope, recorder)
    resources = (
        None
        if raw is None
        else [
            normalise_project(p, account_id=scope.account_id, region=scope.region, partition=scope.partition)
            for p in raw
        ]
    )
    return recorder.compute_result(resources, listing_operation=LISTING)
