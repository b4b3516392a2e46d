"""The result of an analysis: the report contract of DESIGN.md §6 as frozen dataclasses.

``Report.to_json()`` is the stable ``blastradius.report/v1`` JSON that scripts depend on; field names
here are that contract (``from`` is spelt ``from_`` in Python). Renderers read these types only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from blastradius.model import CollectionGap

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
            "path": [s.to_json() for s in self.path],
            "grants": [g.to_json() for g in self.grants],
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

    def to_json(self) -> dict[str, Any]:
        """Contract form."""
        return {
            "technique": self.technique,
            "from": self.from_,
            "to": self.to,
            "certainty": self.certainty,
            "actions": list(self.actions),
            "path": [s.to_json() for s in self.path],
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

    @property
    def complete(self) -> bool:
        """True when nothing was missed (no gaps, every service ok)."""
        return not self.gaps and all(v == "ok" for v in self.services.values())

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
class RotationStep:
    """One runbook step: what to do, why, and the exact commands for this incident."""

    step: int
    phase: str  # contain | investigate | eradicate | recover | notify
    title: str
    why: str
    commands: tuple[str, ...] = ()
    id: str = ""  # the rotation.toml step id (stable across wording changes)
    details: tuple[str, ...] = ()  # notes for this incident: datasets to notify about, gaps, roles

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
    credential_pivots: tuple[CredentialPivot, ...] = ()
    schema: str = REPORT_SCHEMA

    def to_json(self) -> dict[str, Any]:
        """The ``blastradius.report/v1`` document."""
        return {
            "schema": self.schema,
            "generated_at": self.generated_at,
            "key": self.key.to_json(),
            "principals": [p.to_json() for p in self.principals],
            "datasets": [d.to_json() for d in self.datasets],
            "escalations": [e.to_json() for e in self.escalations],
            "coverage": self.coverage.to_json(),
            "rotation_plan": [s.to_json() for s in self.rotation_plan],
            "credential_pivots": [p.to_json() for p in self.credential_pivots],
        }
