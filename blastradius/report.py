"""The result of an analysis: the report contract of DESIGN.md §6 as frozen dataclasses.

``Report.to_json()`` is the stable ``blastradius.report/v1`` JSON that scripts depend on; field names
here are that contract (``from`` is spelt ``from_`` in Python). Renderers read these types only.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from blastradius.model import CollectionGap, Snapshot

REPORT_SCHEMA = "blastradius.report/v1"

LEVELS = ("list", "read", "write", "admin")  # weakest to strongest access
SENSITIVITIES = ("none", "low", "medium", "high")  # weakest to strongest
DEFINITE = "definite"
CONDITIONAL = "conditional"


def level_rank(level: str) -> int:
    """Order of an access level (list < read < write < admin)."""
    return LEVELS.index(level)


def sensitivity_rank(sensitivity: str) -> int:
    """Order of a sensitivity (none < low < medium < high)."""
    return SENSITIVITIES.index(sensitivity)


_T = TypeVar("_T")


def _direct_init(cls: type[_T]) -> type[_T]:
    """Give a frozen, slotted, keyword-only dataclass an ``__init__`` that fills its slots directly.

    A report holds one step and one grant per (dataset, level) reached: 120,000 of each for a broad key
    of 100,000 datasets, and the search one access edge (``graph.Edge``). The ``__init__`` that
    ``dataclass`` writes for a frozen class sets each field with ``object.__setattr__`` (a method lookup
    and the generic attribute path per field); this one calls each slot's own descriptor, which takes
    about a third off building one. Same signature
    (keyword-only, same defaults), same instance; fields with a ``default_factory`` or classes with a
    ``__post_init__`` are not supported (refused, so a class that grows one cannot silently differ).
    Instances pickle as their field values, loaded by a builder of the same kind (``_from_fields``).
    """
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: __post_init__ is not supported by _direct_init")
    params: list[str] = []
    body: list[str] = []
    namespace: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.default_factory is not dataclasses.MISSING or not f.init:
            raise TypeError(f"{cls.__name__}.{f.name}: only plain fields are supported by _direct_init")
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        body.append(f"    _set_{f.name}(self, {f.name})")
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    source = f"def __init__(self, *, {', '.join(params)}):\n" + "\n".join(body) + "\n"
    # Pickling (a forked search sends a share's findings back): the field values in order, and a
    # builder that fills the slots from them. The default for a frozen slotted dataclass restores each
    # field through a loop of ``object.__setattr__``, three times slower to load.
    source += (
        f"def _from_fields({', '.join(names)}):\n    self = _new(_cls)\n"
        + "\n".join(f"    _set_{name}(self, {name})" for name in names)
        + "\n    return self\n"
    )
    namespace["_new"], namespace["_cls"] = object.__new__, cls
    exec(source, namespace)  # generated from the field names only, as dataclass itself does
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    setattr(cls, "__init__", init)  # noqa: B010 -- mypy refuses assigning to a method
    build = namespace["_from_fields"]
    build.__qualname__, build.__module__ = f"{cls.__qualname__}._from_fields", cls.__module__
    setattr(cls, "_from_fields", staticmethod(build))  # noqa: B010 -- found by pickle under this name
    values = operator.attrgetter(*names)
    if len(names) == 1:
        setattr(cls, "__reduce__", lambda self: (build, (values(self),)))  # noqa: B010
    else:
        setattr(cls, "__reduce__", lambda self: (build, values(self)))  # noqa: B010
    return cls


@_direct_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PathStep:
    """One edge of an explaining path: ``from_`` reaches ``to`` by ``kind`` (access/assume/escalate)."""

    from_: str
    to: str
    kind: str
    actions: tuple[str, ...] = ()
    policy: str | None = None
    statement: str | None = None
    certainty: str = DEFINITE
    conditions: tuple[str, ...] = ()
    technique: str | None = None  # escalate steps: the technique id

    def to_json(self) -> dict[str, Any]:
        """Contract form: ``from``, ``to``, ``kind``, ``actions``, ``policy``, ``statement`` (+ extras)."""
        data: dict[str, Any] = {
            "from": self.from_,
            "to": self.to,
            "kind": self.kind,
            "actions": list(self.actions),
            "policy": self.policy,
            "statement": self.statement,
            "certainty": self.certainty,
            "conditions": list(self.conditions),
        }
        if self.technique is not None:
            data["technique"] = self.technique
        return data


@_direct_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """One access level on a dataset with the least-escalation path that grants it."""

    level: str
    certainty: str
    path: tuple[PathStep, ...]
    conditions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {
            "level": self.level,
            "certainty": self.certainty,
            "conditions": list(self.conditions),
            "path": [s.to_json() for s in self.path],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TouchSummary:
    """The key's CloudTrail events of one name on one dataset: how many, how many refused, when."""

    event_name: str
    count: int
    errors: int
    first: str
    last: str
    via: str | None = None  # the temporary key (obtained with the leaked key) that made these calls

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {
            "event_name": self.event_name,
            "count": self.count,
            "errors": self.errors,
            "first": self.first,
            "last": self.last,
            "via": self.via,
        }


@_direct_init
@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetFinding:
    """A dataset the key can reach, with how strongly, how surely, why it matters and by which path."""

    arn: str
    type: str
    name: str
    region: str
    access: tuple[str, ...]
    certainty: str
    conditions: tuple[str, ...]
    sensitivity: str
    sensitivity_reasons: tuple[str, ...]
    estimated_records: int | None
    path: tuple[PathStep, ...]
    grants: tuple[Grant, ...]
    kms_key: str | None = None
    credential_pivot: bool = False
    personal_data: bool = False  # a sensitivity rule marked the match as personal data (notify step)
    # ``analyze --paths all``: every distinct path of equal best cost to the strongest access (``path``
    # is the first); None when only the first path was searched (then absent from the JSON).
    paths: tuple[tuple[PathStep, ...], ...] | None = None
    # "Did touch" over "could reach": None = no CloudTrail evidence was gathered (unknown), False = none
    # of the events seen names this dataset, True = at least one successful event does.
    touched: bool | None = None
    touched_by: tuple[TouchSummary, ...] = ()
    touch_note: str | None = None  # what the evidence cannot show for this dataset (data events)

    @property
    def strongest(self) -> str:
        """The strongest access level reached."""
        return max(self.access, key=level_rank)

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {
            "arn": self.arn,
            "type": self.type,
            "name": self.name,
            "region": self.region,
            "access": list(self.access),
            "certainty": self.certainty,
            "conditions": list(self.conditions),
            "sensitivity": self.sensitivity,
            "sensitivity_reasons": list(self.sensitivity_reasons),
            "estimated_records": self.estimated_records,
            "kms_key": self.kms_key,
            "credential_pivot": self.credential_pivot,
            "personal_data": self.personal_data,
            "touched": self.touched,
            "touched_by": [t.to_json() for t in self.touched_by],
            "touch_note": self.touch_note,
            "path": [s.to_json() for s in self.path],
            "grants": [g.to_json() for g in self.grants],
            **({} if self.paths is None else {"paths": [[s.to_json() for s in p] for p in self.paths]}),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PrincipalReach:
    """A principal the key can act as: the origin, or one reached by assuming roles / escalating."""

    arn: str
    via: str  # origin | assume | escalate
    path: tuple[PathStep, ...] = ()
    certainty: str = DEFINITE

    def to_json(self) -> dict[str, Any]:
        """Contract form (``path`` is the list of steps that reach it)."""
        return {
            "arn": self.arn,
            "via": self.via,
            "certainty": self.certainty,
            "path": [s.to_json() for s in self.path],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Escalation:
    """A privilege-escalation technique that fires for a reachable principal."""

    technique: str
    from_: str
    to: str
    certainty: str
    actions: tuple[str, ...] = ()
    path: tuple[PathStep, ...] = ()
    title: str | None = None  # the technique in words
    resource: str | None = None  # what it acts on: the policy, user, role, function, dataset, account
    role: str | None = None  # the role handed to a service, when there is one
    conditions: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()  # runbook templates (escalation.toml ``check``); rendered by remediate

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {
            "technique": self.technique,
            "from": self.from_,
            "to": self.to,
            "certainty": self.certainty,
            "actions": list(self.actions),
            "path": [s.to_json() for s in self.path],
            "title": self.title,
            "resource": self.resource,
            "role": self.role,
            "conditions": list(self.conditions),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialPivot:
    """A credential for something else that the key can read: a secret, a parameter, a data store holding
    key files, or compute environment variables whose names say credential (their values are never read).

    Whatever that credential opens (a database, an API, another cloud) is part of the blast radius and
    must be rotated at its issuer. ``kind`` is the dataset or compute type; ``names`` the matching
    environment variable names (compute only); ``path`` how the key gets to read it.
    """

    arn: str
    kind: str
    name: str
    region: str
    reasons: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    certainty: str = DEFINITE
    conditions: tuple[str, ...] = ()
    path: tuple[PathStep, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {
            "arn": self.arn,
            "kind": self.kind,
            "name": self.name,
            "region": self.region,
            "names": list(self.names),
            "reasons": list(self.reasons),
            "certainty": self.certainty,
            "conditions": list(self.conditions),
            "path": [s.to_json() for s in self.path],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyInfo:
    """The leaked key and its owner, as far as identification got."""

    access_key_id: str
    account_id: str | None
    principal_arn: str | None
    kind: str  # long-term | session
    status: str | None = None
    created: str | None = None
    last_used: Mapping[str, str | None] = field(default_factory=dict)
    identified_by: str = ""  # how the owner was found (snapshot, sts:GetAccessKeyInfo, ...)
    note: str | None = None  # e.g. why a session key's role is unknown

    def to_json(self) -> dict[str, Any]:
        """Contract form; never contains a secret (a KeyInfo never holds one)."""
        return {
            "access_key_id": self.access_key_id,
            "account_id": self.account_id,
            "principal_arn": self.principal_arn,
            "kind": self.kind,
            "status": self.status,
            "created": self.created,
            "last_used": dict(self.last_used),
            "identified_by": self.identified_by,
            "note": self.note,
        }


# Services whose gaps cannot hide a reachable dataset (see ``Coverage.blind_spots``).
_GAPS_THAT_CANNOT_HIDE = frozenset({"organizations", "cloudtrail"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Coverage:
    """What the analysis could and could not see."""

    services: Mapping[str, str]
    regions: tuple[str, ...]
    gaps: tuple[CollectionGap, ...] = ()
    warnings: tuple[str, ...] = ()
    source: str = "collect"
    # Every account the analysis covered (several when snapshots were merged); services of a merged
    # snapshot also have "<account>/<service>" entries (see merge.py).
    accounts: tuple[str, ...] = ()

    @classmethod
    def of(cls, snapshot: Snapshot, warnings: tuple[str, ...]) -> Coverage:
        """What a snapshot covers (services, regions, gaps, source), with the analysis' ``warnings``."""
        return cls(
            services=dict(snapshot.services),
            regions=snapshot.regions,
            gaps=snapshot.gaps,
            warnings=warnings,
            source=snapshot.source,
        )

    @property
    def complete(self) -> bool:
        """True when nothing was missed (no gaps, every service ok)."""
        return not self.gaps and all(v == "ok" for v in self.services.values())

    def blind_spots(self) -> tuple[str, ...]:
        """The services whose incomplete coverage could hide a reachable dataset of any sensitivity.

        A service counts when its status is not ``ok`` (partial, an error code, "not collected") or a
        gap names it. A data store's dataset can be of any level (tag rules apply to every type), an
        IAM gap hides grants and paths, a compute gap hides escalation through existing compute: each
        may hide data at any level. Two never can: ``organizations`` (SCPs and RCPs that could not be
        read are not applied, so reach is over-, not under-estimated) and ``cloudtrail`` (evidence only).
        Merged snapshots also name the per-account entries (``"<account>/<service>"``).
        """
        blind = {name for name, status in self.services.items() if status != "ok"}
        blind.update(g.service for g in self.gaps)
        return tuple(sorted(s for s in blind if s.rpartition("/")[2] not in _GAPS_THAT_CANNOT_HIDE))

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {
            "services": dict(sorted(self.services.items())),
            "regions": list(self.regions),
            "source": self.source,
            "complete": self.complete,
            "gaps": [
                {
                    "service": g.service,
                    "region": g.region,
                    "operation": g.operation,
                    "error": g.error_code,
                    "message": g.message,
                    "resource": g.resource,
                    "account_id": g.account_id,
                }
                for g in self.gaps
            ],
            "warnings": list(self.warnings),
            "accounts": list(self.accounts),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityRow:
    """What the key did: events of one name, from one source IP, in one region (with first/last time)."""

    service: str
    event_name: str
    region: str
    source_ip: str | None
    count: int
    errors: int
    first: str
    last: str
    error_codes: tuple[str, ...] = ()
    via: str | None = None  # a temporary key obtained with the leaked key (None: the leaked key itself)

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {
            "via": self.via,
            "service": self.service,
            "event_name": self.event_name,
            "region": self.region,
            "source_ip": self.source_ip,
            "count": self.count,
            "errors": self.errors,
            "error_codes": list(self.error_codes),
            "first": self.first,
            "last": self.last,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PersistenceEvent:
    """An identity change the key made (or tried): a user, key, login profile, policy version, role, trust."""

    event_name: str
    time: str
    region: str
    target: str
    source_ip: str | None = None
    error_code: str | None = None  # None: it succeeded
    created_access_key_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {
            "event_name": self.event_name,
            "time": self.time,
            "region": self.region,
            "target": self.target,
            "source_ip": self.source_ip,
            "succeeded": self.error_code is None,
            "error_code": self.error_code,
            "created_access_key_id": self.created_access_key_id,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TrailSummary:
    """A trail as the evidence section shows it: logging? what? delivered where?"""

    name: str
    arn: str
    home_region: str
    multi_region: bool
    logging: bool | None
    s3_bucket: str | None
    management_events: bool | None
    data_event_types: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {
            "name": self.name,
            "arn": self.arn,
            "home_region": self.home_region,
            "multi_region": self.multi_region,
            "logging": self.logging,
            "s3_bucket": self.s3_bucket,
            "management_events": self.management_events,
            "data_event_types": list(self.data_event_types),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class UncoveredSpan:
    """A part of the exposure window (in one region, or ``all``) where no evidence could be read."""

    start: str
    end: str
    region: str
    why: str

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {"start": self.start, "end": self.end, "region": self.region, "why": self.why}


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """What the key was seen doing in the exposure window, and how much of the window is dark.

    ``status``: collected | partial (some regions failed) | failed (none could be read) | not collected
    (offline, or ``--no-evidence``): then "did touch" is unknown, never "no".
    """

    status: str
    window_start: str | None
    window_end: str
    window_source: str
    source: str = "cloudtrail:LookupEvents"
    regions: tuple[str, ...] = ()
    event_count: int = 0
    error_count: int = 0
    activity: tuple[ActivityRow, ...] = ()
    persistence: tuple[PersistenceEvent, ...] = ()
    touched: tuple[str, ...] = ()  # ARNs of reachable datasets the key touched
    session_keys: tuple[str, ...] = ()  # temporary keys issued to the key (search them next)
    # IAM actions the leaked key itself used successfully, with the resources seen ("*": not named):
    # the draft of a narrowed replacement policy (the window's events include the attacker's).
    actions_seen: tuple[tuple[str, tuple[str, ...]], ...] = ()
    trails: tuple[TrailSummary, ...] = ()
    data_events_logged: bool | None = None
    data_events: str = ""
    uncovered: tuple[UncoveredSpan, ...] = ()
    uncovered_days: float | None = None
    statement: str = ""
    truncated_regions: tuple[str, ...] = ()
    gaps: tuple[CollectionGap, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {
            "status": self.status,
            "source": self.source,
            "window": {"start": self.window_start, "end": self.window_end, "source": self.window_source},
            "regions": list(self.regions),
            "event_count": self.event_count,
            "error_count": self.error_count,
            "activity": [a.to_json() for a in self.activity],
            "persistence": [p.to_json() for p in self.persistence],
            "touched": list(self.touched),
            "session_keys": list(self.session_keys),
            "actions_seen": [{"action": a, "resources": list(r)} for a, r in self.actions_seen],
            "trails": [t.to_json() for t in self.trails],
            "data_events_logged": self.data_events_logged,
            "data_events": self.data_events,
            "uncovered": [u.to_json() for u in self.uncovered],
            "uncovered_days": self.uncovered_days,
            "statement": self.statement,
            "truncated_regions": list(self.truncated_regions),
            "gaps": [_gap_json(g) for g in self.gaps],
            "warnings": list(self.warnings),
        }


@_direct_init
@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationRow:
    """One sensitive dataset for the data-protection officer: how many records, which fields, touched?"""

    arn: str
    name: str
    type: str
    region: str
    sensitivity: str
    personal_data: bool
    access: tuple[str, ...]
    certainty: str
    estimated_records: int | None
    records_basis: str
    sensitive_fields: tuple[str, ...]
    reasons: tuple[str, ...]
    touched: bool | None

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {
            "arn": self.arn,
            "name": self.name,
            "type": self.type,
            "region": self.region,
            "sensitivity": self.sensitivity,
            "personal_data": self.personal_data,
            "access": list(self.access),
            "certainty": self.certainty,
            "estimated_records": self.estimated_records,
            "records_basis": self.records_basis,
            "sensitive_fields": list(self.sensitive_fields),
            "reasons": list(self.reasons),
            "touched": self.touched,
        }


def _gap_json(g: CollectionGap) -> dict[str, Any]:
    return {
        "service": g.service,
        "region": g.region,
        "operation": g.operation,
        "error": g.error_code,
        "message": g.message,
        "resource": g.resource,
        "account_id": g.account_id,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyAction:
    """One write call that ``rotate --apply`` may make for a step (data; ``blastradius.apply`` runs it).

    ``operation`` is the IAM API action (``iam:UpdateAccessKey``, ``iam:PutUserPolicy``,
    ``iam:PutRolePolicy``, ``iam:TagUser``); ``parameters`` its arguments (policy documents as JSON text).
    """

    operation: str
    target: str  # the ARN (or name) the call changes
    parameters: Mapping[str, str]
    description: str

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {
            "operation": self.operation,
            "target": self.target,
            "parameters": dict(self.parameters),
            "description": self.description,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RotationStep:
    """One runbook step: what to do, why, and the exact commands for this incident."""

    step: int
    phase: str  # contain | investigate | eradicate | recover | notify
    title: str
    why: str
    commands: tuple[str, ...] = ()
    id: str = ""  # the rotation.toml step id (stable across wording changes)
    details: tuple[str, ...] = ()  # notes for this incident: datasets to notify about, gaps, roles
    # Safe to automate (``rotate --apply``): the calls to make. Empty: printed only, never executed.
    actions: tuple[ApplyAction, ...] = ()

    @property
    def automatable(self) -> bool:
        """Whether ``rotate --apply`` executes this step."""
        return bool(self.actions)

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {
            "step": self.step,
            "id": self.id,
            "phase": self.phase,
            "title": self.title,
            "why": self.why,
            "commands": list(self.commands),
            "details": list(self.details),
            "automatable": self.automatable,
            "actions": [a.to_json() for a in self.actions],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SelfViewCall:
    """One read-only call made *as the leaked key* during a self-view, and what came of it."""

    step: int
    operation: str  # service:Action, e.g. iam:GetUserPolicy
    target: str | None  # what it was about (a policy ARN, a user name, a region)
    result: str  # allowed | denied | failed
    error: str | None = None  # the AWS error code when not allowed
    detail: str | None = None  # what it returned, counted (never values)

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {
            "step": self.step,
            "operation": self.operation,
            "target": self.target,
            "result": self.result,
            "error": self.error,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SelfView:
    """How a self-view analysis was obtained: every call the leaked key made about itself.

    A self-view analysis is always *partial*: the key sees its own policies at best, never the resource
    policies, trust policies or other principals of the account, and a denied read means "unknown".
    """

    calls: tuple[SelfViewCall, ...]
    unknown: tuple[str, ...] = ()  # what could not be read, in words
    partial: bool = True

    def to_json(self) -> dict[str, Any]:
        """Contract form (the report's ``self_view`` section)."""
        return {
            "partial": self.partial,
            "calls": [c.to_json() for c in self.calls],
            "unknown": list(self.unknown),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """The whole answer for one leaked key."""

    generated_at: str
    key: KeyInfo
    principals: tuple[PrincipalReach, ...]
    datasets: tuple[DatasetFinding, ...]
    escalations: tuple[Escalation, ...]
    coverage: Coverage
    rotation_plan: tuple[RotationStep, ...] = ()
    evidence: Evidence | None = None
    notification: tuple[NotificationRow, ...] = ()
    # An Inactive key reaches nothing; what it would reach if re-activated is kept here (same shape as
    # ``datasets``), so that "datasets = what the key can reach" stays true.
    if_reactivated: tuple[DatasetFinding, ...] = ()
    credential_pivots: tuple[CredentialPivot, ...] = ()
    schema: str = REPORT_SCHEMA
    self_view: SelfView | None = None  # set when the key analysed itself (--self-view): partial

    def to_json(self) -> dict[str, Any]:
        """The ``blastradius.report/v1`` document (``self_view`` only when the analysis is a self-view)."""
        document = {
            "schema": self.schema,
            "generated_at": self.generated_at,
            "key": self.key.to_json(),
            "principals": [p.to_json() for p in self.principals],
            "datasets": [d.to_json() for d in self.datasets],
            "escalations": [e.to_json() for e in self.escalations],
            "coverage": self.coverage.to_json(),
            "rotation_plan": [s.to_json() for s in self.rotation_plan],
            "credential_pivots": [p.to_json() for p in self.credential_pivots],
            "evidence": self.evidence.to_json() if self.evidence is not None else None,
            "notification": [n.to_json() for n in self.notification],
            "if_reactivated": [d.to_json() for d in self.if_reactivated],
        }
        if self.self_view is not None:
            document["self_view"] = self.self_view.to_json()
        return document
