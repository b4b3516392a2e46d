"""The snapshot: everything collected about one account, as frozen dataclasses with a JSON round-trip.

The on-disk form is versioned (``"schema": "blastradius.snapshot/v1"``). ``load_snapshot`` validates
strictly and names the file and field of anything malformed; a newer schema is refused rather than
half-read. Raw boto3 responses never reach this module: collectors normalise into these types.
Policy documents are kept as the JSON the account holds (a ``dict``); the policy engine compiles them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, NewType, TypeVar

from blastradius import jsonio
from blastradius.errors import SnapshotError
from blastradius.jsonio import gc_paused

Arn = NewType("Arn", str)
AccountId = NewType("AccountId", str)
AccessKeyId = NewType("AccessKeyId", str)

SNAPSHOT_SCHEMA = "blastradius.snapshot/v1"
SNAPSHOT_SCHEMA_PREFIX = "blastradius.snapshot/"

JsonDict = dict[str, Any]

# Dataset types (the ``type`` field of a dataset, also used by policies/datastores.toml).
S3_BUCKET = "s3-bucket"
DYNAMODB_TABLE = "dynamodb-table"
SECRET = "secretsmanager-secret"
SSM_PARAMETER = "ssm-parameter"
KMS_KEY = "kms-key"
DATASET_TYPES = (S3_BUCKET, DYNAMODB_TABLE, SECRET, SSM_PARAMETER, KMS_KEY)


# Compute resource types (the ``type`` field of a ComputeResource, used by policies/escalation.toml).
LAMBDA_FUNCTION = "lambda-function"
EC2_INSTANCE = "ec2-instance"
CLOUDFORMATION_STACK = "cloudformation-stack"
CODEBUILD_PROJECT = "codebuild-project"
SAGEMAKER_NOTEBOOK = "sagemaker-notebook"
ECS_TASK_DEFINITION = "ecs-task-definition"
GLUE_DEV_ENDPOINT = "glue-dev-endpoint"
COMPUTE_TYPES = (
    LAMBDA_FUNCTION,
    EC2_INSTANCE,
    CLOUDFORMATION_STACK,
    CODEBUILD_PROJECT,
    SAGEMAKER_NOTEBOOK,
    ECS_TASK_DEFINITION,
    GLUE_DEV_ENDPOINT,
)

# Organizations policy types, as the Organizations API names them.
SCP = "SERVICE_CONTROL_POLICY"
RCP = "RESOURCE_CONTROL_POLICY"


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyDocument:
    """A named policy document: an inline policy (``arn`` None) or the default version of a managed one."""

    name: str
    document: JsonDict
    arn: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ManagedPolicy:
    """A customer or AWS managed policy with its default version's document."""

    arn: str
    name: str
    document: JsonDict
    policy_id: str | None = None
    default_version_id: str | None = None
    attachment_count: int | None = None
    # Number of entities using it as a permissions boundary (GAAD omits boundary-only policies).
    boundary_usage_count: int | None = None

    @property
    def aws_managed(self) -> bool:
        """AWS managed policies live under the ``aws`` account in their ARN."""
        return self.arn.split(":")[4] == "aws"

    def as_document(self) -> PolicyDocument:
        """The policy as a named document for the engine."""
        return PolicyDocument(name=self.name, arn=self.arn, document=self.document)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessKey:
    """An IAM user's access key (never its secret)."""

    access_key_id: str
    user_name: str
    status: str  # Active | Inactive
    created: str | None = None
    last_used_date: str | None = None
    last_used_service: str | None = None
    last_used_region: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """An IAM user with its own policies, group memberships, boundary and keys."""

    arn: str
    name: str
    user_id: str = ""
    path: str = "/"
    created: str | None = None
    inline_policies: tuple[PolicyDocument, ...] = ()
    managed_policy_arns: tuple[str, ...] = ()
    group_names: tuple[str, ...] = ()
    permissions_boundary_arn: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    access_keys: tuple[AccessKey, ...] = ()
    has_login_profile: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """An IAM group; its policies apply to every member."""

    arn: str
    name: str
    group_id: str = ""
    path: str = "/"
    inline_policies: tuple[PolicyDocument, ...] = ()
    managed_policy_arns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Role:
    """An IAM role with its trust policy (who may assume it) and permissions."""

    arn: str
    name: str
    trust_policy: JsonDict
    role_id: str = ""
    path: str = "/"
    created: str | None = None
    inline_policies: tuple[PolicyDocument, ...] = ()
    managed_policy_arns: tuple[str, ...] = ()
    permissions_boundary_arn: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    max_session_duration: int | None = None
    last_used_date: str | None = None
    last_used_region: str | None = None

    @property
    def service_linked(self) -> bool:
        """Service-linked roles live under ``/aws-service-role/``."""
        return self.path.startswith("/aws-service-role/")


@dataclass(frozen=True, slots=True, kw_only=True)
class KmsGrant:
    """A KMS grant: a grantee principal may perform ``operations`` on the key."""

    grant_id: str
    grantee_principal: str
    operations: tuple[str, ...]
    retiring_principal: str | None = None
    name: str | None = None
    constraints: JsonDict | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Dataset:
    """A data store resource: S3 bucket, DynamoDB table, secret, SSM parameter or KMS key.

    ``kms_key`` is the customer managed KMS key (ARN) protecting the data, when there is one: reading
    then also needs ``kms:Decrypt`` on that key. ``field_names`` are names the classifier can read
    (DynamoDB key schema and attribute definitions); ``object_keys_sample`` a bounded sample of S3
    object keys. ``details`` holds normalised, display-only facts (public access block, encryption, ...).
    """

    arn: str
    type: str
    name: str
    account_id: str
    region: str
    resource_policy: JsonDict | None = None
    kms_key: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str | None = None
    field_names: tuple[str, ...] = ()
    object_keys_sample: tuple[str, ...] = ()
    estimated_records: int | None = None
    size_bytes: int | None = None
    # KMS keys only: the key policy is ``resource_policy``; these are its grants, aliases and manager.
    grants: tuple[KmsGrant, ...] = ()
    aliases: tuple[str, ...] = ()
    key_manager: str | None = None  # AWS | CUSTOMER (KMS keys)
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectionGap:
    """A call that failed during collection: what we could not see. Reach over a gap is unknown, not safe."""

    service: str
    region: str
    operation: str
    error_code: str
    message: str = ""
    resource: str | None = None
    account_id: str | None = None  # set in merged multi-account snapshots

    def describe(self) -> str:
        """One line for the report's coverage section."""
        where = f" on {self.resource}" if self.resource else ""
        if self.account_id:
            where += f" (account {self.account_id})"
        return f"{self.service} {self.operation} in {self.region}{where}: {self.error_code}" + (
            f" ({self.message})" if self.message else ""
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceProfile:
    """An EC2 instance profile: the container that hands a role to an instance."""

    arn: str
    name: str
    role_arns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ComputeResource:
    """Existing infrastructure that runs with a role (a Lambda function, an instance, a stack, …).

    Escalation techniques that reuse infrastructure (update a function's code, start a session on an
    instance, update a stack) need these. Only names are kept of environment variables, never values.
    """

    arn: str
    type: str  # one of COMPUTE_TYPES
    name: str
    account_id: str
    region: str
    role_arn: str | None = None  # execution / service / task role
    instance_profile_arn: str | None = None  # EC2 instances
    env_var_names: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrgPolicy:
    """A service control or resource control policy, and the root, OU or account ids it is attached to."""

    policy_id: str
    arn: str
    name: str
    type: str  # SCP | RCP
    document: JsonDict
    targets: tuple[str, ...] = ()
    aws_managed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Organization:
    """The AWS Organization the collected account(s) belong to, with each account's place in the OU tree.

    ``account_paths`` maps an account id to the target ids from the root down to the account itself
    (``("r-ab12", "ou-ab12-1", "111111111111")``): the levels at which SCPs and RCPs are attached.
    """

    org_id: str
    management_account_id: str
    arn: str = ""
    account_paths: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    policies: tuple[OrgPolicy, ...] = ()
    enabled_policy_types: tuple[str, ...] = ()  # policy types enabled on the root

    def levels(self, account_id: str, policy_type: str) -> tuple[tuple[OrgPolicy, ...], ...] | None:
        """The policies of ``policy_type`` per level, root first, that govern ``account_id``.

        ``None`` when the type does not apply: not enabled on the root, the management account (not
        subject to SCPs or RCPs), or an account whose place in the tree is unknown.
        """
        if policy_type not in self.enabled_policy_types or account_id == self.management_account_id:
            return None
        path = self.account_paths.get(account_id)
        if not path:
            return None
        by_target: dict[str, list[OrgPolicy]] = {}
        for policy in self.policies:
            if policy.type == policy_type:
                for target in policy.targets:
                    by_target.setdefault(target, []).append(policy)
        return tuple(tuple(by_target.get(target, ())) for target in path)


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Everything collected about one account; the input of every offline stage."""

    account_id: str
    collected_at: str
    regions: tuple[str, ...] = ()
    partition: str = "aws"
    source: str = "collect"  # collect | gaad | synthetic | self-view
    users: tuple[User, ...] = ()
    groups: tuple[Group, ...] = ()
    roles: tuple[Role, ...] = ()
    managed_policies: tuple[ManagedPolicy, ...] = ()
    datasets: tuple[Dataset, ...] = ()
    gaps: tuple[CollectionGap, ...] = ()
    # service name -> "ok" | "partial" | "not collected" | error code
    services: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    organization: Organization | None = None
    instance_profiles: tuple[InstanceProfile, ...] = ()
    compute: tuple[ComputeResource, ...] = ()
    # Every account of a merged multi-account snapshot, ``account_id`` first (see merge.py); empty for a
    # snapshot of one account.
    accounts: tuple[str, ...] = ()
    schema: str = SNAPSHOT_SCHEMA

    def to_json(self) -> JsonDict:
        """The versioned JSON form (``schema`` first)."""
        data = _to_jsonable(self)
        assert isinstance(data, dict)
        return {"schema": self.schema, **{k: v for k, v in data.items() if k != "schema"}}

    @classmethod
    def from_json(cls, data: object, *, source: str = "<snapshot>") -> Snapshot:
        """Validate and build a snapshot; raise ``SnapshotError`` naming ``source`` and the bad field."""
        if not isinstance(data, dict):
            raise SnapshotError(f"{source}: a snapshot is a JSON object, found {type(data).__name__}")
        schema = data.get("schema")
        if schema != SNAPSHOT_SCHEMA:
            if isinstance(schema, str) and schema.startswith(SNAPSHOT_SCHEMA_PREFIX):
                raise SnapshotError(
                    f"{source}: snapshot schema {schema!r} is not supported by this version "
                    f"(it reads {SNAPSHOT_SCHEMA!r})",
                    hint="Upgrade blastradius, or collect the snapshot again with this version.",
                )
            raise SnapshotError(
                f"{source}: field 'schema' is {schema!r}, expected {SNAPSHOT_SCHEMA!r}",
                hint="Is this a blastradius snapshot? Raw `aws iam get-account-authorization-details` "
                "output is recognised by its UserDetailList/RoleDetailList fields.",
            )
        try:
            # The specialised builder is fast and only says "something is wrong"; the generic one then
            # finds what and where (same checks, so both accept exactly the same documents).
            return _fast_build(cls, data)
        except _Invalid:
            pass
        try:
            return _build(cls, data, f"{source}: snapshot")
        except SnapshotError as e:
            e.hint = e.hint or (
                "The file was changed after blastradius wrote it, or written by another tool: collect the "
                "snapshot again (`blastradius collect --output FILE`)."
            )
            raise


def _to_jsonable(value: object) -> object:
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _to_jsonable(getattr(value, f.name)) for f in fields(value)}  # type: ignore[arg-type]
    if isinstance(value, tuple | list):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    return value


T = TypeVar("T")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _expect(kind: type | tuple[type, ...], value: object, where: str) -> None:
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise SnapshotError(f"{where}: expected {names}, found {type(value).__name__} {value!r:.80}")


def _tuple_of(
    item: Callable[[object, str], T],
) -> Callable[[object, str], tuple[T, ...]]:
    def convert(value: object, where: str) -> tuple[T, ...]:
        _expect(list, value, where)
        assert isinstance(value, list)
        return tuple(item(v, f"{where}[{i}]") for i, v in enumerate(value))

    return convert


def _str(value: object, where: str) -> str:
    _expect(str, value, where)
    assert isinstance(value, str)
    return value


def _str_map(value: object, where: str) -> dict[str, str]:
    _expect(dict, value, where)
    assert isinstance(value, dict)
    for k, v in value.items():
        _expect(str, v, f"{where}.{k}")
    return dict(value)


def _obj(cls: type[T]) -> Callable[[object, str], T]:
    def convert(value: object, where: str) -> T:
        return _build(cls, value, where)

    return convert


def _str_tuple_map(value: object, where: str) -> dict[str, tuple[str, ...]]:
    _expect(dict, value, where)
    assert isinstance(value, dict)
    return {str(k): _tuple_of(_str)(v, f"{where}.{k}") for k, v in value.items()}


# Field types that need more than an isinstance check, by field name.
_FIELD_CONVERTERS: dict[str, Callable[[object, str], object]] = {
    "inline_policies": _tuple_of(_obj(PolicyDocument)),
    "managed_policy_arns": _tuple_of(_str),
    "group_names": _tuple_of(_str),
    "access_keys": _tuple_of(_obj(AccessKey)),
    "tags": _str_map,
    "operations": _tuple_of(_str),
    "grants": _tuple_of(_obj(KmsGrant)),
    "aliases": _tuple_of(_str),
    "field_names": _tuple_of(_str),
    "object_keys_sample": _tuple_of(_str),
    "regions": _tuple_of(_str),
    "users": _tuple_of(_obj(User)),
    "groups": _tuple_of(_obj(Group)),
    "roles": _tuple_of(_obj(Role)),
    "managed_policies": _tuple_of(_obj(ManagedPolicy)),
    "datasets": _tuple_of(_obj(Dataset)),
    "gaps": _tuple_of(_obj(CollectionGap)),
    "services": _str_map,
    "warnings": _tuple_of(_str),
    "organization": _obj(Organization),
    "instance_profiles": _tuple_of(_obj(InstanceProfile)),
    "compute": _tuple_of(_obj(ComputeResource)),
    "accounts": _tuple_of(_str),
    "role_arns": _tuple_of(_str),
    "env_var_names": _tuple_of(_str),
    "policies": _tuple_of(_obj(OrgPolicy)),
    "targets": _tuple_of(_str),
    "enabled_policy_types": _tuple_of(_str),
    "account_paths": _str_tuple_map,
}

# Plain field types checked with isinstance (name -> accepted types); None allowed where default is None.
_SCALARS: dict[str, tuple[type, ...]] = {
    "document": (dict,),
    "trust_policy": (dict,),
    "resource_policy": (dict,),
    "constraints": (dict,),
    "details": (dict,),
    "estimated_records": (int,),
    "size_bytes": (int,),
    "attachment_count": (int,),
    "boundary_usage_count": (int,),
    "max_session_duration": (int,),
    "has_login_profile": (bool,),
    "aws_managed": (bool,),
}


def _build(cls: type[T], value: object, where: str) -> T:
    _expect(dict, value, where)
    assert isinstance(value, dict)
    kwargs: dict[str, object] = {}
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    for name, f in known.items():
        if name not in value:
            if f.default is MISSING and f.default_factory is MISSING:
                raise SnapshotError(f"{where}: required field {name!r} is missing")
            continue
        raw = value[name]
        at = f"{where}.{name}"
        if raw is None:
            if f.default is not None:
                raise SnapshotError(f"{at}: must not be null")
            kwargs[name] = None
            continue
        if name in _FIELD_CONVERTERS:
            kwargs[name] = _FIELD_CONVERTERS[name](raw, at)
        elif name in _SCALARS:
            _expect(_SCALARS[name], raw, at)
            kwargs[name] = raw
        else:
            _expect(str, raw, at)
            kwargs[name] = raw
    return cls(**kwargs)


class _Invalid(Exception):
    """The fast builder met something it does not accept; ``_build`` says what and where."""


_NO_VALUE: Any = object()


def _fast_str_tuple(value: object) -> tuple[str, ...]:
    if type(value) is not list:
        raise _Invalid
    for v in value:
        if type(v) is not str:
            raise _Invalid
    return tuple(value)


def _fast_str_tuple_map(value: object) -> dict[str, tuple[str, ...]]:
    if type(value) is not dict:
        raise _Invalid
    return {str(k): _fast_str_tuple(v) for k, v in value.items()}


# How the fast builder reads each field of _FIELD_CONVERTERS: ("strs", None) a list of strings,
# ("str_map", None) an object of strings, ("object", cls) one nested object, ("objects", cls) a list of
# them, ("call", function) whatever the function accepts (rare fields, not worth inlining).
_FAST_FIELDS: dict[str, tuple[str, Any]] = {
    "inline_policies": ("objects", PolicyDocument),
    "managed_policy_arns": ("strs", None),
    "group_names": ("strs", None),
    "access_keys": ("objects", AccessKey),
    "tags": ("str_map", None),
    "operations": ("strs", None),
    "grants": ("objects", KmsGrant),
    "aliases": ("strs", None),
    "field_names": ("strs", None),
    "object_keys_sample": ("strs", None),
    "regions": ("strs", None),
    "users": ("objects", User),
    "groups": ("objects", Group),
    "roles": ("objects", Role),
    "managed_policies": ("objects", ManagedPolicy),
    "datasets": ("objects", Dataset),
    "gaps": ("objects", CollectionGap),
    "services": ("str_map", None),
    "warnings": ("strs", None),
    "organization": ("object", Organization),
    "instance_profiles": ("objects", InstanceProfile),
    "compute": ("objects", ComputeResource),
    "accounts": ("strs", None),
    "role_arns": ("strs", None),
    "env_var_names": ("strs", None),
    "policies": ("objects", OrgPolicy),
    "targets": ("strs", None),
    "enabled_policy_types": ("strs", None),
    "account_paths": ("call", _fast_str_tuple_map),
}

# The check (and conversion) of a field's value ``raw`` per kind, as source lines; ``{x}`` is the name
# under which the kind's class, function or accepted type is in the builder's namespace.
_FAST_CHECKS: dict[str, tuple[str, ...]] = {
    "str": ("if type(raw) is not str:", "    raise _Invalid"),
    "scalar": ("if type(raw) not in {x}:", "    raise _Invalid"),
    "strs": (
        "if type(raw) is not list:",
        "    raise _Invalid",
        "if raw:",  # most lists are empty: () without a loop or a call
        "    for v in raw:",
        "        if type(v) is not str:",
        "            raise _Invalid",
        "    raw = tuple(raw)",
        "else:",
        "    raw = ()",
    ),
    # Kept as parsed rather than copied, as documents are (``load_snapshot`` drops what it parsed).
    "str_map": (
        "if type(raw) is not dict:",
        "    raise _Invalid",
        "for v in raw.values():",
        "    if type(v) is not str:",
        "        raise _Invalid",
    ),
    "object": ("raw = {x}(raw)",),
    "objects": (
        "if type(raw) is not list:",
        "    raise _Invalid",
        "raw = tuple([{x}(v) for v in raw]) if raw else ()",
    ),
    "call": ("raw = {x}(raw)",),
}

_FAST_BUILDERS: dict[type, Callable[[object], Any]] = {}


def _fast_builder(cls: type) -> Callable[[object], Any]:
    """The fast builder of ``cls``: a function written for its fields (as dataclasses writes
    ``__init__``), so that each field costs one dict lookup, an inlined type check and one slot store.

    It checks exactly what ``_build`` checks, from the same tables, but only raises ``_Invalid``. The
    instance is made with ``object.__new__`` and its slots filled directly: that is what the frozen
    ``__init__`` does (none of these classes has a ``__post_init__``), without its keyword parsing and
    ``object.__setattr__`` calls, which made up most of the time of loading a large snapshot.
    """
    builder = _FAST_BUILDERS.get(cls)
    if builder is not None:
        return builder
    if hasattr(cls, "__post_init__"):
        raise AssertionError(f"{cls.__name__} has a __post_init__ the fast builder would skip")
    namespace: dict[str, Any] = {
        "_Invalid": _Invalid,
        "_NO_VALUE": _NO_VALUE,
        "_new": object.__new__,
        "cls": cls,
    }
    lines = [
        "def build(value):",
        "    if type(value) is not dict:",
        "        raise _Invalid",
        "    get = value.get",
        "    obj = _new(cls)",
    ]
    for i, f in enumerate(fields(cls)):
        if f.name in _FIELD_CONVERTERS:
            if f.name not in _FAST_FIELDS:
                raise AssertionError(f"no fast reading for field {f.name}")  # keep the tables in step
            kind, x = _FAST_FIELDS[f.name]
            if kind in ("object", "objects"):
                x = _fast_builder(x)
        elif f.name in _SCALARS:
            kind, x = "scalar", _SCALARS[f.name]
        else:
            kind, x = "str", None
        namespace[f"x{i}"] = x
        check = [line.format(x=f"x{i}") for line in _FAST_CHECKS[kind]]
        if f.default is None:  # optional and nullable: missing and null both mean None
            lines.append(f"    raw = get({f.name!r})")
            lines.append("    if raw is not None:")
            lines.extend("        " + line for line in check)
        elif f.default is MISSING and f.default_factory is MISSING:
            # Required: a missing field reads as _NO_VALUE, which every check refuses (as it does null).
            lines.append(f"    raw = get({f.name!r}, _NO_VALUE)")
            lines.extend("    " + line for line in check)
        else:  # optional, not nullable: null fails the check like any other wrong type
            factory = f.default_factory is not MISSING
            namespace[f"d{i}"] = f.default_factory if factory else f.default
            lines.append(f"    raw = get({f.name!r}, _NO_VALUE)")
            lines.append("    if raw is _NO_VALUE:")
            lines.append(f"        raw = d{i}()" if factory else f"        raw = d{i}")
            lines.append("    else:")
            lines.extend("        " + line for line in check)
        namespace[f"set{i}"] = cls.__dict__[f.name].__set__  # the slot's descriptor
        lines.append(f"    set{i}(obj, raw)")
    lines.append("    return obj")
    exec("\n".join(lines), namespace)  # source made above from the field tables only
    made: Callable[[object], Any] = namespace["build"]
    _FAST_BUILDERS[cls] = made
    return made


def _fast_build(cls: type[T], value: object) -> T:
    """``_build`` without locations: raises ``_Invalid`` on the first problem (see ``from_json``)."""
    built: T = _fast_builder(cls)(value)
    return built


def dump_snapshot(snapshot: Snapshot, path: Path) -> None:
    """Write the snapshot as JSON with mode 0600 (it describes an account's security posture)."""
    with gc_paused():
        data = jsonio.dumps(snapshot.to_json(), indent=False)  # `jq .` shows it indented
    # Create with 0600 from the start (no window where the file is world-readable), and tighten
    # an existing file too.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(data)


def load_json_file(path: Path) -> object:
    """Read a JSON file, turning I/O and syntax errors into ``SnapshotError`` with file and position."""
    try:
        # The bytes decoded at once: ``read_text`` would also translate newlines, a second pass over a
        # large file that changes nothing which parses (a CR is whitespace outside strings, and invalid
        # inside them); error positions are reported as in the translated text, below.
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise SnapshotError(
            f"{path}: cannot read the file ({e.strerror})", hint="Check the path and its permissions."
        ) from e
    except UnicodeDecodeError as e:
        raise SnapshotError(
            f"{path}: not UTF-8 text (byte {e.start})",
            hint="Snapshots and get-account-authorization-details output are read as UTF-8 JSON: save the "
            "file as UTF-8 (Windows PowerShell's `>` writes UTF-16).",
        ) from e
    if not text or text.isspace():  # (``not text.strip()`` would copy the text)
        raise SnapshotError(f"{path}: the file is empty", hint="Collect the snapshot again.")
    try:
        return jsonio.loads(text)
    except json.JSONDecodeError as e:
        error = e
    if "\r" in text:  # lines and columns as in the file read as text, with its newlines translated
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        try:
            jsonio.loads(text)
        except json.JSONDecodeError as e:
            error = e
    # A cut-off file fails at its very end, or inside a string that runs to the end (json reports the
    # position where that string starts).
    truncated = error.pos >= len(text.rstrip()) - 1 or error.msg.startswith("Unterminated string")
    raise SnapshotError(
        f"{path}: not valid JSON at line {error.lineno}, column {error.colno} ({error.msg})"
        + (" — the file looks truncated" if truncated else ""),
        hint="Collect the snapshot again (`blastradius collect --output FILE`), "
        "or check that the file was copied completely.",
    ) from error


def by_arn(items: Iterable[T], key: Callable[[T], str]) -> dict[str, T]:
    """Index items by ARN (last wins), a small helper shared by the stages."""
    return {key(item): item for item in items}
