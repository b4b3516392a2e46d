"""parse_policy: AWS's lenient forms are accepted; each malformed shape is a PolicyError naming where."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from blastradius.errors import PolicyError
from blastradius.policy import Tri, parse_policy

OK_STATEMENT: dict[str, Any] = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}


def doc(*statements: Any, **top: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements), **top}


# One case per malformed shape: (id, document, regex the message must match).
MALFORMED: list[tuple[str, Any, str]] = [
    ("not-json", "{not json", r"policy 'p': not valid JSON"),
    ("document-is-a-list", [OK_STATEMENT], r"policy 'p': a policy document must be a JSON object"),
    (
        "unknown-top-level-key",
        {**doc(OK_STATEMENT), "Statements": []},
        r"unknown top-level element\(s\) Statements",
    ),
    (
        "bad-version",
        doc(OK_STATEMENT, Version="2012-10-18"),
        r"Version must be one of 2012-10-17, 2008-10-17",
    ),
    ("missing-statement", {"Version": "2012-10-17"}, r"policy 'p': no Statement element"),
    ("statement-is-a-string", {"Statement": "Allow all"}, r"Statement must be an object or a list"),
    ("id-not-a-string", doc(OK_STATEMENT, Id=7), r"Id must be a string"),
    (
        "statement-not-an-object",
        doc(OK_STATEMENT, "oops"),
        r"statement #1: a statement must be a JSON object",
    ),
    (
        "unknown-statement-key",
        doc({**OK_STATEMENT, "Sid": "S", "Actions": ["s3:*"]}),
        r"statement #0 \(Sid 'S'\): unknown statement element\(s\) Actions",
    ),
    ("sid-not-a-string", doc({**OK_STATEMENT, "Sid": 3}), r"statement #0: Sid must be a string"),
    (
        "effect-missing",
        doc({"Action": "s3:*", "Resource": "*"}),
        r"statement #0: Effect must be \"Allow\" or",
    ),
    (
        "effect-wrong-case",
        doc({**OK_STATEMENT, "Effect": "allow"}),
        r"Effect must be \"Allow\" or \"Deny\", got 'allow'",
    ),
    (
        "action-and-notaction",
        doc({**OK_STATEMENT, "Sid": "Both", "NotAction": "iam:*"}),
        r"statement #0 \(Sid 'Both'\): both Action and NotAction",
    ),
    (
        "neither-action-nor-notaction",
        doc({"Effect": "Allow", "Resource": "*"}),
        r"neither Action nor NotAction",
    ),
    ("resource-and-notresource", doc({**OK_STATEMENT, "NotResource": "x"}), r"both Resource and NotResource"),
    (
        "principal-and-notprincipal",
        doc({**OK_STATEMENT, "Principal": "*", "NotPrincipal": {"AWS": "1"}}),
        r"both Principal and NotPrincipal",
    ),
    (
        "action-empty-list",
        doc({**OK_STATEMENT, "Action": []}),
        r"statement #0: Action must not be an empty list",
    ),
    (
        "action-not-strings",
        doc({**OK_STATEMENT, "Action": ["s3:*", 5]}),
        r"Action must be a string or a list",
    ),
    (
        "resource-an-object",
        doc({**OK_STATEMENT, "Resource": {"arn": "x"}}),
        r"Resource must be a string or a list",
    ),
    (
        "principal-bare-arn",
        doc({**OK_STATEMENT, "Principal": "arn:aws:iam::111122223333:root"}),
        r'Principal must be "\*" or an object',
    ),
    (
        "principal-unknown-type",
        doc({**OK_STATEMENT, "Principal": {"IAM": "x"}}),
        r"Principal has unknown principal type 'IAM'",
    ),
    (
        "principal-type-empty",
        doc({**OK_STATEMENT, "Principal": {"AWS": []}}),
        r"Principal.AWS must not be an empty",
    ),
    ("condition-not-object", doc({**OK_STATEMENT, "Condition": ["x"]}), r"Condition must be an object"),
    (
        "condition-operator-not-object",
        doc({**OK_STATEMENT, "Condition": {"StringEquals": "x"}}),
        r"Condition operator StringEquals must map condition keys to values",
    ),
    (
        "condition-value-nested",
        doc({**OK_STATEMENT, "Condition": {"StringEquals": {"aws:username": {"a": 1}}}}),
        r"Condition StringEquals aws:username: values must be strings",
    ),
    (
        "condition-value-null",
        doc({**OK_STATEMENT, "Condition": {"StringEquals": {"aws:username": None}}}),
        r"values must be strings, booleans or numbers",
    ),
    (
        "numeric-value-not-a-number",
        doc({**OK_STATEMENT, "Condition": {"NumericLessThan": {"s3:max-keys": "ten"}}}),
        r"Condition NumericLessThan s3:max-keys: 'ten' is not a number",
    ),
    (
        "date-value-not-a-date",
        doc({**OK_STATEMENT, "Condition": {"DateLessThan": {"aws:CurrentTime": "soon"}}}),
        r"'soon' is not a date",
    ),
    (
        "ip-value-not-a-cidr",
        doc({**OK_STATEMENT, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.300/8"}}}),
        r"is not an IP address or CIDR block",
    ),
    (
        "binary-value-not-base64",
        doc({**OK_STATEMENT, "Condition": {"BinaryEquals": {"k": "%%%"}}}),
        r"'%%%' is not base64",
    ),
    (
        "null-value-not-boolean",
        doc({**OK_STATEMENT, "Condition": {"Null": {"aws:TokenIssueTime": "maybe"}}}),
        r"Null takes 'true' or 'false'",
    ),
    (
        "condition-empty-key",
        doc({**OK_STATEMENT, "Condition": {"StringEquals": {" ": "x"}}}),
        r"has an empty condition key",
    ),
]


@pytest.mark.parametrize(("document", "message"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_documents_raise_policy_error_naming_policy_and_statement(
    document: Any, message: str
) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(document, name="p")


def test_policy_error_carries_a_hint() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(doc({"Effect": "Allow"}), name="inline:x")
    assert "IAM JSON policy element reference" in info.value.diagnostics()
    assert str(info.value).startswith("policy 'inline:x', statement #0")


LENIENT: list[tuple[str, Any]] = [
    ("statement-as-object__policy-grammar", {"Version": "2012-10-17", "Statement": OK_STATEMENT}),
    ("action-as-string__action-element", doc(OK_STATEMENT)),
    ("version-absent__version-element", {"Statement": [OK_STATEMENT]}),
    ("version-2008__version-element", {"Version": "2008-10-17", "Statement": [OK_STATEMENT]}),
    ("id-present__id-element", doc(OK_STATEMENT, Id="my-policy")),
    ("json-text", json.dumps(doc(OK_STATEMENT))),
    ("url-encoded-json__get-account-authorization-details", quote(json.dumps(doc(OK_STATEMENT)))),
    ("principal-star-string__principal-element", doc({**OK_STATEMENT, "Principal": "*"})),
    (
        "principal-account-id-string__principal-element",
        doc({**OK_STATEMENT, "Principal": {"AWS": "111122223333"}}),
    ),
    ("no-resource-trust-policy__resource-element", doc({"Effect": "Allow", "Action": "sts:AssumeRole"})),
    ("empty-statement-list", doc()),
    (
        "condition-bool-and-number-values__condition-element",
        doc(
            {
                **OK_STATEMENT,
                "Condition": {"Bool": {"aws:SecureTransport": True}, "NumericLessThan": {"k": 10}},
            }
        ),
    ),
    (
        "unknown-operator-does-not-raise__condition-operators",
        doc({**OK_STATEMENT, "Condition": {"StringSimilar": {"aws:username": "bob"}}}),
    ),
]


@pytest.mark.parametrize("document", [c[1] for c in LENIENT], ids=[c[0] for c in LENIENT])
def test_lenient_forms_parse(document: Any) -> None:
    policy = parse_policy(document, name="p")
    assert policy.name == "p"
    assert all(s.policy_name == "p" for s in policy.statements)


def test_compiled_statement_exposes_its_shape() -> None:
    policy = parse_policy(
        doc(
            {"Sid": "Read", "Effect": "Allow", "Action": ["s3:Get*"], "Resource": ["arn:aws:s3:::b/*"]},
            {"Effect": "Deny", "NotAction": "s3:*", "NotResource": "arn:aws:s3:::b"},
        ),
        name="managed:Read",
    )
    first, second = policy.statements
    assert (first.sid, first.index, first.effect, first.ref.label()) == ("Read", 0, "Allow", "Read")
    assert first.resource_patterns == ("arn:aws:s3:::b/*",) and not first.not_resource
    assert first.resource_literal_prefixes == ("arn:aws:s3:::b/",)
    assert (second.ref.label(), second.not_action, second.not_resource) == ("#1", True, True)
    assert policy.allows == (first,) and policy.denies == (second,)
    assert policy.variables_enabled


def test_unknown_operator_compiles_to_a_clause_that_is_unknown() -> None:
    policy = parse_policy(
        doc({**OK_STATEMENT, "Condition": {"StringSimilar": {"aws:username": "bob"}}}), name="p"
    )
    (clause,) = policy.statements[0].conditions
    assert not clause.known_operator
    assert "unknown condition operator StringSimilar" in clause.describe(deny=False)
    from blastradius.policy import Context

    assert clause.evaluate(Context.exact({"aws:username": "bob"}), deny=False) is Tri.UNKNOWN
