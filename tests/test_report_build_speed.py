"""The shortcuts that build a report quickly give what the plain computation gives.

Each scenario pits a fast path (memoised classification, heads shared between grants, direct slot
initialisation, templates formatted with only the names they read) against the straightforward way,
including the fallbacks the fast paths take when their assumption does not hold.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import re
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pytest

from blastradius import classify as classify_module
from blastradius import remediate
from blastradius.analyze import _findings
from blastradius.classify import Classifier, tokens
from blastradius.graph import Edge, path_step
from blastradius.model import Dataset
from blastradius.reach import Reach, Route
from blastradius.report import (
    DEFINITE,
    DatasetFinding,
    Grant,
    NotificationRow,
    PathStep,
    _direct_init,
    level_rank,
)
from blastradius.rules import LineTemplate, load_rules

RULES = load_rules()
ACCOUNT = "123456789012"
USER = f"arn:aws:iam::{ACCOUNT}:user/leaky"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/etl"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/admin"


def dataset(name: str, type: str = "dynamodb-table", **kw: Any) -> Dataset:
    return Dataset(
        arn=f"arn:aws:test:::{type}/{name}",
        type=type,
        name=name,
        account_id=ACCOUNT,
        region="us-east-1",
        **kw,
    )


# Datasets that share tags, fields, details, descriptions and samples but not names or types.
SHARED = (
    dataset("orders-000001", field_names=("email", "order_id")),
    dataset("orders-000002", field_names=("email", "order_id")),
    dataset("orders-000003", "s3-bucket", field_names=("email", "order_id")),
    dataset("customer-exports", "s3-bucket", object_keys_sample=("exports/customers.csv", "db.sql.gz")),
    dataset("assets", "s3-bucket", object_keys_sample=("exports/customers.csv", "db.sql.gz")),
    dataset("assets", "secretsmanager-secret", object_keys_sample=("exports/customers.csv",)),
    dataset("x1", "s3-bucket", tags={"data-classification": "pii", "team": "a"}),
    dataset("x2", "s3-bucket", tags={"data-classification": "pii", "team": "a"}),
    dataset("x3", "secretsmanager-secret", tags={"data-classification": "pii", "owner": "db password"}),
    dataset("/app/flag", "ssm-parameter", details={"type": "SecureString", "tier": "Standard"}),
    dataset("/app/other", "ssm-parameter", details={"type": "SecureString", "version": 3}),
    dataset("/app/plain", "ssm-parameter", details={"Type": "String"}),
    dataset("db", "secretsmanager-secret", description="database password for payments"),
    dataset("db2", "secretsmanager-secret", description="database password for payments"),
    dataset("db3", "ssm-parameter", description="database password for payments"),
    dataset("CustomerNumbers", field_names=("CustomerNumber", "SSN", "APIKey")),
    dataset("plain-000042"),
    dataset("Straße-Kunden", field_names=("straße",)),
    dataset("ÉTATS-users"),
)


def test_a_remembering_classifier_labels_like_a_fresh_one_for_each_dataset() -> None:
    shared = Classifier(RULES.sensitivity)
    for d in (*SHARED, *SHARED):  # the second round reads only remembered hits
        assert shared.classify(d) == Classifier(RULES.sensitivity).classify(d), d.name


def test_a_full_memo_still_classifies(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = [Classifier(RULES.sensitivity).classify(d) for d in SHARED]
    monkeypatch.setattr(classify_module, "_MEMO_LIMIT", 0)
    full = Classifier(RULES.sensitivity)
    assert [full.classify(d) for d in (*SHARED, *SHARED)] == expected * 2
    assert not full._result_memo and not full._tags_memo


def test_same_fields_on_another_type_get_that_types_sensitive_fields() -> None:
    # A rule restricted to some types makes a field sensitive on one type only; the memo of a set of
    # field names is per type.
    classifier = Classifier(RULES.sensitivity)
    table = classifier.classify(dataset("t", field_names=("email", "password")))
    bucket = classifier.classify(dataset("b", "s3-bucket", field_names=("email", "password")))
    assert table == Classifier(RULES.sensitivity).classify(dataset("t", field_names=("email", "password")))
    assert bucket == Classifier(RULES.sensitivity).classify(
        dataset("b", "s3-bucket", field_names=("email", "password"))
    )


_TOKEN = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


@pytest.mark.parametrize(
    "text",
    [
        "growth-raw-prod-000000",
        "payments_customer_exports",
        "customerNumber",
        "APIKey",
        "straße-kunden-01",
        "ÉTATS-users",
        "ǅemo-table",  # a title-case letter
        "öffentlich",
        "12345",
        "---",
        "",
    ],
)
def test_lower_case_names_tokenise_as_the_general_pattern_does(text: str) -> None:
    assert tokens(text) == tuple(t.lower() for t in _TOKEN.findall(text))


# --------------------------------------------------------------------------------------------------
# Findings: a grant's steps and conditions come from its principal's head when its route extends it.


def _edge(source: str, target: str, kind: str = "assume", **kw: Any) -> Edge:
    kw.setdefault("certainty", DEFINITE)
    return Edge(source=source, target=target, kind=kind, actions=("x:Y",), policy=None, statement=None, **kw)


def _access(source: str, target: str, level: str, *conditions: str) -> Edge:
    return _edge(
        source,
        target,
        "access",
        level=level,
        conditions=conditions,
        certainty="conditional" if conditions else DEFINITE,
    )


def _route(*edges: Edge) -> Route:
    conditional = sum(1 for e in edges if e.certainty != DEFINITE)
    return Route(edges=edges, cost=(0, conditional, len(edges)))


def test_grants_take_their_steps_and_conditions_from_the_principal_head_or_their_own_route() -> None:
    to_role = _edge(
        USER, ROLE, conditions=("aws:SourceIp", "aws:MultiFactorAuthPresent"), certainty="conditional"
    )
    other_way = _edge(USER, ROLE)  # an equal-cost alternative that is not the role's route
    to_admin = _edge(ROLE, ADMIN, kind="escalate", technique="iam:AttachRolePolicy")
    tables = [dataset(f"orders-{n}") for n in range(4)]
    principals = {USER: _route(), ROLE: _route(to_role), ADMIN: _route(to_role, to_admin)}
    t0, t1, t2, t3 = (d.arn for d in tables)
    grants = {
        # the role's head, extended by edges with and without conditions of their own
        t0: {
            "write": _route(to_role, _access(ROLE, t0, "write", "aws:SourceIp", "s3:prefix")),
            "read": _route(to_role, _access(ROLE, t0, "read")),
        },
        # a route that does not extend the role's (the head exists: checked by its last edge)
        t1: {"read": _route(other_way, _access(ROLE, t1, "read"))},
        # a principal whose head was never built, reached by a route that is not its own
        t2: {"admin": _route(other_way, to_admin, _access(ADMIN, t2, "admin"))},
        # the origin's own grants, and the admin role's
        t3: {
            "list": _route(_access(USER, t3, "list")),
            "admin": _route(to_role, to_admin, _access(ADMIN, t3, "admin", "kms:ViaService")),
        },
    }
    graph = SimpleNamespace(model=SimpleNamespace(datasets={d.arn: d for d in tables}))
    result = Reach(origin=USER, principals=principals, grants=grants)
    found = {f.arn: f for f in _findings(graph, result, RULES)}  # type: ignore[arg-type]
    for arn, levels in grants.items():
        expected = tuple(
            Grant(
                level=level,
                certainty=route.certainty,
                path=tuple(path_step(e) for e in route.edges),
                conditions=route.conditions,
            )
            for level, route in sorted(levels.items(), key=lambda kv: level_rank(kv[0]))
        )
        assert found[arn].grants == expected, arn
        assert found[arn].path == expected[-1].path
    assert found[t0].conditions == ("aws:SourceIp", "aws:MultiFactorAuthPresent", "s3:prefix")
    assert found[t0].access == ("read", "write")
    assert found[t3].certainty == DEFINITE and found[t3].conditions == ()


# --------------------------------------------------------------------------------------------------
# Report types: the direct __init__ makes the same frozen instances as dataclass's.


def test_direct_init_keeps_the_dataclass_contract() -> None:
    step = PathStep(from_=USER, to=ROLE, kind="assume")
    assert step == PathStep(from_=USER, to=ROLE, kind="assume", actions=(), certainty=DEFINITE)
    assert (step.policy, step.statement, step.conditions, step.technique) == (None, None, (), None)
    assert hash(step) == hash(dataclasses.replace(step))
    assert dataclasses.replace(step, kind="escalate").kind == "escalate"
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.kind = "access"  # type: ignore[misc]
    with pytest.raises(TypeError):
        PathStep(USER, ROLE, "assume")  # type: ignore[misc]
    with pytest.raises(TypeError):
        Grant(level="read", certainty=DEFINITE)  # type: ignore[call-arg]
    for cls in (PathStep, Grant, DatasetFinding, NotificationRow):
        assert cls.__init__.__qualname__ == f"{cls.__name__}.__init__"


def test_direct_init_refuses_what_it_cannot_copy() -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class WithFactory:
        items: list[str] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class WithPostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    with pytest.raises(TypeError, match="only plain fields"):
        _direct_init(WithFactory)
    with pytest.raises(TypeError, match="__post_init__"):
        _direct_init(WithPostInit)


def test_report_records_pickle_as_their_field_values_and_come_back_equal() -> None:
    # A forked search sends its findings back pickled: loaded by the slot-filling builder, equal,
    # with the steps grants share still shared, and through copy too.
    step = PathStep(from_=USER, to=ROLE, kind="assume", actions=("sts:AssumeRole",))
    access = PathStep(from_=ROLE, to="arn:aws:test:::t/x", kind="access", conditions=("c",))
    grants = (
        Grant(level="read", certainty=DEFINITE, path=(step, access)),
        Grant(level="write", certainty="conditional", path=(step, access), conditions=("c",)),
    )
    finding = DatasetFinding(
        arn="arn:aws:test:::t/x",
        type="dynamodb-table",
        name="x",
        region="us-east-1",
        access=("read", "write"),
        certainty=DEFINITE,
        conditions=(),
        sensitivity="high",
        sensitivity_reasons=("email",),
        estimated_records=None,
        path=(step, access),
        grants=grants,
        paths=((step, access),),
        touched=False,
    )
    row = NotificationRow(
        arn=finding.arn,
        type=finding.type,
        name="x",
        region="us-east-1",
        sensitivity="high",
        personal_data=True,
        reasons=("email",),
        access=("read",),
        certainty=DEFINITE,
        estimated_records=None,
        records_basis="unknown",
        sensitive_fields=("email",),
        touched=None,
    )
    for record in (step, grants[0], finding, row):
        data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        assert b"_from_fields" in data  # the builder, not the generic state restore
        back = pickle.loads(data)
        assert back == record and type(back) is type(record)
        assert copy.deepcopy(record) == record and copy.copy(record) == record
    back = pickle.loads(pickle.dumps(finding))
    assert back.grants[0].path[0] is back.grants[1].path[0] is back.path[0]
    assert PathStep._from_fields.__qualname__ == "PathStep._from_fields"


# --------------------------------------------------------------------------------------------------
# Rotation plan: per-item lines read only the names they use, and format as a full merge would.


class _Facts(remediate._Facts):
    def __init__(self, variables: Mapping[str, str], collections: Mapping[str, list[dict[str, str]]]) -> None:
        self.variables = dict(variables)
        self._quoted = remediate._shell_quoted(self.variables)
        self.collections = dict(collections)
        self.conditions = set()


def _merged(facts: _Facts, line: LineTemplate, *, quote: bool) -> list[str]:
    base = facts._quoted if quote else facts.variables
    assert line.for_each is not None
    return [
        line.text.format_map({**base, **(remediate._shell_quoted(item) if quote else item)})
        for item in facts.collections[line.for_each]
    ]


@pytest.mark.parametrize(
    "text",
    [
        "aws kms list-grants --key-id {kms_key_arn} --region {region}",  # the item's region wins
        "{kms_key_name} in {account_id} ({now})",  # names of the plan too
        "{kms_key_name!r:>{width}} {kms_key_arn[0]}",  # conversions, nested specs, indexing
        "no placeholder at all",
    ],
)
@pytest.mark.parametrize("quote", [True, False])
def test_per_item_lines_format_as_with_every_value(text: str, quote: bool) -> None:
    facts = _Facts(
        {"region": "eu-west-1", "account_id": ACCOUNT, "now": "2026-11-25T00:00:00Z", "width": "30"},
        {
            "kms_admin": [
                {
                    "kms_key_arn": "arn:aws:kms:us-east-1:1:key/a b",
                    "kms_key_name": "it's",
                    "region": "us-east-1",
                },
                {
                    "kms_key_arn": "arn:aws:kms:us-east-2:1:key/c",
                    "kms_key_name": "plain",
                    "region": "us-east-2",
                },
            ]
        },
    )
    line = LineTemplate(text=text, for_each="kms_admin")
    assert list(facts.lines((line,), quote=quote)) == list(dict.fromkeys(_merged(facts, line, quote=quote)))


@pytest.mark.parametrize("text", ["{} positional", "{0} positional", "{missing}"])
def test_per_item_lines_fail_as_a_full_merge_would(text: str) -> None:
    facts = _Facts({"region": "eu-west-1"}, {"region": [{"region": "us-east-1"}]})
    line = LineTemplate(text=text, for_each="region")
    with pytest.raises((ValueError, IndexError, KeyError)) as expected:
        _merged(facts, line, quote=True)
    with pytest.raises(expected.type):
        facts.lines((line,), quote=True)
