"""Matching the policy language's names: action globs, ARN globs with policy variables, principals.

Everything here compiles once (per statement, or through a bounded cache) and then answers with set
lookups, ``str.startswith`` on a tuple, or one precompiled regex, because the graph asks these questions
hundreds of thousands of times.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import IntEnum, StrEnum
from functools import lru_cache
from itertools import product
from typing import Any, Final

from blastradius.policy.context import Context, KeyState, RequestPrincipal

__all__ = [
    "ActionMatcher",
    "PrincipalMatch",
    "PrincipalSpec",
    "ResourcePattern",
    "Template",
    "Tri",
    "glob_match",
]


class Tri(IntEnum):
    """Kleene three-valued truth: AND is ``min``, OR is ``max``, NOT is ``2 - t``."""

    NO = 0
    UNKNOWN = 1
    YES = 2


@lru_cache(maxsize=16384)
def _compile(source: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(source, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _glob_source(text: str) -> str:
    """Regex source for a glob where ``*`` is any run of characters and ``?`` any one character."""
    out: list[str] = []
    for ch in text:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """Whether ``value`` matches the whole-string glob ``pattern`` (``*`` and ``?``)."""
    if "*" not in pattern and "?" not in pattern:
        return pattern.lower() == value.lower() if ignore_case else pattern == value
    return _compile(_glob_source(pattern), ignore_case).fullmatch(value) is not None


# --------------------------------------------------------------------------------------------- templates

# "IAM policy elements: Variables and tags": ${key}, ${key, 'default'}, and the fixed ${*} ${?} ${$}.
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_DEFAULT_FORM = re.compile(r"^\s*([^,]+?)\s*,\s*'(.*)'\s*$", re.DOTALL)
_SPECIALS = frozenset("*?$")

# Token kinds: literal text (glob characters keep their meaning), an escaped character from ${*} ${?} ${$},
# a variable (lowercased key, default or None, key as written).
_Token = tuple[str, str, str | None, str]


class Template:
    """A string from a policy (resource pattern or condition value) that may hold policy variables.

    Variables are recognised only when the policy's ``Version`` is ``2012-10-17``; with an older or absent
    Version, ``${aws:username}`` is literal text ("IAM policy elements: Variables and tags").
    """

    __slots__ = ("_dynamic", "_last_segment", "_static", "_tokens", "has_variables", "raw")

    raw: str
    has_variables: bool
    _tokens: tuple[_Token, ...]
    _static: dict[str, re.Pattern[str]]
    _dynamic: dict[tuple[Any, ...], re.Pattern[str]]
    _last_segment: int

    def __init__(self, raw: str, *, variables: bool) -> None:
        """Tokenise ``raw``; with ``variables`` False the whole string is literal."""
        self.raw = raw
        tokens: list[_Token] = []
        if variables and "${" in raw:
            pos = 0
            for m in _VARIABLE.finditer(raw):
                if m.start() > pos:
                    tokens.append(("l", raw[pos : m.start()], None, ""))
                inner = m.group(1).strip()
                if inner in _SPECIALS:
                    tokens.append(("e", inner, None, ""))
                elif not inner:
                    tokens.append(("l", m.group(0), None, ""))
                else:
                    dm = _DEFAULT_FORM.match(inner)
                    if dm is not None:
                        key, default = dm.group(1), dm.group(2)
                        tokens.append(("v", key.lower(), default, key))
                    else:
                        tokens.append(("v", inner.lower(), None, inner))
                pos = m.end()
            if pos < len(raw):
                tokens.append(("l", raw[pos:], None, ""))
        else:
            tokens.append(("l", raw, None, ""))
        self._tokens = tuple(tokens)
        self.has_variables = any(t[0] == "v" for t in tokens)
        self._static = {}
        self._dynamic = {}
        colons = sum(t[1].count(":") for t in tokens if t[0] == "l")
        self._last_segment = min(colons, 5)

    def __repr__(self) -> str:
        return f"Template({self.raw!r})"

    @property
    def is_plain(self) -> bool:
        """True when the string has no variables and no ${*}/${?}/${$} escapes."""
        return len(self._tokens) == 1 and self._tokens[0][0] == "l"

    def variable_keys(self) -> tuple[str, ...]:
        """The variable keys (as written) this template refers to."""
        return tuple(t[3] for t in self._tokens if t[0] == "v")

    def _resolve(self, key: str, default: str | None, ctx: Context) -> tuple[str, ...] | KeyState:
        found = ctx.lookup_lower(key)
        if isinstance(found, tuple) and len(found) == 1:
            return found
        if found is KeyState.ABSENT or found == ():
            return (default,) if default is not None else KeyState.ABSENT
        if isinstance(found, tuple):
            # "You can't use a multivalued context key as a policy variable" ("Single-valued vs.
            # multivalued context keys"); AWS does not say what such a substitution yields, so it is
            # unknown (CONDITIONAL with the reason), never a guess that could allow or deny silently.
            return KeyState.UNKNOWN
        # An attacker-controlled or unknown key gives an unknown substitution: a default does not help,
        # because the key may well be present with some other value.
        return KeyState.UNKNOWN

    def strings(self, ctx: Context | None) -> tuple[str, ...] | KeyState:
        """Every string the template can stand for in ``ctx`` (several if a variable is multi-valued)."""
        if self.is_plain:
            return (self.raw,)
        choices: list[tuple[str, ...]] = []
        for kind, text, default, _ in self._tokens:
            if kind == "v":
                if ctx is None:
                    return KeyState.UNKNOWN
                resolved = self._resolve(text, default, ctx)
                if isinstance(resolved, KeyState):
                    return resolved
                choices.append(resolved)
            else:
                choices.append((text,))
        return tuple("".join(parts) for parts in product(*choices))

    def regex(self, ctx: Context | None, flavor: str) -> re.Pattern[str] | KeyState:
        """The template as a compiled full-match regex, or why it cannot be built (ABSENT or UNKNOWN).

        ``flavor`` is ``glob`` (whole-string, case-sensitive), ``glob_ci`` (case-insensitive) or ``arn``
        (each of the six colon-separated ARN parts matched separately, "IAM JSON policy elements: Condition
        operators", ARN operators; the last part may contain colons).
        """
        if not self.has_variables:
            cached = self._static.get(flavor)
            if cached is None:
                cached = _compile(self._source((), flavor), flavor == "glob_ci")
                self._static[flavor] = cached
            return cached
        if ctx is None:
            return KeyState.UNKNOWN
        bindings: list[tuple[str, ...]] = []
        unknown = False
        for kind, text, default, _ in self._tokens:
            if kind == "v":
                resolved = self._resolve(text, default, ctx)
                if resolved is KeyState.ABSENT:
                    # An unresolvable variable makes the pattern match nothing, whatever the others hold.
                    return KeyState.ABSENT
                if isinstance(resolved, KeyState):
                    unknown = True
                else:
                    bindings.append(resolved)
        if unknown:
            return KeyState.UNKNOWN
        key = (flavor, *bindings)
        compiled = self._dynamic.get(key)
        if compiled is None:
            if len(self._dynamic) >= 256:
                self._dynamic.clear()
            compiled = _compile(self._source(bindings, flavor), flavor == "glob_ci")
            self._dynamic[key] = compiled
        return compiled

    def _source(self, bindings: Sequence[tuple[str, ...]], flavor: str) -> str:
        arn = flavor == "arn"
        segment = 0
        bound = iter(bindings)
        out: list[str] = []
        for kind, text, _, _ in self._tokens:
            if kind == "e":
                out.append(re.escape(text))
            elif kind == "v":
                resolved = next(bound)
                if len(resolved) == 1:
                    out.append(re.escape(resolved[0]))
                else:
                    out.append("(?:" + "|".join(re.escape(v) for v in resolved) + ")")
            elif not arn:
                out.append(_glob_source(text))
            else:
                for ch in text:
                    spanning = segment >= self._last_segment
                    if ch == "*":
                        out.append(".*" if spanning else "[^:]*")
                    elif ch == "?":
                        out.append("." if spanning else "[^:]")
                    else:
                        if ch == ":" and segment < 5:
                            segment += 1
                        out.append(re.escape(ch))
        return "".join(out)


# ----------------------------------------------------------------------------------------------- actions


class ActionMatcher:
    """A set of action patterns (``s3:GetObject``, ``s3:Get*``, ``*``), matched case-insensitively.

    "IAM JSON policy elements: Action": action names are case-insensitive and may use ``*`` and ``?``.
    """

    __slots__ = (
        "_exact",
        "_masks",
        "_match_all",
        "_memo",
        "_prefixes",
        "_regex",
        "_service_globs",
        "_services",
        "patterns",
    )

    patterns: tuple[str, ...]

    def __init__(self, patterns: tuple[str, ...]) -> None:
        """Sort the patterns into an exact set, trailing-``*`` prefixes and one combined regex."""
        self.patterns = patterns
        exact: set[str] = set()
        prefixes: list[str] = []
        regexes: list[str] = []
        services: set[str] = set()
        service_globs: list[re.Pattern[str]] = []
        match_all = False
        for raw in patterns:
            low = raw.lower()
            if low == "*":
                match_all = True
                continue
            if "*" not in low and "?" not in low:
                exact.add(low)
            elif low.endswith("*") and "*" not in low[:-1] and "?" not in low:
                prefixes.append(low[:-1])
            else:
                regexes.append(_glob_source(low))
            # Without a colon a wildcard pattern ("*Object") can match actions of any service.
            service = low.split(":", 1)[0] if ":" in low else "*"
            if "*" in service or "?" in service:
                service_globs.append(_compile(_glob_source(service), False))
            else:
                services.add(service)
        self._match_all = match_all
        self._exact = frozenset(exact)
        self._prefixes = tuple(prefixes)
        self._regex = _compile("(?:" + "|".join(regexes) + ")", False) if regexes else None
        self._services = frozenset(services)
        self._service_globs = tuple(service_globs)
        self._memo: dict[str, bool] = {}  # answers (statements with the same Action share a matcher)
        self._masks: dict[tuple[str, ...], int] = {}  # ``mask`` answers

    def matches(self, action_lower: str) -> bool:
        """Whether a lowercased action name matches any pattern."""
        found = self._memo.get(action_lower)
        if found is None:
            found = (
                self._match_all
                or action_lower in self._exact
                or bool(self._prefixes and action_lower.startswith(self._prefixes))
                or (self._regex is not None and self._regex.fullmatch(action_lower) is not None)
            )
            if len(self._memo) < 4096:
                self._memo[action_lower] = found
        return found

    def mask(self, actions: tuple[str, ...]) -> int:
        """Which of ``actions`` (any case) match, as a bitset: bit ``i`` for ``actions[i]``.

        Cached per tuple: statements with the same Action share a matcher, so a policy parsed for one
        principal (an inline policy) finds the answer for a dataset type's actions already there."""
        found = self._masks.get(actions)
        if found is None:
            found = 0
            for i, action in enumerate(actions):
                if self.matches(action.lower()):
                    found |= 1 << i
            if len(self._masks) < 256:
                self._masks[actions] = found
        return found

    def could_match_service(self, service_lower: str) -> bool:
        """Whether some pattern could match an action of this service prefix."""
        if self._match_all or service_lower in self._services:
            return True
        return any(g.fullmatch(service_lower) for g in self._service_globs)

    def covers_service(self, service_lower: str) -> bool:
        """Whether the patterns match every action of the service (``*``, ``svc:*``, ``s?c:*``)."""
        if self._match_all or f"{service_lower}:" in self._prefixes:
            return True
        probe = f"{service_lower}:*"
        return self._regex is not None and any(
            p.lower().endswith(":*") and glob_match(p.lower(), probe) for p in self.patterns
        )


# --------------------------------------------------------------------------------------------- resources


class ResourcePattern:
    """One ``Resource``/``NotResource`` entry: ``*``, an exact ARN, an ARN prefix, a glob, or a template.

    "IAM JSON policy elements: Resource": ``*`` and ``?`` may appear in any ARN segment and a ``*`` expands
    past ``/`` and ``:``; we match the whole ARN as one case-sensitive glob, which is what AWS does in
    practice. Variables are substituted from the context first; a variable whose key is absent (and has
    no default) makes the pattern match nothing.
    """

    __slots__ = ("_exact", "_kind", "_prefix", "_template", "raw")

    raw: str
    _kind: int  # 0 any, 1 exact, 2 prefix, 3 glob, 4 template
    _exact: str
    _prefix: str
    _template: Template

    def __init__(self, raw: str, *, variables: bool) -> None:
        """Classify the pattern so the common cases avoid regexes."""
        self.raw = raw
        self._template = Template(raw, variables=variables)
        self._exact = raw
        self._prefix = ""
        if not self._template.is_plain:
            self._kind = 4
        elif raw == "*":
            self._kind = 0
        elif "*" not in raw and "?" not in raw:
            self._kind = 1
        elif raw.endswith("*") and "*" not in raw[:-1] and "?" not in raw:
            self._kind = 2
            self._prefix = raw[:-1]
        else:
            self._kind = 3

    @property
    def literal_prefix(self) -> str:
        """The pattern's text before its first wildcard or variable (for indexing datasets by ARN prefix)."""
        cut = len(self.raw)
        for marker in ("*", "?", "${"):
            at = self.raw.find(marker)
            if at != -1:
                cut = min(cut, at)
        return self.raw[:cut]

    def match(self, arn: str, ctx: Context | None) -> Tri:
        """Whether the ARN matches: YES, NO, or UNKNOWN when a variable's value is unknown."""
        kind = self._kind
        if kind == 0:
            return Tri.YES
        if kind == 1:
            return Tri.YES if arn == self._exact else Tri.NO
        if kind == 2:
            return Tri.YES if arn.startswith(self._prefix) else Tri.NO
        compiled = self._template.regex(ctx, "glob")
        if compiled is KeyState.ABSENT:
            return Tri.NO
        if isinstance(compiled, KeyState):
            return Tri.UNKNOWN
        return Tri.YES if compiled.fullmatch(arn) is not None else Tri.NO

    def unresolved_keys(self) -> tuple[str, ...]:
        """Variable keys in this pattern (for reasons when the match is unknown)."""
        return self._template.variable_keys()


# -------------------------------------------------------------------------------------------- principals


class PrincipalMatch(StrEnum):
    """How a resource-policy ``Principal`` names the caller ("Policy evaluation logic", resource policies).

    ``ACCOUNT`` (account id or root ARN) only delegates to the account's own IAM policies. ``DIRECT_ROLE``
    names the role ARN: limited by the role's boundary and session policy. ``DIRECT_USER``,
    ``DIRECT_SESSION`` and ``DIRECT_ANY`` (``*``) grant to the caller itself and, within one account, are
    not limited by an implicit deny elsewhere. ``DIRECT_SERVICE`` and ``DIRECT_FEDERATED`` name service
    principals and identity providers.
    """

    NONE = "none"
    ACCOUNT = "account"
    DIRECT_ROLE = "direct-role"
    DIRECT_USER = "direct-user"
    DIRECT_SESSION = "direct-session"
    DIRECT_ANY = "direct-any"
    DIRECT_SERVICE = "direct-service"
    DIRECT_FEDERATED = "direct-federated"

    @property
    def direct(self) -> bool:
        """Whether the policy names the principal itself (not just its account)."""
        return self not in (PrincipalMatch.NONE, PrincipalMatch.ACCOUNT)

    @property
    def names_caller(self) -> bool:
        """Whether the grant goes to the calling identity itself (user, session, ``*``, service, IdP)."""
        return self.direct and self is not PrincipalMatch.DIRECT_ROLE

    @property
    def rank(self) -> int:
        """Strength of the match: caller > role > account > none."""
        if self.names_caller:
            return 3
        if self is PrincipalMatch.DIRECT_ROLE:
            return 2
        return 1 if self is PrincipalMatch.ACCOUNT else 0


_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ROOT_ARN = re.compile(r"^arn:[^:]*:iam::(\d{12}):root$")
_SELF_MATCH: Final = {
    "user": PrincipalMatch.DIRECT_USER,
    "role": PrincipalMatch.DIRECT_SESSION,
    "service": PrincipalMatch.DIRECT_SERVICE,
    "federated": PrincipalMatch.DIRECT_FEDERATED,
    "root": PrincipalMatch.ACCOUNT,
}


class PrincipalSpec:
    """A compiled ``Principal`` or ``NotPrincipal`` element ("AWS JSON policy elements: Principal").

    Forms: ``"*"``, ``{"AWS": "*"}``, account ids and root ARNs, user / role / assumed-role session /
    federated-user ARNs (or the unique ids IAM leaves behind when the entity was deleted), ``Service``,
    ``Federated`` and ``CanonicalUser`` (which never matches an IAM principal). AWS forbids partial
    wildcards in principal ARNs; we glob-match them anyway, which can only widen a match.
    """

    __slots__ = ("_accounts", "_aws_exact", "_aws_globs", "_federated", "_services", "any", "canonical")

    any: bool
    canonical: bool
    _accounts: frozenset[str]
    _aws_exact: frozenset[str]
    _aws_globs: tuple[tuple[str, re.Pattern[str]], ...]
    _services: frozenset[str]
    _federated: frozenset[str]

    def __init__(self, element: str | dict[str, tuple[str, ...]]) -> None:
        """Compile a validated element: the string ``*`` or a mapping of principal type to values."""
        self.any = element == "*"
        self.canonical = False
        accounts: set[str] = set()
        exact: set[str] = set()
        globs: list[tuple[str, re.Pattern[str]]] = []
        services: set[str] = set()
        federated: set[str] = set()
        if isinstance(element, dict):
            for kind, values in element.items():
                for value in values:
                    if kind == "AWS":
                        root = _ROOT_ARN.match(value)
                        if value == "*":
                            self.any = True
                        elif _ACCOUNT_ID.match(value):
                            accounts.add(value)
                        elif root is not None:
                            accounts.add(root.group(1))
                        elif "*" in value or "?" in value:
                            globs.append((value, _compile(_glob_source(value), False)))
                        else:
                            exact.add(value)
                    elif kind == "Service":
                        services.add(value.lower())
                    elif kind == "Federated":
                        federated.add(value.lower())
                    else:  # CanonicalUser: S3 ACL grantees, never an IAM principal
                        self.canonical = True
        self._accounts = frozenset(accounts)
        self._aws_exact = frozenset(exact)
        self._aws_globs = tuple(globs)
        self._services = frozenset(services)
        self._federated = frozenset(federated)

    def _names_arn(self, arn: str) -> bool:
        if arn in self._aws_exact:
            return True
        return any(rx.fullmatch(arn) for _, rx in self._aws_globs)

    def _names_session(self, session_arn: str) -> bool:
        if self._names_arn(session_arn):
            return True
        if session_arn.endswith("/*"):
            # The attacker chooses the session name when calling sts:AssumeRole, so any listed session
            # of this role can be impersonated.
            prefix = session_arn[:-1]
            candidates = [*self._aws_exact, *(raw for raw, _ in self._aws_globs)]
            return any(c.startswith(prefix) and len(c) > len(prefix) for c in candidates)
        return False

    def chain(self, principal: RequestPrincipal) -> tuple[bool, bool | None, bool | None]:
        """Which links of the caller's identity chain are listed: (the caller itself, its role, its account).

        For a role session the caller is the session ARN, its role link the role ARN (or role id). A link
        the principal does not have (a user's role, a service's account) is None.
        """
        kind = principal.kind
        if kind in ("service", "federated"):
            if kind == "service":
                return principal.arn.lower() in self._services, None, None
            # an identity provider (Federated) or an STS federated-user ARN (AWS)
            return principal.arn.lower() in self._federated or self._names_arn(principal.arn), None, None
        account = principal.account_id in self._accounts
        if kind == "user":
            caller = self._names_arn(principal.arn) or (
                principal.user_id is not None and principal.user_id in self._aws_exact
            )
            return caller, None, account
        if kind == "role":
            caller = principal.session_arn is not None and self._names_session(principal.session_arn)
            role_id = principal.user_id.split(":", 1)[0] if principal.user_id else None
            role = self._names_arn(principal.arn) or (role_id is not None and role_id in self._aws_exact)
            return caller, role, account
        # root: the account root user is named by the account id or the root ARN
        return account or self._names_arn(principal.arn), None, account

    def match(self, principal: RequestPrincipal) -> PrincipalMatch:
        """The strongest way this element names the principal (as a ``Principal`` element)."""
        if self.any:
            return PrincipalMatch.DIRECT_ANY
        caller, role, account = self.chain(principal)
        if caller:
            return _SELF_MATCH.get(principal.kind, PrincipalMatch.DIRECT_ANY)
        if role:
            return PrincipalMatch.DIRECT_ROLE
        if account:
            return PrincipalMatch.ACCOUNT
        return PrincipalMatch.NONE
