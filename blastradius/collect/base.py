"""What every collector shares: where it runs (``Scope``), how failed calls become gaps (``Recorder``),
and what it hands back (``ServiceResult``).

A collector is ``get_*`` (calls and paginates, returns raw boto3 dicts) followed by ``normalise_*``
(pure, raw dicts to model dataclasses). A call that fails is never turned into "nothing there": the
recorder keeps a ``CollectionGap`` and the raw record lists the failed operation under ``FAILED_KEY``,
which the normaliser copies into ``Dataset.details["not_collected"]``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from blastradius.aws import error_code, error_message
from blastradius.model import (
    CollectionGap,
    ComputeResource,
    Dataset,
    Group,
    InstanceProfile,
    ManagedPolicy,
    Organization,
    Role,
    User,
)

GLOBAL_REGION = "global"
# Raw records list the operations that failed for them under this key.
FAILED_KEY = "_failed"

Raw = dict[str, Any]
T = TypeVar("T")
R = TypeVar("R")


class ClientSource(Protocol):
    """Something that hands out a boto3 client per (service, region), e.g. ``aws.ClientFactory``."""

    def __call__(self, service: str, region: str) -> Any: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """Where one collector run happens: account, region (``global`` for IAM/S3 listing) and clients."""

    clients: ClientSource
    account_id: str
    region: str
    partition: str = "aws"
    # Region used for calls of global services (IAM, the S3 bucket listing).
    home_region: str = "us-east-1"
    # Concurrency of per-resource calls inside one collector run (bucket details, per-user keys, ...).
    max_workers: int = 4

    def client(self, service: str, region: str | None = None) -> Any:
        """A client for ``service`` in ``region`` (default: this scope's region, or home for global)."""
        where = region or (self.home_region if self.region == GLOBAL_REGION else self.region)
        return self.clients(service, where)


class Recorder:
    """Makes calls for one service in one region and records each failure as a ``CollectionGap``.

    Thread-safe: the IAM collector fans out per-user calls.
    """

    def __init__(self, service: str, region: str) -> None:
        self.service = service
        self.region = region
        self._gaps: list[CollectionGap] = []
        self._lock = threading.Lock()

    @property
    def gaps(self) -> tuple[CollectionGap, ...]:
        """The gaps recorded so far."""
        with self._lock:
            return tuple(self._gaps)

    def add_gap(
        self, operation: str, error: BaseException, *, resource: str | None, region: str | None
    ) -> None:
        """Record that ``operation`` failed (on ``resource``)."""
        gap = CollectionGap(
            service=self.service,
            region=region or self.region,
            operation=operation,
            error_code=error_code(error),
            message=error_message(error),
            resource=resource,
        )
        with self._lock:
            self._gaps.append(gap)

    def call(
        self,
        operation: str,
        fn: Callable[..., Any],
        /,
        *,
        resource: str | None = None,
        region: str | None = None,
        absent: Collection[str] = (),
        **kwargs: Any,
    ) -> tuple[bool, Any]:
        """Call ``fn(**kwargs)``: ``(True, response)``, ``(True, None)`` when the error code is in ``absent``
        (the documented "there is none" answer), or ``(False, None)`` after recording a gap."""
        try:
            return True, fn(**kwargs)
        except ClientError as e:
            if error_code(e) in absent:
                return True, None
            self.add_gap(operation, e, resource=resource, region=region)
        except BotoCoreError as e:
            self.add_gap(operation, e, resource=resource, region=region)
        return False, None

    def fetch(
        self,
        record: Raw,
        key: str,
        operation: str,
        fn: Callable[..., Any],
        /,
        *,
        resource: str | None = None,
        region: str | None = None,
        absent: Collection[str] = (),
        **kwargs: Any,
    ) -> None:
        """``call`` and store the response (or None when absent) in ``record[key]``; on failure leave
        ``key`` out and list ``operation`` under ``record[FAILED_KEY]``."""
        ok, response = self.call(operation, fn, resource=resource, region=region, absent=absent, **kwargs)
        if ok:
            record[key] = response
        else:
            record.setdefault(FAILED_KEY, []).append(operation)

    def result(self, datasets: tuple[Dataset, ...] | None, *, listing_operation: str) -> ServiceResult:
        """The run's ``ServiceResult``: ``datasets`` None means the top listing failed (nothing was seen)."""
        gaps = self.gaps
        if datasets is None:
            error = first_listing_error(gaps, listing_operation) or "Unknown"
            return ServiceResult(service=self.service, region=self.region, gaps=gaps, listing_error=error)
        return ServiceResult(service=self.service, region=self.region, datasets=datasets, gaps=gaps)

    def compute_result(
        self, resources: Iterable[ComputeResource] | None, *, listing_operation: str
    ) -> ServiceResult:
        """The ``ServiceResult`` of a compute collector: ``resources`` None means the listing failed."""
        gaps = self.gaps
        if resources is None:
            error = first_listing_error(gaps, listing_operation) or "Unknown"
            return ServiceResult(service=self.service, region=self.region, gaps=gaps, listing_error=error)
        ordered = tuple(sorted(resources, key=lambda r: r.arn))
        return ServiceResult(service=self.service, region=self.region, compute=ordered, gaps=gaps)

    def paginate(
        self,
        client: Any,
        operation: str,
        result_key: str,
        /,
        *,
        resource: str | None = None,
        region: str | None = None,
        absent: Collection[str] = (),
        **kwargs: Any,
    ) -> list[Any] | None:
        """All ``result_key`` items of a paginated operation (snake_case name), or None after a gap.

        A failure on a later page loses the whole listing: a partial list would read as complete.
        """
        items: list[Any] = []
        try:
            for page in client.get_paginator(operation).paginate(**kwargs):
                items.extend(page.get(result_key, []))
        except ClientError as e:
            if error_code(e) in absent:
                return []
            self.add_gap(_operation_name(client, operation), e, resource=resource, region=region)
            return None
        except BotoCoreError as e:
            self.add_gap(_operation_name(client, operation), e, resource=resource, region=region)
            return None
        return items


def for_each(items: Sequence[T], fn: Callable[[T], R], max_workers: int) -> list[R]:
    """``[fn(item) for item in items]`` over a small thread pool, results in input order."""
    if len(items) <= 1 or max_workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(max_workers, len(items))) as pool:
        return list(pool.map(fn, items))


def _operation_name(client: Any, snake: str) -> str:
    """``list_buckets`` -> ``ListBuckets`` as botocore names it."""
    names: Mapping[str, str] = getattr(getattr(client, "meta", None), "method_to_api_mapping", {})
    return names.get(snake) or "".join(part.title() for part in snake.split("_"))


@dataclass(frozen=True, slots=True, kw_only=True)
class IamEntities:
    """The IAM part of a snapshot."""

    users: tuple[User, ...] = ()
    groups: tuple[Group, ...] = ()
    roles: tuple[Role, ...] = ()
    managed_policies: tuple[ManagedPolicy, ...] = ()
    instance_profiles: tuple[InstanceProfile, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceResult:
    """What one collector run produced. ``listing_error`` is the error code when the service's top
    listing failed (so nothing of it was seen); per-resource failures are only ``gaps``."""

    service: str
    region: str
    datasets: tuple[Dataset, ...] = ()
    iam: IamEntities | None = None
    compute: tuple[ComputeResource, ...] = ()  # compute collectors (functions, instances, stacks, ...)
    # The organization the account belongs to (Organizations collector only; None: in none, or unread).
    organization: Organization | None = None
    gaps: tuple[CollectionGap, ...] = ()
    listing_error: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        """How many items were collected (datasets, compute resources, IAM principals, or organization
        policies)."""
        if self.iam is not None:
            return len(self.iam.users) + len(self.iam.roles)
        if self.organization is not None:
            return len(self.organization.policies)
        return len(self.datasets) + len(self.compute)


@dataclass(frozen=True, slots=True, kw_only=True)
class Collector:
    """A registered collector: ``run`` is get followed by normalise for one ``Scope``."""

    name: str
    run: Callable[[Scope], ServiceResult]
    # Global collectors run once per account (Scope.region == GLOBAL_REGION); regional ones per region.
    regional: bool = True
    description: str = ""


def first_listing_error(gaps: Iterable[CollectionGap], operation: str) -> str | None:
    """The error code of the gap for the top listing ``operation`` (with no resource), if any."""
    for gap in gaps:
        if gap.operation == operation and gap.resource is None:
            return gap.error_code
    return None


def tags_dict(
    tags: Iterable[Mapping[str, Any]] | None, key: str = "Key", value: str = "Value"
) -> dict[str, str]:
    """``[{"Key": k, "Value": v}]`` -> ``{k: v}`` (KMS spells them TagKey/TagValue)."""
    return {str(t[key]): str(t.get(value, "")) for t in tags or ()}


def iso(value: object) -> str | None:
    """A timestamp as ISO 8601 text (boto3 gives datetimes; CLI JSON output gives strings)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.isoformat()
    return str(value)


def present(value: object) -> str | None:
    """A string field, None when empty or "N/A" (GetAccessKeyLastUsed's answer for a never-used key)."""
    return None if value in (None, "", "N/A") else str(value)


def env_names(
    variables: Mapping[str, Any] | Iterable[Mapping[str, Any]] | None, key: str = "name"
) -> tuple[str, ...]:
    """Environment variable *names*, sorted; values are never kept (they may be credentials).

    Takes a name -> value mapping (Lambda) or a list of ``{"name": ..., "value": ...}`` (ECS, CodeBuild).
    """
    if not variables:
        return ()
    if isinstance(variables, Mapping):
        return tuple(sorted(str(k) for k in variables))
    return tuple(sorted({str(v[key]) for v in variables if v.get(key)}))


def not_collected(record: Mapping[str, Any]) -> dict[str, Any]:
    """``details`` entry naming the operations that failed for a raw record (empty when none did)."""
    failed = record.get(FAILED_KEY)
    return {"not_collected": sorted(failed)} if failed else {}
