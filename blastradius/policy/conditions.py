"""Condition operators, compiled once per statement and evaluated in three-valued (Kleene) logic.

Rules, from "IAM JSON policy elements: Condition operators" and "Creating a condition with multiple keys or
values":

* clauses are ANDed (across operators and across keys); the values listed for one key are ORed, and a
  negated operator (``StringNotEquals``, ``NotIpAddress``, ...) is true when the request value matches none
  of them;
* a key absent from the request makes a positive operator false and a negated one true, except
  ``...IfExists`` (absent → true) and ``Null`` (which tests presence);
* ``ForAllValues`` is true when every request value matches (vacuously true for an absent or empty key),
  ``ForAnyValue`` when at least one does (false for an absent or empty key);
* policy variables work only with string, ARN and Bool operators.

Unknown operators do not raise: the clause evaluates UNKNOWN with the reason "unknown condition operator X".
In attacker mode a clause on an attacker-controlled key resolves to whatever helps the key holder: true in
an Allow statement, false in a Deny statement.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from blastradius.policy.context import Choice, Context, KeyState
from blastradius.policy.match import Template, Tri

__all__ = ["Clause", "ConditionValueError", "compile_conditions"]

# Operator families. Each entry: (family, negated). ArnEquals and ArnLike behave identically.
_OPERATORS: dict[str, tuple[str, bool]] = {
    "stringequals": ("str", False),
    "stringnotequals": ("str", True),
    "stringequalsignorecase": ("stri", False),
    "stringnotequalsignorecase": ("stri", True),
    "stringlike": ("like", False),
    "stringnotlike": ("like", True),
    "arnequals": ("arn", False),
    "arnlike": ("arn", False),
    "arnnotequals": ("arn", True),
    "arnnotlike": ("arn", True),
    "numericequals": ("num=", False),
    "numericnotequals": ("num=", True),
    "numericlessthan": ("num<", False),
    "numericlessthanequals": ("num<=", False),
    "numericgreaterthan": ("num>", False),
    "numericgreaterthanequals": ("num>=", False),
    "dateequals": ("date=", False),
    "datenotequals": ("date=", True),
    "datelessthan": ("date<", False),
    "datelessthanequals": ("date<=", False),
    "dategreaterthan": ("date>", False),
    "dategreaterthanequals": ("date>=", False),
    "bool": ("bool", False),
    "binaryequals": ("bin", False),
    "ipaddress": ("ip", False),
    "notipaddress": ("ip", True),
    "null": ("null", False),
}

# How reasons read, per operator: (in an Allow: "must ...", in a Deny: "is ...").
_PHRASES: dict[str, tuple[str, str]] = {
    "stringequals": ("must equal", "equals"),
    "stringnotequals": ("must not equal", "does not equal"),
    "stringequalsignorecase": ("must equal (ignoring case)", "equals (ignoring case)"),
    "stringnotequalsignorecase": ("must not equal (ignoring case)", "does not equal (ignoring case)"),
    "stringlike": ("must match", "matches"),
    "stringnotlike": ("must not match", "does not match"),
    "arnequals": ("must match", "matches"),
    "arnlike": ("must match", "matches"),
    "arnnotequals": ("must not match", "does not match"),
    "arnnotlike": ("must not match", "does not match"),
    "numericequals": ("must equal", "equals"),
    "numericnotequals": ("must not equal", "does not equal"),
    "numericlessthan": ("must be less than", "is less than"),
    "numericlessthanequals": ("must be at most", "is at most"),
    "numericgreaterthan": ("must be greater than", "is greater than"),
    "numericgreaterthanequals": ("must be at least", "is at least"),
    "dateequals": ("must be", "is"),
    "datenotequals": ("must not be", "is not"),
    "datelessthan": ("must be before", "is before"),
    "datelessthanequals": ("must be at or before", "is at or before"),
    "dategreaterthan": ("must be after", "is after"),
    "dategreaterthanequals": ("must be at or after", "is at or after"),
    "bool": ("must be", "is"),
    "binaryequals": ("must equal (base64)", "equals (base64)"),
    "ipaddress": ("must be in", "is in"),
    "notipaddress": ("must not be in", "is not in"),
}

_VARIABLE_FAMILIES = frozenset({"str", "stri", "like", "arn", "bool"})
_NUMBER = re.compile(r"^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$")
_EPOCH = re.compile(r"^\s*-?\d+(?:\.\d+)?\s*$")
# W3C profile of ISO 8601 (YYYY, YYYY-MM, YYYY-MM-DD, ...T hh:mm[:ss[.s]] TZD) plus what fromisoformat takes.
_YEAR_MONTH = re.compile(r"^(\d{4})(?:-(\d{2}))?$")
_YEAR = re.compile(r"^\d{4}$")

Matcher = Callable[[str, Context], Tri]
_T = TypeVar("_T")


class ConditionValueError(ValueError):
    """A condition value the operator cannot use (not a number, date, CIDR, base64, true/false)."""


def parse_date(text: str) -> float | None:
    """Seconds since the epoch for an ISO 8601 date/time or an epoch-seconds string; None if neither."""
    raw = text.strip()
    if _EPOCH.match(raw) and not _YEAR.match(raw):
        return float(raw)
    try:
        ym = _YEAR_MONTH.match(raw)
        if ym is not None:
            return datetime(int(ym.group(1)), int(ym.group(2) or 1), 1, tzinfo=UTC).timestamp()
        moment = datetime.fromisoformat(raw[:-1] + "Z" if raw.endswith("z") else raw)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError):
        return None


def _parse_number(text: str) -> float | None:
    return float(text) if _NUMBER.match(text) else None


def _decode_b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def _parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    raw = text.strip()
    try:
        return ipaddress.ip_address(raw)
    except ValueError:
        net = _parse_network(raw)  # a context may carry "203.0.113.7/32"
        return net.network_address if net is not None and net.num_addresses == 1 else None


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _or(results: Sequence[Tri]) -> Tri:
    return max(results, default=Tri.NO)


def _build_matcher(family: str, values: tuple[str, ...], variables: bool) -> Matcher:
    """A function (request value, context) -> does it match any of the policy's values."""
    templates = tuple(Template(v, variables=variables and family in _VARIABLE_FAMILIES) for v in values)
    dynamic = any(t.has_variables or not t.is_plain for t in templates)

    if family in ("str", "stri", "bool"):
        fold = family != "str"
        if not dynamic:
            pool = frozenset(v.lower() if fold else v for v in values)

            def static_eq(rv: str, _ctx: Context) -> Tri:
                return Tri.YES if (rv.lower() if fold else rv) in pool else Tri.NO

            return static_eq

        def dynamic_eq(rv: str, ctx: Context) -> Tri:
            probe = rv.lower() if fold else rv
            results: list[Tri] = []
            for t in templates:
                strings = t.strings(ctx)
                if strings is KeyState.ABSENT:
                    results.append(Tri.NO)
                elif isinstance(strings, KeyState):
                    results.append(Tri.UNKNOWN)
                else:
                    hit = any((s.lower() if fold else s) == probe for s in strings)
                    results.append(Tri.YES if hit else Tri.NO)
                    if hit:
                        break
            return _or(results)

        return dynamic_eq

    if family in ("like", "arn"):
        flavor = "arn" if family == "arn" else "glob"

        def like(rv: str, ctx: Context) -> Tri:
            results: list[Tri] = []
            for t in templates:
                compiled = t.regex(ctx, flavor)
                if compiled is KeyState.ABSENT:
                    results.append(Tri.NO)
                elif isinstance(compiled, KeyState):
                    results.append(Tri.UNKNOWN)
                elif compiled.fullmatch(rv) is not None:
                    return Tri.YES
            return _or(results)

        return like

    if family.startswith(("num", "date")):
        is_date = family.startswith("date")
        compare = _COMPARE[family[4:] if is_date else family[3:]]
        parse = parse_date if is_date else _parse_number
        bounds = _parse_each(values, parse, "a date (ISO 8601 or epoch seconds)" if is_date else "a number")

        def ordered(rv: str, _ctx: Context) -> Tri:
            got = parse(rv)
            if got is None:
                return Tri.NO
            return Tri.YES if any(compare(got, b) for b in bounds) else Tri.NO

        return ordered

    if family == "bin":
        blobs = frozenset(_parse_each(values, _decode_b64, "base64"))

        def binary(rv: str, _ctx: Context) -> Tri:
            got = _decode_b64(rv)
            return Tri.YES if got is not None and got in blobs else Tri.NO

        return binary

    # family == "ip"
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = _parse_each(
        values, _parse_network, "an IP address or CIDR block"
    )

    def ip(rv: str, _ctx: Context) -> Tri:
        addr = _parse_address(rv)
        if addr is None:
            return Tri.NO
        return Tri.YES if any(addr.version == n.version and addr in n for n in networks) else Tri.NO

    return ip


def _parse_each(values: tuple[str, ...], parse: Callable[[str], _T | None], what: str) -> list[_T]:
    """Parse every policy value or raise ConditionValueError naming the first that is not ``what``."""
    out: list[_T] = []
    for v in values:
        parsed = parse(v)
        if parsed is None:
            raise ConditionValueError(f"{v!r} is not {what}")
        out.append(parsed)
    return out


class Clause:
    """One (operator, key, values) test of a ``Condition`` block, ready to evaluate against a context."""

    __slots__ = (
        "_absent",
        "_match",
        "_null_present",
        "base",
        "family",
        "if_exists",
        "key",
        "key_lower",
        "negated",
        "operator",
        "qualifier",
        "values",
    )

    operator: str
    key: str
    key_lower: str
    values: tuple[str, ...]
    base: str  # lowercased operator name without qualifier and IfExists; "" when unknown
    family: str  # "" when the operator is unknown
    qualifier: str  # "", "forallvalues", "foranyvalue"
    if_exists: bool
    negated: bool
    _absent: Tri
    _null_present: Tri
    _match: Matcher | None

    def __init__(self, operator: str, key: str, values: tuple[str, ...], *, variables: bool) -> None:
        """Compile one clause; raise :class:`ConditionValueError` for a value the operator cannot use."""
        self.operator = operator
        self.key = key
        self.key_lower = key.lower()
        self.values = values
        name = operator.lower()
        qualifier, _, rest = name.rpartition(":")
        self.qualifier = qualifier
        self._null_present = Tri.NO
        self.if_exists = rest.endswith("ifexists") and rest != "ifexists"
        base = rest[: -len("ifexists")] if self.if_exists else rest
        entry = _OPERATORS.get(base) if qualifier in ("", "forallvalues", "foranyvalue") else None
        if entry is None or (base == "null" and (self.if_exists or qualifier)):
            self.base, self.family, self.negated, self._match = "", "", False, None
            self._absent = Tri.UNKNOWN
            return
        self.base = base
        self.family, self.negated = entry
        if self.family == "null":
            flags = {v.strip().lower() for v in values}
            if not flags or not flags <= {"true", "false"}:
                raise ConditionValueError("Null takes 'true' or 'false'")
            self._match = None
            # Null: "true" asks for the key to be absent, "false" for it to be present; values are ORed.
            self._absent = Tri.YES if "true" in flags else Tri.NO
            self._null_present = Tri.YES if "false" in flags else Tri.NO
            return
        self._match = _build_matcher(self.family, values, variables)
        if self.if_exists or qualifier == "forallvalues":
            self._absent = Tri.YES
        elif qualifier == "foranyvalue":
            self._absent = Tri.NO
        else:
            self._absent = Tri.YES if self.negated else Tri.NO

    @property
    def known_operator(self) -> bool:
        """Whether the operator is one this engine implements."""
        return bool(self.family)

    def evaluate(self, ctx: Context, *, deny: bool) -> Tri:
        """YES / NO / UNKNOWN for this request context; ``deny`` says the statement's effect is Deny."""
        found = ctx.lookup_lower(self.key_lower)
        if found is KeyState.ATTACKER:
            # DESIGN.md §4: the key holder picks the value that helps them.
            return Tri.NO if deny else Tri.YES
        if isinstance(found, Choice):
            # The key holder picks among a few options the one that helps them (see Choice).
            answers = [self._on(KeyState.ABSENT if o is None else o, ctx) for o in found.options]
            return min(answers) if deny else max(answers)
        return self._on(found, ctx)

    def _on(self, found: tuple[str, ...] | KeyState, ctx: Context) -> Tri:
        """``evaluate`` once the key's values (or state) are known."""
        if not self.family or found is KeyState.UNKNOWN:
            return Tri.UNKNOWN
        if found is KeyState.ABSENT or not isinstance(found, tuple) or not found:
            return self._absent
        if self.family == "null":
            return self._null_present
        match = self._match
        assert match is not None
        per_value = [match(rv, ctx) for rv in found]
        if self.qualifier == "forallvalues":
            passes = [Tri(2 - t) for t in per_value] if self.negated else per_value
            return min(passes)
        if self.qualifier == "foranyvalue":
            passes = [Tri(2 - t) for t in per_value] if self.negated else per_value
            return max(passes)
        hit = max(per_value)
        return Tri(2 - hit) if self.negated else hit

    def _null_flags(self) -> set[str]:
        return {v.strip().lower() for v in self.values}

    def describe(self, *, deny: bool) -> str:
        """The clause in words: "aws:SourceIp must be in 203.0.113.0/24" (Allow) or "... is in ..." (Deny)."""
        if not self.family:
            shown = ", ".join(self.values)
            return f"unknown condition operator {self.operator} on {self.key} ({shown})"
        if self.qualifier == "forallvalues":
            subject = f"every value of {self.key}"
        elif self.qualifier == "foranyvalue":
            subject = f"at least one value of {self.key}"
        else:
            subject = self.key
        if self.family == "null":
            absent_wanted = self._absent is Tri.YES
            if len(self._null_flags()) > 1:
                return f"{subject} may be absent or present"
            verb = ("is absent" if absent_wanted else "is present") if deny else None
            return f"{subject} {verb or ('must be absent' if absent_wanted else 'must be present')}"
        must, is_ = _PHRASES[self.base]
        if len(self.values) == 1:
            shown = self.values[0]
        else:
            shown = ("any of [" if self.negated else "one of [") + ", ".join(self.values) + "]"
        suffix = " (if present)" if self.if_exists else ""
        return f"{subject} {is_ if deny else must} {shown}{suffix}"


def _condition_values(raw: Any) -> tuple[str, ...] | None:
    """Normalise a condition value (string, bool, number, or a list of them) to strings; None if invalid."""
    items = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, str):
            out.append(item)
        elif isinstance(item, int | float):
            if item != item or item in (float("inf"), float("-inf")):
                return None
            out.append(str(item))
        else:
            return None
    return tuple(out)


def compile_conditions(raw: Any, *, variables: bool) -> tuple[Clause, ...]:
    """Compile a ``Condition`` block; raise ``ValueError`` (with the offending operator/key) if malformed."""
    if not isinstance(raw, Mapping):
        raise ValueError("Condition must be an object of {operator: {key: value(s)}}")
    clauses: list[Clause] = []
    for operator, block in raw.items():
        if not isinstance(operator, str) or not operator:
            raise ValueError("Condition operator must be a non-empty string")
        if not isinstance(block, Mapping) or not block:
            raise ValueError(f"Condition operator {operator} must map condition keys to values")
        for key, value in block.items():
            if not isinstance(key, str) or not key.strip():
                raise ValueError(f"Condition operator {operator} has an empty condition key")
            values = _condition_values(value)
            if values is None:
                raise ValueError(
                    f"Condition {operator} {key}: values must be strings, booleans or numbers (or a list)"
                )
            try:
                clauses.append(Clause(operator, key, values, variables=variables))
            except ConditionValueError as exc:
                raise ValueError(f"Condition {operator} {key}: {exc}") from exc
    return tuple(clauses)
