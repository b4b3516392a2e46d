"""Evidence: what the leaked key actually did in its exposure window, overlaid on what it could reach.

Pure: CloudTrail facts (``collect.cloudtrail.CloudTrailEvidence``) + the reachable datasets + the key
→ an ``Evidence`` section, datasets marked ``touched``, and a notification table. Nothing here calls
AWS. What the events cannot show is stated, never implied away:

* event history covers 90 days ("Working with CloudTrail event history"); older events exist only in
  a trail's S3 delivery, so the part of the window before that is listed as uncovered;
* data events (S3 object reads, DynamoDB item reads) are never in event history ("Logging data
  events"): a dataset with no management event is "not seen touching", not "untouched";
* a region whose LookupEvents failed, or whose listing hit the bound, is dark (in part) too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from blastradius.collect.cloudtrail import (
    EVENT_HISTORY_DAYS,
    SESSION_EVENTS,
    CloudTrailEvidence,
    TrailEvent,
    parse_time,
)
from blastradius.collect.cloudtrail import utc_text as _z
from blastradius.model import Role, Snapshot, User
from blastradius.report import (
    ActivityRow,
    DatasetFinding,
    Evidence,
    KeyInfo,
    NotificationRow,
    PersistenceEvent,
    TouchSummary,
    TrailSummary,
    UncoveredSpan,
)

# IAM (and STS) events that create or widen a way back in. The persistence check of the runbook
# (policies/rotation.toml, step "persistence") lists the same family for manual lookup.
PERSISTENCE_EVENTS = frozenset(
    {
        "CreateUser",
        "CreateAccessKey",
        "UpdateAccessKey",
        "CreateLoginProfile",
        "UpdateLoginProfile",
        "CreatePolicy",
        "CreatePolicyVersion",
        "SetDefaultPolicyVersion",
        "AttachUserPolicy",
        "AttachRolePolicy",
        "AttachGroupPolicy",
        "PutUserPolicy",
        "PutRolePolicy",
        "PutGroupPolicy",
        "PutUserPermissionsBoundary",
        "PutRolePermissionsBoundary",
        "DeleteUserPermissionsBoundary",
        "DeleteRolePermissionsBoundary",
        "AddUserToGroup",
        "CreateRole",
        "UpdateAssumeRolePolicy",
        "CreateInstanceProfile",
        "AddRoleToInstanceProfile",
        "CreateOpenIDConnectProvider",
        "CreateSAMLProvider",
        "UpdateSAMLProvider",
        "CreateVirtualMFADevice",
        "EnableMFADevice",
        "DeactivateMFADevice",
    }
)

# Which dataset type each event source's identifiers name, and the request fields that name it.
_SERVICE_TYPES: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "s3": ("s3-bucket", ("bucketName",)),
    "dynamodb": ("dynamodb-table", ("tableName",)),
    "secretsmanager": ("secretsmanager-secret", ("secretId",)),
    "ssm": ("ssm-parameter", ("name", "names")),
    "kms": ("kms-key", ("keyId",)),
}

# Dataset types whose reads are data events, with the trail resource type that would log them.
_DATA_EVENT_TYPES = {"s3-bucket": "AWS::S3::Object", "dynamodb-table": "AWS::DynamoDB::Table"}

NOTIFY_TYPES = frozenset({"s3-bucket", "dynamodb-table"})


def window_start(exposed_since: str | None, key_created: str | None) -> tuple[str | None, str]:
    """Start of the exposure window and where it comes from (``--exposed-since``, key creation, unknown)."""
    if exposed_since:
        return _z(parse_time(exposed_since)), "--exposed-since"
    if key_created:
        return _z(parse_time(key_created)), "key creation date"
    return None, "unknown (no exposure date given and the key's creation date is not known)"


def not_collected(start: str | None, source: str, end: str, why: str) -> Evidence:
    """The evidence section when no CloudTrail evidence was gathered: "did touch" is unknown."""
    return Evidence(
        status="not collected",
        window_start=start,
        window_end=end,
        window_source=source,
        source="none",
        statement=f"No CloudTrail evidence was gathered ({why}): whether the key touched any dataset is "
        "unknown, not no.",
    )


def summarize(
    trail: CloudTrailEvidence,
    *,
    datasets: Sequence[DatasetFinding],
    key: KeyInfo,
    window_source: str,
    now: dt.datetime,
) -> tuple[Evidence, tuple[DatasetFinding, ...]]:
    """The evidence section, and ``datasets`` with ``touched`` / ``touched_by`` / ``touch_note`` set."""
    events = trail.events
    index = _DatasetIndex(datasets)
    touches: dict[str, dict[tuple[str, str | None], list[TrailEvent]]] = {}
    for event in events:
        for arn in index.resolve(event):
            by = touches.setdefault(arn, {})
            by.setdefault((event.event_name, _via(event, trail.access_key_id)), []).append(event)
    logged_types = {
        t for c in trail.trails if c.logging is not False and c.data_event_types for t in c.data_event_types
    }
    marked: list[DatasetFinding] = []
    touched_arns: list[str] = []
    seen_any = bool(trail.regions)  # no region could be searched: "touched" stays unknown
    for finding in datasets:
        by_name = touches.get(finding.arn, {})
        summaries = tuple(
            TouchSummary(
                event_name=name,
                count=len(evs),
                errors=sum(1 for e in evs if not e.succeeded),
                first=min(e.time for e in evs),
                last=max(e.time for e in evs),
                via=via,
            )
            for (name, via), evs in sorted(by_name.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
        )
        touched = any(s.count > s.errors for s in summaries)
        if touched:
            touched_arns.append(finding.arn)
        marked.append(
            dataclasses.replace(
                finding,
                touched=touched if seen_any else None,
                touched_by=summaries,
                touch_note=_touch_note(finding, logged_types),
            )
        )
    history_start = now - dt.timedelta(days=EVENT_HISTORY_DAYS)
    uncovered = _uncovered(trail, history_start)
    searched = set(trail.regions)
    status = "collected"
    if not searched:
        status = "failed"
    elif trail.gaps or trail.truncated_regions:
        status = "partial"
    data_logged = bool(logged_types) if trail.trails or not trail.gaps else None
    evidence = Evidence(
        status=status,
        window_start=trail.start,
        window_end=trail.end,
        window_source=window_source,
        source=trail.source,
        regions=trail.regions,
        event_count=len(events),
        error_count=sum(1 for e in events if not e.succeeded),
        activity=_activity(events, trail.access_key_id),
        persistence=_persistence(events),
        touched=tuple(touched_arns),
        actions_seen=_actions_seen(events, trail.access_key_id, index),
        session_keys=tuple(
            dict.fromkeys(
                k
                for e in events
                if e.event_name in SESSION_EVENTS
                for k in e.parameters.get("sessionAccessKeyId", ())
            )
        ),
        trails=tuple(
            TrailSummary(
                name=c.name,
                arn=c.arn,
                home_region=c.home_region,
                multi_region=c.multi_region,
                logging=c.logging,
                s3_bucket=c.s3_bucket,
                management_events=c.management_events,
                data_event_types=c.data_event_types,
            )
            for c in trail.trails
        ),
        data_events_logged=data_logged,
        data_events=_data_events_statement(trail, logged_types),
        uncovered=uncovered,
        uncovered_days=_window_days_before(trail.start, history_start),
        statement=_statement(trail, uncovered, history_start),
        truncated_regions=trail.truncated_regions,
        gaps=trail.gaps,
        warnings=tuple(_warnings(trail, key, events)),
    )
    return evidence, tuple(marked)


class _DatasetIndex:
    """Resolve an event's identifiers (names, ids, ARNs) to reachable dataset ARNs of the right type."""

    def __init__(self, datasets: Iterable[DatasetFinding]) -> None:
        self._by: dict[tuple[str, str], set[tuple[str, str]]] = {}
        for d in datasets:
            for alias in _aliases(d):
                self._by.setdefault((d.type, alias), set()).add((d.arn, d.region))

    def resolve(self, event: TrailEvent) -> set[str]:
        kind = _SERVICE_TYPES.get(event.service)
        if kind is None:
            return set()
        dataset_type, fields = kind
        candidates = [v for f in fields for v in event.parameters.get(f, ())]
        candidates.extend(name for _, name in event.resources)
        found: set[str] = set()
        for value in candidates:
            for arn, region in self._by.get((dataset_type, _canonical(dataset_type, value)), ()):
                # Names are per region (a table of the same name elsewhere is another table); ARNs
                # and S3 bucket names are not.
                if value.startswith("arn:") or dataset_type == "s3-bucket" or region == event.region:
                    found.add(arn)
        return found


def _canonical(dataset_type: str, value: str) -> str:
    """An identifier as the index keys it: ARNs cut to the dataset, parameter names without '/'."""
    if value.startswith("arn:"):
        if dataset_type == "s3-bucket":
            return value.split("/", 1)[0]
        if dataset_type == "dynamodb-table":
            parts = value.split("/")
            return "/".join(parts[:2])
        return value
    if dataset_type == "ssm-parameter":
        return value.lstrip("/")
    return value


def _aliases(d: DatasetFinding) -> set[str]:
    names = {d.arn, _canonical(d.type, d.name)} if d.name else {d.arn}
    resource = d.arn.split(":", 5)[-1]
    if d.type == "s3-bucket":
        names.add(resource)
    elif d.type == "dynamodb-table":
        names.add(resource.split("/", 1)[-1])
    elif d.type == "secretsmanager-secret":
        # secret:NAME-AbCdEf: the ARN without its random suffix is a "partial ARN" callers may use.
        names.add(resource.split(":", 1)[-1])
        names.add(d.arn.rsplit("-", 1)[0])
    elif d.type == "ssm-parameter":
        names.add(resource[len("parameter") :].lstrip("/"))
    elif d.type == "kms-key":
        names.add(resource.split("/", 1)[-1])
    return names


def _touch_note(finding: DatasetFinding, logged_types: set[str]) -> str | None:
    needed = _DATA_EVENT_TYPES.get(finding.type)
    if needed is None:
        return None
    what = "object reads and writes" if finding.type == "s3-bucket" else "item reads and writes"
    if needed in logged_types:
        return (
            f"{what} are data events: a trail logs {needed}, but they are only in its S3 delivery, not "
            "in event history — query the trail's logs for this dataset"
        )
    return f"{what} are data events and no trail logs {needed}: they left no record"


# Calls that need no permission (so no policy statement): "GetCallerIdentity" in the STS API Reference.
_NO_PERMISSION = frozenset({"sts:GetCallerIdentity"})
# CloudTrail event names that carry an API version suffix (Lambda's), as in rotation.toml's table.
_VERSIONED = ("20150331v2", "20150331", "20160819", "20170331")


def _actions_seen(
    events: Sequence[TrailEvent], leaked: str, index: _DatasetIndex
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """IAM actions the leaked key used successfully, each with the resources the events name."""
    seen: dict[str, dict[str, None]] = {}
    for e in events:
        if not e.succeeded or _via(e, leaked) is not None:
            continue
        name = e.event_name
        for suffix in _VERSIONED:
            name = name.removesuffix(suffix)
        action = f"{e.service}:{name}"
        if action in _NO_PERMISSION:
            continue
        resources = sorted(index.resolve(e)) or list(e.parameters.get("roleArn", ())) or ["*"]
        bucket = seen.setdefault(action, {})
        for r in resources:
            bucket[r] = None
    return tuple((a, tuple(sorted(r))) for a, r in sorted(seen.items()))


def _via(event: TrailEvent, leaked: str) -> str | None:
    """The session key that made a call, or None when the leaked key itself did."""
    return event.access_key_id if event.access_key_id and event.access_key_id != leaked else None


def _activity(events: Sequence[TrailEvent], leaked: str) -> tuple[ActivityRow, ...]:
    groups: dict[tuple[str | None, str, str, str, str | None], list[TrailEvent]] = {}
    for e in events:
        groups.setdefault((_via(e, leaked), e.service, e.event_name, e.region, e.source_ip), []).append(e)
    rows = [
        ActivityRow(
            via=via,
            service=service,
            event_name=name,
            region=region,
            source_ip=ip,
            count=len(evs),
            errors=sum(1 for e in evs if not e.succeeded),
            error_codes=tuple(sorted({e.error_code for e in evs if e.error_code})),
            first=min(e.time for e in evs),
            last=max(e.time for e in evs),
        )
        for (via, service, name, region, ip), evs in groups.items()
    ]
    rows.sort(key=lambda r: (r.first, r.via or "", r.service, r.event_name, r.region, r.source_ip or ""))
    return tuple(rows)


def _persistence(events: Sequence[TrailEvent]) -> tuple[PersistenceEvent, ...]:
    out: list[PersistenceEvent] = []
    for e in events:
        if e.event_name not in PERSISTENCE_EVENTS:
            continue
        p = e.parameters
        parts: list[str] = []
        for field, label in (
            ("userName", "user"),
            ("createdAccessKeyUser", "user"),
            ("roleName", "role"),
            ("groupName", "group"),
            ("policyArn", "policy"),
            ("policyName", "inline policy"),
            ("accessKeyId", "key"),
            ("instanceProfileName", "instance profile"),
        ):
            parts.extend(f"{label} {v}" for v in p.get(field, ()))
        out.append(
            PersistenceEvent(
                event_name=e.event_name,
                time=e.time,
                region=e.region,
                target=", ".join(dict.fromkeys(parts)) or "(not named in the event)",
                source_ip=e.source_ip,
                error_code=e.error_code,
                created_access_key_id=(p.get("createdAccessKeyId") or (None,))[0],
            )
        )
    return tuple(out)


def _days(start: dt.datetime, end: dt.datetime) -> float:
    return round(max((end - start).total_seconds(), 0) / 86400, 1)


def _duration(start: dt.datetime, end: dt.datetime) -> str:
    seconds = max((end - start).total_seconds(), 0)
    if seconds < 86400:
        return f"{seconds / 3600:.1f} hours"
    return f"{_days(start, end)} days"


def _window_days_before(start: str | None, history_start: dt.datetime) -> float | None:
    if start is None:
        return None
    return _days(parse_time(start), history_start)


def _uncovered(trail: CloudTrailEvidence, history_start: dt.datetime) -> tuple[UncoveredSpan, ...]:
    spans: list[UncoveredSpan] = []
    start = parse_time(trail.start)
    end = parse_time(trail.end)
    if start < history_start:
        delivered = [c for c in trail.trails if c.s3_bucket and c.management_events is not False]
        where = (
            "; trail(s) "
            + ", ".join(f"{c.name} → s3://{c.s3_bucket}" for c in delivered)
            + " may hold this span if they were logging then"
            if delivered
            else "; no trail delivers to S3, so no record of this span exists"
        )
        spans.append(
            UncoveredSpan(
                start=trail.start,
                end=_z(min(history_start, end)),
                region="all",
                why=f"older than event history's {EVENT_HISTORY_DAYS} days{where}",
            )
        )
    failed = sorted({g.region for g in trail.gaps if g.operation == "LookupEvents"})
    for region in failed:
        codes = sorted(
            {g.error_code for g in trail.gaps if g.region == region and g.operation == "LookupEvents"}
        )
        spans.append(
            UncoveredSpan(
                start=_z(max(start, history_start)),
                end=trail.end,
                region=region,
                why=f"LookupEvents failed ({', '.join(codes)})",
            )
        )
    for region in trail.truncated_regions:
        times = [e.time for e in trail.events if e.region == region]
        oldest = min(times) if times else trail.end
        spans.append(
            UncoveredSpan(
                start=_z(max(start, history_start)),
                end=oldest,
                region=region,
                why=f"listing stopped at its bound of {trail.max_events} events (newest first)",
            )
        )
    return tuple(spans)


def _data_events_statement(trail: CloudTrailEvidence, logged_types: set[str]) -> str:
    if not trail.trails:
        if any(g.operation in ("DescribeTrails", "GetEventSelectors") for g in trail.gaps):
            return "unknown: the trail configuration could not be read"
        return (
            "no trail: data events (S3 object and DynamoDB item reads) were not logged — reads of "
            "those datasets left no record"
        )
    if not logged_types:
        return (
            "no trail logs data events: S3 object and DynamoDB item reads left no record; "
            "management events only"
        )
    return (
        "logged by a trail for " + ", ".join(sorted(logged_types)) + ": they are only in the trail's S3 "
        "delivery (not in event history), so this report cannot show them — query those logs"
    )


def _statement(
    trail: CloudTrailEvidence, uncovered: Sequence[UncoveredSpan], history_start: dt.datetime
) -> str:
    start = parse_time(trail.start)
    end = parse_time(trail.end)
    searched = ", ".join(trail.regions) or "no region"
    text = (
        f"Window {trail.start} → {trail.end} ({_duration(start, end)}); management events searched in "
        f"{searched}."
    )
    if trail.session_keys_searched:
        text += (
            f" {len(trail.session_keys_searched)} session key(s) the key obtained were searched too "
            "(their calls are marked 'via')."
        )
    if start < history_start:
        dark = _days(start, min(history_start, end))
        text += (
            f" The first {dark} days are older than event history's {EVENT_HISTORY_DAYS} days: "
            "no evidence for them here."
        )
    else:
        text += f" The whole window is within event history's {EVENT_HISTORY_DAYS} days."
    regional = [u for u in uncovered if u.region != "all"]
    if regional:
        text += " Dark regions: " + "; ".join(f"{u.region} ({u.why})" for u in regional) + "."
    return text


def _warnings(trail: CloudTrailEvidence, key: KeyInfo, events: Sequence[TrailEvent]) -> list[str]:
    out: list[str] = [
        f"{g.resource} obtained with the key could not be searched in {g.region} ({g.error_code}): "
        "what that session did is unknown"
        for g in trail.gaps
        if g.operation == "LookupEvents" and g.resource
    ]
    last_date = key.last_used.get("date") if key.last_used else None
    last_region = key.last_used.get("region") if key.last_used else None
    if last_region and last_region not in trail.regions and last_region != "N/A":
        out.append(
            f"iam:GetAccessKeyLastUsed says the key was last used in {last_region}, which was not searched: "
            f"run again with --region {last_region}"
        )
    if last_date and not events and trail.regions:
        try:
            used = parse_time(last_date)
        except ValueError:
            used = None
        if used is not None and parse_time(trail.start) <= used <= parse_time(trail.end):
            out.append(
                f"iam:GetAccessKeyLastUsed says the key was used on {last_date} "
                f"({key.last_used.get('service') or 'unknown service'}), but event history holds no "
                "management event of it: the use was a data event, or in a region not searched"
            )
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectCount:
    """Objects of a bucket under the prefixes the key can read, from a bounded listing."""

    count: int
    truncated: bool  # the listing stopped at ``bound``: "at least count"
    bound: int
    prefixes: tuple[str, ...] = ("",)  # ("",): the whole bucket


def notification_rows(
    datasets: Sequence[DatasetFinding], object_counts: Mapping[str, ObjectCount] | None = None
) -> tuple[NotificationRow, ...]:
    """The data-protection officer's table: readable data stores with personal or sensitive data.

    ``object_counts`` maps an S3 bucket ARN to its bounded ListObjectsV2 count (``collect.s3``) under
    the prefixes the key can read (``readable_prefixes``).
    """
    rows: list[NotificationRow] = []
    counts = object_counts or {}
    sensitive_fields: dict[tuple[str, ...], tuple[str, ...]] = {}  # by reasons (datasets share them)
    for d in datasets:
        if d.type not in NOTIFY_TYPES:
            continue
        if not ("read" in d.access or "admin" in d.access):
            continue
        if not (d.personal_data or d.sensitivity in ("high", "medium")):
            continue
        records, basis = d.estimated_records, "unknown"
        if d.type == "dynamodb-table" and records is not None:
            basis = "DynamoDB ItemCount (DescribeTable; refreshed about every six hours)"
        elif d.type == "s3-bucket":
            if d.arn in counts:
                c = counts[d.arn]
                records = c.count
                where = (
                    "the whole bucket"
                    if c.prefixes == ("",)
                    else "prefix(es) " + ", ".join(c.prefixes) + " (those the reachable principals' Allow "
                    "statements grant s3:GetObject on; denies not subtracted)"
                )
                basis = (
                    f"at least {c.count:,} objects under {where}: the listing stopped at its bound of "
                    f"{c.bound:,} keys"
                    if c.truncated
                    else f"{c.count:,} objects under {where} (complete listing)"
                )
            else:
                basis = "not counted (offline, or the listing failed)"
        fields = sensitive_fields.get(d.sensitivity_reasons)
        if fields is None:
            fields = sensitive_fields[d.sensitivity_reasons] = tuple(
                r.split(" ", 1)[1] for r in d.sensitivity_reasons if r.startswith("attribute ")
            )
        rows.append(
            NotificationRow(
                arn=d.arn,
                name=d.name,
                type=d.type,
                region=d.region,
                sensitivity=d.sensitivity,
                personal_data=d.personal_data,
                access=d.access,
                certainty=d.certainty,
                estimated_records=records,
                records_basis=basis,
                sensitive_fields=fields,
                reasons=d.sensitivity_reasons,
                touched=d.touched,
            )
        )
    return tuple(rows)


def readable_prefixes(
    snapshot: Snapshot, principal_arns: Iterable[str], bucket: str, action: str = "s3:GetObject"
) -> tuple[str, ...]:
    """Object-key prefixes of ``bucket`` that the principals' Allow statements grant ``action`` on.

    An upper bound for notification sizing: every Allow of the principals' identity policies (their
    own, their groups', attached managed ones) and of the bucket policy whose action and resource
    patterns cover objects of the bucket; Deny statements and conditions are not subtracted.
    ``("",)`` means the whole bucket (``arn:aws:s3:::bucket/*``, ``*``, NotAction or NotResource).
    """
    documents: list[Mapping[str, Any]] = []
    managed = {p.arn: p.document for p in snapshot.managed_policies}
    users = {u.arn: u for u in snapshot.users}
    roles = {r.arn: r for r in snapshot.roles}
    groups = {g.name: g for g in snapshot.groups}
    for arn in principal_arns:
        entity: User | Role | None = users.get(arn) or roles.get(arn)
        if entity is None:
            continue
        documents.extend(p.document for p in entity.inline_policies)
        documents.extend(managed[m] for m in entity.managed_policy_arns if m in managed)
        if isinstance(entity, User):
            for name in entity.group_names:
                group = groups.get(name)
                if group is not None:
                    documents.extend(p.document for p in group.inline_policies)
                    documents.extend(managed[m] for m in group.managed_policy_arns if m in managed)
    for dataset in snapshot.datasets:
        if dataset.type == "s3-bucket" and dataset.name == bucket and dataset.resource_policy:
            documents.append(dataset.resource_policy)
    prefixes: set[str] = set()
    for document in documents:
        statements = document.get("Statement", [])
        for statement in [statements] if isinstance(statements, dict) else statements:
            if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                continue
            if "NotAction" in statement or "NotResource" in statement:
                if "NotAction" in statement or _covers_action(statement.get("Action"), action):
                    prefixes.add("")
                continue
            if not _covers_action(statement.get("Action"), action):
                continue
            for pattern in _strings(statement.get("Resource")):
                prefix = _object_prefix(pattern, bucket)
                if prefix is not None:
                    prefixes.add(prefix)
    if "" in prefixes:
        return ("",)
    # Drop prefixes inside others (exports/2022/ under exports/): each object counted once.
    kept = sorted(p for p in prefixes if not any(p != q and p.startswith(q) for q in prefixes))
    return tuple(kept)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _covers_action(patterns: object, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in _strings(patterns))


def _object_prefix(pattern: str, bucket: str) -> str | None:
    """The literal key prefix an object ARN pattern allows in ``bucket`` (None: not this bucket's objects)."""
    if pattern == "*":
        return ""
    if not pattern.startswith("arn:") or ":::" not in pattern:
        return None
    resource = pattern.split(":::", 1)[1]
    if "/" not in resource:
        # "arn:aws:s3:::*" also matches object ARNs (the wildcard crosses the "/").
        return "" if resource.endswith("*") and fnmatch.fnmatchcase(bucket, resource) else None
    bucket_glob, key_glob = resource.split("/", 1)
    if not fnmatch.fnmatchcase(bucket, bucket_glob):
        # A wildcard in the bucket part can swallow the "/" too ("arn:aws:s3:::tconnect*").
        return None
    cut = min((i for i, ch in enumerate(key_glob) if ch in "*?"), default=len(key_glob))
    return key_glob[:cut]
