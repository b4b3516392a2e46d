"""Statements with the same Action, Resource, Principal or Condition share their compiled parts.

Sharing must never merge two different elements: ``true`` and ``1`` are different condition values
(and compare differently: "Condition element", Bool vs Numeric operators), the order of clauses is kept,
and a malformed block is still reported with its own message.
"""

from __future__ import annotations

from typing import Any

import pytest

from blastradius.errors import PolicyError
from blastradius.policy import parse_policy


def policy(condition: Any, action: Any = "s3:GetObject", principal: Any = None) -> Any:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": "*", "Condition": condition}
    if principal is not None:
        statement["Principal"] = principal
    return parse_policy({"Version": "2012-10-17", "Statement": [statement]}, name="p")


def test_identical_parts_are_shared_between_policies() -> None:
    condition = {
        "StringEquals": {"aws:PrincipalTag/team": ["a", "b"]},
        "Bool": {"aws:SecureTransport": "true"},
    }
    principal = {"AWS": ["arn:aws:iam::111111111111:root"]}
    one = policy(condition, ["s3:Get*", "s3:List*"], principal).statements[0]
    two = policy(dict(condition), ["s3:Get*", "s3:List*"], dict(principal)).statements[0]
    assert one is not two and one.ref == two.ref
    assert one._actions is two._actions and one._resources is two._resources
    assert one._principal is two._principal
    assert one.conditions is two.conditions
    assert [c.operator for c in one.conditions] == ["StringEquals", "Bool"]  # written order kept


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"StringEquals": {"k": 1}}, {"StringEquals": {"k": True}}),
        ({"StringEquals": {"k": "1"}}, {"StringEquals": {"k": 1}}),
        ({"StringEquals": {"k": ["a"]}}, {"StringEquals": {"k": "a"}}),
        (
            {"StringEquals": {"k": "a"}, "Bool": {"b": "true"}},
            {"Bool": {"b": "true"}, "StringEquals": {"k": "a"}},
        ),
    ],
    ids=["int-vs-bool", "string-vs-int", "list-vs-scalar", "order"],
)
def test_different_blocks_are_not_merged(first: Any, second: Any) -> None:
    a = policy(first).statements[0].conditions
    b = policy(second).statements[0].conditions
    assert a is not b
    assert [(c.operator, c.key, c.values) for c in a] == [
        (c.operator, c.key, c.values) for c in policy(first).statements[0].conditions
    ]


def test_int_and_bool_values_keep_their_text() -> None:
    (one,) = policy({"StringEquals": {"k": 1}}).statements[0].conditions
    (true,) = policy({"StringEquals": {"k": True}}).statements[0].conditions
    assert one.values == ("1",) and true.values == ("true",)


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"k": [["nested"]]}},
        {"StringEquals": {}},
        ["not", "a", "map"],
    ],
)
def test_malformed_blocks_are_still_reported(condition: Any) -> None:
    with pytest.raises(PolicyError, match="Condition"):
        policy(condition)
