"""The offline half of the pipeline: snapshot + key → ranked, explained blast radius (a ``Report``).

``analyze_snapshot`` is pure given its inputs (the clock comes from ``now``), so the same snapshot and
key give the same JSON; the CLI's live mode collects a snapshot first and then calls this very function.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Iterable, Mapping, Sequence

from blastradius.classify import classifier_for
from blastradius.collect.cloudtrail import CloudTrailEvidence
from blastradius.collect.cloudtrail import utc_text as _z
from blastradius.errors import UsageError
from blastradius.escalation import escalations as fired_escalations
from blastradius.evidence import ObjectCount, not_collected, notification_rows, summarize, window_start
from blastradius.graph import Edge, PermissionGraph, build_graph, path_step
from blastradius.jsonio import gc_paused
from blastradius.keys import SESSION, KeyOwner, identify_offline, parse_access_key_id
from blastradius.model import Snapshot
from blastradius.parallel import default_jobs
from blastradius.pivots import credential_pivots
from blastradius.reach import Reach, Route, reach_shares
from blastradius.remediate import rotation_plan
from blastradius.report import (
    CONDITIONAL,
    DEFINITE,
    LEVELS,
    Coverage,
    DatasetFinding,
    Grant,
    KeyInfo,
    NotificationRow,
    PathStep,
    PrincipalReach,
    Report,
    level_rank,
    sensitivity_rank,
)
from blastradius.rules import RuleSet, load_rules


def utc_now() -> dt.datetime:
    """Now, or ``SOURCE_DATE_EPOCH`` when set (reproducible reports, as in reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def key_info_from_owner(owner: KeyOwner, principal_arn: str | None = None) -> KeyInfo:
    """The report's ``key`` section from what identification found (``principal_arn`` overrides)."""
    return KeyInfo(
        access_key_id=owner.access_key_id,
        account_id=owner.account_id,
        principal_arn=principal_arn or owner.principal_arn,
        kind=owner.kind,
        status=owner.status,
        created=owner.created,
        last_used={
            "date": owner.last_used_date,
            "service": owner.last_used_service,
            "region": owner.last_used_region,
        },
        identified_by=owner.identified_by,
        note=owner.note,
    )


def _steps(route: Route, cache: dict[int, PathStep] | None = None) -> tuple[PathStep, ...]:
    """The route as report steps; ``cache`` shares the step of an edge between routes (by identity:
    the edges of a search live as long as it does)."""
    return _edge_steps(route.edges, cache)


def _edge_steps(edges: tuple[Edge, ...], cache: dict[int, PathStep] | None = None) -> tuple[PathStep, ...]:
    if cache is None:
        return tuple(path_step(e) for e in edges)
    out = []
    for e in edges:
        step = cache.get(id(e))
        if step is None:
            step = cache[id(e)] = path_step(e)
        out.append(step)
    return tuple(out)


PATHS_MODES = ("first", "all")


# A finding with its place in the report's order: most sensitive, strongest access, definite first, then
# by name and ARN (unique: the finding itself is never compared).
Keyed = tuple[int, int, bool, str, str, DatasetFinding]


def _findings(
    graph: PermissionGraph, result: Reach, rules: RuleSet, *, all_paths: bool = False
) -> list[DatasetFinding]:
    """One finding per dataset granted in ``result``, in the report's order."""
    return _in_order(_keyed_findings(graph, result, rules, all_paths=all_paths))


def _in_order(keyed: Iterable[Keyed]) -> list[DatasetFinding]:
    """Keyed findings (from any number of shares) as the report lists them."""
    return [k[-1] for k in sorted(keyed)]


def _keyed_findings(
    graph: PermissionGraph, result: Reach, rules: RuleSet, *, all_paths: bool = False
) -> list[Keyed]:
    classifier = classifier_for(rules.sensitivity)
    datasets = graph.model.datasets
    cache: dict[int, PathStep] = {}
    # A grant's route is the route of the principal it was granted to plus the access edge (reach
    # extends a principal's final route when it expands it): that head is built once per principal,
    # as (its steps, its conditions, the length of a route extending it, its last edge).
    heads: dict[str, tuple[tuple[PathStep, ...], tuple[str, ...], int, Edge | None]] = {}

    def head_of(
        edges: tuple[Edge, ...],
    ) -> tuple[tuple[PathStep, ...], tuple[str, ...], int, Edge | None] | None:
        """The head of the principal whose final route ``edges`` extends, built once; None if it does not."""
        source = edges[-1].source
        principal = result.principals.get(source)
        if principal is None or principal.edges != edges[:-1]:
            return None
        head = heads[source] = (
            _edge_steps(principal.edges, cache),
            principal.conditions,
            len(edges),
            principal.edges[-1] if principal.edges else None,
        )
        return head

    keyed: list[Keyed] = []
    for arn, levels in result.grants.items():
        dataset = datasets[arn]
        grants: list[Grant] = []
        access: list[str] = []
        definite = False
        # weakest level first (the levels a dataset is granted are few: look each one up in order)
        for level in LEVELS if len(levels) > 1 else levels:
            route = levels.get(level)
            if route is None:
                continue
            edges = route.edges
            last = edges[-1]
            head = heads.get(last.source)
            # The head holds when the route has its length and the same edge before the access edge.
            if head is None or len(edges) != head[2] or (head[3] is not None and edges[-2] is not head[3]):
                head = head_of(edges) if head is None else None
            if head is None:
                path, route_conditions = _steps(route, cache), route.conditions
            else:
                path = (*head[0], path_step(last))
                route_conditions = head[1]
                if last.conditions:  # as Route.conditions: in path order, once each
                    route_conditions = tuple(dict.fromkeys((*route_conditions, *last.conditions)))
            certainty = route.certainty
            definite = definite or certainty == DEFINITE
            grants.append(Grant(level=level, certainty=certainty, path=path, conditions=route_conditions))
            access.append(level)
        strongest = grants[-1]
        conditions: tuple[str, ...] = ()
        if not definite:
            conditions = (
                grants[0].conditions
                if len(grants) == 1
                else tuple(dict.fromkeys(c for g in grants for c in g.conditions))
            )
        label = classifier.classify(dataset)
        finding = DatasetFinding(
            arn=arn,
            type=dataset.type,
            name=dataset.name,
            region=dataset.region,
            access=tuple(access),
            certainty=DEFINITE if definite else CONDITIONAL,
            conditions=conditions,
            sensitivity=label.sensitivity,
            sensitivity_reasons=label.reasons,
            estimated_records=dataset.estimated_records,
            path=strongest.path,
            grants=tuple(grants),
            kms_key=dataset.kms_key,
            credential_pivot=label.credential_pivot,
            personal_data=label.personal_data,
            paths=(
                tuple(_edge_steps(edges, cache) for edges in result.routes(arn, strongest.level))
                if all_paths
                else None
            ),
        )
        keyed.append(
            (
                -sensitivity_rank(label.sensitivity),
                -level_rank(strongest.level),
                not definite,
                dataset.name,
                arn,
                finding,
            )
        )
    return keyed


# What one share of the search gives the report (``_summarize``): its findings, keyed for the report's
# order, and the access edges of its grants that carry a technique (the escalations the paths take).
Share = tuple[list[Keyed], list[Edge]]


def _summarize(graph: PermissionGraph, rules: RuleSet, *, all_paths: bool) -> Callable[[Reach], Share]:
    """Builds a share's part of the report where the share was searched (``reach_shares``): a forked
    process sends back its findings, not the grants they are made of."""

    def summarize(share: Reach) -> Share:
        used = [
            route.edges[-1]
            for levels in share.grants.values()
            for route in levels.values()
            if route.edges[-1].technique is not None
        ]
        return _keyed_findings(graph, share, rules, all_paths=all_paths), used

    return summarize


def _principals(result: Reach) -> list[PrincipalReach]:
    out = [
        PrincipalReach(arn=arn, via=route.via, path=_steps(route), certainty=route.certainty)
        for arn, route in result.principals.items()
    ]
    out.sort(key=lambda p: (p.via != "origin", len(p.path), p.arn))
    return out


@gc_paused()
def analyze_snapshot(
    snapshot: Snapshot,
    key_id: str,
    *,
    rules: RuleSet | None = None,
    key_info: KeyInfo | None = None,
    context_overrides: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
    exposed_since: str | None = None,
    paths: str = "first",
    escalation: bool = True,
    trail_evidence: CloudTrailEvidence | None = None,
    evidence_absent_reason: str = "offline analysis of a snapshot",
    object_counts: Mapping[str, ObjectCount] | None = None,
    object_counter: ObjectCounter | None = None,
    jobs: int | None = None,
) -> Report:
    """Analyse one leaked key against a snapshot: reach, classify, rank, plan.

        ``trail_evidence`` (CloudTrail events of the key, see ``collect.cloudtrail``) overlays "did touch"
        on "could reach"; without it the report says why (``evidence_absent_reason``) and "touched" is
        unknown. ``object_counts`` (bucket ARN → bounded object count), or ``object_counter`` (called with
    the notification rows and the reachable principals, e.g. a bounded live listing), sizes S3 buckets for the
        notification table. A key whose status is Inactive reaches nothing: ``datasets`` is empty and
        what it would reach if re-activated is in ``if_reactivated``.

    ``paths``: ``first`` gives each dataset its first shortest path; ``all`` also lists every distinct
    path of equal best cost to its strongest access (``DatasetFinding.paths``).

    ``jobs``: processes the search may use (default: the CPUs available; see ``reach``). The report
    does not depend on it.
    """
    if paths not in PATHS_MODES:
        raise UsageError(f"paths must be one of {', '.join(PATHS_MODES)}, got {paths!r}")
    rules = rules or load_rules()
    now = now or utc_now()
    parsed = parse_access_key_id(key_id)
    warnings: list[str] = list(snapshot.warnings)
    if key_info is None:
        key_info = key_info_from_owner(identify_offline(snapshot, key_id))
    graph = build_graph(snapshot, rules, context_overrides=context_overrides, now=now, escalation=escalation)
    origin = key_info.principal_arn
    if parsed.kind == SESSION and origin is not None:
        graph.model.leaked_session(origin)  # its session was issued before the analysis, when unknown
    shares: list[Share] = []
    if origin is None or graph.model.principal(origin) is None:
        where = "the snapshot" if origin is None else f"the snapshot (owner {origin})"
        warnings.append(
            f"key {parsed.access_key_id} was not found in {where}; nothing can be said about its reach "
            "from this snapshot — collect the owner's account, or identify the key with auditor credentials"
        )
        result = Reach(origin=origin or "", principals={}, grants={})
    else:
        result, shares = reach_shares(
            graph,
            origin,
            _summarize(graph, rules, all_paths=paths == "all"),
            all_paths=paths == "all",
            jobs=jobs or default_jobs(),
        )
    findings = _in_order(k for keyed, _ in shares for k in keyed)
    principals = _principals(result)
    escalations = tuple(
        fired_escalations(
            graph,
            {arn: route.edges for arn, route in result.principals.items()},
            # a grant's path is its principal's route and then this edge
            [(edge,) for _, used in shares for edge in used],
        )
    )
    pivots = credential_pivots(graph, principals, findings, rules)
    # Sorted: a search split between processes records them in an order that depends on the split.
    warnings.extend(sorted(graph.model.warnings.items))
    start, start_source = window_start(exposed_since, key_info.created)
    if trail_evidence is not None:
        evidence, marked = summarize(
            trail_evidence, datasets=findings, key=key_info, window_source=start_source, now=now
        )
        findings = list(marked)
    else:
        evidence = not_collected(start, start_source, _z(now), evidence_absent_reason)
    coverage = Coverage(
        services=dict(snapshot.services),
        regions=snapshot.regions,
        gaps=snapshot.gaps,
        warnings=tuple(warnings),
        source=snapshot.source,
        accounts=snapshot.accounts or (snapshot.account_id,),
    )
    user_name = None
    if key_info.principal_arn and ":user/" in key_info.principal_arn:
        user = graph.model.users.get(key_info.principal_arn)
        user_name = user.name if user else key_info.principal_arn.rsplit("/", 1)[-1]
    notification = notification_rows(findings, object_counts)
    if object_counter is not None and any(n.type == "s3-bucket" for n in notification):
        counted = object_counter(notification, [p.arn for p in principals])
        notification = notification_rows(findings, {**(object_counts or {}), **counted})
    plan = rotation_plan(
        key=key_info,
        principals=principals,
        datasets=findings,
        escalations=escalations,
        pivots=pivots,
        user_name=user_name,
        account_id=key_info.account_id or snapshot.account_id,
        regions=snapshot.regions,
        exposed_since=exposed_since,
        coverage=coverage,
        now=now,
        rules=rules.rotation,
        actions_seen=evidence.actions_seen,
        records={n.arn: _records_text(n) for n in notification if n.estimated_records is not None},
        persistence=evidence.persistence,
    )
    reachable: tuple[DatasetFinding, ...] = tuple(findings)
    if_reactivated: tuple[DatasetFinding, ...] = ()
    if key_info.status == "Inactive":
        # An inactive key is refused by AWS ("Manage access keys for IAM users": an inactive key cannot
        # be used to sign requests): it reaches nothing now. The plan and the notification table still
        # use what it could reach while it was active — that is the exposure.
        reachable, if_reactivated = (), tuple(findings)
        principals = [p for p in principals if p.via == "origin"]
        coverage = dataclasses.replace(
            coverage,
            warnings=(
                *coverage.warnings,
                f"key {key_info.access_key_id} is Inactive: it reaches nothing now; if re-activated it "
                f"would reach {len(if_reactivated)} dataset(s) (listed under if_reactivated)",
            ),
        )
        key_info = dataclasses.replace(
            key_info,
            note=(key_info.note + " " if key_info.note else "")
            + f"Inactive: reaches nothing now; {len(if_reactivated)} dataset(s) if re-activated.",
        )
    return Report(
        generated_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        key=key_info,
        principals=tuple(principals),
        datasets=reachable,
        escalations=escalations,
        coverage=coverage,
        rotation_plan=plan,
        evidence=evidence,
        notification=notification,
        if_reactivated=if_reactivated,
        credential_pivots=pivots,
    )


# Sizes S3 buckets of the notification table: (rows, reachable principal ARNs) -> counts by bucket ARN.
ObjectCounter = Callable[[Sequence[NotificationRow], Sequence[str]], Mapping[str, ObjectCount]]


def _records_text(row: NotificationRow) -> str:
    assert row.estimated_records is not None
    if row.type == "s3-bucket":
        return f"{'at least ' if 'at least' in row.records_basis else ''}{row.estimated_records:,} objects"
    return f"{row.estimated_records:,} records"
