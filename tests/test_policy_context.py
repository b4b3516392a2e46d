"""The request context and the attacker model (DESIGN.md §4; "AWS global condition context keys")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from blastradius.policy import (
    ATTACKER_CONTROLLED_KEYS,
    OUTSIDER_UNSATISFIABLE_KEYS,
    Context,
    KeyState,
    RequestPrincipal,
    principal_context_values,
)

ACCT = "111122223333"
ROLE = RequestPrincipal(
    arn=f"arn:aws:iam::{ACCT}:role/app",
    account_id=ACCT,
    kind="role",
    session_arn=f"arn:aws:sts::{ACCT}:assumed-role/app/s1",
    user_id="AROAAPP:s1",
    tags={"Team": "red"},
    org_id="o-abc",
)
USER = RequestPrincipal(
    arn=f"arn:aws:iam::{ACCT}:user/alice", account_id=ACCT, kind="user", user_name="alice"
)


def test_role_principal_keys__global_condition_keys() -> None:
    values = principal_context_values(ROLE)
    assert values["aws:principalarn"] == (ROLE.arn,)  # the role ARN, not the session ARN
    assert values["aws:principaltype"] == ("AssumedRole",)
    assert values["aws:userid"] == ("AROAAPP:s1",)
    assert values["aws:principaltag/team"] == ("red",)
    assert values["aws:principalorgid"] == ("o-abc",)
    assert values["aws:principalisawsservice"] == ("false",)
    assert "aws:username" not in values


def test_for_principal_marks_what_the_snapshot_settles__attacker_model() -> None:
    ctx = Context.for_principal(ROLE)
    assert ctx.lookup("AWS:PrincipalTag/TEAM") == ("red",)  # key names are case-insensitive
    assert ctx.lookup("aws:PrincipalTag/level") is KeyState.ABSENT
    assert ctx.lookup("aws:username") is KeyState.ABSENT
    assert ctx.lookup("aws:SecureTransport") is KeyState.ATTACKER
    assert ctx.lookup("aws:RequestTag/anything") is KeyState.ATTACKER
    assert ctx.lookup("aws:SourceIp") is KeyState.UNKNOWN
    assert Context.for_principal(USER).lookup("aws:username") == ("alice",)


def test_exact_mode_everything_else_absent__policy_simulator() -> None:
    ctx = Context.for_principal(USER, mode="exact")
    assert ctx.mode == "exact"
    assert ctx.lookup("aws:SecureTransport") is KeyState.ABSENT
    assert ctx.lookup("aws:SourceIp") is KeyState.ABSENT
    assert not ctx.is_attacker_controlled("aws:SecureTransport")


def test_overrides_win_and_count_as_known__assume_context() -> None:
    ctx = Context.attacker(
        {"aws:SourceIp": "1.1.1.1"},
        absent=["aws:SourceVpc"],
        overrides={"aws:SourceIp": "2.2.2.2", "aws:SourceVpc": "vpc-1", "aws:SecureTransport": True},
    )
    assert ctx.lookup("aws:SourceIp") == ("2.2.2.2",)
    assert ctx.lookup("aws:SourceVpc") == ("vpc-1",)
    assert ctx.lookup("aws:SecureTransport") == ("true",)


def test_with_values_adds_resource_keys_without_touching_the_original() -> None:
    base = Context.for_principal(USER)
    per_resource = base.with_values({"aws:ResourceTag/owner": "alice"}, absent=["aws:ResourceTag/*"])
    assert per_resource.lookup("aws:ResourceTag/owner") == ("alice",)
    assert per_resource.lookup("aws:ResourceTag/other") is KeyState.ABSENT
    assert base.lookup("aws:ResourceTag/owner") is KeyState.UNKNOWN
    assert per_resource.lookup("aws:username") == ("alice",)


def test_now_fills_the_clock_keys() -> None:
    ctx = Context.attacker({}, now=datetime(2024, 1, 1, tzinfo=UTC))
    assert ctx.lookup("aws:CurrentTime") == ("2024-01-01T00:00:00Z",)
    assert ctx.lookup("aws:EpochTime") == ("1704067200",)


def test_context_is_immutable() -> None:
    ctx = Context.exact({})
    with pytest.raises(AttributeError):
        ctx.mode = "attacker"


def test_key_lists_do_not_overlap() -> None:
    assert not ATTACKER_CONTROLLED_KEYS & OUTSIDER_UNSATISFIABLE_KEYS
    assert all(k == k.lower() for k in ATTACKER_CONTROLLED_KEYS | OUTSIDER_UNSATISFIABLE_KEYS)
