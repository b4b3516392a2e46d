"""Rule packs: the TOML files in ``policies/`` that hold what blastradius knows, loaded and validated.

Knowledge is data (STYLE.md §8): which actions count as read/write/admin per data store
(``datastores.toml``), what makes a dataset sensitive (``sensitivity.toml``) and the incident runbook
(``rotation.toml``) are TOML a responder can read and change without touching Python. The packs ship in
the wheel as ``blastradius/_policies`` (``pyproject.toml`` force-include); an editable checkout reads
the repository's ``policies/``. ``--policies DIR`` replaces a shipped pack file by file: a
``sensitivity.toml`` in DIR is used instead of the shipped one, the others stay.

Every pack is validated on load, fail-closed: an unknown key, a wrong type or an unknown level is a
``RulePackError`` naming the file, the line and the field, never a silently ignored rule.
"""

from __future__ import annotations

import importlib.resources
import re
import string
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blastradius.errors import RulePackError
from blastradius.model import COMPUTE_TYPES, DATASET_TYPES
from blastradius.report import LEVELS, SENSITIVITIES

if TYPE_CHECKING:
    from blastradius.escalation import EscalationPack

SENSITIVITY_PACK = "sensitivity.toml"
DATASTORES_PACK = "datastores.toml"
ROTATION_PACK = "rotation.toml"
ESCALATION_PACK = "escalation.toml"  # loaded by the escalation stage; known here so --policies accepts it
KNOWN_PACKS = (SENSITIVITY_PACK, DATASTORES_PACK, ROTATION_PACK, ESCALATION_PACK)

FieldPath = tuple[str | int, ...]


# --------------------------------------------------------------------------------------------------
# Finding and reading pack files


def default_policies_dir() -> Traversable | Path:
    """Where the shipped packs are: the wheel's ``blastradius/_policies``, else the checkout's ``policies/``.

    Hatch's force-include only applies when a wheel is built; an editable checkout reads the
    repository's ``policies/`` directly.
    """
    shipped = importlib.resources.files("blastradius") / "_policies"
    if shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parent.parent / "policies"


@dataclass(frozen=True, slots=True, kw_only=True)
class PackFile:
    """One rule pack's text and parsed TOML, with what it takes to point at a line in it."""

    name: str  # e.g. "sensitivity.toml"
    origin: str  # where it was read from (a path), for messages
    text: str
    data: Mapping[str, Any]
    lines: Mapping[FieldPath, int] = field(default_factory=dict)

    def line_of(self, path: FieldPath) -> int:
        """Line of the deepest table or key of ``path`` found in the text (best effort; 1 if none)."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1

    def error(self, path: FieldPath, message: str, *, hint: str | None = None) -> RulePackError:
        """A ``RulePackError`` naming this file, the line of ``path`` and the field."""
        where = format_field(path)
        return RulePackError(
            f"{self.origin}:{self.line_of(path)}: {where + ': ' if where else ''}{message}",
            hint=hint
            or f"Fix the rule pack {self.name} (or remove it from the --policies directory to use "
            "the shipped one).",
        )


def format_field(path: FieldPath) -> str:
    """``("rule", 2, "level")`` → ``field rule[2].level`` (0-based indices, as in the TOML arrays)."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return f"field {text}" if text else ""


def read_pack(name: str, override_dir: Path | None = None) -> PackFile:
    """Read and parse one pack: ``override_dir/name`` if it exists, else the shipped one."""
    if override_dir is not None:
        candidate = override_dir / name
        if candidate.is_file():
            return _parse_pack(name, str(candidate), _read_text(candidate, str(candidate)))
    shipped = default_policies_dir() / name
    if not shipped.is_file():
        raise RulePackError(
            f"the shipped rule pack {name} is missing (looked in {default_policies_dir()})",
            hint="The installation is incomplete: reinstall blastradius, or pass --policies DIR "
            f"with a {name}.",
        )
    return _parse_pack(name, str(shipped), _read_text(shipped, str(shipped)))


def check_override_dir(override_dir: Path) -> None:
    """Refuse a ``--policies`` directory that does not exist or holds a pack name we do not know.

    A misspelt file name (``sensitivty.toml``) would otherwise be ignored and the shipped pack used,
    which is exactly the silent surprise a responder cannot afford.
    """
    if not override_dir.is_dir():
        raise RulePackError(
            f"--policies {override_dir}: not a directory",
            hint="Pass a directory holding one or more of: " + ", ".join(KNOWN_PACKS),
        )
    unknown = sorted(p.name for p in override_dir.glob("*.toml") if p.name not in KNOWN_PACKS)
    if unknown:
        raise RulePackError(
            f"--policies {override_dir}: unknown rule pack(s) {', '.join(unknown)}",
            hint="Rule pack files are named " + ", ".join(KNOWN_PACKS) + "; a file replaces the "
            "shipped pack of the same name.",
        )


def _read_text(path: Traversable | Path, origin: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise RulePackError(f"{origin}: cannot read the rule pack ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise RulePackError(f"{origin}: not UTF-8 text (byte {e.start})") from e


_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def _parse_pack(name: str, origin: str, text: str) -> PackFile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # Python 3.14 adds lineno/colno; 3.11-3.13 only put the position in the message.
        line = getattr(e, "lineno", None)
        col = getattr(e, "colno", None)
        message = str(e)
        found = _TOML_POSITION.search(message)
        if line is None and found:
            line, col = int(found.group(1)), int(found.group(2))
        message = _TOML_POSITION.sub("", message).strip()
        raise RulePackError(
            f"{origin}:{line or 1}:{col or 1}: not valid TOML ({message})",
            hint=f"Fix the TOML syntax of {name} at that position.",
        ) from e
    return PackFile(name=name, origin=origin, text=text, data=data, lines=_index_lines(text))


# A TOML key: bare, or quoted, dotted.
_KEY_PART = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_KEY_LINE = re.compile(rf"^\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=(.*)$")
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*\]\]?")
_SPLIT_KEY = re.compile(_KEY_PART)


def _key_names(key: str) -> tuple[str, ...]:
    return tuple(p.strip("\"'") for p in _SPLIT_KEY.findall(key))


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')


def _index_lines(text: str) -> dict[FieldPath, int]:
    """Map table, key and array-element paths to their line numbers, for error messages.

    Arrays of tables are indexed like the parsed data (``[[rule]]`` number 3 is ``("rule", 2)``), so
    a semantic error found in ``data["rule"][2]["level"]`` points at the right line; so are the
    string elements of arrays (``("rule", 2, "terms", 4)``). Best effort: it understands headers,
    (dotted) keys, arrays of strings and multi-line strings, which is what rule packs use.
    """
    index: dict[FieldPath, int] = {}
    latest: dict[FieldPath, int] = {}  # array-of-tables path -> index of its latest element
    current: FieldPath = ()
    in_string: str | None = None
    array: FieldPath | None = None  # the array value being read, across lines
    depth = elements = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        if in_string is not None:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        if array is not None:
            depth, elements = _scan_array(line, array, depth, elements, lineno, index)
            if depth <= 0:
                array = None
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        header = _HEADER.match(line)
        if header:
            names = _key_names(header.group(2))
            path: FieldPath = ()
            for i, name in enumerate(names):
                path = (*path, name)
                if i < len(names) - 1 and path in latest:
                    path = (*path, latest[path])
            if header.group(1) == "[[":
                latest[path] = latest.get(path, -1) + 1
                path = (*path, latest[path])
            current = path
            index.setdefault(current, lineno)
            continue
        key = _KEY_LINE.match(line)
        if key:
            path = (*current, *_key_names(key.group(1)))
            index.setdefault(path, lineno)
            value = key.group(2)
            if value.lstrip().startswith("["):
                depth, elements = _scan_array(value, path, 0, 0, lineno, index)
                array = path if depth > 0 else None
                continue
            for quote in ('"""', "'''"):
                if value.count(quote) % 2 == 1:
                    in_string = quote
                    break
    return index


def _scan_array(
    line: str, path: FieldPath, depth: int, elements: int, lineno: int, index: dict[FieldPath, int]
) -> tuple[int, int]:
    """Record the line of each string element of an array on ``line``; return the new depth and count."""
    for _ in _STRING.findall(line):
        index.setdefault((*path, elements), lineno)
        elements += 1
    bare = _STRING.sub("", line).split("#", 1)[0]
    return depth + bare.count("[") - bare.count("]"), elements


class PackReader:
    """Typed, fail-closed access to a parsed pack: each accessor raises ``RulePackError`` at the field."""

    def __init__(self, pack: PackFile) -> None:
        self.pack = pack

    def error(self, path: FieldPath, message: str) -> RulePackError:
        """An error at ``path`` of this pack."""
        return self.pack.error(path, message)

    def table(
        self,
        value: object,
        path: FieldPath,
        *,
        allowed: Iterable[str] | None = None,
        required: Iterable[str] = (),
    ) -> Mapping[str, Any]:
        """A TOML table; with ``allowed``, any other key is an error (a typo must not be ignored)."""
        if not isinstance(value, dict):
            raise self.error(path, f"expected a table, found {_describe(value)}")
        if allowed is not None:
            allowed_set = set(allowed)
            for key in value:
                if key not in allowed_set:
                    raise self.error(
                        (*path, key), f"unknown key (allowed here: {', '.join(sorted(allowed_set))})"
                    )
        for key in required:
            if key not in value:
                raise self.error(path, f"required key {key!r} is missing")
        return value

    def tables(self, value: object, path: FieldPath) -> list[tuple[FieldPath, Any]]:
        """An array of tables (``[[x]]``), as (path, item) pairs."""
        if not isinstance(value, list):
            raise self.error(path, f"expected an array of tables ([[{path[-1]}]]), found {_describe(value)}")
        return [((*path, i), item) for i, item in enumerate(value)]

    def string(
        self, value: object, path: FieldPath, *, choices: Iterable[str] | None = None, empty: bool = False
    ) -> str:
        """A string, optionally one of ``choices``; empty only if ``empty``."""
        if not isinstance(value, str):
            raise self.error(path, f"expected a string, found {_describe(value)}")
        if not empty and not value.strip():
            raise self.error(path, "must not be empty")
        if choices is not None:
            options = tuple(choices)
            if value not in options:
                raise self.error(path, f"expected one of {', '.join(options)}, found {value!r}")
        return value

    def strings(
        self,
        value: object,
        path: FieldPath,
        *,
        choices: Iterable[str] | None = None,
        nonempty: bool = True,
    ) -> tuple[str, ...]:
        """An array of non-empty strings (a single string is not accepted: say what you mean)."""
        if not isinstance(value, list):
            raise self.error(path, f"expected an array of strings, found {_describe(value)}")
        if nonempty and not value:
            raise self.error(path, "must not be an empty array")
        options = tuple(choices) if choices is not None else None
        return tuple(self.string(v, (*path, i), choices=options) for i, v in enumerate(value))

    def boolean(self, value: object, path: FieldPath) -> bool:
        """A boolean."""
        if not isinstance(value, bool):
            raise self.error(path, f"expected true or false, found {_describe(value)}")
        return value

    def template(self, value: object, path: FieldPath, *, variables: Iterable[str]) -> str:
        """A ``str.format`` template whose placeholders are all among ``variables``."""
        text = self.string(value, path)
        check_template(text, variables, lambda message: self.error(path, message))
        return text


def check_template(text: str, variables: Iterable[str], error: Callable[[str], Exception]) -> None:
    """Raise ``error(message)`` if ``text`` is not a template over ``variables`` (no attributes, no index)."""
    allowed = set(variables)
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:
        raise error(f"not a valid template ({e}); write a literal brace as {{{{ or }}}}") from e
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in allowed:
            raise error(
                f"unknown placeholder {{{name}}} (known here: "
                + ", ".join("{" + v + "}" for v in sorted(allowed))
                + ")"
            )
        if spec or conversion:
            raise error(f"placeholder {{{name}}} must not have a format spec or conversion")


def _describe(value: object) -> str:
    kind = {dict: "a table", list: "an array", str: "a string", bool: "a boolean"}.get(type(value))
    return f"{kind or type(value).__name__} {value!r:.60}"


# --------------------------------------------------------------------------------------------------
# datastores.toml: which actions mean list / read / write / admin, on which resource ARNs

_RESOURCE_PLACEHOLDERS = ("arn", "arn_ancestors")


@dataclass(frozen=True, slots=True, kw_only=True)
class DatastoreType:
    """The access classes of one dataset type."""

    type: str
    service: str
    resources: Mapping[str, str]  # resource kind -> ARN template ("{arn}", "{arn}/*", ...)
    levels: Mapping[str, Mapping[str, tuple[str, ...]]]  # level -> resource kind -> actions
    kms: Mapping[str, tuple[str, ...]]  # level -> KMS actions needed on the dataset's customer key


@dataclass(frozen=True, slots=True, kw_only=True)
class DatastoreActions:
    """``datastores.toml``: per dataset type, which IAM actions mean list/read/write/admin, and where.

    IAM action names are case-insensitive; lookups here are too, and results use the pack's spelling.
    """

    types: Mapping[str, DatastoreType]
    # type -> lower-cased action -> (level, resource kinds); built once for ``level_of``/``resource_arns``.
    _by_action: Mapping[str, Mapping[str, tuple[str, tuple[str, ...]]]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        by_action: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {}
        for name, spec in self.types.items():
            index: dict[str, tuple[str, tuple[str, ...]]] = {}
            for level, kinds in spec.levels.items():
                for kind, actions in kinds.items():
                    for action in actions:
                        previous = index.get(action.lower(), (level, ()))
                        index[action.lower()] = (level, (*previous[1], kind))
            by_action[name] = index
        object.__setattr__(self, "_by_action", by_action)  # frozen: set once, here

    def spec(self, dataset_type: str) -> DatastoreType:
        """The entry of ``dataset_type``; a type the pack does not describe is an error, not 'no access'."""
        try:
            return self.types[dataset_type]
        except KeyError:
            raise RulePackError(
                f"{DATASTORES_PACK} has no entry for dataset type {dataset_type!r} "
                f"(it describes {', '.join(sorted(self.types))})",
                hint=f"Add a [{dataset_type}] table to {DATASTORES_PACK}.",
            ) from None

    def actions_for(self, dataset_type: str, level: str) -> tuple[str, ...]:
        """Every action that grants ``level`` on a dataset of ``dataset_type``, in pack order, unique."""
        kinds = self.spec(dataset_type).levels.get(level, {})
        return tuple(dict.fromkeys(a for actions in kinds.values() for a in actions))

    def level_of(self, dataset_type: str, action: str) -> str | None:
        """The level an action grants on ``dataset_type`` (None if the pack does not list it)."""
        self.spec(dataset_type)
        found = self._by_action[dataset_type].get(action.lower())
        return found[0] if found else None

    def resource_arns(self, dataset_type: str, dataset_arn: str, level_or_action: str) -> tuple[str, ...]:
        """The ARNs an action (``s3:GetObject``) or a whole level (``read``) is evaluated on.

        An action grants its level if allowed on ANY of the returned ARNs (``dynamodb:Query`` on the
        table or on one of its indexes; ``ssm:GetParametersByPath`` on any ancestor path).
        """
        spec = self.spec(dataset_type)
        if ":" in level_or_action:
            found = self._by_action[dataset_type].get(level_or_action.lower())
            kinds: Iterable[str] = found[1] if found else ()
        else:
            kinds = spec.levels.get(level_or_action, {}).keys()
        arns: dict[str, None] = {}
        for kind in kinds:
            for arn in expand_resource(spec.resources[kind], dataset_arn):
                arns[arn] = None
        return tuple(arns)

    def kms_actions(self, dataset_type: str, level: str) -> tuple[str, ...]:
        """KMS actions ``level`` also needs on the dataset's customer managed key, when it has one."""
        return self.spec(dataset_type).kms.get(level, ())

    def needs_decrypt(self, dataset_type: str, level: str) -> bool:
        """Whether ``level`` also needs ``kms:Decrypt`` on the dataset's customer managed key (if any)."""
        return any(a.lower() == "kms:decrypt" for a in self.kms_actions(dataset_type, level))


def expand_resource(template: str, dataset_arn: str) -> tuple[str, ...]:
    """Fill a resource template: ``{arn}``, or ``{arn_ancestors}`` (each ancestor path of the resource).

    ``{arn_ancestors}`` of ``arn:aws:ssm:r:a:parameter/prod/db/password`` is
    ``…:parameter/prod/db`` and ``…:parameter/prod``: the resources ``ssm:GetParametersByPath`` is
    authorised on when it returns that parameter.
    """
    if template == "{arn_ancestors}":
        head, sep, resource = dataset_arn.rpartition(":")
        parts = resource.split("/")
        return tuple(f"{head}{sep}{'/'.join(parts[:n])}" for n in range(len(parts) - 1, 1, -1))
    return (template.replace("{arn}", dataset_arn),)


def _parse_datastores(pack: PackFile) -> DatastoreActions:
    r = PackReader(pack)
    types: dict[str, DatastoreType] = {}
    for name, raw in pack.data.items():
        path: FieldPath = (name,)
        if name not in DATASET_TYPES:
            raise r.error(path, f"unknown dataset type (known: {', '.join(DATASET_TYPES)})")
        table = r.table(
            raw,
            path,
            allowed=("service", "description", "resources", "levels", "kms"),
            required=("service", "resources", "levels"),
        )
        service = r.string(table["service"], (*path, "service"))
        resources: dict[str, str] = {}
        for kind, template in r.table(table["resources"], (*path, "resources")).items():
            at = (*path, "resources", kind)
            text = r.template(template, at, variables=_RESOURCE_PLACEHOLDERS)
            if "{arn_ancestors}" in text and text != "{arn_ancestors}":
                raise r.error(at, "{arn_ancestors} must be the whole template")
            resources[kind] = text
        levels: dict[str, dict[str, tuple[str, ...]]] = {}
        seen: dict[str, FieldPath] = {}
        for level, kinds in r.table(table["levels"], (*path, "levels"), allowed=LEVELS).items():
            levels[level] = {}
            for kind, actions in r.table(kinds, (*path, "levels", level)).items():
                at = (*path, "levels", level, kind)
                if kind not in resources:
                    raise r.error(at, f"resource kind {kind!r} is not defined in [{name}.resources]")
                parsed = r.strings(actions, at)
                for i, action in enumerate(parsed):
                    _check_action(r, action, (*at, i), service)
                    other = seen.get(action.lower())
                    if other is not None and other[:3] != at[:3]:
                        raise r.error((*at, i), f"{action} is already listed under {format_field(other)}")
                    seen[action.lower()] = at
                levels[level][kind] = parsed
        kms: dict[str, tuple[str, ...]] = {}
        for level, actions in r.table(table.get("kms", {}), (*path, "kms"), allowed=LEVELS).items():
            at = (*path, "kms", level)
            kms[level] = r.strings(actions, at)
            for i, action in enumerate(kms[level]):
                _check_action(r, action, (*at, i), "kms")
        types[name] = DatastoreType(type=name, service=service, resources=resources, levels=levels, kms=kms)
    missing = [t for t in DATASET_TYPES if t not in types]
    if missing:
        raise r.error((), f"no entry for dataset type(s) {', '.join(missing)}")
    return DatastoreActions(types=types)


_ACTION = re.compile(r"^([a-z0-9-]+):([A-Za-z0-9]+)$")


def _check_action(r: PackReader, action: str, path: FieldPath, service: str) -> None:
    found = _ACTION.match(action)
    if not found:
        raise r.error(path, f"{action!r} is not an IAM action name like s3:GetObject (no wildcards)")
    if found.group(1) != service:
        raise r.error(path, f"{action} is not a {service}: action")


# --------------------------------------------------------------------------------------------------
# sensitivity.toml: what makes a dataset sensitive

# What each kind of rule matches, and the placeholders its reason template may use.
SENSITIVITY_TARGETS: Mapping[str, tuple[str, ...]] = {
    "name": ("term", "name"),
    "description": ("term",),
    "field": ("term", "field"),
    "object_key": ("term", "key", "extension"),
    "tag": ("term", "tag", "value"),
    "detail": ("term", "detail", "value"),
    "type": ("type",),
    # Names of compute environment variables (never their values): Lambda, CodeBuild, ECS.
    "env_var": ("term", "var"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SensitivityRule:
    """One rule: where it looks (``on``), what it looks for, the level it implies and the reason it prints.

    ``terms`` are word sequences matched on tokens (``customer number`` matches ``customer_number``,
    ``customerNumber``, ``Customer-Number``; a trailing ``s``/``es`` is allowed, so ``card`` matches
    ``cards`` but never ``discard``). ``keys`` name the tags (``on = "tag"``) or detail fields
    (``on = "detail"``) to look at; ``["*"]`` means any tag. ``extensions`` (object keys) must end the
    key; with ``terms`` as well, both must match.
    """

    id: str
    on: str
    level: str
    reason: str
    terms: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    types: tuple[str, ...] = ()  # dataset types it applies to; empty = all
    credential_pivot: bool = False
    personal_data: bool = False
    line: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SensitivityRules:
    """``sensitivity.toml``: the rules in pack order (``classify`` compiles them once)."""

    rules: tuple[SensitivityRule, ...]
    origin: str = SENSITIVITY_PACK


_SENSITIVITY_RULE_KEYS = (
    "id",
    "on",
    "level",
    "reason",
    "terms",
    "keys",
    "extensions",
    "types",
    "credential_pivot",
    "personal_data",
    "description",
)


def _parse_sensitivity(pack: PackFile) -> SensitivityRules:
    r = PackReader(pack)
    r.table(pack.data, (), allowed=("rule",), required=("rule",))
    rules: list[SensitivityRule] = []
    ids: dict[str, FieldPath] = {}
    for path, raw in r.tables(pack.data["rule"], ("rule",)):
        table = r.table(raw, path, allowed=_SENSITIVITY_RULE_KEYS, required=("id", "on", "level", "reason"))
        rule_id = r.string(table["id"], (*path, "id"))
        if rule_id in ids:
            raise r.error(
                (*path, "id"), f"duplicate rule id {rule_id!r} (first at line {pack.line_of(ids[rule_id])})"
            )
        ids[rule_id] = path
        on = r.string(table["on"], (*path, "on"), choices=SENSITIVITY_TARGETS)
        level = r.string(table["level"], (*path, "level"), choices=SENSITIVITIES)
        reason = r.template(table["reason"], (*path, "reason"), variables=SENSITIVITY_TARGETS[on])
        terms = r.strings(table["terms"], (*path, "terms")) if "terms" in table else ()
        keys = r.strings(table["keys"], (*path, "keys")) if "keys" in table else ()
        extensions = r.strings(table["extensions"], (*path, "extensions")) if "extensions" in table else ()
        kinds = COMPUTE_TYPES if on == "env_var" else DATASET_TYPES
        types = r.strings(table["types"], (*path, "types"), choices=kinds) if "types" in table else ()
        for i, ext in enumerate(extensions):
            if not ext.startswith("."):
                raise r.error((*path, "extensions", i), f"an extension starts with a dot, found {ext!r}")
        for i, term in enumerate(terms):
            if not any(c.isalnum() for c in term):
                raise r.error((*path, "terms", i), f"a term needs letters or digits, found {term!r}")
        # Which keys each kind of rule needs and accepts.
        needs = {
            "name": ("terms",),
            "description": ("terms",),
            "field": ("terms",),
            "tag": ("keys", "terms"),
            "detail": ("keys", "terms"),
            "type": ("types",),
            "object_key": (),
            "env_var": ("terms",),
        }[on]
        for key in needs:
            if key not in table:
                raise r.error(path, f"a rule on {on!r} needs {key!r}")
        if on == "object_key" and not terms and not extensions:
            raise r.error(path, "a rule on 'object_key' needs 'terms', 'extensions' or both")
        if keys and on not in ("tag", "detail"):
            raise r.error((*path, "keys"), "'keys' only applies to rules on 'tag' or 'detail'")
        if extensions and on != "object_key":
            raise r.error((*path, "extensions"), "'extensions' only applies to rules on 'object_key'")
        if terms and on == "type":
            raise r.error((*path, "terms"), "a rule on 'type' matches by 'types' alone")
        rules.append(
            SensitivityRule(
                id=rule_id,
                on=on,
                level=level,
                reason=reason,
                terms=terms,
                keys=keys,
                extensions=tuple(e.lower() for e in extensions),
                types=types,
                credential_pivot=r.boolean(table.get("credential_pivot", False), (*path, "credential_pivot")),
                personal_data=r.boolean(table.get("personal_data", False), (*path, "personal_data")),
                line=pack.line_of(path),
            )
        )
    return SensitivityRules(rules=tuple(rules), origin=pack.origin)


# --------------------------------------------------------------------------------------------------
# rotation.toml: the runbook templates

ROTATION_PHASES = ("contain", "investigate", "eradicate", "recover", "notify")

# Placeholders every template may use (remediate.py fills them; tests check both sides agree).
ROTATION_VARIABLES = (
    "key_id",
    "compromised_description",
    "narrowed_policy_json",
    "seen_action_count",
    "key_kind",
    "key_status",
    "user_name",
    "principal_arn",
    "owner",
    "account_id",
    "partition",
    "iam_region",
    "now",
    "since",
    "since_source",
    "deny_policy_name",
    "deny_policy_json",
    "compromised_tag_key",
    "incident_tag_key",
    "regions_words",
    "role_count",
    "secret_count",
    "parameter_count",
    "personal_dataset_count",
    "dataset_count",
    "escalation_count",
    "gap_count",
)
# for_each collections and the extra placeholders each item brings.
ROTATION_COLLECTIONS: Mapping[str, tuple[str, ...]] = {
    "region": ("region",),
    "role": ("role_name", "role_arn", "role_account", "role_via"),
    "other_user": ("other_user_name", "other_user_arn"),
    "secret": ("secret_arn", "secret_name", "region", "access"),
    "parameter": ("parameter_name", "parameter_arn", "region", "access"),
    "kms_admin": ("kms_key_arn", "kms_key_name", "region"),
    "personal_dataset": (
        "dataset_name",
        "dataset_type",
        "dataset_arn",
        "region",
        "records",
        "reasons",
        "sensitivity",
        "certainty",
        "access",
    ),
    "pivot_object": ("dataset_name", "dataset_type", "dataset_arn", "region", "reasons"),
    # Compute whose environment variable names look like credentials, per type (their commands differ).
    "lambda_pivot": ("resource_name", "resource_arn", "region", "env_names", "reader"),
    "codebuild_pivot": ("resource_name", "resource_arn", "region", "env_names", "reader"),
    "ecs_pivot": ("resource_name", "resource_arn", "region", "env_names", "reader"),
    "escalation_event": ("event_name", "event_regions", "technique"),
    "escalation_check": ("check_command", "technique"),
    "gap": ("gap",),
    "seen_action": ("seen_action", "seen_resources"),
    "created_key": ("created_key_user", "created_key_id"),
    "persistence_event": ("persistence_time", "persistence_event", "persistence_target"),
}
# Conditions a step, command or detail can require (all must hold).
ROTATION_CONDITIONS = (
    "long_term_key",
    "session_key",
    "user_known",
    "owner_unknown",
    "exposure_known",
    "exposure_unknown",
    "coverage_complete",
    "coverage_incomplete",
    *(f"has_{c}" for c in ROTATION_COLLECTIONS),
    *(f"no_{c}" for c in ROTATION_COLLECTIONS),
)
# What ``rotate --apply`` may execute for a step (``automate = "..."``): see blastradius.apply.
ROTATION_AUTOMATIONS = ("deactivate-key", "deny-old-sessions", "tag-compromised")
# Settings remediate.py reads from [settings].
ROTATION_SETTINGS = ("deny_policy_name", "compromised_tag_key", "incident_tag_key")


@dataclass(frozen=True, slots=True, kw_only=True)
class LineTemplate:
    """A command or detail line: rendered once, or once per item of ``for_each``, if ``when`` holds."""

    text: str
    for_each: str | None = None
    when: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StepTemplate:
    """One runbook step; omitted when ``when`` does not hold."""

    id: str
    phase: str
    title: str
    why: str
    when: tuple[str, ...] = ()
    commands: tuple[LineTemplate, ...] = ()
    details: tuple[LineTemplate, ...] = ()
    automate: str | None = None  # one of ROTATION_AUTOMATIONS: rotate --apply executes this step


@dataclass(frozen=True, slots=True, kw_only=True)
class RotationTemplates:
    """``rotation.toml``: settings, CloudTrail event names of escalation actions, and the steps in order."""

    steps: tuple[StepTemplate, ...]
    settings: Mapping[str, str]
    # IAM action -> CloudTrail event name ("" = the action leaves no management event, e.g. iam:PassRole).
    cloudtrail_events: Mapping[str, str] = field(default_factory=dict)
    origin: str = ROTATION_PACK


def _parse_rotation(pack: PackFile) -> RotationTemplates:
    r = PackReader(pack)
    r.table(pack.data, (), allowed=("settings", "cloudtrail_events", "step"), required=("settings", "step"))
    raw_settings = r.table(
        pack.data["settings"], ("settings",), allowed=ROTATION_SETTINGS, required=ROTATION_SETTINGS
    )
    settings = {k: r.string(v, ("settings", k)) for k, v in raw_settings.items()}
    events: dict[str, str] = {}
    for action, event in r.table(pack.data.get("cloudtrail_events", {}), ("cloudtrail_events",)).items():
        at = ("cloudtrail_events", action)
        if not _ACTION.match(action):
            raise r.error(at, f"{action!r} is not an IAM action name")
        events[action.lower()] = r.string(event, at, empty=True)
    steps: list[StepTemplate] = []
    ids: set[str] = set()
    phase_index = 0
    for path, raw in r.tables(pack.data["step"], ("step",)):
        table = r.table(
            raw,
            path,
            allowed=("id", "phase", "title", "why", "when", "command", "detail", "automate"),
            required=("id", "phase", "title", "why"),
        )
        step_id = r.string(table["id"], (*path, "id"))
        if step_id in ids:
            raise r.error((*path, "id"), f"duplicate step id {step_id!r}")
        ids.add(step_id)
        phase = r.string(table["phase"], (*path, "phase"), choices=ROTATION_PHASES)
        if ROTATION_PHASES.index(phase) < phase_index:
            raise r.error(
                (*path, "phase"),
                f"phase {phase!r} comes after {ROTATION_PHASES[phase_index]!r}: steps run in the order "
                + " → ".join(ROTATION_PHASES),
            )
        phase_index = ROTATION_PHASES.index(phase)
        steps.append(
            StepTemplate(
                id=step_id,
                phase=phase,
                title=r.template(table["title"], (*path, "title"), variables=ROTATION_VARIABLES),
                why=r.template(table["why"], (*path, "why"), variables=ROTATION_VARIABLES),
                when=_conditions(r, table, path),
                commands=_line_templates(r, table.get("command", []), (*path, "command"), "run"),
                details=_line_templates(r, table.get("detail", []), (*path, "detail"), "text"),
                automate=(
                    r.string(table["automate"], (*path, "automate"), choices=ROTATION_AUTOMATIONS)
                    if "automate" in table
                    else None
                ),
            )
        )
    return RotationTemplates(
        steps=tuple(steps), settings=settings, cloudtrail_events=events, origin=pack.origin
    )


def _conditions(r: PackReader, table: Mapping[str, Any], path: FieldPath) -> tuple[str, ...]:
    if "when" not in table:
        return ()
    return r.strings(table["when"], (*path, "when"), choices=ROTATION_CONDITIONS)


def _line_templates(r: PackReader, value: object, path: FieldPath, text_key: str) -> tuple[LineTemplate, ...]:
    lines: list[LineTemplate] = []
    for at, raw in r.tables(value, path):
        table = r.table(raw, at, allowed=(text_key, "for_each", "when"), required=(text_key,))
        for_each = None
        variables: tuple[str, ...] = ROTATION_VARIABLES
        if "for_each" in table:
            for_each = r.string(table["for_each"], (*at, "for_each"), choices=ROTATION_COLLECTIONS)
            variables = (*variables, *ROTATION_COLLECTIONS[for_each])
        lines.append(
            LineTemplate(
                text=r.template(table[text_key], (*at, text_key), variables=variables),
                for_each=for_each,
                when=_conditions(r, table, at),
            )
        )
    return tuple(lines)


# --------------------------------------------------------------------------------------------------
# The rule set


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSet:
    """Every rule pack the analysis uses (the escalation stage adds its pack here too)."""

    sensitivity: SensitivityRules
    datastores: DatastoreActions
    rotation: RotationTemplates
    sources: Mapping[str, str] = field(default_factory=dict)  # pack file name -> where it was read from
    escalation: EscalationPack | None = None  # escalation.toml (None: no escalation analysis)


def load_rules(override_dir: Path | None = None) -> RuleSet:
    """Load and validate the packs; a file in ``override_dir`` replaces the shipped one of that name.

    The shipped packs alone are read once per process (a ``RuleSet`` is frozen); an override directory
    is read every time (its files may change between calls)."""
    global _SHIPPED_RULES
    if override_dir is None:
        if _SHIPPED_RULES is None:
            _SHIPPED_RULES = _load_rules(None)
        return _SHIPPED_RULES
    return _load_rules(override_dir)


_SHIPPED_RULES: RuleSet | None = None


def _load_rules(override_dir: Path | None) -> RuleSet:
    if override_dir is not None:
        check_override_dir(override_dir)
    sensitivity = read_pack(SENSITIVITY_PACK, override_dir)
    datastores = read_pack(DATASTORES_PACK, override_dir)
    rotation = read_pack(ROTATION_PACK, override_dir)
    escalation = read_pack(ESCALATION_PACK, override_dir)
    from blastradius.escalation import parse_escalation  # the escalation stage builds on these rules

    return RuleSet(
        sensitivity=_parse_sensitivity(sensitivity),
        datastores=_parse_datastores(datastores),
        rotation=_parse_rotation(rotation),
        sources={p.name: p.origin for p in (sensitivity, datastores, rotation, escalation)},
        escalation=parse_escalation(escalation),
    )
