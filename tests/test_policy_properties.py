"""Properties of the engine that must hold for any policies: denies never widen, allows never narrow,
statement order and grouping do not matter, and no JSON input crashes the parser with anything but
PolicyError."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blastradius.errors import PolicyError
from blastradius.policy import Context, Policy, Request, RequestPrincipal, Verdict, decide, parse_policy

ACCT = "111122223333"
OTHER = "444455556666"
ALICE = RequestPrincipal(
    arn=f"arn:aws:iam::{ACCT}:user/alice", account_id=ACCT, kind="user", user_name="alice"
)
APP = RequestPrincipal(
    arn=f"arn:aws:iam::{ACCT}:role/app",
    account_id=ACCT,
    kind="role",
    session_arn=f"arn:aws:sts::{ACCT}:assumed-role/app/s",
)
MALLORY = RequestPrincipal(arn=f"arn:aws:iam::{OTHER}:user/mallory", account_id=OTHER, kind="user")

ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:*", "s3:Get*", "dynamodb:Scan", "*", "kms:Decrypt"]
RESOURCES = [
    "*",
    "arn:aws:s3:::exports/*",
    "arn:aws:s3:::other/*",
    "arn:aws:s3:::*",
    "arn:aws:s3:::home/${aws:username}/*",
]
CONDITIONS: list[dict[str, Any] | None] = [
    None,
    None,
    {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
    {"Bool": {"aws:SecureTransport": "false"}},
    {"StringEquals": {"aws:username": "alice"}},
    {"StringEquals": {"aws:username": "bob"}},
    {"Null": {"aws:TokenIssueTime": "true"}},
    {"StringLikeIfExists": {"aws:SourceVpce": "vpce-*"}},
    {"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}},
    {"NotARealOperator": {"aws:username": "alice"}},
]
PRINCIPALS: list[Any] = [
    "*",
    {"AWS": ACCT},
    {"AWS": ALICE.arn},
    {"AWS": APP.arn},
    {"AWS": OTHER},
    {"AWS": MALLORY.arn},
]
REQUESTS = [
    ("s3:GetObject", "arn:aws:s3:::exports/a.csv"),
    ("s3:PutObject", "arn:aws:s3:::home/alice/x"),
    ("dynamodb:Scan", f"arn:aws:dynamodb:us-east-1:{ACCT}:table/t"),
    ("kms:Decrypt", f"arn:aws:kms:us-east-1:{ACCT}:key/k"),
]
RANK = {Verdict.ALLOW: 2, Verdict.CONDITIONAL: 1, Verdict.IMPLICIT_DENY: 0, Verdict.EXPLICIT_DENY: 0}


@st.composite
def statements(draw: st.DrawFn, *, effect: str | None = None, resource_side: bool = False) -> dict[str, Any]:
    action_element = draw(st.sampled_from(["Action", "Action", "NotAction"]))
    resource_element = draw(st.sampled_from(["Resource", "Resource", "NotResource"]))
    out: dict[str, Any] = {
        "Effect": effect or draw(st.sampled_from(["Allow", "Deny"])),
        action_element: draw(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=2)),
        resource_element: draw(st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=2)),
    }
    condition = draw(st.sampled_from(CONDITIONS))
    if condition is not None:
        out["Condition"] = condition
    if resource_side:
        out["Principal"] = draw(st.sampled_from(PRINCIPALS))
    return out


def policy(stmts: list[dict[str, Any]], name: str = "p") -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": stmts}, name=name)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "identity": draw(st.lists(statements(), max_size=4)),
        "boundary": draw(st.one_of(st.none(), st.lists(statements(effect="Allow"), min_size=1, max_size=2))),
        "resource": draw(
            st.one_of(st.none(), st.lists(statements(resource_side=True), min_size=1, max_size=3))
        ),
        "principal": draw(st.sampled_from([ALICE, APP, MALLORY])),
        "request": draw(st.sampled_from(REQUESTS)),
        "mode": draw(st.sampled_from(["exact", "attacker"])),
    }


def request_of(s: dict[str, Any]) -> Request:
    """The scenario's request, with its principal's context in the scenario's mode."""
    principal: RequestPrincipal = s["principal"]
    action, arn = s["request"]
    return Request(
        principal=principal,
        action=action,
        resource=arn,
        resource_account=ACCT,
        context=Context.for_principal(principal, mode=s["mode"]),
    )


def run(
    s: dict[str, Any],
    *,
    identity: list[dict[str, Any]] | None = None,
    identity_policies: list[Policy] | None = None,
    resource: list[dict[str, Any]] | None = None,
) -> Verdict:
    """Decide the scenario, optionally with other identity statements/policies or resource statements."""
    request = request_of(s)
    if identity_policies is None:
        identity_policies = [policy(s["identity"] if identity is None else identity)]
    resource_statements = s["resource"] if resource is None else resource
    return decide(
        request,
        identity_policies=identity_policies,
        permissions_boundary=policy(s["boundary"], "b") if s["boundary"] else None,
        resource_policy=policy(resource_statements, "r") if resource_statements else None,
    ).verdict


FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(scenarios(), statements(effect="Deny"))
def test_adding_a_deny_never_widens(s: dict[str, Any], extra: dict[str, Any]) -> None:
    before = run(s)
    after = run(s, identity=[*s["identity"], extra])
    assert RANK[after] <= RANK[before]
    if before is Verdict.EXPLICIT_DENY:
        assert after is Verdict.EXPLICIT_DENY


@FAST
@given(scenarios(), statements(effect="Deny", resource_side=True))
def test_adding_a_resource_policy_deny_never_widens(s: dict[str, Any], extra: dict[str, Any]) -> None:
    before = run(s)
    after = run(s, resource=[*(s["resource"] or []), extra])
    assert RANK[after] <= RANK[before]


@FAST
@given(scenarios(), statements(effect="Allow"))
def test_adding_an_allow_never_narrows(s: dict[str, Any], extra: dict[str, Any]) -> None:
    before = run(s)
    after = run(s, identity=[*s["identity"], extra])
    assert RANK[after] >= RANK[before]
    if before is Verdict.EXPLICIT_DENY:
        assert after is Verdict.EXPLICIT_DENY


@FAST
@given(scenarios(), st.randoms(use_true_random=False), st.integers(min_value=0, max_value=4))
def test_reordering_and_splitting_statements_keeps_the_verdict(s: dict[str, Any], rnd: Any, cut: int) -> None:
    before = run(s)
    shuffled = list(s["identity"])
    rnd.shuffle(shuffled)
    split = [policy(shuffled[:cut], "first"), policy(shuffled[cut:], "second")]
    reordered_resource = list(reversed(s["resource"])) if s["resource"] else None
    assert run(s, identity_policies=split, resource=reordered_resource) is before


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
ELEMENT_KEYS = st.sampled_from(
    [
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Principal",
        "NotPrincipal",
        "Condition",
    ]
)
STATEMENTISH = st.dictionaries(
    ELEMENT_KEYS,
    JSON
    | st.sampled_from(["Allow", "Deny", "*", "s3:*"])
    | st.dictionaries(
        st.sampled_from(["AWS", "Service", "StringEquals", "IpAddress", "Null", "DateLessThan"]), JSON
    ),
    max_size=6,
)
DOCUMENTS = JSON | st.fixed_dictionaries(
    {"Statement": st.lists(STATEMENTISH, max_size=3) | STATEMENTISH},
    optional={"Version": st.sampled_from(["2012-10-17", "2008-10-17", "2020"])},
)


@settings(max_examples=250, deadline=None)
@given(DOCUMENTS)
def test_parse_policy_raises_only_policy_error(document: Any) -> None:
    try:
        parsed = parse_policy(document, name="fuzz")
    except PolicyError:
        return
    request = Request(
        principal=ALICE,
        action="s3:GetObject",
        resource="arn:aws:s3:::exports/a",
        resource_account=ACCT,
        context=Context.attacker({}),
    )
    decide(request, identity_policies=[parsed], resource_policy=parsed)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_parse_policy_text_raises_only_policy_error(text: str) -> None:
    with contextlib.suppress(PolicyError):
        parse_policy(text, name="fuzz")


@FAST
@given(scenarios(), st.lists(statements(), min_size=1, max_size=3))
def test_action_lists_equal_the_union_of_single_action_statements(
    s: dict[str, Any], extra: list[dict[str, Any]]
) -> None:
    """A statement listing several actions decides like one statement per action ("IAM JSON policy
    elements: Action": the statement applies when any listed action matches)."""
    identity = [*s["identity"], *extra]
    exploded: list[dict[str, Any]] = []
    for st_ in identity:
        key = "Action" if "Action" in st_ else "NotAction"
        if key == "NotAction":
            exploded.append(st_)  # NotAction lists are an intersection of exclusions, not a union
            continue
        exploded.extend({**st_, "Action": [action]} for action in st_["Action"])
    assert run(s, identity=exploded) is run(s, identity=identity)


@FAST
@given(scenarios(), statements(effect="Deny"), st.integers(min_value=0, max_value=2))
def test_adding_an_scp_deny_never_widens(s: dict[str, Any], extra: dict[str, Any], level: int) -> None:
    """Service control policies: a Deny at any level of the organisation can only take access away."""
    request = request_of(s)
    full = policy([{"Effect": "Allow", "Action": "*", "Resource": "*"}], "FullAWSAccess")
    levels = [[full], [full], [full]]
    common: dict[str, Any] = {
        "identity_policies": [policy(s["identity"])],
        "permissions_boundary": policy(s["boundary"], "b") if s["boundary"] else None,
        "resource_policy": policy(s["resource"], "r") if s["resource"] else None,
    }
    before = decide(request, scps=levels, **common).verdict
    with_deny = [list(lv) for lv in levels]
    with_deny[level].append(policy([extra], "deny-scp"))
    after = decide(request, scps=with_deny, **common).verdict
    assert RANK[after] <= RANK[before]


BROKEN_STATEMENTS: list[dict[str, Any]] = [
    {"Effect": "Permit", "Action": "s3:*", "Resource": "*"},
    {"Effect": "Allow", "Resource": "*"},
    {"Effect": "Allow", "Action": "s3:*", "NotAction": "s3:Get*", "Resource": "*"},
    {"Effect": "Allow", "Action": [], "Resource": "*"},
    {"Effect": "Allow", "Action": "s3:*", "Resource": 7},
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": "nope"},
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "x"}}},
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"NumericLessThan": {"k": "ten"}}},
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": {"Human": "x"}},
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Colour": "red"},
]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(statements(), max_size=3),
    st.sampled_from(BROKEN_STATEMENTS),
    st.one_of(st.none(), st.text(alphabet="abcXYZ-_ ", min_size=1, max_size=8)),
    st.data(),
)
def test_a_malformed_statement_is_a_policy_error_naming_policy_and_statement(
    good: list[dict[str, Any]], broken: dict[str, Any], sid: str | None, data: st.DataObject
) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(good)))
    bad = {**broken, **({"Sid": sid} if sid is not None else {})}
    stmts = [*good[:position], bad, *good[position:]]
    try:
        parse_policy({"Version": "2012-10-17", "Statement": stmts}, name="inline:app-data")
    except PolicyError as e:
        message = str(e)
        assert "policy 'inline:app-data'" in message
        assert f"statement #{position}" in message
        if sid is not None:
            assert repr(sid) in message
    else:
        raise AssertionError(f"parse_policy accepted the malformed statement {bad!r}")
