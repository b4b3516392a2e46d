"""Condition operators, one rule per case and both sides of each rule ("IAM JSON policy elements: Condition
operators"; "Creating a condition with multiple keys or values"; "IAM policy elements: Variables and tags").

Each case puts the condition on an Allow statement and decides in ``exact`` mode (the simulator's view:
keys not given are absent), so a true condition gives ALLOW and a false one IMPLICIT_DENY.
"""

from __future__ import annotations

from typing import Any

import pytest

from blastradius.policy import (
    Context,
    Request,
    RequestPrincipal,
    Tri,
    Verdict,
    decide,
    parse_policy,
)

ACCT = "111122223333"
ALICE = RequestPrincipal(
    arn=f"arn:aws:iam::{ACCT}:user/alice", account_id=ACCT, kind="user", user_name="alice"
)


def allowed_under(condition: dict[str, Any], values: dict[str, Any], *, version: str = "2012-10-17") -> bool:
    policy = parse_policy(
        {
            "Version": version,
            "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": condition}
            ],
        },
        name="p",
    )
    request = Request(
        principal=ALICE,
        action="s3:GetObject",
        resource="arn:aws:s3:::b/k",
        resource_account=ACCT,
        context=Context.exact(values),
    )
    verdict = decide(request, identity_policies=[policy]).verdict
    assert verdict in (Verdict.ALLOW, Verdict.IMPLICIT_DENY)
    return verdict is Verdict.ALLOW


T0 = "2024-01-01T00:00:00Z"
# The "ARN condition operators" example: StringLike matches it, ArnLike does not.
DOC_ARN = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
EPOCH_2024 = "1704067200"

# (id, condition block, request context values, condition holds?)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # --- string
    (
        "stringequals-match__string",
        {"StringEquals": {"aws:username": "alice"}},
        {"aws:username": "alice"},
        True,
    ),
    (
        "stringequals-mismatch__string",
        {"StringEquals": {"aws:username": "alice"}},
        {"aws:username": "bob"},
        False,
    ),
    (
        "stringequals-case-sensitive__string",
        {"StringEquals": {"aws:username": "Alice"}},
        {"aws:username": "alice"},
        False,
    ),
    (
        "stringequals-values-ored__condition",
        {"StringEquals": {"aws:username": ["x", "alice"]}},
        {"aws:username": "alice"},
        True,
    ),
    (
        "stringequals-absent-key-false__condition-operators",
        {"StringEquals": {"aws:username": "alice"}},
        {},
        False,
    ),
    (
        "stringnotequals-different__string",
        {"StringNotEquals": {"aws:username": "bob"}},
        {"aws:username": "alice"},
        True,
    ),
    (
        "stringnotequals-equal__string",
        {"StringNotEquals": {"aws:username": "alice"}},
        {"aws:username": "alice"},
        False,
    ),
    (
        "stringnotequals-matches-none-of-values__string",
        {"StringNotEquals": {"aws:username": ["x", "alice"]}},
        {"aws:username": "alice"},
        False,
    ),
    (
        "stringnotequals-absent-key-true__condition-operators",
        {"StringNotEquals": {"aws:username": "alice"}},
        {},
        True,
    ),
    (
        "stringequalsignorecase-match__string",
        {"StringEqualsIgnoreCase": {"aws:username": "ALICE"}},
        {"aws:username": "alice"},
        True,
    ),
    (
        "stringequalsignorecase-mismatch__string",
        {"StringEqualsIgnoreCase": {"aws:username": "bob"}},
        {"aws:username": "alice"},
        False,
    ),
    (
        "stringnotequalsignorecase-equal__string",
        {"StringNotEqualsIgnoreCase": {"aws:username": "ALICE"}},
        {"aws:username": "alice"},
        False,
    ),
    (
        "stringnotequalsignorecase-different__string",
        {"StringNotEqualsIgnoreCase": {"aws:username": "bob"}},
        {"aws:username": "alice"},
        True,
    ),
    ("stringlike-star__string", {"StringLike": {"s3:prefix": "home/*"}}, {"s3:prefix": "home/alice/"}, True),
    ("stringlike-question-mark__string", {"StringLike": {"s3:prefix": "d?"}}, {"s3:prefix": "d1"}, True),
    ("stringlike-anchored__string", {"StringLike": {"s3:prefix": "home/*"}}, {"s3:prefix": "x/home/"}, False),
    (
        "stringlike-empty-string-value__string",
        {"StringLike": {"s3:prefix": ["", "home/"]}},
        {"s3:prefix": ""},
        True,
    ),
    (
        "stringnotlike-match__string",
        {"StringNotLike": {"s3:prefix": "secret/*"}},
        {"s3:prefix": "secret/x"},
        False,
    ),
    (
        "stringnotlike-no-match__string",
        {"StringNotLike": {"s3:prefix": "secret/*"}},
        {"s3:prefix": "public/x"},
        True,
    ),
    (
        "stringnotlike-absent-true__condition-operators",
        {"StringNotLike": {"s3:prefix": "secret/*"}},
        {},
        True,
    ),
    (
        "condition-key-case-insensitive__variables",
        {"StringEquals": {"AWS:UserName": "alice"}},
        {"aws:username": "alice"},
        True,
    ),
    # --- ARN
    (
        "arnlike-match__arn",
        {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:111122223333:topic-*"}},
        {"aws:SourceArn": "arn:aws:sns:us-east-1:111122223333:topic-a"},
        True,
    ),
    (
        "arnlike-segments-checked-separately__arn",
        {"ArnLike": {"aws:SourceArn": "arn:aws:someservice:*:111122223333:finance/*"}},
        {"aws:SourceArn": DOC_ARN},
        False,
    ),
    (
        "stringlike-same-value-matches__arn",
        {"StringLike": {"aws:SourceArn": "arn:aws:someservice:*:111122223333:finance/*"}},
        {"aws:SourceArn": DOC_ARN},
        True,
    ),
    (
        "arnequals-behaves-like-arnlike__arn",
        {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::*:role/admin-*"}},
        {"aws:PrincipalArn": "arn:aws:iam::1:role/admin-x"},
        True,
    ),
    (
        "arnlike-resource-part-keeps-colons__arn",
        {"ArnLike": {"aws:SourceArn": "arn:aws:logs:*:*:log-group:*"}},
        {"aws:SourceArn": "arn:aws:logs:us-east-1:1:log-group:/a:b"},
        True,
    ),
    (
        "arnlike-case-sensitive__arn",
        {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::1:role/Admin"}},
        {"aws:PrincipalArn": "arn:aws:iam::1:role/admin"},
        False,
    ),
    (
        "arnnotequals-match-false__arn",
        {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::1:user/alice"}},
        {"aws:PrincipalArn": "arn:aws:iam::1:user/alice"},
        False,
    ),
    (
        "arnnotlike-other-true__arn",
        {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::1:user/*"}},
        {"aws:PrincipalArn": "arn:aws:iam::1:role/x"},
        True,
    ),
    (
        "arnnotlike-absent-true__condition-operators",
        {"ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*:*:*"}},
        {},
        True,
    ),
    # --- numeric
    ("numericequals-match__numeric", {"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, True),
    (
        "numericequals-decimal__numeric",
        {"NumericEquals": {"s3:max-keys": "10"}},
        {"s3:max-keys": "10.0"},
        True,
    ),
    (
        "numericequals-mismatch__numeric",
        {"NumericEquals": {"s3:max-keys": "10"}},
        {"s3:max-keys": "11"},
        False,
    ),
    (
        "numericnotequals-different__numeric",
        {"NumericNotEquals": {"s3:max-keys": "10"}},
        {"s3:max-keys": "11"},
        True,
    ),
    (
        "numericnotequals-equal__numeric",
        {"NumericNotEquals": {"s3:max-keys": "10"}},
        {"s3:max-keys": "10"},
        False,
    ),
    ("numericlessthan-below__numeric", {"NumericLessThan": {"s3:max-keys": 10}}, {"s3:max-keys": "9"}, True),
    (
        "numericlessthan-equal-false__numeric",
        {"NumericLessThan": {"s3:max-keys": 10}},
        {"s3:max-keys": "10"},
        False,
    ),
    (
        "numericlessthanequals-equal__numeric",
        {"NumericLessThanEquals": {"s3:max-keys": "10"}},
        {"s3:max-keys": "10"},
        True,
    ),
    (
        "numericlessthanequals-above__numeric",
        {"NumericLessThanEquals": {"s3:max-keys": "10"}},
        {"s3:max-keys": "11"},
        False,
    ),
    (
        "numericgreaterthan-above__numeric",
        {"NumericGreaterThan": {"aws:MultiFactorAuthAge": "3600"}},
        {"aws:MultiFactorAuthAge": "3601"},
        True,
    ),
    (
        "numericgreaterthan-below__numeric",
        {"NumericGreaterThan": {"aws:MultiFactorAuthAge": "3600"}},
        {"aws:MultiFactorAuthAge": "5"},
        False,
    ),
    (
        "numericgreaterthanequals-equal__numeric",
        {"NumericGreaterThanEquals": {"k": "1.5"}},
        {"k": "1.5"},
        True,
    ),
    (
        "numericgreaterthanequals-below__numeric",
        {"NumericGreaterThanEquals": {"k": "1.5"}},
        {"k": "1.4"},
        False,
    ),
    (
        "numeric-non-number-request-false__numeric",
        {"NumericLessThan": {"s3:max-keys": "10"}},
        {"s3:max-keys": "lots"},
        False,
    ),
    ("numeric-absent-false__condition-operators", {"NumericLessThan": {"s3:max-keys": "10"}}, {}, False),
    # --- date
    (
        "datelessthan-before__date",
        {"DateLessThan": {"aws:CurrentTime": "2025-01-01T00:00:00Z"}},
        {"aws:CurrentTime": T0},
        True,
    ),
    (
        "datelessthan-after__date",
        {"DateLessThan": {"aws:CurrentTime": "2023-01-01T00:00:00Z"}},
        {"aws:CurrentTime": T0},
        False,
    ),
    (
        "dategreaterthan-after__date",
        {"DateGreaterThan": {"aws:CurrentTime": "2023-06-30"}},
        {"aws:CurrentTime": T0},
        True,
    ),
    (
        "dategreaterthan-before__date",
        {"DateGreaterThan": {"aws:CurrentTime": "2024-06-30"}},
        {"aws:CurrentTime": T0},
        False,
    ),
    (
        "dateequals-iso-vs-epoch__date",
        {"DateEquals": {"aws:EpochTime": T0}},
        {"aws:EpochTime": EPOCH_2024},
        True,
    ),
    (
        "dateequals-epoch-policy-value__date",
        {"DateEquals": {"aws:CurrentTime": EPOCH_2024}},
        {"aws:CurrentTime": T0},
        True,
    ),
    ("datenotequals-equal__date", {"DateNotEquals": {"aws:CurrentTime": T0}}, {"aws:CurrentTime": T0}, False),
    (
        "datenotequals-different__date",
        {"DateNotEquals": {"aws:CurrentTime": "2024-01-02"}},
        {"aws:CurrentTime": T0},
        True,
    ),
    (
        "datelessthanequals-equal__date",
        {"DateLessThanEquals": {"aws:CurrentTime": "2024-01-01T01:00:00+01:00"}},
        {"aws:CurrentTime": T0},
        True,
    ),
    (
        "dategreaterthanequals-year-month__date",
        {"DateGreaterThanEquals": {"aws:CurrentTime": "2024-01"}},
        {"aws:CurrentTime": T0},
        True,
    ),
    (
        "dategreaterthanequals-later-year__date",
        {"DateGreaterThanEquals": {"aws:CurrentTime": "2025"}},
        {"aws:CurrentTime": T0},
        False,
    ),
    (
        "date-absent-false__condition-operators",
        {"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}},
        {},
        False,
    ),
    # --- bool / binary
    ("bool-true__boolean", {"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": True}, True),
    (
        "bool-false-vs-true__boolean",
        {"Bool": {"aws:SecureTransport": "false"}},
        {"aws:SecureTransport": True},
        False,
    ),
    (
        "bool-json-boolean-value__boolean",
        {"Bool": {"aws:SecureTransport": True}},
        {"aws:SecureTransport": "TRUE"},
        True,
    ),
    ("bool-absent-false__boolean", {"Bool": {"aws:MultiFactorAuthPresent": "true"}}, {}, False),
    (
        "binaryequals-match__binary",
        {"BinaryEquals": {"k": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}},
        {"k": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="},
        True,
    ),
    (
        "binaryequals-mismatch__binary",
        {"BinaryEquals": {"k": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}},
        {"k": "T3RoZXI="},
        False,
    ),
    # --- IP
    (
        "ipaddress-in-cidr__ip",
        {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
        {"aws:SourceIp": "203.0.113.9"},
        True,
    ),
    (
        "ipaddress-outside-cidr__ip",
        {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
        {"aws:SourceIp": "198.51.100.9"},
        False,
    ),
    (
        "ipaddress-bare-ip-is-slash-32__ip",
        {"IpAddress": {"aws:SourceIp": "203.0.113.9"}},
        {"aws:SourceIp": "203.0.113.9"},
        True,
    ),
    (
        "ipaddress-bare-ip-other__ip",
        {"IpAddress": {"aws:SourceIp": "203.0.113.9"}},
        {"aws:SourceIp": "203.0.113.10"},
        False,
    ),
    (
        "ipaddress-ipv6__ip",
        {"IpAddress": {"aws:SourceIp": "2001:DB8:1234:5678::/64"}},
        {"aws:SourceIp": "2001:db8:1234:5678::1"},
        True,
    ),
    (
        "ipaddress-v4-request-v6-range__ip",
        {"IpAddress": {"aws:SourceIp": "2001:DB8::/32"}},
        {"aws:SourceIp": "203.0.113.9"},
        False,
    ),
    (
        "ipaddress-mixed-list__ip",
        {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8::/32"]}},
        {"aws:SourceIp": "2001:db8::5"},
        True,
    ),
    (
        "notipaddress-outside__ip",
        {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
        {"aws:SourceIp": "198.51.100.9"},
        True,
    ),
    (
        "notipaddress-inside__ip",
        {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
        {"aws:SourceIp": "203.0.113.9"},
        False,
    ),
    ("ipaddress-absent-false-vpc-endpoint__ip", {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {}, False),
    # --- IfExists
    ("ifexists-absent-true__ifexists", {"StringEqualsIfExists": {"ec2:InstanceType": "t2.micro"}}, {}, True),
    (
        "ifexists-present-mismatch-false__ifexists",
        {"StringEqualsIfExists": {"ec2:InstanceType": "t2.micro"}},
        {"ec2:InstanceType": "m5.24xlarge"},
        False,
    ),
    (
        "ifexists-present-match__ifexists",
        {"StringLikeIfExists": {"ec2:InstanceType": "t2.*"}},
        {"ec2:InstanceType": "t2.nano"},
        True,
    ),
    ("numeric-ifexists-absent__ifexists", {"NumericLessThanIfExists": {"s3:max-keys": "10"}}, {}, True),
    ("ip-ifexists-absent__ifexists", {"IpAddressIfExists": {"aws:SourceIp": "203.0.113.0/24"}}, {}, True),
    (
        "bool-ifexists-present-mismatch__ifexists",
        {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}},
        {"aws:MultiFactorAuthPresent": "false"},
        False,
    ),
    ("date-ifexists-absent__ifexists", {"DateLessThanIfExists": {"aws:TokenIssueTime": T0}}, {}, True),
    (
        "date-ifexists-present-later__ifexists",
        {"DateLessThanIfExists": {"aws:TokenIssueTime": "2023-01-01"}},
        {"aws:TokenIssueTime": T0},
        False,
    ),
    ("arn-ifexists-absent__ifexists", {"ArnLikeIfExists": {"aws:SourceArn": "arn:aws:sns:*:*:t"}}, {}, True),
    (
        "arnnotlike-ifexists-present-match__ifexists",
        {"ArnNotLikeIfExists": {"aws:SourceArn": "arn:aws:sns:*:*:t"}},
        {"aws:SourceArn": "arn:aws:sns:r:1:t"},
        False,
    ),
    ("binary-ifexists-absent__ifexists", {"BinaryEqualsIfExists": {"k": "T3RoZXI="}}, {}, True),
    ("negated-ifexists-absent-true__ifexists", {"StringNotEqualsIfExists": {"aws:username": "x"}}, {}, True),
    # --- Null
    ("null-true-absent__null", {"Null": {"aws:TokenIssueTime": "true"}}, {}, True),
    ("null-true-present__null", {"Null": {"aws:TokenIssueTime": "true"}}, {"aws:TokenIssueTime": T0}, False),
    ("null-false-present__null", {"Null": {"aws:TokenIssueTime": "false"}}, {"aws:TokenIssueTime": T0}, True),
    ("null-false-absent__null", {"Null": {"aws:TokenIssueTime": False}}, {}, False),
    # --- set operators
    (
        "forallvalues-all-listed__multi-value",
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b", "c"]}},
        {"aws:TagKeys": ["a", "b"]},
        True,
    ),
    (
        "forallvalues-one-unlisted__multi-value",
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}},
        {"aws:TagKeys": ["a", "z"]},
        False,
    ),
    (
        "forallvalues-absent-key-true__multi-value",
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}},
        {},
        True,
    ),
    (
        "forallvalues-empty-set-true__multi-value",
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}},
        {"aws:TagKeys": []},
        True,
    ),
    (
        "foranyvalue-one-listed__multi-value",
        {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}},
        {"aws:TagKeys": ["z", "a"]},
        True,
    ),
    (
        "foranyvalue-none-listed__multi-value",
        {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}},
        {"aws:TagKeys": ["z"]},
        False,
    ),
    (
        "foranyvalue-absent-key-false__multi-value",
        {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}},
        {},
        False,
    ),
    (
        "foranyvalue-empty-set-false__multi-value",
        {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}},
        {"aws:TagKeys": []},
        False,
    ),
    (
        "forallvalues-stringlike__multi-value",
        {"ForAllValues:StringLike": {"dynamodb:Attributes": ["Post*", "Message"]}},
        {"dynamodb:Attributes": ["PostDateTime", "Message"]},
        True,
    ),
    (
        "forallvalues-notequals-none-forbidden__multi-value",
        {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["owner"]}},
        {"aws:TagKeys": ["a", "b"]},
        True,
    ),
    (
        "forallvalues-notequals-one-forbidden__multi-value",
        {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["owner"]}},
        {"aws:TagKeys": ["a", "owner"]},
        False,
    ),
    (
        "foranyvalue-notequals-some-other__multi-value",
        {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["owner"]}},
        {"aws:TagKeys": ["owner", "x"]},
        True,
    ),
    (
        "foranyvalue-notequals-all-forbidden__multi-value",
        {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["owner"]}},
        {"aws:TagKeys": ["owner"]},
        False,
    ),
    (
        "foranyvalue-ifexists-absent-true__multi-value",
        {"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": ["a"]}},
        {},
        True,
    ),
    (
        "foranyvalue-numeric__multi-value",
        {"ForAnyValue:NumericLessThan": {"k": "5"}},
        {"k": ["9", "3"]},
        True,
    ),
    (
        "forallvalues-numeric-one-too-big__multi-value",
        {"ForAllValues:NumericLessThan": {"k": "5"}},
        {"k": ["9", "3"]},
        False,
    ),
    (
        "foranyvalue-ipaddress__multi-value",
        {"ForAnyValue:IpAddress": {"k": "10.0.0.0/8"}},
        {"k": ["192.0.2.1", "10.1.2.3"]},
        True,
    ),
    (
        "forallvalues-arnlike__multi-value",
        {"ForAllValues:ArnLike": {"aws:CalledVia": "arn:aws:iam::*:role/*"}},
        {"aws:CalledVia": ["arn:aws:iam::1:role/a", "arn:aws:iam::1:user/b"]},
        False,
    ),
    (
        "foranyvalue-stringlike-tags__multi-value",
        {"ForAnyValue:StringLike": {"aws:TagKeys": "env*"}},
        {"aws:TagKeys": ["owner", "environment"]},
        True,
    ),
    (
        "plain-operator-multivalued-key-any__multi-value",
        {"StringEquals": {"aws:TagKeys": "a"}},
        {"aws:TagKeys": ["z", "a"]},
        True,
    ),
    # --- several keys and operators are ANDed
    (
        "keys-anded__condition-element",
        {"StringEquals": {"aws:username": "alice", "aws:PrincipalTag/team": "red"}},
        {"aws:username": "alice", "aws:PrincipalTag/team": "blue"},
        False,
    ),
    (
        "operators-anded__condition-element",
        {"StringEquals": {"aws:username": "alice"}, "Bool": {"aws:SecureTransport": "true"}},
        {"aws:username": "alice", "aws:SecureTransport": "true"},
        True,
    ),
    (
        "operators-anded-one-false__condition-element",
        {"StringEquals": {"aws:username": "alice"}, "Bool": {"aws:SecureTransport": "true"}},
        {"aws:username": "alice", "aws:SecureTransport": "false"},
        False,
    ),
    # --- policy variables in condition values
    (
        "variable-in-stringequals__variables",
        {"StringEquals": {"s3:prefix": "home/${aws:username}/"}},
        {"s3:prefix": "home/alice/", "aws:username": "alice"},
        True,
    ),
    (
        "variable-other-user__variables",
        {"StringEquals": {"s3:prefix": "home/${aws:username}/"}},
        {"s3:prefix": "home/bob/", "aws:username": "alice"},
        False,
    ),
    (
        "variable-in-stringlike__variables",
        {"StringLike": {"s3:prefix": "${aws:username}/*"}},
        {"s3:prefix": "alice/x", "aws:username": "alice"},
        True,
    ),
    (
        "variable-tag-in-arnlike__variables",
        {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:${aws:PrincipalTag/team}"}},
        {"aws:SourceArn": "arn:aws:sns:r:1:red", "aws:PrincipalTag/team": "red"},
        True,
    ),
    (
        "variable-absent-no-match__variables",
        {"StringEquals": {"s3:prefix": "home/${aws:username}/"}},
        {"s3:prefix": "home//"},
        False,
    ),
    (
        "variable-default-when-absent__variables",
        {"StringEquals": {"s3:prefix": "${aws:userid, 'anonymous'}"}},
        {"s3:prefix": "anonymous"},
        True,
    ),
    (
        "variable-matches-resource-tag__variables",
        {"StringEquals": {"aws:ResourceTag/owner": "${aws:username}"}},
        {"aws:ResourceTag/owner": "alice", "aws:username": "alice"},
        True,
    ),
    (
        "variable-mismatch-resource-tag__variables",
        {"StringEquals": {"aws:ResourceTag/owner": "${aws:username}"}},
        {"aws:ResourceTag/owner": "bob", "aws:username": "alice"},
        False,
    ),
    ("special-dollar__variables", {"StringEquals": {"k": "${$}5"}}, {"k": "$5"}, True),
    ("special-star-literal-in-like__variables", {"StringLike": {"k": "a${*}"}}, {"k": "abc"}, False),
]


@pytest.mark.parametrize(("condition", "values", "holds"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_condition_operator(condition: dict[str, Any], values: dict[str, Any], holds: bool) -> None:
    assert allowed_under(condition, values) is holds


def test_variables_literal_without_version_2012__variables() -> None:
    condition = {"StringEquals": {"s3:prefix": "${aws:username}"}}
    values = {"s3:prefix": "${aws:username}", "aws:username": "alice"}
    assert allowed_under(condition, values, version="2008-10-17")
    assert not allowed_under(condition, {"s3:prefix": "alice", "aws:username": "alice"}, version="2008-10-17")


def _clause_state(condition: dict[str, Any], ctx: Context, *, deny: bool = False) -> Tri:
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition},
        },
        name="p",
    )
    (clause,) = policy.statements[0].conditions
    return clause.evaluate(ctx, deny=deny)


@pytest.mark.parametrize(
    ("condition", "deny", "expected"),
    [
        ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, False, Tri.UNKNOWN),
        ({"IpAddressIfExists": {"aws:SourceIp": "203.0.113.0/24"}}, False, Tri.UNKNOWN),
        ({"Null": {"aws:SourceVpce": "true"}}, False, Tri.UNKNOWN),
        ({"Bool": {"aws:SecureTransport": "false"}}, True, Tri.NO),
        ({"Bool": {"aws:SecureTransport": "true"}}, False, Tri.YES),
        ({"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}, True, Tri.NO),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, False, Tri.YES),
        ({"Null": {"aws:RequestTag/owner": "false"}}, False, Tri.YES),
        ({"StringLike": {"kms:EncryptionContext:app": "billing"}}, False, Tri.YES),
        ({"StringFuzzy": {"aws:SecureTransport": "x"}}, True, Tri.NO),
        ({"StringFuzzy": {"aws:username": "x"}}, False, Tri.UNKNOWN),
        ({"StringEquals": {"s3:prefix": "${aws:PrincipalTag/team}"}}, False, Tri.YES),
    ],
    ids=[
        "outsider-key-unknown__attacker-model",
        "outsider-key-unknown-even-ifexists__attacker-model",
        "outsider-key-null-unknown__attacker-model",
        "attacker-key-in-deny-false__attacker-model",
        "attacker-key-in-allow-true__attacker-model",
        "attacker-region-in-deny-false__attacker-model",
        "attacker-tagkeys-set-operator__attacker-model",
        "attacker-request-tag-prefix__attacker-model",
        "attacker-encryption-context-prefix__attacker-model",
        "unknown-operator-on-attacker-key-resolved__attacker-model",
        "unknown-operator-unknown__attacker-model",
        "attacker-key-wins-over-unknown-variable__attacker-model",
    ],
)
def test_attacker_mode_clause_resolution(condition: dict[str, Any], deny: bool, expected: Tri) -> None:
    assert _clause_state(condition, Context.attacker({}), deny=deny) is expected


def test_overrides_make_a_key_known__assume_context() -> None:
    ctx = Context.attacker({}, overrides={"aws:SourceIp": "203.0.113.7", "aws:SecureTransport": "false"})
    assert _clause_state({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, ctx) is Tri.YES
    assert _clause_state({"Bool": {"aws:SecureTransport": "false"}}, ctx, deny=True) is Tri.YES


def test_absent_prefix_makes_missing_tags_absent__attacker_model() -> None:
    ctx = Context.attacker({"aws:PrincipalTag/team": "red"}, absent=["aws:PrincipalTag/*"])
    assert _clause_state({"StringEquals": {"aws:PrincipalTag/team": "red"}}, ctx) is Tri.YES
    assert _clause_state({"StringEquals": {"aws:PrincipalTag/level": "admin"}}, ctx) is Tri.NO
    assert _clause_state({"StringEquals": {"aws:ResourceTag/level": "admin"}}, ctx) is Tri.UNKNOWN


def test_unknown_variable_value_is_unknown__attacker_model() -> None:
    ctx = Context.attacker({"s3:prefix": "red/"})
    assert (
        _clause_state({"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}, ctx)
        is Tri.UNKNOWN
    )


@pytest.mark.parametrize(
    ("condition", "deny", "text"),
    [
        ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, False, "aws:SourceIp must be in 203.0.113.0/24"),
        (
            {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::1"]}},
            True,
            "aws:SourceIp is not in any of [10.0.0.0/8, ::1]",
        ),
        (
            {"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}},
            False,
            "aws:SourceVpc must equal vpc-1 (if present)",
        ),
        (
            {"ForAnyValue:StringLike": {"aws:CalledVia": "athena*"}},
            False,
            "at least one value of aws:CalledVia must match athena*",
        ),
        ({"Null": {"aws:SourceVpce": "false"}}, False, "aws:SourceVpce must be present"),
        ({"Bool": {"aws:MultiFactorAuthPresent": "false"}}, True, "aws:MultiFactorAuthPresent is false"),
        (
            {"Frobnicate": {"aws:SourceIp": "x"}},
            False,
            "unknown condition operator Frobnicate on aws:SourceIp (x)",
        ),
    ],
    ids=["allow", "deny-negated-list", "ifexists", "set-operator", "null", "bool-deny", "unknown-operator"],
)
def test_clause_reasons_read_as_sentences(condition: dict[str, Any], deny: bool, text: str) -> None:
    policy = parse_policy(
        {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition}}, name="p"
    )
    assert policy.statements[0].conditions[0].describe(deny=deny) == text
