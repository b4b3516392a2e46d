"""Collect one account: IAM and the S3 listing once, regional services per region, in a bounded thread
pool; every failed call is a gap in the snapshot and marks its service "partial" (or, when the
service's listing itself failed, with the error code) — never an empty list that reads as "nothing".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Protocol

import boto3

from blastradius.aws import AUTH_ERROR_DIAGNOSES, ClientFactory, caller_identity, home_region
from blastradius.collect.base import GLOBAL_REGION, Collector, IamEntities, Scope, ServiceResult
from blastradius.collect.cloudformation import collect_cloudformation
from blastradius.collect.codebuild import collect_codebuild
from blastradius.collect.dynamodb import collect_dynamodb
from blastradius.collect.ec2 import collect_ec2, resolve_instance_roles
from blastradius.collect.ecs import collect_ecs
from blastradius.collect.glue import collect_glue
from blastradius.collect.iam import collect_iam
from blastradius.collect.kms import collect_kms, resolve_kms_references
from blastradius.collect.lambda_ import collect_lambda
from blastradius.collect.organizations import collect_organizations
from blastradius.collect.s3 import collect_s3
from blastradius.collect.sagemaker import collect_sagemaker
from blastradius.collect.secretsmanager import collect_secretsmanager
from blastradius.collect.ssm import collect_ssm
from blastradius.errors import UsageError
from blastradius.model import Snapshot

OK = "ok"
PARTIAL = "partial"
NOT_COLLECTED = "not collected"

# The registry: --services choices come from its keys, in this order.
COLLECTORS: dict[str, Collector] = {
    c.name: c
    for c in (
        Collector(
            name="iam", run=collect_iam, regional=False, description="users, groups, roles, policies, keys"
        ),
        Collector(
            name="s3", run=collect_s3, regional=False, description="buckets (listed once, all regions)"
        ),
        Collector(name="dynamodb", run=collect_dynamodb, description="tables"),
        Collector(name="secretsmanager", run=collect_secretsmanager, description="secrets (metadata only)"),
        Collector(name="ssm", run=collect_ssm, description="parameters (metadata only)"),
        Collector(name="kms", run=collect_kms, description="keys, key policies, grants, aliases"),
        Collector(
            name="organizations",
            run=collect_organizations,
            regional=False,
            description="organization, OU path, SCPs and RCPs (management or delegated admin only)",
        ),
        # Compute that runs with a role: what escalation techniques reuse, and environment variable
        # names that may hold credentials (never their values).
        Collector(name="lambda", run=collect_lambda, description="functions: role, env var names"),
        Collector(name="ec2", run=collect_ec2, description="instances with instance profiles"),
        Collector(name="cloudformation", run=collect_cloudformation, description="stacks: service role"),
        Collector(name="codebuild", run=collect_codebuild, description="projects: service role"),
        Collector(name="sagemaker", run=collect_sagemaker, description="notebook instances: role"),
        Collector(name="ecs", run=collect_ecs, description="task definitions (latest revision): roles"),
        Collector(name="glue", run=collect_glue, description="dev endpoints: role"),
    )
}
COMPUTE_SERVICES = ("lambda", "ec2", "cloudformation", "codebuild", "sagemaker", "ecs", "glue")
DATA_SERVICES = tuple(name for name in COLLECTORS if name != "iam")


class Observer(Protocol):
    """Progress callbacks, called from worker threads (so implementations must be thread-safe).

    ``error`` in ``on_done`` is None when everything was seen, the error code when the service's
    listing failed in that region (``count`` is then 0 and means "unknown"), or ``"partial"`` when
    some per-resource calls failed.
    """

    def on_start(self, service: str, region: str) -> None:
        """A collector run begins."""

    def on_done(self, service: str, region: str, count: int, error: str | None) -> None:
        """A collector run ended with ``count`` items."""


def select_collectors(services: Iterable[str] | None) -> tuple[Collector, ...]:
    """The registered collectors named in ``services`` (all when None), in registry order."""
    if services is None:
        return tuple(COLLECTORS.values())
    wanted = {s.strip().lower() for s in services if s.strip()}
    unknown = sorted(wanted - COLLECTORS.keys())
    if unknown:
        raise UsageError(
            f"unknown service(s): {', '.join(unknown)}",
            hint=f"Choose among: {', '.join(COLLECTORS)}.",
        )
    if not wanted:
        raise UsageError("no service selected", hint=f"Choose among: {', '.join(COLLECTORS)}.")
    return tuple(c for name, c in COLLECTORS.items() if name in wanted)


def collect_account(
    session: boto3.Session,
    *,
    regions: Sequence[str],
    endpoint_url: str | None = None,
    services: Iterable[str] | None = None,
    observer: Observer | None = None,
    max_workers: int = 8,
) -> Snapshot:
    """Collect the account the session's credentials belong to into a ``Snapshot``.

    ``regions`` are already resolved (``aws.resolve_regions``); empty means the session's region.
    Unusable credentials raise ``CollectionError`` before anything else runs; every later failure
    is recorded as a ``CollectionGap``.
    """
    collectors = select_collectors(services)
    regions = tuple(regions) or (home_region(session),)
    home = session.region_name or regions[0]
    identity = caller_identity(session, endpoint_url=endpoint_url, region=home)
    clients = ClientFactory(session, endpoint_url)

    def scope(region: str) -> Scope:
        return Scope(
            clients=clients,
            account_id=identity.account_id,
            region=region,
            partition=identity.partition,
            home_region=home,
        )

    jobs = [(c, GLOBAL_REGION) for c in collectors if not c.regional]
    jobs += [(c, region) for c in collectors if c.regional for region in regions]
    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="collect") as pool:
        futures: list[Future[ServiceResult]] = [
            pool.submit(_run, collector, scope(region), observer) for collector, region in jobs
        ]
        try:
            results = [f.result() for f in futures]
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return _assemble(
        results,
        selected=[c.name for c in collectors],
        account_id=identity.account_id,
        partition=identity.partition,
        regions=regions,
    )


def _run(collector: Collector, scope: Scope, observer: Observer | None) -> ServiceResult:
    if observer is not None:
        observer.on_start(collector.name, scope.region)
    result = collector.run(scope)
    if observer is not None:
        error = result.listing_error or (PARTIAL if result.gaps else None)
        observer.on_done(collector.name, scope.region, result.count, error)
    return result


def service_status(results: Sequence[ServiceResult]) -> str:
    """``ok``; the error code when the listing failed everywhere; else ``partial`` when anything failed."""
    errors = [r.listing_error for r in results if r.listing_error]
    if errors and len(errors) == len(results):
        return errors[0]
    if errors or any(r.gaps for r in results):
        return PARTIAL
    return OK


def _assemble(
    results: Sequence[ServiceResult],
    *,
    selected: Sequence[str],
    account_id: str,
    partition: str,
    regions: Sequence[str],
) -> Snapshot:
    by_service: dict[str, list[ServiceResult]] = {}
    for result in results:
        by_service.setdefault(result.service, []).append(result)
    services: Mapping[str, str] = {
        name: service_status(by_service[name]) if name in selected else NOT_COLLECTED for name in COLLECTORS
    }
    iam = next((r.iam for r in results if r.iam is not None), IamEntities())
    organization = next((r.organization for r in results if r.organization is not None), None)
    datasets, warnings = resolve_kms_references(
        [d for r in results for d in r.datasets], account_id=account_id, partition=partition
    )
    compute, profile_warnings = resolve_instance_roles(
        [c for r in results for c in r.compute],
        iam.instance_profiles,
        iam_collected=any(r.iam is not None for r in results),
    )
    gaps = sorted(
        (g for r in results for g in r.gaps),
        key=lambda g: (g.service, g.region, g.operation, g.resource or ""),
    )
    notes = [w for r in results for w in r.warnings]
    rejected = sorted({g.error_code for g in gaps if g.error_code in AUTH_ERROR_DIAGNOSES})
    if rejected:
        notes.append(
            f"some calls were rejected for the credentials themselves ({', '.join(rejected)}): they may have "
            "expired during collection; collect again with fresh credentials"
        )
    return Snapshot(
        account_id=account_id,
        collected_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        regions=tuple(regions),
        partition=partition,
        source="collect",
        users=iam.users,
        groups=iam.groups,
        roles=iam.roles,
        managed_policies=iam.managed_policies,
        datasets=tuple(sorted(datasets, key=lambda d: (d.type, d.arn))),
        gaps=tuple(gaps),
        services=services,
        warnings=(*notes, *warnings, *profile_warnings),
        organization=organization,
        instance_profiles=iam.instance_profiles,
        compute=tuple(sorted(compute, key=lambda c: (c.type, c.arn))),
    )
