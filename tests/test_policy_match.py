"""Actions, resources (with policy variables) and principals, each rule tested on its matching and its
non-matching side. Ids end with the AWS doc page the rule comes from."""

from __future__ import annotations

from typing import Any

import pytest

from blastradius.policy import (
    Context,
    PrincipalMatch,
    RequestPrincipal,
    Statement,
    parse_policy,
)

ACCT = "111122223333"
OTHER = "444455556666"


def statement(version: str | None = "2012-10-17", **element: Any) -> Statement:
    body: dict[str, Any] = {"Effect": "Allow", **element}
    if "NotAction" not in body:
        body.setdefault("Action", "*")
    document: dict[str, Any] = {"Statement": [body]}
    if version is not None:
        document["Version"] = version
    return parse_policy(document, name="p").statements[0]


ACTIONS: list[tuple[str, Any, str, bool]] = [
    ("exact__action-element", "s3:GetObject", "s3:GetObject", True),
    ("exact-other-action__action-element", "s3:GetObject", "s3:PutObject", False),
    ("case-insensitive__action-element", "S3:getobject", "s3:GetObject", True),
    ("service-wildcard__action-element", "s3:*", "s3:DeleteBucket", True),
    ("service-wildcard-other-service__action-element", "s3:*", "dynamodb:Scan", False),
    ("star-matches-everything__action-element", "*", "kms:Decrypt", True),
    ("prefix-glob__action-element", "s3:Get*", "s3:GetObjectAcl", True),
    ("prefix-glob-no-match__action-element", "s3:Get*", "s3:PutObject", False),
    ("infix-glob__policy-evaluation-logic", "iam:*AccessKey*", "iam:CreateAccessKey", True),
    ("infix-glob-no-match__policy-evaluation-logic", "iam:*AccessKey*", "iam:CreateUser", False),
    ("question-mark-one-char__action-element", "sqs:?eceiveMessage", "sqs:ReceiveMessage", True),
    ("question-mark-not-two-chars__action-element", "sqs:?ceiveMessage", "sqs:ReceiveMessage", False),
    ("list-any-of__action-element", ["s3:GetObject", "kms:Decrypt"], "kms:decrypt", True),
    ("glob-anchored__action-element", "s3:Get", "s3:GetObject", False),
]


@pytest.mark.parametrize(
    ("pattern", "action", "expected"), [c[1:] for c in ACTIONS], ids=[c[0] for c in ACTIONS]
)
def test_action_matching(pattern: Any, action: str, expected: bool) -> None:
    assert statement(Action=pattern, Resource="*").matches_action(action) is expected


NOT_ACTIONS: list[tuple[str, Any, str, bool]] = [
    ("notaction-covers-unlisted__notaction-element", "iam:*", "s3:GetObject", True),
    ("notaction-excludes-listed__notaction-element", "iam:*", "iam:CreateUser", False),
    ("notaction-case-insensitive__notaction-element", "IAM:CreateUser", "iam:createuser", False),
]


@pytest.mark.parametrize(
    ("pattern", "action", "expected"), [c[1:] for c in NOT_ACTIONS], ids=[c[0] for c in NOT_ACTIONS]
)
def test_notaction_matching(pattern: Any, action: str, expected: bool) -> None:
    assert statement(NotAction=pattern, Resource="*").matches_action(action) is expected


@pytest.mark.parametrize(
    ("element", "service", "expected"),
    [
        ({"Action": "s3:Get*"}, "s3", True),
        ({"Action": "s3:Get*"}, "dynamodb", False),
        ({"Action": "*"}, "kms", True),
        ({"Action": "dynamo*:Scan"}, "dynamodb", True),
        ({"NotAction": "s3:*"}, "s3", False),
        ({"NotAction": "s3:*"}, "kms", True),
        ({"NotAction": "s3:GetObject"}, "s3", True),
        ({"NotAction": "*"}, "s3", False),
        ({"Action": "*Object"}, "s3", True),
    ],
    ids=[
        "action-service-listed",
        "action-service-not-listed",
        "action-star",
        "action-service-glob",
        "notaction-whole-service-excluded",
        "notaction-other-service",
        "notaction-one-action-excluded",
        "notaction-star",
        "action-glob-without-colon",
    ],
)
def test_action_could_match_service(element: dict[str, Any], service: str, expected: bool) -> None:
    assert statement(Resource="*", **element).action_could_match_service(service) is expected


BOB = {"aws:username": "bob", "aws:PrincipalTag/team": "red"}

RESOURCES: list[tuple[str, Any, str, dict[str, Any], bool]] = [
    ("star-matches-any-arn__resource-element", "*", "arn:aws:dynamodb:us-east-1:1:table/t", {}, True),
    ("exact__resource-element", "arn:aws:s3:::b", "arn:aws:s3:::b", {}, True),
    ("bucket-is-not-its-objects__resource-element", "arn:aws:s3:::b", "arn:aws:s3:::b/k", {}, False),
    ("objects-glob__resource-element", "arn:aws:s3:::b/*", "arn:aws:s3:::b/deep/key.csv", {}, True),
    ("objects-glob-not-the-bucket__resource-element", "arn:aws:s3:::b/*", "arn:aws:s3:::b", {}, False),
    ("star-spans-slash-and-colon__resource-element", "arn:aws:s3:::*", "arn:aws:s3:::b/a:b", {}, True),
    (
        "segment-wildcard__resource-element",
        "arn:aws:dynamodb:*:*:table/t",
        "arn:aws:dynamodb:eu-west-1:1:table/t",
        {},
        True,
    ),
    (
        "segment-wildcard-other-table__resource-element",
        "arn:aws:dynamodb:*:*:table/t",
        "arn:aws:dynamodb:eu-west-1:1:table/u",
        {},
        False,
    ),
    ("question-mark__resource-element", "arn:aws:s3:::log?", "arn:aws:s3:::logs", {}, True),
    ("question-mark-one-char-only__resource-element", "arn:aws:s3:::log?", "arn:aws:s3:::logsx", {}, False),
    ("case-sensitive__resource-element", "arn:aws:iam::1:user/Bob", "arn:aws:iam::1:user/bob", {}, False),
    (
        "infix-glob__policy-evaluation-logic",
        "arn:aws:s3:::*log*",
        "arn:aws:s3:::carlossalazar-logs",
        {},
        True,
    ),
    (
        "variable-substituted__variables",
        "arn:aws:s3:::b/${aws:username}/*",
        "arn:aws:s3:::b/bob/x",
        BOB,
        True,
    ),
    (
        "variable-other-user__variables",
        "arn:aws:s3:::b/${aws:username}/*",
        "arn:aws:s3:::b/eve/x",
        BOB,
        False,
    ),
    (
        "variable-absent-no-match__variables",
        "arn:aws:s3:::b/${aws:username}/*",
        "arn:aws:s3:::b//x",
        {},
        False,
    ),
    (
        "tag-variable__variables",
        "arn:aws:s3:::${aws:PrincipalTag/team}-data",
        "arn:aws:s3:::red-data",
        BOB,
        True,
    ),
    (
        "default-value-used-when-absent__variables",
        "arn:aws:s3:::b/${aws:userid, 'anon'}/*",
        "arn:aws:s3:::b/anon/x",
        {},
        True,
    ),
    (
        "default-value-ignored-when-present__variables",
        "arn:aws:s3:::b/${aws:username, 'anon'}/*",
        "arn:aws:s3:::b/anon/x",
        BOB,
        False,
    ),
    ("special-star-is-literal__variables", "arn:aws:s3:::b/${*}", "arn:aws:s3:::b/*", {}, True),
    ("special-star-not-a-wildcard__variables", "arn:aws:s3:::b/${*}", "arn:aws:s3:::b/key", {}, False),
    ("special-question-and-dollar__variables", "arn:aws:s3:::b/${?}${$}", "arn:aws:s3:::b/?$", {}, True),
    (
        "variable-value-is-literal__variables",
        "arn:aws:s3:::b/${aws:username}",
        "arn:aws:s3:::b/bob",
        {"aws:username": "b*"},
        False,
    ),
]


@pytest.mark.parametrize(
    ("pattern", "arn", "values", "expected"), [c[1:] for c in RESOURCES], ids=[c[0] for c in RESOURCES]
)
def test_resource_matching(pattern: Any, arn: str, values: dict[str, Any], expected: bool) -> None:
    assert statement(Resource=pattern).matches_resource(arn, Context.exact(values)) is expected


def test_variables_are_literal_before_version_2012__variables() -> None:
    old = statement(version="2008-10-17", Resource="arn:aws:s3:::b/${aws:username}")
    assert old.matches_resource("arn:aws:s3:::b/${aws:username}", Context.exact(BOB))
    assert not old.matches_resource("arn:aws:s3:::b/bob", Context.exact(BOB))
    absent = statement(version=None, Resource="arn:aws:s3:::b/${aws:username}")
    assert absent.matches_resource("arn:aws:s3:::b/${aws:username}", Context.exact(BOB))


def test_notresource_inverts__notresource_element() -> None:
    s = statement(NotResource=["arn:aws:s3:::secret", "arn:aws:s3:::secret/*"])
    assert s.matches_resource("arn:aws:s3:::public/x")
    assert not s.matches_resource("arn:aws:s3:::secret/x")


def test_statement_without_resource_covers_everything__trust_policy() -> None:
    s = parse_policy(
        {"Statement": {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": "*"}}, name="t"
    )
    assert s.statements[0].resource_patterns is None
    assert s.statements[0].matches_resource("arn:aws:iam::1:role/x")


def test_unknown_variable_is_not_a_definite_match__attacker_model() -> None:
    s = statement(Resource="arn:aws:s3:::b/${aws:PrincipalTag/team}/*")
    assert not s.matches_resource("arn:aws:s3:::b/red/x", Context.attacker({}))
    from blastradius.policy import Tri

    assert s.resource_state("arn:aws:s3:::b/red/x", Context.attacker({})) is Tri.UNKNOWN


USER = RequestPrincipal(
    arn=f"arn:aws:iam::{ACCT}:user/alice",
    account_id=ACCT,
    kind="user",
    user_name="alice",
    user_id="AIDAALICE",
)
ROLE = RequestPrincipal(
    arn=f"arn:aws:iam::{ACCT}:role/app",
    account_id=ACCT,
    kind="role",
    session_arn=f"arn:aws:sts::{ACCT}:assumed-role/app/s1",
    user_id="AROAAPP:s1",
)
ANY_SESSION = RequestPrincipal(
    arn=f"arn:aws:iam::{ACCT}:role/app",
    account_id=ACCT,
    kind="role",
    session_arn=f"arn:aws:sts::{ACCT}:assumed-role/app/*",
)
ROOT = RequestPrincipal(arn=f"arn:aws:iam::{ACCT}:root", account_id=ACCT, kind="root")
LAMBDA = RequestPrincipal(arn="lambda.amazonaws.com", account_id="", kind="service")
GOOGLE = RequestPrincipal(arn="accounts.google.com", account_id="", kind="federated")

PRINCIPALS: list[tuple[str, Any, RequestPrincipal, PrincipalMatch]] = [
    ("star__principal-all-principals", "*", USER, PrincipalMatch.DIRECT_ANY),
    ("aws-star__principal-all-principals", {"AWS": "*"}, ROLE, PrincipalMatch.DIRECT_ANY),
    ("account-id-delegates__principal-account", {"AWS": ACCT}, USER, PrincipalMatch.ACCOUNT),
    (
        "root-arn-delegates__principal-account",
        {"AWS": f"arn:aws:iam::{ACCT}:root"},
        ROLE,
        PrincipalMatch.ACCOUNT,
    ),
    ("other-account__principal-account", {"AWS": OTHER}, USER, PrincipalMatch.NONE),
    ("user-arn__principal-users", {"AWS": USER.arn}, USER, PrincipalMatch.DIRECT_USER),
    ("user-arn-case-sensitive__principal-users", {"AWS": USER.arn.upper()}, USER, PrincipalMatch.NONE),
    ("user-unique-id__principal-users", {"AWS": "AIDAALICE"}, USER, PrincipalMatch.DIRECT_USER),
    ("other-user__principal-users", {"AWS": f"arn:aws:iam::{ACCT}:user/bob"}, USER, PrincipalMatch.NONE),
    ("role-arn__principal-roles", {"AWS": ROLE.arn}, ROLE, PrincipalMatch.DIRECT_ROLE),
    ("role-arn-not-a-user__principal-roles", {"AWS": ROLE.arn}, USER, PrincipalMatch.NONE),
    ("session-arn__principal-role-session", {"AWS": ROLE.session_arn}, ROLE, PrincipalMatch.DIRECT_SESSION),
    (
        "other-session__principal-role-session",
        {"AWS": f"arn:aws:sts::{ACCT}:assumed-role/app/s2"},
        ROLE,
        PrincipalMatch.NONE,
    ),
    (
        "attacker-picks-session-name__principal-role-session",
        {"AWS": f"arn:aws:sts::{ACCT}:assumed-role/app/s2"},
        ANY_SESSION,
        PrincipalMatch.DIRECT_SESSION,
    ),
    (
        "session-wildcard__principal-role-session",
        {"AWS": f"arn:aws:sts::{ACCT}:assumed-role/app/*"},
        ROLE,
        PrincipalMatch.DIRECT_SESSION,
    ),
    (
        "session-and-role-listed-strongest-wins__principal-element",
        {"AWS": [ROLE.arn, ROLE.session_arn]},
        ROLE,
        PrincipalMatch.DIRECT_SESSION,
    ),
    ("root-account__principal-account", {"AWS": ACCT}, ROOT, PrincipalMatch.ACCOUNT),
    (
        "service__principal-services",
        {"Service": "lambda.amazonaws.com"},
        LAMBDA,
        PrincipalMatch.DIRECT_SERVICE,
    ),
    ("service-other__principal-services", {"Service": "ec2.amazonaws.com"}, LAMBDA, PrincipalMatch.NONE),
    (
        "service-not-for-users__principal-services",
        {"Service": "lambda.amazonaws.com"},
        USER,
        PrincipalMatch.NONE,
    ),
    (
        "federated__principal-web-identity",
        {"Federated": "accounts.google.com"},
        GOOGLE,
        PrincipalMatch.DIRECT_FEDERATED,
    ),
    (
        "federated-other__principal-web-identity",
        {"Federated": "graph.facebook.com"},
        GOOGLE,
        PrincipalMatch.NONE,
    ),
    ("canonical-user-never-iam__principal-account", {"CanonicalUser": "79a59df9"}, USER, PrincipalMatch.NONE),
]


@pytest.mark.parametrize(
    ("element", "principal", "expected"), [c[1:] for c in PRINCIPALS], ids=[c[0] for c in PRINCIPALS]
)
def test_principal_match(element: Any, principal: RequestPrincipal, expected: PrincipalMatch) -> None:
    assert statement(Principal=element, Resource="*").principal_match(principal) is expected


def test_principal_match_kinds() -> None:
    assert PrincipalMatch.DIRECT_SESSION.names_caller and PrincipalMatch.DIRECT_ANY.names_caller
    assert PrincipalMatch.DIRECT_ROLE.direct and not PrincipalMatch.DIRECT_ROLE.names_caller
    assert not PrincipalMatch.ACCOUNT.direct and not PrincipalMatch.NONE.direct


def test_notprincipal_allow_excludes_listed__notprincipal_element() -> None:
    s = statement(NotPrincipal={"AWS": USER.arn}, Resource="*")
    assert s.principal_match(USER) is PrincipalMatch.NONE
    assert s.principal_match(ROLE) is PrincipalMatch.DIRECT_ANY
