"""CloudTrail: what one access key did (LookupEvents by AccessKeyId) and how the account's trails log.

Read-only, with the auditor's credentials only — never the leaked key. ``get_*`` call and paginate,
``normalise_*`` are pure. Events keep only what the evidence stage needs: names, time, region, source
IP, user agent, error code, and the *identifiers* of what was touched (bucket, table, secret, parameter,
key, user, role, policy names). Request and response bodies are not kept: they can hold values.

Facts this module relies on (AWS CloudTrail User Guide / API Reference):

* "Working with CloudTrail event history": event history holds the past 90 days of management events
  per region; data events are never in it. ``LookupEvents`` accepts the lookup attribute
  ``AccessKeyId`` and returns up to 50 events per page (``NextToken``), each with its full record as
  the JSON string ``CloudTrailEvent``.
* Events of global services (IAM, STS's global endpoint) are recorded in us-east-1 ("CloudTrail
  concepts: global service events"), so the IAM region is searched besides the collected ones.
* "Logging data events": data events (S3 object reads, DynamoDB item reads) are logged only by a trail
  (or event data store) whose event selectors ask for them, and delivered to its S3 bucket.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from blastradius.collect.base import ClientSource, Recorder
from blastradius.model import CollectionGap

SERVICE = "cloudtrail"
EVENT_HISTORY_DAYS = 90
PAGE_SIZE = 50  # LookupEvents' maximum
DEFAULT_MAX_EVENTS = 5_000  # per region; the bound is reported when reached
MAX_SESSION_KEYS = 20  # temporary keys the leaked key obtained whose events are searched too

# Events whose response hands out temporary credentials: their key ids are searched next (one hop).
SESSION_EVENTS = frozenset({"AssumeRole", "GetSessionToken", "GetFederationToken"})

# Request-parameter fields that name what an event touched (never values). Lists are flattened.
IDENTIFIER_FIELDS = (
    "bucketName",
    "key",
    "tableName",
    "secretId",
    "name",
    "names",
    "keyId",
    "userName",
    "roleName",
    "roleArn",
    "policyArn",
    "policyName",
    "groupName",
    "versionId",
    "accessKeyId",
    "instanceProfileName",
    "roleSessionName",
    "functionName",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrailEvent:
    """One CloudTrail record of the key, reduced to its facts and the identifiers it names."""

    event_id: str
    event_name: str
    event_source: str  # e.g. dynamodb.amazonaws.com
    time: str  # ISO 8601, UTC, "Z"
    region: str
    source_ip: str | None = None
    user_agent: str | None = None
    principal_arn: str | None = None
    error_code: str | None = None
    read_only: bool | None = None
    category: str = "Management"  # Management | Data | Insight
    access_key_id: str | None = None  # the key that signed the call (the leaked key, or a session of it)
    # (resource type, resource name or ARN) from the event's Resources and its record's ``resources``.
    resources: tuple[tuple[str, str], ...] = ()
    # Identifier fields of requestParameters (see IDENTIFIER_FIELDS), and the id of a created key.
    parameters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def service(self) -> str:
        """``dynamodb`` from ``dynamodb.amazonaws.com``."""
        return self.event_source.split(".", 1)[0]

    @property
    def succeeded(self) -> bool:
        """True when the call was not refused (no errorCode)."""
        return self.error_code is None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrailConfig:
    """A trail: where it delivers, whether it is logging, and which events its selectors ask for."""

    name: str
    arn: str
    home_region: str
    multi_region: bool = False
    organization: bool = False
    s3_bucket: str | None = None
    s3_prefix: str | None = None
    logging: bool | None = None  # None: GetTrailStatus failed
    management_events: bool | None = None  # None: GetEventSelectors failed
    management_read_write: str | None = None  # All | ReadOnly | WriteOnly
    # Resource types whose data events are logged, e.g. AWS::S3::Object, AWS::DynamoDB::Table.
    data_event_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CloudTrailEvidence:
    """What CloudTrail held about one key in a window, and where it could not look."""

    access_key_id: str
    start: str
    end: str
    regions: tuple[str, ...]  # searched with LookupEvents
    events: tuple[TrailEvent, ...] = ()
    trails: tuple[TrailConfig, ...] = ()
    gaps: tuple[CollectionGap, ...] = ()
    truncated_regions: tuple[str, ...] = ()  # regions where the event bound was reached
    max_events: int = DEFAULT_MAX_EVENTS
    session_keys_searched: tuple[str, ...] = ()  # temporary keys obtained with the key, searched too
    source: str = "cloudtrail:LookupEvents"


def utc_text(value: dt.datetime) -> str:
    """``2026-11-25T00:00:00Z``: how reports write times."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_z = utc_text


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 date or time (``Z`` allowed) as an aware UTC datetime."""
    when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def get_key_events(
    client: Any, access_key_id: str, start: dt.datetime, end: dt.datetime, *, max_events: int
) -> tuple[list[dict[str, Any]], bool]:
    """Every LookupEvents event of ``access_key_id`` in [start, end] (newest first), and whether the
    ``max_events`` bound cut the listing short. Errors propagate to the caller."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "LookupAttributes": [{"AttributeKey": "AccessKeyId", "AttributeValue": access_key_id}],
        "StartTime": start,
        "EndTime": end,
        "MaxResults": PAGE_SIZE,
    }
    while True:
        page = client.lookup_events(**kwargs)
        events.extend(page.get("Events", []))
        token = page.get("NextToken")
        if not token:
            return events, False
        if len(events) >= max_events:
            return events[:max_events], True
        kwargs["NextToken"] = token


def _flatten(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str) and v)
    return ()


def normalise_event(raw: Mapping[str, Any], *, region: str | None = None) -> TrailEvent:
    """A LookupEvents event (its ``CloudTrailEvent`` JSON string parsed) -> ``TrailEvent``."""
    record: dict[str, Any] = {}
    text = raw.get("CloudTrailEvent")
    if isinstance(text, str) and text:
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = {}
        record = parsed if isinstance(parsed, dict) else {}
    when = raw.get("EventTime") or record.get("eventTime")
    time = _z(when) if isinstance(when, dt.datetime) else _z(parse_time(str(when)))
    identity = record.get("userIdentity") or {}
    request = record.get("requestParameters") or {}
    parameters: dict[str, tuple[str, ...]] = {}
    if isinstance(request, dict):
        for name in IDENTIFIER_FIELDS:
            values = _flatten(request.get(name))
            if values:
                parameters[name] = values
    response = record.get("responseElements") or {}
    if isinstance(response, dict):
        # CreateAccessKey: the new key's id (its secret is never in the record; we would not keep it).
        access_key = response.get("accessKey") or {}
        created = access_key.get("accessKeyId") if isinstance(access_key, dict) else None
        if isinstance(created, str):
            parameters["createdAccessKeyId"] = (created,)
            owner = access_key.get("userName")
            if isinstance(owner, str):
                parameters["createdAccessKeyUser"] = (owner,)
        session = (response.get("credentials") or {}).get("accessKeyId")
        if isinstance(session, str):
            parameters["sessionAccessKeyId"] = (session,)
    resources: dict[tuple[str, str], None] = {}
    for item in raw.get("Resources") or ():
        name = item.get("ResourceName")
        if name:
            resources[(str(item.get("ResourceType") or ""), str(name))] = None
    for item in record.get("resources") or ():
        if isinstance(item, dict) and item.get("ARN"):
            resources[(str(item.get("type") or ""), str(item["ARN"]))] = None
    read_only = raw.get("ReadOnly", record.get("readOnly"))
    if isinstance(read_only, str):
        read_only = read_only.lower() == "true"
    source = str(raw.get("EventSource") or record.get("eventSource") or "unknown.amazonaws.com")
    return TrailEvent(
        event_id=str(raw.get("EventId") or record.get("eventID") or ""),
        event_name=str(raw.get("EventName") or record.get("eventName") or "unknown"),
        event_source=source,
        time=time,
        region=str(record.get("awsRegion") or region or "unknown"),
        source_ip=record.get("sourceIPAddress"),
        user_agent=record.get("userAgent"),
        principal_arn=identity.get("arn") if isinstance(identity, dict) else None,
        error_code=record.get("errorCode"),
        read_only=read_only if isinstance(read_only, bool) else None,
        category=str(record.get("eventCategory") or "Management"),
        access_key_id=(identity.get("accessKeyId") if isinstance(identity, dict) else None)
        or raw.get("AccessKeyId"),
        resources=tuple(resources),
        parameters=parameters,
    )


def normalise_selectors(raw: Mapping[str, Any] | None) -> tuple[bool | None, str | None, tuple[str, ...]]:
    """GetEventSelectors -> (management events logged, their read/write type, data event resource types).

    Both forms are read: basic ``EventSelectors`` (IncludeManagementEvents, DataResources[].Type) and
    ``AdvancedEventSelectors`` (field ``eventCategory`` Equals Management/Data, ``resources.type``).
    """
    if raw is None:
        return None, None, ()
    management = False
    read_write: str | None = None
    data_types: dict[str, None] = {}
    for selector in raw.get("EventSelectors") or ():
        if selector.get("IncludeManagementEvents", True):
            management = True
            read_write = read_write or selector.get("ReadWriteType", "All")
        for resource in selector.get("DataResources") or ():
            if resource.get("Values"):
                data_types[str(resource["Type"])] = None
    for selector in raw.get("AdvancedEventSelectors") or ():
        fields = {f.get("Field"): f for f in selector.get("FieldSelectors") or ()}
        category = tuple((fields.get("eventCategory") or {}).get("Equals") or ())
        if "Management" in category:
            management = True
            read_only = tuple((fields.get("readOnly") or {}).get("Equals") or ())
            rw = "ReadOnly" if read_only == ("true",) else "WriteOnly" if read_only == ("false",) else "All"
            read_write = read_write or rw
        if "Data" in category:
            for kind in (fields.get("resources.type") or {}).get("Equals") or ():
                data_types[str(kind)] = None
    return management, read_write, tuple(sorted(data_types))


def normalise_trail(
    trail: Mapping[str, Any], status: Mapping[str, Any] | None, selectors: Mapping[str, Any] | None
) -> TrailConfig:
    """DescribeTrails entry + GetTrailStatus + GetEventSelectors (None: the call failed) -> TrailConfig."""
    management, read_write, data_types = normalise_selectors(selectors)
    return TrailConfig(
        name=str(trail["Name"]),
        arn=str(trail.get("TrailARN") or trail["Name"]),
        home_region=str(trail.get("HomeRegion") or "unknown"),
        multi_region=bool(trail.get("IsMultiRegionTrail")),
        organization=bool(trail.get("IsOrganizationTrail")),
        s3_bucket=trail.get("S3BucketName"),
        s3_prefix=trail.get("S3KeyPrefix"),
        logging=None if status is None else bool(status.get("IsLogging")),
        management_events=management,
        management_read_write=read_write,
        data_event_types=data_types,
    )


def _call(recorder: Recorder, operation: str, region: str, fn: Any, **kwargs: Any) -> tuple[bool, Any]:
    """``recorder.call`` that also turns an emulator's missing operation into a gap.

    moto raises ``NotImplementedError`` in-process for operations it lacks (LookupEvents among them);
    that is "could not look", so a gap, never "the key did nothing".
    """
    try:
        return recorder.call(operation, fn, region=region, **kwargs)
    except NotImplementedError as e:
        recorder.add_gap(operation, _not_implemented(operation, e), resource=None, region=region)
        return False, None


def _not_implemented(operation: str, error: NotImplementedError) -> ClientError:
    """An emulator's NotImplementedError as the ClientError a real endpoint would answer with."""
    return ClientError({"Error": {"Code": "NotImplemented", "Message": str(error)}}, operation)


def get_trails(clients: ClientSource, regions: Sequence[str], recorder: Recorder) -> list[TrailConfig]:
    """DescribeTrails in each region (shadow trails included, deduplicated by ARN), then each trail's
    status and event selectors from its home region."""
    seen: dict[str, Mapping[str, Any]] = {}
    for region in regions:
        ok, response = _call(recorder, "DescribeTrails", region, clients(SERVICE, region).describe_trails)
        if ok and response:
            for trail in response.get("trailList", []):
                seen.setdefault(str(trail.get("TrailARN") or trail["Name"]), trail)
    out: list[TrailConfig] = []
    for arn, trail in sorted(seen.items()):
        home = str(trail.get("HomeRegion") or regions[0])
        client = clients(SERVICE, home)
        _, status = _call(recorder, "GetTrailStatus", home, client.get_trail_status, Name=arn)
        _, selectors = _call(recorder, "GetEventSelectors", home, client.get_event_selectors, TrailName=arn)
        out.append(normalise_trail(trail, status, selectors))
    return out


def collect_key_evidence(
    clients: ClientSource,
    access_key_id: str,
    regions: Iterable[str],
    *,
    start: dt.datetime,
    end: dt.datetime,
    max_events: int = DEFAULT_MAX_EVENTS,
) -> CloudTrailEvidence:
    """LookupEvents for the key in every region, and the trail configuration; failures become gaps."""
    wanted = tuple(dict.fromkeys(regions))
    recorder = Recorder(SERVICE, wanted[0] if wanted else "us-east-1")
    events: dict[str, TrailEvent] = {}
    truncated: list[str] = []
    searched: list[str] = []

    def search(key: str, region: str) -> bool:
        try:
            raw, cut = get_key_events(clients(SERVICE, region), key, start, end, max_events=max_events)
        except (ClientError, BotoCoreError) as e:
            recorder.add_gap("LookupEvents", e, resource=_resource(key, access_key_id), region=region)
            return False
        except NotImplementedError as e:
            error = _not_implemented("LookupEvents", e)
            recorder.add_gap("LookupEvents", error, resource=_resource(key, access_key_id), region=region)
            return False
        if cut and key == access_key_id:
            truncated.append(region)
        for item in raw:
            event = normalise_event(item, region=region)
            # A multi-region view can return the same record twice; the event id is unique.
            events.setdefault(event.event_id or f"{region}:{len(events)}", event)
        return True

    for region in wanted:
        if search(access_key_id, region):
            searched.append(region)
    # One hop: what the temporary credentials obtained with the key did ("For every AssumeRole ...,
    # repeat the search with the session key id" is what a responder would do by hand).
    sessions = list(
        dict.fromkeys(
            k
            for e in sorted(events.values(), key=lambda e: e.time)
            if e.event_name in SESSION_EVENTS and e.succeeded
            for k in e.parameters.get("sessionAccessKeyId", ())
        )
    )[:MAX_SESSION_KEYS]
    for key in sessions:
        for region in searched:
            search(key, region)
    trails = get_trails(clients, wanted, recorder) if wanted else []
    return CloudTrailEvidence(
        access_key_id=access_key_id,
        start=_z(start),
        end=_z(end),
        regions=tuple(searched),
        events=tuple(sorted(events.values(), key=lambda e: (e.time, e.event_id))),
        trails=tuple(trails),
        gaps=recorder.gaps,
        truncated_regions=tuple(truncated),
        max_events=max_events,
        session_keys_searched=tuple(sessions),
    )


def _resource(key: str, leaked: str) -> str | None:
    """Gaps of the leaked key's own search have no resource; a session key's search names it."""
    return None if key == leaked else f"session key {key}"


def evidence_from_lookup_output(
    data: object, access_key_id: str, *, start: str, end: str, source: str
) -> CloudTrailEvidence:
    """Offline: ``aws cloudtrail lookup-events`` output (``{"Events": [...]}``, or a list of such pages)
    as evidence. Only events of ``access_key_id`` in the window [start, end] are kept; no trail
    configuration is known."""
    pages = data if isinstance(data, list) else [data]
    low, high = parse_time(start), parse_time(end)
    items: list[dict[str, Any]] = []
    for page in pages:
        if not isinstance(page, dict) or not isinstance(page.get("Events"), list):
            raise ValueError(f"{source}: expected lookup-events output, an object with an 'Events' list")
        for item in page["Events"]:
            if not isinstance(item, dict):
                raise ValueError(f"{source}: an entry of 'Events' is not an object")
            items.append(item)
    parsed = [(item, normalise_event(item)) for item in items]
    in_window = [(item, e) for item, e in parsed if low <= parse_time(e.time) <= high]
    # One hop, as live: events of session keys the key obtained, when the file holds them.
    sessions = {
        k
        for item, e in in_window
        if access_key_id in _key_ids(item) and e.event_name in SESSION_EVENTS and e.succeeded
        for k in e.parameters.get("sessionAccessKeyId", ())
    }
    events: dict[str, TrailEvent] = {}
    regions: dict[str, None] = {}
    for item, event in in_window:
        if not _key_ids(item) & {access_key_id, *sessions}:
            continue
        regions[event.region] = None
        events.setdefault(event.event_id or str(len(events)), event)
    return CloudTrailEvidence(
        access_key_id=access_key_id,
        start=start,
        end=end,
        regions=tuple(regions),
        events=tuple(sorted(events.values(), key=lambda e: (e.time, e.event_id))),
        source=f"file {source}",
        session_keys_searched=tuple(sorted(sessions)),
    )


def _key_ids(raw: Mapping[str, Any]) -> set[str]:
    ids = {str(raw["AccessKeyId"])} if raw.get("AccessKeyId") else set()
    text = raw.get("CloudTrailEvent")
    if isinstance(text, str):
        try:
            identity = json.loads(text).get("userIdentity") or {}
        except (json.JSONDecodeError, AttributeError):
            identity = {}
        if isinstance(identity, dict) and identity.get("accessKeyId"):
            ids.add(str(identity["accessKeyId"]))
    return ids


__all__ = [
    "EVENT_HISTORY_DAYS",
    "CloudTrailEvidence",
    "TrailConfig",
    "TrailEvent",
    "collect_key_evidence",
    "evidence_from_lookup_output",
    "get_key_events",
    "normalise_event",
    "normalise_trail",
    "parse_time",
]
