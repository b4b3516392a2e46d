"""``blastradius simulate``: decide requests from a JSON description, offline, like AWS's policy simulator.

One case (issue 3 §5)::

    {"request": {"principal": "arn:aws:iam::111111111111:user/alice", "action": "s3:GetObject",
                 "resource": "arn:aws:s3:::bucket/key", "resource_account": "111111111111",
                 "context": {"aws:SourceIp": "203.0.113.7"}},
     "identity_policies": [{...}], "permissions_boundary": {...} | null,
     "scps": [[{...}], [{...}]], "rcps": [[{...}]], "resource_policy": {...} | null,
     "session_policy": {...} | null}

``scps``/``rcps`` are levels, root first, each a list of documents (an empty outer list: no organisation,
or the management account); as in AWS, ``rcps`` bind only actions of the services RCPs support
(``policy.evaluate.rcps_apply``). A JSON list of cases gives a list of results, in order.

The context is exactly what is given, as in a real request: keys not listed are absent (no attacker
model). Only the keys the request itself determines are filled in, and a value in ``context`` wins over
them: ``aws:PrincipalArn``, ``aws:PrincipalAccount``, ``aws:PrincipalType``, ``aws:username`` (IAM users),
``aws:userid`` / ``aws:PrincipalTag/*`` / ``aws:PrincipalOrgID`` when ``user_id`` / ``principal_tags`` /
``principal_org_id`` are given, and ``aws:ResourceAccount`` from ``resource_account``
("AWS global condition context keys": these are present in every request).

Optional request fields: ``principal_tags`` (object), ``principal_org_id``, ``user_id``, ``role_arn`` (the
role of an assumed-role session, with its path, which the session ARN leaves out),
``service_linked`` (bool: an SCP/RCP-exempt service-linked role), ``resource_policy_required`` (bool; by
default true for ``sts:AssumeRole*`` on a role and for any action on a KMS key, whose trust/key policy must
itself allow: "Policy evaluation logic", "Key policies in AWS KMS").

Results: ``{"decision": "allow" | "implicit-deny" | "explicit-deny" | "conditional", "matched": [...],
"conditions": [...], "explain": "..."}``. With an exact context ``conditional`` is rare: it means the
engine could not settle something (an unknown condition operator, a ``NotPrincipal`` whose outcome AWS
does not document); ``conditions`` says what. A malformed case gives ``{"error": "..."}`` in its slot
(the others are still decided) and the command exits 2.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from blastradius.errors import PolicyError, UsageError
from blastradius.policy import (
    Context,
    Decision,
    Policy,
    Request,
    RequestPrincipal,
    StatementRef,
    decide,
    parse_policy,
)

__all__ = [
    "CaseError",
    "SimulationCase",
    "SimulationResult",
    "load_cases",
    "parse_case",
    "principal_from_arn",
    "render_table",
    "run_cases",
    "simulate_case",
]

_CASE_KEYS = frozenset(
    {
        "request",
        "identity_policies",
        "permissions_boundary",
        "scps",
        "rcps",
        "resource_policy",
        "session_policy",
        # free-form fields a case file may carry (conformance suites): ignored by the simulator
        "id",
        "doc",
        "comment",
        "expect",
    }
)
_REQUEST_KEYS = frozenset(
    {
        "principal",
        "action",
        "resource",
        "resource_account",
        "context",
        "principal_tags",
        "principal_org_id",
        "user_id",
        "service_linked",
        "resource_policy_required",
        "role_arn",
    }
)
_ACCOUNT = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(r"^arn:(?P<partition>[^:]+):(?P<service>iam|sts)::(?P<account>\d{12}):(?P<rest>.+)$")
_SERVICE = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com(?:\.cn)?$")
_KMS_KEY = re.compile(r"^arn:[^:]+:kms:[^:]*:\d{12}:key/")


class CaseError(UsageError):
    """A simulate case that is not well formed; the message names the case index and the field."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationCase:
    """One validated case: the request and the compiled policies of every layer."""

    request: Request
    identity_policies: tuple[Policy, ...] = ()
    permissions_boundary: Policy | None = None
    scps: tuple[tuple[Policy, ...], ...] = ()
    rcps: tuple[tuple[Policy, ...], ...] = ()
    resource_policy: Policy | None = None
    session_policy: Policy | None = None
    resource_policy_required: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationResult:
    """The outcome of one case (or the error that kept it from being decided)."""

    decision: str | None
    matched: tuple[StatementRef, ...] = ()
    conditions: tuple[str, ...] = ()
    explain: str = ""
    error: str | None = None
    raw: Decision | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form: decision, matched statements, conditions, explain (or error)."""
        if self.error is not None:
            return {"error": self.error}
        return {
            "decision": self.decision,
            "matched": [
                {"policy": r.policy, "sid": r.sid, "index": r.index, "effect": r.effect} for r in self.matched
            ],
            "conditions": list(self.conditions),
            "explain": self.explain,
        }


def principal_from_arn(
    text: str,
    *,
    tags: Mapping[str, str] | None = None,
    org_id: str | None = None,
    user_id: str | None = None,
    service_linked: bool = False,
    role_arn: str | None = None,
) -> RequestPrincipal:
    """The calling principal for an ARN (or account id, or service name); ``ValueError`` if none fits.

    Forms ("AWS JSON policy elements: Principal", "IAM identifiers"): an IAM user ARN; an IAM role ARN
    (a session of that role with no session name); an assumed-role session ARN
    ``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`` (its role ARN is rebuilt without a path, since the
    session ARN does not carry it, unless ``role_arn`` gives it); the account root
    (``arn:aws:iam::ACCOUNT:root`` or a 12-digit id); an STS federated user or a SAML/OIDC provider
    (federated); a service principal (``lambda.amazonaws.com``).
    """
    tags = dict(tags or {})
    if _ACCOUNT.match(text):
        return RequestPrincipal(arn=f"arn:aws:iam::{text}:root", account_id=text, kind="root", tags=tags)
    if _SERVICE.match(text):
        return RequestPrincipal(arn=text, account_id="", kind="service")
    m = _IAM_ARN.match(text)
    if m is None:
        raise ValueError(
            f"{text!r} is not a principal ARN (user, role, assumed-role session, account root, federated), "
            "a 12-digit account id or a service principal such as lambda.amazonaws.com"
        )
    partition, service, account, rest = m.group("partition", "service", "account", "rest")
    common: dict[str, Any] = {"account_id": account, "tags": tags, "org_id": org_id, "user_id": user_id}
    if service == "iam" and rest == "root":
        return RequestPrincipal(arn=text, kind="root", **common)
    if service == "iam" and rest.startswith("user/"):
        name = rest.rsplit("/", 1)[-1]
        return RequestPrincipal(arn=text, kind="user", user_name=name, **common)
    if service == "iam" and rest.startswith("role/"):
        return RequestPrincipal(arn=text, kind="role", service_linked=service_linked, **common)
    if service == "sts" and rest.startswith("assumed-role/"):
        parts = rest.split("/")
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise ValueError(
                f"{text!r}: an assumed-role ARN is arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION"
            )
        rebuilt = f"arn:{partition}:iam::{account}:role/{parts[1]}"
        if role_arn is not None and not (
            role_arn.startswith(f"arn:{partition}:iam::{account}:role/") and role_arn.endswith(f"/{parts[1]}")
        ):
            raise ValueError(f"role_arn {role_arn!r} is not the role of session {text!r}")
        role_arn = role_arn or rebuilt
        return RequestPrincipal(
            arn=role_arn, kind="role", session_arn=text, service_linked=service_linked, **common
        )
    if (service == "sts" and rest.startswith("federated-user/")) or (
        service == "iam" and rest.startswith(("saml-provider/", "oidc-provider/"))
    ):
        return RequestPrincipal(arn=text, kind="federated", **common)
    raise ValueError(f"{text!r}: unsupported principal ARN (expected user/, role/, assumed-role/, root, ...)")


def _fail(index: int | None, where: str, problem: str) -> CaseError:
    prefix = f"case {index}: " if index is not None else ""
    return CaseError(
        f"{prefix}{where}: {problem}",
        hint="See `blastradius simulate --help` and the README section 'simulate' for the input format.",
    )


def _document(raw: Any, name: str, index: int | None) -> Policy:
    if not isinstance(raw, Mapping):
        raise _fail(index, name, "must be a policy document (a JSON object)")
    try:
        return parse_policy(raw, name=name)
    except PolicyError as e:
        raise _fail(index, name, str(e)) from e


def _optional_document(case: Mapping[str, Any], key: str, index: int | None) -> Policy | None:
    raw = case.get(key)
    return None if raw is None else _document(raw, key, index)


def _levels(case: Mapping[str, Any], key: str, index: int | None) -> tuple[tuple[Policy, ...], ...]:
    raw = case.get(key)
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(level, list) for level in raw):
        raise _fail(index, key, "must be a list of levels (root first), each a list of policy documents")
    return tuple(
        tuple(_document(doc, f"{key}[{i}][{j}]", index) for j, doc in enumerate(level))
        for i, level in enumerate(raw)
    )


def _string(req: Mapping[str, Any], key: str, index: int | None, *, required: bool = True) -> str | None:
    value = req.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise _fail(index, f"request.{key}", "is required and must be a non-empty string")
    return value


def _context_values(raw: Any, index: int | None) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _fail(index, "request.context", "must be an object of condition key to value(s)")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        ok = isinstance(value, str | bool | int) and not isinstance(value, float)
        if isinstance(value, list):
            ok = all(isinstance(v, str) for v in value)
        if not ok:
            raise _fail(
                index, f"request.context[{key!r}]", "must be a string, boolean, integer or list of strings"
            )
        out[key] = value
    return out


def parse_case(raw: Any, index: int | None = None) -> SimulationCase:
    """Validate one case and compile its policies; :class:`CaseError` names the case and the field."""
    if not isinstance(raw, Mapping):
        raise _fail(index, "case", "must be a JSON object with a 'request'")
    unknown = sorted(str(k) for k in raw if k not in _CASE_KEYS)
    if unknown:
        raise _fail(index, "case", f"unknown field(s) {', '.join(unknown)}")
    req = raw.get("request")
    if not isinstance(req, Mapping):
        raise _fail(index, "request", "is required and must be an object")
    unknown = sorted(str(k) for k in req if k not in _REQUEST_KEYS)
    if unknown:
        raise _fail(index, "request", f"unknown field(s) {', '.join(unknown)}")
    principal_text = _string(req, "principal", index)
    action = _string(req, "action", index)
    resource = _string(req, "resource", index)
    resource_account = _string(req, "resource_account", index, required=False)
    assert principal_text is not None and action is not None and resource is not None
    if resource_account is not None and not _ACCOUNT.match(resource_account):
        raise _fail(index, "request.resource_account", "must be a 12-digit account id")
    tags = req.get("principal_tags")
    tags = {} if tags is None else tags
    if not isinstance(tags, Mapping) or not all(isinstance(v, str) for v in tags.values()):
        raise _fail(index, "request.principal_tags", "must be an object of tag key to string value")
    for flag in ("service_linked", "resource_policy_required"):
        if flag in req and not isinstance(req[flag], bool):
            raise _fail(index, f"request.{flag}", "must be true or false")
    try:
        principal = principal_from_arn(
            principal_text,
            tags=tags,
            org_id=_string(req, "principal_org_id", index, required=False),
            user_id=_string(req, "user_id", index, required=False),
            service_linked=bool(req.get("service_linked", False)),
            role_arn=_string(req, "role_arn", index, required=False),
        )
    except ValueError as e:
        raise _fail(index, "request.principal", str(e)) from e
    given = _context_values(req.get("context"), index)
    implied: dict[str, Any] = {}
    if resource_account is not None:
        implied["aws:ResourceAccount"] = resource_account
    # Given keys win over the implied ones, whatever case they are written in.
    lowered = {k.lower() for k in given}
    values = {k: v for k, v in implied.items() if k.lower() not in lowered}
    values.update(given)
    context = Context.for_principal(principal, mode="exact", overrides=values)
    identity = raw.get("identity_policies")
    identity = [] if identity is None else identity
    if not isinstance(identity, list):
        raise _fail(index, "identity_policies", "must be a list of policy documents")
    required = req.get("resource_policy_required")
    if required is None:
        lowered_action = action.lower()
        required = bool(_KMS_KEY.match(resource)) or (
            lowered_action.startswith("sts:assumerole") and ":role/" in resource
        )
    return SimulationCase(
        request=Request(
            principal=principal,
            action=action,
            resource=resource,
            resource_account=resource_account,
            context=context,
        ),
        identity_policies=tuple(
            _document(doc, f"identity_policies[{i}]", index) for i, doc in enumerate(identity)
        ),
        permissions_boundary=_optional_document(raw, "permissions_boundary", index),
        scps=_levels(raw, "scps", index),
        rcps=_levels(raw, "rcps", index),
        resource_policy=_optional_document(raw, "resource_policy", index),
        session_policy=_optional_document(raw, "session_policy", index),
        resource_policy_required=bool(required),
    )


def simulate_case(case: SimulationCase) -> SimulationResult:
    """Decide one case with the engine (``policy.decide``)."""
    decision = decide(
        case.request,
        identity_policies=case.identity_policies,
        permissions_boundary=case.permissions_boundary,
        resource_policy=case.resource_policy,
        session_policy=case.session_policy,
        scps=case.scps,
        rcps=case.rcps,
        resource_policy_required=case.resource_policy_required,
    )
    return SimulationResult(
        decision=decision.verdict.value,
        matched=decision.matched,
        conditions=decision.conditions,
        explain=decision.explain,
        raw=decision,
    )


def load_cases(text: str, source: str = "input") -> tuple[list[Any], bool]:
    """Parse the input text: (cases, was it a list). Bad JSON is a :class:`CaseError` naming the source."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise CaseError(
            f"{source}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})",
            hint="simulate reads one case (an object) or a list of cases.",
        ) from None
    if isinstance(data, list):
        return data, True
    return [data], False


def run_cases(cases: Sequence[Any], *, indexed: bool = True) -> list[SimulationResult]:
    """Decide every case in order; a malformed case yields a result with ``error`` set, not an exception."""
    results: list[SimulationResult] = []
    for i, raw in enumerate(cases):
        try:
            case = parse_case(raw, i if indexed else None)
        except CaseError as e:
            results.append(SimulationResult(decision=None, error=str(e)))
            continue
        results.append(simulate_case(case))
    return results


_STYLE = {"allow": "green", "conditional": "yellow", "implicit-deny": "red", "explicit-deny": "bold red"}


def render_table(results: Sequence[SimulationResult]) -> Table:
    """A rich table: one row per case with its decision, the deciding statements and the explanation."""
    table = Table(show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("decision")
    table.add_column("matched")
    table.add_column("explain")
    for i, r in enumerate(results):
        if r.error is not None:
            table.add_row(str(i), "[bold red]error[/]", "", r.error)
            continue
        decision = r.decision or ""
        matched = "\n".join(f"{ref.effect} {ref.describe()}" for ref in r.matched)
        explain = r.explain + "".join(f"\n  - {c}" for c in r.conditions if c not in r.explain)
        table.add_row(str(i), f"[{_STYLE.get(decision, '')}]{decision}[/]", matched, explain)
    return table
