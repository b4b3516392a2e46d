"""The offline half of the pipeline: snapshot + key → ranked, explained blast radius (a ``Report``).

``analyze_snapshot`` is pure given its inputs (the clock comes from ``now``), so the same snapshot and
key give the same JSON; the CLI's live mode collects a snapshot first and then calls this very function.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping

from blastradius.classify import classify
from blastradius.graph import PermissionGraph, build_graph
from blastradius.keys import KeyOwner, identify_offline, parse_access_key_id
from blastradius.model import Snapshot
from blastradius.pivots import credential_pivots, path_step
from blastradius.reach import Reach, Route, reach
from blastradius.remediate import rotation_plan
from blastradius.report import (
    CONDITIONAL,
    DEFINITE,
    Coverage,
    DatasetFinding,
    Grant,
    KeyInfo,
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


def _steps(route: Route) -> tuple[PathStep, ...]:
    return tuple(path_step(e) for e in route.edges)


def _findings(graph: PermissionGraph, result: Reach, rules: RuleSet) -> list[DatasetFinding]:
    findings: list[DatasetFinding] = []
    for arn, levels in result.grants.items():
        dataset = graph.model.datasets[arn]
        grants = tuple(
            Grant(level=level, certainty=route.certainty, path=_steps(route), conditions=route.conditions)
            for level, route in sorted(levels.items(), key=lambda kv: level_rank(kv[0]))
        )
        strongest = grants[-1]
        definite = any(g.certainty == DEFINITE for g in grants)
        conditions: tuple[str, ...] = ()
        if not definite:
            seen: dict[str, None] = {}
            for g in grants:
                for c in g.conditions:
                    seen.setdefault(c, None)
            conditions = tuple(seen)
        label = classify(dataset, rules.sensitivity)
        findings.append(
            DatasetFinding(
                arn=arn,
                type=dataset.type,
                name=dataset.name,
                region=dataset.region,
                access=tuple(g.level for g in grants),
                certainty=DEFINITE if definite else CONDITIONAL,
                conditions=conditions,
                sensitivity=label.sensitivity,
                sensitivity_reasons=label.reasons,
                estimated_records=dataset.estimated_records,
                path=strongest.path,
                grants=grants,
                kms_key=dataset.kms_key,
                credential_pivot=label.credential_pivot,
                personal_data=label.personal_data,
            )
        )
    findings.sort(
        key=lambda f: (
            -sensitivity_rank(f.sensitivity),
            -level_rank(f.strongest),
            f.certainty != DEFINITE,
            f.name,
            f.arn,
        )
    )
    return findings


def _principals(result: Reach) -> list[PrincipalReach]:
    out = [
        PrincipalReach(arn=arn, via=route.via, path=_steps(route), certainty=route.certainty)
        for arn, route in result.principals.items()
    ]
    out.sort(key=lambda p: (p.via != "origin", len(p.path), p.arn))
    return out


def analyze_snapshot(
    snapshot: Snapshot,
    key_id: str,
    *,
    rules: RuleSet | None = None,
    key_info: KeyInfo | None = None,
    context_overrides: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
    exposed_since: str | None = None,
) -> Report:
    """Analyse one leaked key against a snapshot: reach, classify, rank, plan."""
    rules = rules or load_rules()
    now = now or utc_now()
    parsed = parse_access_key_id(key_id)
    warnings: list[str] = list(snapshot.warnings)
    if key_info is None:
        key_info = key_info_from_owner(identify_offline(snapshot, key_id))
    graph = build_graph(snapshot, rules, context_overrides=context_overrides, now=now)
    origin = key_info.principal_arn
    if origin is None or graph.model.principal(origin) is None:
        where = "the snapshot" if origin is None else f"the snapshot (owner {origin})"
        warnings.append(
            f"key {parsed.access_key_id} was not found in {where}; nothing can be said about its reach "
            "from this snapshot — collect the owner's account, or identify the key with auditor credentials"
        )
        result = Reach(origin=origin or "", principals={}, grants={})
    else:
        result = reach(graph, origin)
    findings = _findings(graph, result, rules)
    principals = _principals(result)
    pivots = credential_pivots(graph, principals, findings, rules)
    warnings.extend(graph.model.warnings.items)
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
    plan = rotation_plan(
        key=key_info,
        principals=principals,
        datasets=findings,
        escalations=(),
        pivots=pivots,
        user_name=user_name,
        account_id=key_info.account_id or snapshot.account_id,
        regions=snapshot.regions,
        exposed_since=exposed_since,
        coverage=coverage,
        now=now,
        rules=rules.rotation,
    )
    return Report(
        generated_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        key=key_info,
        principals=tuple(principals),
        datasets=tuple(findings),
        escalations=(),
        coverage=coverage,
        rotation_plan=plan,
        credential_pivots=pivots,
    )
