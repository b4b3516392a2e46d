"""The request being judged and what is known about its condition keys (the attacker model of DESIGN.md §4).

A ``Context`` answers one question for the condition evaluator: for a condition key, is its value known
(and what is it), known to be absent, chosen by the attacker, or unknown? Two modes exist:

``exact``
    Like AWS's policy simulator: the given values are the whole request context; every other key is absent.
``attacker``
    The leaked-key model used by ``analyze``. Known values (from the snapshot, or forced by the user with
    ``--assume-context``) are used as-is; keys listed as absent are absent; keys in
    :data:`ATTACKER_CONTROLLED_KEYS` are set by whoever holds the key, so the evaluator lets them pick the
    value that helps them; every other key is unknown and makes the statement's applicability unknown,
    which surfaces as a CONDITIONAL verdict with a reason rather than a silent ALLOW or DENY.

Key names are case-insensitive ("IAM policy elements: Variables and tags": "Key names are
case-insensitive"), so every key is stored and looked up lowercased.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Literal

__all__ = [
    "ATTACKER_CONTROLLED_KEYS",
    "ATTACKER_CONTROLLED_PREFIXES",
    "OUTSIDER_UNSATISFIABLE_KEYS",
    "Choice",
    "Context",
    "KeyState",
    "Request",
    "RequestPrincipal",
    "principal_context_values",
]

ContextValue = str | bool | int | Sequence[str]
Mode = Literal["exact", "attacker"]


@dataclass(frozen=True, slots=True)
class Choice:
    """A key whose presence and value the key holder picks among a few ``options`` (each the key's values,
    or None for "absent"): ``aws:TokenIssueTime`` for an IAM user, absent with its long-term key, issued
    now with a session token from ``sts:GetSessionToken``. Like an attacker-controlled key, but only
    these options: each condition takes the option that helps the attacker (DESIGN.md §4). The pick is
    made per condition, not once per request, so a request that needs one option for an Allow and
    the other to escape a Deny is reported as allowed (more than AWS would allow, never less)."""

    options: tuple[tuple[str, ...] | None, ...]
    why: str = ""
    # Actions for which only the first option exists, as lowercase action prefixes (``iam:``) and whole
    # actions exempt from them (``iam:passrole``): see ``Context.for_action``.
    first_only: tuple[str, ...] = ()
    first_only_except: frozenset[str] = frozenset()

    def restricted(self, action: str) -> bool:
        """Whether only the first option exists for a request of ``action``."""
        if not self.first_only:
            return False
        low = action.lower()
        return low.startswith(self.first_only) and low not in self.first_only_except


class KeyState(Enum):
    """What a context lookup returns when it cannot return the key's values."""

    ABSENT = "absent"
    ATTACKER = "attacker-controlled"
    UNKNOWN = "unknown"


# Keys whose value is part of the request the key holder sends, so they pick it (DESIGN.md §4): transport and
# region choice, client strings, the tags they put on the request, list parameters, encryption parameters,
# the session name when they assume a role. Deliberately NOT here: keys that restrict *which data* is
# reached (dynamodb:LeadingKeys) and secrets the attacker would have to know (sts:ExternalId): those stay
# unknown so the report says "conditional on ...".
ATTACKER_CONTROLLED_KEYS: frozenset[str] = frozenset(
    k.lower()
    for k in (
        "aws:SecureTransport",
        "aws:RequestedRegion",
        "aws:UserAgent",
        "aws:Referer",
        "aws:TagKeys",
        "s3:prefix",
        "s3:delimiter",
        "s3:max-keys",
        "s3:signatureversion",
        "s3:signatureAge",
        "s3:authType",
        "s3:TlsVersion",
        "s3:VersionId",
        "s3:LocationConstraint",
        "s3:RequestObjectTagKeys",
        "dynamodb:Attributes",
        "dynamodb:Select",
        "dynamodb:ReturnValues",
        "dynamodb:ReturnConsumedCapacity",
        "kms:EncryptionContextKeys",
        "kms:EncryptionAlgorithm",
        "kms:SigningAlgorithm",
        "kms:MacAlgorithm",
        "kms:GrantOperations",
        "secretsmanager:VersionStage",
        "secretsmanager:VersionId",
        "ssm:Overwrite",
        "ssm:Recursive",
        "sts:RoleSessionName",
        "sts:TransitiveTagKeys",
    )
)

# Families of attacker-controlled keys, matched by prefix (lowercased).
ATTACKER_CONTROLLED_PREFIXES: tuple[str, ...] = (
    "aws:requesttag/",
    "s3:x-amz-",
    "s3:requestobjecttag/",
    "s3:object-lock-",
    "kms:encryptioncontext:",
)

# Keys an outside holder of a leaked key normally cannot satisfy: network origin, MFA, the calling service.
# They are never guessed; unless the snapshot or the user pins a value they stay unknown, and the verdict
# is CONDITIONAL with the condition spelled out. (Listed for documentation and for the wording of reasons.)
OUTSIDER_UNSATISFIABLE_KEYS: frozenset[str] = frozenset(
    k.lower()
    for k in (
        "aws:SourceIp",
        "aws:VpcSourceIp",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:SourceVpcArn",
        "aws:MultiFactorAuthPresent",
        "aws:MultiFactorAuthAge",
        "aws:SourceArn",
        "aws:SourceAccount",
        "aws:SourceOrgID",
        "aws:SourceOrgPaths",
        "aws:SourceOwner",
        "aws:CalledVia",
        "aws:CalledViaFirst",
        "aws:CalledViaLast",
        "aws:ViaAWSService",
        "aws:PrincipalIsAWSService",
        "aws:PrincipalServiceName",
        "aws:PrincipalServiceNamesList",
        "aws:Ec2InstanceSourceVpc",
        "aws:Ec2InstanceSourcePrivateIPv4",
        "ec2:SourceInstanceARN",
        "sts:ExternalId",
    )
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestPrincipal:
    """Who makes the request: an IAM user, a role session, an account root, a federated or service principal.

    ``arn`` is the user ARN, the ARN of the role a session belongs to, the account root ARN, the identity
    provider (federated) or the service name (``lambda.amazonaws.com``). For roles, ``session_arn`` is the
    assumed-role session ARN; a session name of ``*`` means "any session name the attacker picks".
    """

    arn: str
    account_id: str
    kind: str  # "user" | "role" | "root" | "federated" | "service"
    session_arn: str | None = None
    user_name: str | None = None
    user_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    org_id: str | None = None
    service_linked: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One authorisation question: may ``principal`` perform ``action`` on ``resource`` in ``context``?

    The context is the one of a request of ``action`` (``Context.for_action``): a key holder's pick that
    does not exist for this action is settled."""

    principal: RequestPrincipal
    action: str
    resource: str
    resource_account: str | None
    context: Context

    def __post_init__(self) -> None:
        """Settle the context's choices for this action."""
        object.__setattr__(self, "context", self.context.for_action(self.action))


def _as_values(value: ContextValue) -> tuple[str, ...]:
    if isinstance(value, bool):
        return ("true" if value else "false",)
    if isinstance(value, str | int):
        return (str(value),)
    return tuple(str(v) for v in value)


def _normalise(values: Mapping[str, ContextValue] | None) -> dict[str, tuple[str, ...]]:
    if not values:
        return {}
    return {key.lower(): _as_values(value) for key, value in values.items()}


def _split_absent(absent: Iterable[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    """Split absent-key specs into exact keys and prefixes (a spec ending in ``*`` is a prefix)."""
    exact: set[str] = set()
    prefixes: list[str] = []
    for spec in absent:
        low = spec.lower()
        if low.endswith("*"):
            prefixes.append(low[:-1])
        else:
            exact.add(low)
    return frozenset(exact), tuple(prefixes)


class Context:
    """Immutable condition-key context in ``exact`` or ``attacker`` mode; build it with the class methods.

    ``values`` maps key names (any case) to a string, a bool, an int, or a sequence of strings (multi-valued
    keys such as ``aws:TagKeys``). ``absent`` lists keys known not to be in the request; an entry ending in
    ``*`` (``aws:PrincipalTag/*``) marks every key with that prefix that has no value as absent.
    """

    __slots__ = (
        "_absent",
        "_absent_prefixes",
        "_attacker",
        "_attacker_prefixes",
        "_choices",
        "_values",
        "mode",
    )

    mode: Mode
    _values: dict[str, tuple[str, ...]]
    _absent: frozenset[str]
    _absent_prefixes: tuple[str, ...]
    _attacker: frozenset[str]
    _attacker_prefixes: tuple[str, ...]
    _choices: dict[str, Choice]

    def __init__(
        self,
        *,
        mode: Mode,
        values: dict[str, tuple[str, ...]],
        absent: frozenset[str] = frozenset(),
        absent_prefixes: tuple[str, ...] = (),
        attacker: frozenset[str] = frozenset(),
        attacker_prefixes: tuple[str, ...] = (),
        choices: dict[str, Choice] | None = None,
    ) -> None:
        """Low-level constructor; prefer :meth:`exact`, :meth:`attacker` or :meth:`for_principal`."""
        if mode not in ("exact", "attacker"):
            raise ValueError(f"unknown context mode {mode!r}")
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_absent", absent)
        object.__setattr__(self, "_absent_prefixes", absent_prefixes)
        object.__setattr__(self, "_attacker", attacker)
        object.__setattr__(self, "_attacker_prefixes", attacker_prefixes)
        object.__setattr__(self, "_choices", choices or {})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Context is immutable; use with_values() to derive a new one")

    def __repr__(self) -> str:
        return f"Context(mode={self.mode!r}, values={self._values!r})"

    @classmethod
    def exact(cls, values: Mapping[str, ContextValue] | None = None) -> Context:
        """A simulator-style context: exactly these keys are present, every other key is absent."""
        return cls(mode="exact", values=_normalise(values))

    @classmethod
    def attacker(
        cls,
        values: Mapping[str, ContextValue] | None = None,
        *,
        absent: Iterable[str] = (),
        overrides: Mapping[str, ContextValue] | None = None,
        attacker_controlled: Iterable[str] | None = None,
        now: datetime | None = None,
        choices: Mapping[str, Choice] | None = None,
    ) -> Context:
        """The leaked-key context: known ``values``, known-``absent`` keys, attacker-chosen and unknown keys.

        ``overrides`` (from ``--assume-context key=value``) win over everything and count as known.
        ``attacker_controlled`` replaces :data:`ATTACKER_CONTROLLED_KEYS` (exact names; prefixes stay).
        ``now`` fills ``aws:CurrentTime`` and ``aws:EpochTime`` unless they are given. ``choices``: keys
        the attacker picks among a few options (:class:`Choice`; a known value or override wins).
        """
        known = _normalise(values)
        if now is not None:
            moment = now if now.tzinfo else now.replace(tzinfo=UTC)
            known.setdefault("aws:currenttime", (moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),))
            known.setdefault("aws:epochtime", (str(int(moment.timestamp())),))
        known.update(_normalise(overrides))
        exact_absent, prefixes = _split_absent(absent)
        controlled = (
            ATTACKER_CONTROLLED_KEYS
            if attacker_controlled is None
            else frozenset(k.lower() for k in attacker_controlled)
        )
        return cls(
            mode="attacker",
            values=known,
            absent=exact_absent,
            absent_prefixes=prefixes,
            attacker=controlled,
            attacker_prefixes=ATTACKER_CONTROLLED_PREFIXES,
            choices={k.lower(): c for k, c in (choices or {}).items() if k.lower() not in known},
        )

    @classmethod
    def for_principal(
        cls,
        principal: RequestPrincipal,
        *,
        mode: Mode = "attacker",
        values: Mapping[str, ContextValue] | None = None,
        absent: Iterable[str] = (),
        overrides: Mapping[str, ContextValue] | None = None,
        now: datetime | None = None,
        choices: Mapping[str, Choice] | None = None,
    ) -> Context:
        """A context pre-filled with the keys the principal determines (see :func:`principal_context_values`).

        The principal's tags are complete, so any other ``aws:PrincipalTag/*`` is absent; ``aws:username``
        is absent for everything but IAM users ("IAM policy elements: Variables and tags", principal key
        values table).
        """
        merged: dict[str, ContextValue] = dict(principal_context_values(principal))
        if values:
            merged.update(values)
        absent_specs = ["aws:PrincipalTag/*", *absent]
        if principal.kind != "user":
            absent_specs.append("aws:username")
        if mode == "exact":
            merged.update(overrides or {})
            return cls.exact(merged)
        return cls.attacker(merged, absent=absent_specs, overrides=overrides, now=now, choices=choices)

    def for_action(self, action: str) -> Context:
        """The context of a request of ``action``: a ``Choice`` whose other options do not exist for it
        is its first option (a value, or absent). Unchanged (the same object) when none is restricted."""
        if not self._choices or not any(c.restricted(action) for c in self._choices.values()):
            return self
        values = dict(self._values)
        absent = set(self._absent)
        choices: dict[str, Choice] = {}
        for key, choice in self._choices.items():
            if not choice.restricted(action):
                choices[key] = choice
            elif choice.options[0] is None:
                absent.add(key)
            else:
                values[key] = choice.options[0]
        return Context(
            mode=self.mode,
            values=values,
            absent=frozenset(absent),
            absent_prefixes=self._absent_prefixes,
            attacker=self._attacker,
            attacker_prefixes=self._attacker_prefixes,
            choices=choices,
        )

    def with_values(
        self, values: Mapping[str, ContextValue] | None = None, *, absent: Iterable[str] = ()
    ) -> Context:
        """A copy with more known values (e.g. the resource's ``aws:ResourceTag/*``) and absent keys."""
        exact_absent, prefixes = _split_absent(absent)
        return self.with_lowered(_normalise(values).items(), absent=exact_absent, absent_prefixes=prefixes)

    def with_lowered(
        self,
        values: Iterable[tuple[str, tuple[str, ...]]],
        *,
        absent: frozenset[str] = frozenset(),
        absent_prefixes: tuple[str, ...] = (),
    ) -> Context:
        """``with_values`` for what is normalised already: (lowercase key, tuple of strings) pairs, absent
        keys split into lowercase exact keys and prefixes (without their ``*``), as ``with_values`` would
        make them. For a caller deriving many contexts from parts it can prepare once."""
        merged = dict(self._values)
        merged.update(values)
        return Context(
            mode=self.mode,
            values=merged,
            absent=self._absent | absent,
            absent_prefixes=self._absent_prefixes + absent_prefixes,
            attacker=self._attacker,
            attacker_prefixes=self._attacker_prefixes,
            choices=self._choices,
        )

    def lookup(self, key: str) -> tuple[str, ...] | KeyState | Choice:
        """The key's values, or why there are none: ABSENT, ATTACKER (attacker picks) or UNKNOWN."""
        return self.lookup_lower(key.lower())

    def lookup_lower(self, low: str) -> tuple[str, ...] | KeyState | Choice:
        """``lookup`` for a key name that is already lowercase (the compiled policy's hot path)."""
        found = self._values.get(low)
        if found is not None:
            return found
        if self._choices:
            choice = self._choices.get(low)
            if choice is not None:
                return choice
        if self.mode == "exact" or low in self._absent:
            return KeyState.ABSENT
        if self._absent_prefixes and low.startswith(self._absent_prefixes):
            return KeyState.ABSENT
        if low in self._attacker or low.startswith(self._attacker_prefixes):
            return KeyState.ATTACKER
        return KeyState.UNKNOWN

    def get(self, key: str) -> tuple[str, ...] | None:
        """The key's known values, or None."""
        return self._values.get(key.lower())

    def is_attacker_controlled(self, key: str) -> bool:
        """Whether the attacker model lets the key holder choose this key's value."""
        low = key.lower()
        return self.mode == "attacker" and (low in self._attacker or low.startswith(self._attacker_prefixes))


_PRINCIPAL_TYPES = {
    "user": "User",
    "role": "AssumedRole",
    "root": "Account",
    "federated": "FederatedUser",
}


def principal_context_values(principal: RequestPrincipal) -> dict[str, tuple[str, ...]]:
    """The global condition keys a principal determines: aws:PrincipalArn, aws:username, tags, org, ...

    For a role session ``aws:PrincipalArn`` is the role ARN, not the session ARN ("AWS global condition
    context keys", aws:PrincipalArn).
    """
    values: dict[str, tuple[str, ...]] = {
        "aws:principalaccount": (principal.account_id,),
        "aws:principalisawsservice": ("true" if principal.kind == "service" else "false",),
    }
    if principal.kind == "service":
        values["aws:principalservicename"] = (principal.arn,)
        return values
    values["aws:principalarn"] = (principal.arn,)
    kind = _PRINCIPAL_TYPES.get(principal.kind)
    if kind is not None:
        values["aws:principaltype"] = (kind,)
    if principal.user_name is not None and principal.kind == "user":
        values["aws:username"] = (principal.user_name,)
    if principal.user_id is not None:
        values["aws:userid"] = (principal.user_id,)
    if principal.org_id is not None:
        values["aws:principalorgid"] = (principal.org_id,)
    for tag_key, tag_value in principal.tags.items():
        values[f"aws:principaltag/{tag_key.lower()}"] = (tag_value,)
    return values
