"""IAM policy documents: validate, normalise and compile once into reusable ``Policy`` objects.

``parse_policy`` accepts what AWS accepts ("IAM JSON policy element reference"): ``Statement`` as one object
or a list; ``Action``/``Resource``/``Principal`` values as a string or a list; ``Version`` absent,
``2008-10-17`` or ``2012-10-17`` (policy variables only with ``2012-10-17``). Anything else malformed is a
``PolicyError`` that names the policy, the statement (index and Sid) and the field. Unknown condition
*operators* are not errors: they compile to clauses that evaluate UNKNOWN (see ``conditions``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import unquote

from blastradius.errors import PolicyError
from blastradius.policy.conditions import Clause, compile_conditions
from blastradius.policy.context import Context, Request, RequestPrincipal
from blastradius.policy.match import ActionMatcher, PrincipalMatch, PrincipalSpec, ResourcePattern, Tri

__all__ = ["ActionGroups", "Applicability", "Policy", "Statement", "StatementRef", "parse_policy"]

_TOP_LEVEL_KEYS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS = frozenset(
    {
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Principal",
        "NotPrincipal",
        "Condition",
    }
)
_VERSIONS = ("2012-10-17", "2008-10-17")
_PRINCIPAL_TYPES = ("AWS", "Service", "Federated", "CanonicalUser")
_HINT = (
    "Check the document against the 'IAM JSON policy element reference' in the AWS IAM User Guide; "
    "the snapshot keeps policies exactly as the account holds them."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementRef:
    """Which statement of which policy decided something (for the report's "why")."""

    policy: str
    sid: str | None
    index: int
    effect: str

    def label(self) -> str:
        """The statement's Sid if it has one, else ``#<index>``."""
        return self.sid if self.sid else f"#{self.index}"

    def describe(self) -> str:
        """``statement 'Sid' of policy P`` or ``statement #2 of policy P``."""
        shown = f"'{self.sid}'" if self.sid else f"#{self.index}"
        return f"statement {shown} of policy {self.policy}"


class Applicability(NamedTuple):
    """A statement against a request: APPLIES (YES), NOT_APPLIES (NO) or UNKNOWN with the reasons."""

    state: Tri
    match: PrincipalMatch
    reasons: tuple[str, ...]


_NOT_APPLICABLE = Applicability(Tri.NO, PrincipalMatch.NONE, ())
_APPLIES = Applicability(Tri.YES, PrincipalMatch.NONE, ())


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Statement:
    """One compiled statement: effect, Sid, position, and matchers for actions, resources and principals."""

    effect: str
    sid: str | None
    index: int
    policy_name: str
    actions: tuple[str, ...]
    not_action: bool
    resource_patterns: tuple[str, ...] | None
    not_resource: bool
    principal: str | dict[str, tuple[str, ...]] | None
    not_principal: bool
    conditions: tuple[Clause, ...]
    ref: StatementRef
    _actions: ActionMatcher = field(repr=False)
    _resources: tuple[ResourcePattern, ...] | None = field(repr=False)
    _principal: PrincipalSpec | None = field(repr=False)
    _action_cache: dict[str, bool] = field(default_factory=dict, init=False, repr=False)
    is_deny: bool = field(init=False, repr=False)  # effect == "Deny", precomputed for the hot loop

    def __post_init__(self) -> None:
        """Precompute the effect flag."""
        object.__setattr__(self, "is_deny", self.effect == "Deny")

    @property
    def resource_literal_prefixes(self) -> tuple[str, ...]:
        """For each Resource pattern, its text before the first wildcard or variable (empty if none)."""
        return tuple(p.literal_prefix for p in self._resources or ())

    def matches_action(self, action: str) -> bool:
        """Whether the statement covers ``action`` (``Action`` or ``NotAction``; case-insensitive globs)."""
        cached = self._action_cache.get(action)
        if cached is None:
            hit = self._actions.matches(action.lower())
            cached = hit != self.not_action
            if len(self._action_cache) < 4096:
                self._action_cache[action] = cached
        return cached

    def actions_mask(self, actions: tuple[str, ...]) -> int:
        """Which of ``actions`` the statement covers (``matches_action``), as a bitset: bit ``i`` for
        ``actions[i]``."""
        found = self._actions.mask(actions)
        return found ^ ((1 << len(actions)) - 1) if self.not_action else found

    def action_could_match_service(self, service_prefix: str) -> bool:
        """Quick filter: could this statement cover any action of the service (``s3``, ``dynamodb``)?"""
        service = service_prefix.lower()
        if self.not_action:
            return not self._actions.covers_service(service)
        return self._actions.could_match_service(service)

    def resource_state(self, arn: str, ctx: Context | None) -> Tri:
        """Three-valued resource match: UNKNOWN when a policy variable's value is not known."""
        patterns = self._resources
        if patterns is None:
            return Tri.YES
        best = Tri.NO
        for pattern in patterns:
            state = pattern.match(arn, ctx)
            if state is Tri.YES:
                best = Tri.YES
                break
            if state is Tri.UNKNOWN:
                best = Tri.UNKNOWN
        return Tri(2 - best) if self.not_resource else best

    def matches_resource(self, arn: str, ctx: Context | None = None) -> bool:
        """Whether the statement definitely covers ``arn`` (``Resource``/``NotResource``, variables from ctx).

        Statements without a Resource element (role trust policies) cover every resource.
        """
        return self.resource_state(arn, ctx) is Tri.YES

    def principal_match(self, principal: RequestPrincipal, *, has_boundary: bool = False) -> PrincipalMatch:
        """How the statement's ``Principal``/``NotPrincipal`` names the principal (NONE if it does not)."""
        return self._principal_state(principal, has_boundary)[1]

    def _principal_state(
        self, principal: RequestPrincipal, has_boundary: bool
    ) -> tuple[Tri, PrincipalMatch, str | None]:
        spec = self._principal
        if spec is None:
            # A resource-based policy statement must name a principal; without one it grants nothing.
            return Tri.NO, PrincipalMatch.NONE, None
        if not self.not_principal:
            found = spec.match(principal)
            return (Tri.NO if found is PrincipalMatch.NONE else Tri.YES), found, None
        if spec.any:
            return Tri.NO, PrincipalMatch.NONE, None
        caller, role, account = spec.chain(principal)
        if not self.is_deny:
            # "NotPrincipal with Allow": everyone except those listed; we also exclude a caller whose role
            # or account is listed, since AWS may validate the account and role before the session.
            if caller or role or account:
                return Tri.NO, PrincipalMatch.NONE, None
            return Tri.YES, PrincipalMatch.DIRECT_ANY, None
        # "NotPrincipal with Deny" denies everyone not listed. A principal with a permissions boundary is
        # always denied ("Permissions boundaries for IAM entities", Important box).
        if has_boundary and principal.kind in ("user", "role"):
            return Tri.YES, PrincipalMatch.DIRECT_ANY, None
        if not caller:
            return Tri.YES, PrincipalMatch.DIRECT_ANY, None
        missing = [
            label
            for label, listed in (("the role ARN", role), ("the account ARN", account))
            if listed is False
        ]
        if not missing:
            return Tri.NO, PrincipalMatch.NONE, None
        # The doc: AWS "might validate the account first, then the role, and then the assumed-role user",
        # so a NotPrincipal naming only the caller may still deny it: we cannot tell which.
        reason = (
            f"NotPrincipal of {self.ref.describe()} exempts the caller but not {' or '.join(missing)}; "
            "AWS may still deny (AWS JSON policy elements: NotPrincipal)"
        )
        return Tri.UNKNOWN, PrincipalMatch.DIRECT_ANY, reason

    def evaluate(self, request: Request, *, resource_side: bool, has_boundary: bool = False) -> Applicability:
        """Whether the statement applies to the request: YES, NO or UNKNOWN (with reasons).

        ``resource_side`` checks ``Principal``/``NotPrincipal`` (resource-based policies, RCPs);
        identity-based policies, boundaries, session policies and SCPs have no principal element.
        """
        if not self.matches_action(request.action):
            return _NOT_APPLICABLE
        return self.evaluate_matched(request, resource_side=resource_side, has_boundary=has_boundary)

    def evaluate_matched(self, request: Request, *, resource_side: bool, has_boundary: bool) -> Applicability:
        """``evaluate`` for a request whose action is already known to be covered (see ``statements_for``)."""
        ctx = request.context
        reasons: list[str] | None = None
        patterns = self._resources
        if patterns is not None:
            if len(patterns) == 1 and not self.not_resource:
                state = patterns[0].match(request.resource, ctx)
            else:
                state = self.resource_state(request.resource, ctx)
            if state is Tri.NO:
                return _NOT_APPLICABLE
            if state is Tri.UNKNOWN:
                keys = sorted({k for p in patterns for k in p.unresolved_keys()})
                reasons = [
                    f"resource {request.resource} matches only if {', '.join(keys)} has the right value "
                    f"({self.ref.describe()})"
                ]
        match = PrincipalMatch.NONE
        if resource_side:
            pstate, match, preason = self._principal_state(request.principal, has_boundary)
            if pstate is Tri.NO:
                return _NOT_APPLICABLE
            if preason is not None:
                reasons = [*(reasons or ()), preason]
        if self.conditions:
            deny = self.is_deny
            for clause in self.conditions:
                state = clause.evaluate(ctx, deny=deny)
                if state is Tri.NO:
                    return _NOT_APPLICABLE
                if state is Tri.UNKNOWN:
                    text = f"{clause.describe(deny=deny)} ({clause.operator}, {self.ref.describe()})"
                    reasons = [*(reasons or ()), text]
        if reasons:
            return Applicability(Tri.UNKNOWN, match, tuple(reasons))
        if match is PrincipalMatch.NONE:
            return _APPLIES
        return Applicability(Tri.YES, match, ())


class ActionGroups(NamedTuple):
    """``Policy.action_groups``: per action a label, and per label the statements covering its actions."""

    labels: tuple[int, ...]
    statements: tuple[tuple[Statement, ...], ...]


# ``Policy.action_groups`` of a policy covering none of the actions, per number of actions.
_UNCOVERED: dict[int, ActionGroups] = {}


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Policy:
    """A parsed, compiled policy document; reusable across any number of requests."""

    name: str
    statements: tuple[Statement, ...]
    version: str | None = None
    allows: tuple[Statement, ...] = field(init=False)
    denies: tuple[Statement, ...] = field(init=False)
    _by_action: dict[str, tuple[Statement, ...]] = field(init=False, repr=False)
    _by_actions: dict[tuple[str, ...], ActionGroups] = field(init=False, repr=False)
    _may_allow: dict[str, bool] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Split allows from denies and start the per-action statement caches."""
        object.__setattr__(self, "allows", tuple(s for s in self.statements if not s.is_deny))
        object.__setattr__(self, "denies", tuple(s for s in self.statements if s.is_deny))
        object.__setattr__(self, "_by_action", {})
        object.__setattr__(self, "_by_actions", {})
        object.__setattr__(self, "_may_allow", {})

    def statements_for(self, action: str) -> tuple[Statement, ...]:
        """The statements whose Action/NotAction covers ``action`` (cached per action name)."""
        found = self._by_action.get(action)
        if found is None:
            found = tuple(s for s in self.statements if s.matches_action(action))
            if len(self._by_action) < 4096:
                self._by_action[action] = found
        return found

    def may_allow(self, action: str) -> bool:
        """Whether an Allow statement covers ``action`` (and could cover its service): a cheap necessary
        condition for an identity policy to grant it, cached per action."""
        found = self._may_allow.get(action)
        if found is None:
            service = action.split(":", 1)[0]
            found = any(
                not st.is_deny and st.action_could_match_service(service)
                for st in self.statements_for(action)
            )
            if len(self._may_allow) < 4096:
                self._may_allow[action] = found
        return found

    def action_groups(self, actions: tuple[str, ...]) -> ActionGroups:
        """``statements_for`` of each of ``actions`` at once, grouped: per action a label, equal for
        actions covered by the same statements, and per label those statements (``statements_for``).

        Cached per tuple of actions: a managed policy attached to many principals is asked about the
        same actions (a dataset type's level) for each of them, and the answer depends on the policy
        alone."""
        found = self._by_actions.get(actions)
        if found is None:
            covering = [(st, mask) for st in self.statements if (mask := st.actions_mask(actions))]
            if not covering and actions:  # the common case: a policy about other services
                return _UNCOVERED.setdefault(len(actions), ActionGroups((0,) * len(actions), ((),)))
            labels: list[int] = []
            groups: list[tuple[Statement, ...]] = []
            seen: dict[tuple[Statement, ...], int] = {}  # statements compare by identity (eq=False)
            for i in range(len(actions)):
                statements = tuple(st for st, mask in covering if mask >> i & 1)
                label = seen.get(statements)
                if label is None:
                    label = seen[statements] = len(groups)
                    groups.append(statements)
                labels.append(label)
            found = ActionGroups(tuple(labels), tuple(groups))
            if len(self._by_actions) < 256:
                self._by_actions[actions] = found
        return found

    @property
    def variables_enabled(self) -> bool:
        """Whether policy variables are substituted (only with Version 2012-10-17)."""
        return self.version == "2012-10-17"


class _Where:
    """Formats error locations: policy name, then statement index and Sid."""

    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, problem: str, *, index: int | None = None, sid: str | None = None) -> PolicyError:
        where = f"policy {self.name!r}"
        if index is not None:
            where += f", statement #{index}" + (f" (Sid {sid!r})" if sid else "")
        return PolicyError(f"{where}: {problem}", hint=_HINT)


def _string_list(value: Any, element: str) -> tuple[str, ...]:
    """A string or a non-empty list of strings, as a tuple; ``ValueError`` naming ``element`` otherwise."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    if isinstance(value, list) and not value:
        raise ValueError(f"{element} must not be an empty list")
    raise ValueError(f"{element} must be a string or a list of strings")


def _principal_element(value: Any, element: str) -> str | dict[str, tuple[str, ...]]:
    if value == "*":
        return "*"
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f'{element} must be "*" or an object such as {{"AWS": [...]}}')
    out: dict[str, tuple[str, ...]] = {}
    for kind, names in value.items():
        if kind not in _PRINCIPAL_TYPES:
            raise ValueError(
                f"{element} has unknown principal type {kind!r} (expected {', '.join(_PRINCIPAL_TYPES)})"
            )
        out[kind] = _string_list(names, f"{element}.{kind}")
    return out


def _statement(raw: Any, index: int, *, name: str, variables: bool, where: _Where) -> Statement:
    sid = raw.get("Sid") if isinstance(raw, Mapping) else None
    sid = sid if isinstance(sid, str) else None
    if not isinstance(raw, Mapping):
        raise where.fail("a statement must be a JSON object", index=index)
    if not _STATEMENT_KEYS.issuperset(raw):
        unknown = sorted(str(k) for k in raw if k not in _STATEMENT_KEYS)
        raise where.fail(f"unknown statement element(s) {', '.join(unknown)}", index=index, sid=sid)
    if "Sid" in raw and not isinstance(raw["Sid"], str):
        raise where.fail("Sid must be a string", index=index)
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise where.fail(f'Effect must be "Allow" or "Deny", got {effect!r}', index=index, sid=sid)
    if ("Action" in raw) == ("NotAction" in raw):
        problem = "both Action and NotAction" if "Action" in raw else "neither Action nor NotAction"
        raise where.fail(f"{problem}; a statement has exactly one of them", index=index, sid=sid)
    if "Resource" in raw and "NotResource" in raw:
        raise where.fail("both Resource and NotResource; use one of them", index=index, sid=sid)
    if "Principal" in raw and "NotPrincipal" in raw:
        raise where.fail("both Principal and NotPrincipal; use one of them", index=index, sid=sid)
    try:
        action_key = "Action" if "Action" in raw else "NotAction"
        actions = _string_list(raw[action_key], action_key)
        resource_key = "Resource" if "Resource" in raw else "NotResource" if "NotResource" in raw else None
        resources = _string_list(raw[resource_key], resource_key) if resource_key else None
        principal_key = (
            "Principal" if "Principal" in raw else "NotPrincipal" if "NotPrincipal" in raw else None
        )
        principal = _principal_element(raw[principal_key], principal_key) if principal_key else None
        conditions = _conditions(raw["Condition"], variables) if "Condition" in raw else ()
    except ValueError as exc:
        raise where.fail(str(exc), index=index, sid=sid) from exc
    ref = StatementRef(policy=name, sid=sid, index=index, effect=effect)
    return Statement(
        effect=effect,
        sid=sid,
        index=index,
        policy_name=name,
        actions=actions,
        not_action=action_key == "NotAction",
        resource_patterns=resources,
        not_resource=resource_key == "NotResource",
        principal=principal,
        not_principal=principal_key == "NotPrincipal",
        conditions=conditions,
        ref=ref,
        _actions=_action_matcher(actions),
        _resources=None if resources is None else _resource_patterns(resources, variables),
        _principal=None if principal is None else _principal_spec(principal),
    )


# The compiled parts of a statement are immutable (their caches only remember answers), so statements
# with the same Action, Resource, Principal or Condition share one: accounts repeat the same few
# (a key policy per key, a bucket policy per bucket), and a shared matcher answers for all of them.
_SHARED_MAX = 1 << 16


@functools.lru_cache(maxsize=_SHARED_MAX)
def _action_matcher(actions: tuple[str, ...]) -> ActionMatcher:
    return ActionMatcher(actions)


@functools.lru_cache(maxsize=_SHARED_MAX)
def _resource_patterns(resources: tuple[str, ...], variables: bool) -> tuple[ResourcePattern, ...]:
    return tuple(ResourcePattern(r, variables=variables) for r in resources)


def _principal_spec(element: str | dict[str, tuple[str, ...]]) -> PrincipalSpec:
    if isinstance(element, str):
        return _shared_principal(element)
    return _shared_principal(tuple(element.items()))


@functools.lru_cache(maxsize=_SHARED_MAX)
def _shared_principal(element: str | tuple[tuple[str, tuple[str, ...]], ...]) -> PrincipalSpec:
    return PrincipalSpec(element if isinstance(element, str) else dict(element))


def _conditions(raw: Any, variables: bool) -> tuple[Clause, ...]:
    """``compile_conditions``, shared by identical blocks (those of plain JSON values; any other shape is
    compiled on its own, which reports what is wrong with it)."""
    key = _frozen(raw)
    if key is None:
        return compile_conditions(raw, variables=variables)
    return _shared_conditions(key, variables)


@functools.lru_cache(maxsize=_SHARED_MAX)
def _shared_conditions(key: tuple[Any, ...], variables: bool) -> tuple[Clause, ...]:
    return compile_conditions(_thawed(key), variables=variables)


def _frozen(raw: Any) -> tuple[Any, ...] | None:
    """A Condition block as a hashable value that keeps its order and every value's type (``True`` and
    ``1`` are different condition values); None if it is not {operator: {key: scalar or list}}."""
    if not isinstance(raw, dict):
        return None
    out: list[Any] = []
    for operator, block in raw.items():
        if not isinstance(operator, str) or not isinstance(block, dict):
            return None
        keys: list[Any] = []
        for key, value in block.items():
            if not isinstance(key, str):
                return None
            items = value if isinstance(value, list) else (value,)
            if not all(isinstance(v, str | bool | int | float) for v in items):
                return None
            keys.append((key, isinstance(value, list), tuple((type(v).__name__, v) for v in items)))
        out.append((operator, tuple(keys)))
    return tuple(out)


def _thawed(key: tuple[Any, ...]) -> dict[str, dict[str, Any]]:
    return {
        operator: {k: [v for _, v in values] if is_list else values[0][1] for k, is_list, values in block}
        for operator, block in key
    }


def parse_policy(document: Mapping[str, Any] | str, *, name: str) -> Policy:
    """Validate and compile a policy document (a JSON object or its text) into a reusable ``Policy``.

    Raises ``PolicyError`` naming the policy, the statement (index and Sid) and the offending element.
    """
    where = _Where(name)
    if isinstance(document, str):
        text = document.strip()
        if text[:3].upper() == "%7B":  # GetAccountAuthorizationDetails returns URL-encoded documents
            text = unquote(text)
        try:
            document = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise where.fail(f"not valid JSON ({exc})") from exc
    if not isinstance(document, Mapping):
        raise where.fail("a policy document must be a JSON object")
    if not _TOP_LEVEL_KEYS.issuperset(document):
        unknown = sorted(str(k) for k in document if k not in _TOP_LEVEL_KEYS)
        raise where.fail(f"unknown top-level element(s) {', '.join(unknown)}")
    version = document.get("Version")
    if version is not None and version not in _VERSIONS:
        raise where.fail(f"Version must be one of {', '.join(_VERSIONS)}, got {version!r}")
    if "Id" in document and not isinstance(document["Id"], str):
        raise where.fail("Id must be a string")
    if "Statement" not in document:
        raise where.fail("no Statement element")
    raw_statements = document["Statement"]
    if isinstance(raw_statements, Mapping):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list):
        raise where.fail("Statement must be an object or a list of objects")
    variables = version == "2012-10-17"
    statements = tuple(
        _statement(raw, i, name=name, variables=variables, where=where)
        for i, raw in enumerate(raw_statements)
    )
    return Policy(name=name, statements=statements, version=version)
