"""``aws:TokenIssueTime`` in the attacker's context: for a user's access key, absent or "now" as the
attacker picks; "now" for a new role session.

"AWS global condition context keys", aws:TokenIssueTime: the key is present only in requests signed with
temporary security credentials. A leaked AKIA key signs with long-term credentials, so the key is absent
— but "GetSessionToken" (STS API reference: no permissions are required to call it) gives the key's
holder a session token issued now, whose requests carry the key. The attacker picks whichever helps, per
condition. "IAM JSON policy elements: Condition operators": a condition on a key that is not in the
request context does not match (so a Deny with ``DateLessThan`` does not apply), except with
``...IfExists`` (matches) and ``Null: true`` (matches). The runbook's "revoke older sessions" policy
(Deny * if aws:TokenIssueTime < T) therefore never stops a user's long-term key — which is why the key
itself is deactivated — and stops only sessions issued before T.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from test_org_apply import ACCT, KEY, NOW, READER, USER_ARN, analyze, bucket, doc, parameter, user

from blastradius.analyze import analyze_snapshot
from blastradius.model import ManagedPolicy, PolicyDocument, Role, Snapshot
from blastradius.policy import Choice, Context, Tri
from blastradius.policy.conditions import compile_conditions
from blastradius.report import KeyInfo, Report

BEFORE_NOW = "2026-11-24T00:00:00Z"  # NOW is 2026-11-25T00:00:00Z
AFTER_NOW = "2026-11-26T00:00:00Z"
NOW_TEXT = "2026-11-25T00:00:00Z"


def revoke(operator: str = "DateLessThan", cutoff: str = AFTER_NOW) -> dict[str, Any]:
    """The runbook's "revoke older sessions" statement (remediate.py), with a chosen operator."""
    return {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {operator: {"aws:TokenIssueTime": cutoff}},
    }


def grants(report: Report) -> dict[str, tuple[tuple[str, ...], str]]:
    return {d.name: (d.access, d.certainty) for d in report.datasets}


@pytest.mark.parametrize(
    ("statement", "reachable"),
    [
        pytest.param(revoke(), True, id="date-less-than-absent-key-does-not-match-deny-ignored"),
        pytest.param(revoke("DateLessThanIfExists"), False, id="if-exists-absent-key-matches-deny-applies"),
        pytest.param(
            revoke("Null", "true"),
            True,
            id="null-true-deny-of-long-term-keys-escaped-with-a-session-token",
        ),
        pytest.param(
            revoke("DateGreaterThan", BEFORE_NOW),
            True,
            id="deny-of-new-sessions-escaped-with-the-long-term-key",
        ),
        pytest.param(
            revoke("DateLessThanIfExists", BEFORE_NOW),
            True,
            id="if-exists-deny-of-old-sessions-escaped-with-a-new-session-token",
        ),
    ],
)  # fmt: skip
def test_user_access_key_picks_its_token_issue_time(statement: dict[str, Any], reachable: bool) -> None:
    found = grants(analyze(None, (user(READER, statement),), (parameter("db-password"),)))
    if reachable:
        # Definite: one of the two ways to sign escapes the Deny, surely.
        assert found == {"db-password": (("list", "read", "write", "admin"), "definite")}
    else:
        assert found == {}


@pytest.mark.parametrize(
    ("condition", "reachable"),
    [
        pytest.param({"Null": {"aws:TokenIssueTime": "false"}}, True, id="allow-needs-a-session-token"),
        pytest.param({"Null": {"aws:TokenIssueTime": "true"}}, True, id="allow-needs-the-long-term-key"),
        pytest.param(
            {"DateLessThan": {"aws:TokenIssueTime": BEFORE_NOW}}, False, id="allow-old-sessions-only"
        ),
    ],
)  # fmt: skip
def test_user_allow_on_token_issue_time(condition: dict[str, Any], reachable: bool) -> None:
    """An Allow that needs a session token holds for a leaked user key (sts:GetSessionToken gives one,
    issued now); one that needs a token issued before now cannot be met."""
    allow = {**READER, "Condition": condition}
    found = grants(analyze(None, (user(allow),), (parameter("db-password"),)))
    if reachable:
        assert found == {"db-password": (("list", "read", "write", "admin"), "definite")}
    else:
        assert found == {}


def _role_snapshot_users() -> tuple[Any, Role]:
    role = Role(
        arn=f"arn:aws:iam::{ACCT}:role/data",
        name="data",
        trust_policy=doc({"Effect": "Allow", "Principal": {"AWS": USER_ARN}, "Action": "sts:AssumeRole"}),
        inline_policies=(PolicyDocument(name="r", document=doc(READER)),),
    )
    return user({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role.arn}), role


@pytest.mark.parametrize(
    ("cutoff", "reachable"),
    [
        pytest.param(BEFORE_NOW, True, id="session-issued-now-is-after-a-past-cutoff-deny-ignored"),
        pytest.param(AFTER_NOW, False, id="session-issued-now-is-before-a-future-cutoff-deny-applies"),
    ],
)
def test_new_role_session_is_issued_now(cutoff: str, reachable: bool) -> None:
    me, role = _role_snapshot_users()
    role = dataclasses.replace(
        role,
        inline_policies=(
            *role.inline_policies,
            PolicyDocument(name="revoke", document=doc(revoke(cutoff=cutoff))),
        ),
    )
    found = grants(analyze(None, (me,), (parameter("db-password"),), roles=(role,)))
    if reachable:
        assert found["db-password"][1] == "definite"
    else:
        assert found == {}


def test_inactive_key_under_revoke_sessions_policy_is_definitely_reachable_if_reactivated() -> None:
    """After containment (key deactivated, older sessions revoked) the re-activation view is not hedged:
    the revoke policy does not apply to long-term keys."""
    me = user(READER, revoke(cutoff=NOW.strftime("%Y-%m-%dT%H:%M:%SZ")))
    (key,) = me.access_keys
    me = dataclasses.replace(me, access_keys=(dataclasses.replace(key, status="Inactive"),))
    report = analyze(None, (me,), (parameter("db-password"),))
    assert report.key.access_key_id == KEY
    assert report.datasets == ()
    assert [(d.name, d.certainty) for d in report.if_reactivated] == [("db-password", "definite")]


# A session key of the moto documentation's test form (ASIA…): the leaked credentials are an existing
# role session, issued at some time before the analysis.
SESSION_KEY = "ASIAQYLPMN5HHHFPZAM2"


@pytest.mark.parametrize(
    ("cutoff", "certainty"),
    [
        pytest.param(NOW.strftime("%Y-%m-%dT%H:%M:%SZ"), "conditional", id="revoked-at-containment-unknown"),
        pytest.param(BEFORE_NOW, "conditional", id="past-cutoff-issue-time-still-unknown"),
    ],
)
def test_leaked_session_has_an_unknown_issue_time(cutoff: str, certainty: str) -> None:
    """An ASIA key is a session issued in the past, when is not in the snapshot: a "revoke older
    sessions" Deny may or may not cover it, so its reach is conditional on the issue time — neither
    certainly blocked nor certainly open (a new session would be issued now, see above)."""
    me, role = _role_snapshot_users()
    role = dataclasses.replace(
        role,
        inline_policies=(
            *role.inline_policies,
            PolicyDocument(name="revoke", document=doc(revoke(cutoff=cutoff))),
        ),
    )
    snap = Snapshot(
        account_id=ACCT,
        collected_at="2026-11-25T00:00:00Z",
        users=(me,),
        roles=(role,),
        datasets=(parameter("db-password"),),
    )
    info = KeyInfo(access_key_id=SESSION_KEY, account_id=ACCT, principal_arn=role.arn, kind="session")
    report = analyze_snapshot(snap, SESSION_KEY, key_info=info, now=NOW)
    found = grants(report)
    assert found["db-password"][1] == certainty
    (finding,) = report.datasets
    assert any("aws:TokenIssueTime" in c for c in finding.conditions), finding.conditions


@pytest.mark.parametrize(
    ("condition", "deny", "expected"),
    [
        ({"Null": {"aws:TokenIssueTime": "false"}}, False, Tri.YES),  # present: pick the session token
        ({"Null": {"aws:TokenIssueTime": "false"}}, True, Tri.NO),  # ...or escape the Deny without it
        ({"DateLessThanIfExists": {"aws:TokenIssueTime": AFTER_NOW}}, True, Tri.YES),  # both match
        ({"DateGreaterThan": {"aws:TokenIssueTime": AFTER_NOW}}, False, Tri.NO),  # neither matches
        ({"NumericLessThan": {"aws:TokenIssueTime": "5"}}, False, Tri.NO),  # a date is not a number
    ],
)
def test_a_choice_takes_the_option_that_helps_the_attacker(
    condition: dict[str, Any], deny: bool, expected: Tri
) -> None:
    """``Choice`` (absent, or issued now): per condition, the option that helps the key holder."""
    (clause,) = compile_conditions(condition, variables=True)
    context = Context.attacker(choices={"aws:TokenIssueTime": Choice((None, (NOW_TEXT,)))})
    assert clause.evaluate(context, deny=deny) is expected


def test_a_role_assumed_from_the_leaked_session_is_issued_now_even_with_the_same_tags() -> None:
    """The leaked session's issue time is unknown, the session it creates by assuming a peer role is
    issued now: a condition on aws:TokenIssueTime (with one on the resource's tags, so it is decided per
    dataset) is unsettled for the first and holds for the second, although both roles share a managed
    policy and their tags — the reads through the peer are definite."""
    fresh_reads = {
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:ResourceTag/team": "orders"},
            "DateGreaterThan": {"aws:TokenIssueTime": BEFORE_NOW},
        },
    }
    shared = ManagedPolicy(
        arn=f"arn:aws:iam::{ACCT}:policy/fresh-reads", name="fresh-reads", document=doc(fresh_reads)
    )
    tags = {"team": "orders"}
    peer = Role(
        arn=f"arn:aws:iam::{ACCT}:role/peer",
        name="peer",
        trust_policy=doc(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"}, "Action": "sts:AssumeRole"}
        ),
        managed_policy_arns=(shared.arn,),
        tags=tags,
    )
    app = Role(
        arn=f"arn:aws:iam::{ACCT}:role/app",
        name="app",
        trust_policy=peer.trust_policy,
        managed_policy_arns=(shared.arn,),
        inline_policies=(
            PolicyDocument(
                name="hop",
                document=doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": peer.arn}),
            ),
        ),
        tags=tags,
    )
    orders = bucket("orders-exports", tags={"team": "orders"})
    snap = Snapshot(
        account_id=ACCT,
        collected_at="2026-11-25T00:00:00Z",
        roles=(app, peer),
        managed_policies=(shared,),
        datasets=(orders,),
    )
    info = KeyInfo(access_key_id=SESSION_KEY, account_id=ACCT, principal_arn=app.arn, kind="session")
    report = analyze_snapshot(snap, SESSION_KEY, key_info=info, now=NOW)
    (finding,) = report.datasets
    read = next(g for g in finding.grants if g.level == "read")
    assert read.certainty == "definite"
    assert [s.to for s in read.path] == [peer.arn, orders.arn]


DENY_LONG_TERM_KEYS = {
    "Effect": "Deny",
    "Action": "*",
    "Resource": "*",
    "Condition": {"Null": {"aws:TokenIssueTime": "true"}},
}


@pytest.mark.parametrize(
    ("deny_long_term_keys", "escalates"),
    [
        pytest.param(False, True, id="long-term-key-calls-iam"),
        pytest.param(True, False, id="session-token-cannot-call-iam-without-mfa"),
    ],
)
def test_a_session_token_from_get_session_token_cannot_call_iam(
    deny_long_term_keys: bool, escalates: bool
) -> None:
    """STS API reference, *GetSessionToken*: its credentials cannot call IAM without MFA information,
    nor STS beyond AssumeRole and GetCallerIdentity. A user whose long-term key is denied everything
    (``Null: true`` on aws:TokenIssueTime) still reads data with a session token, but can no longer
    create another user's access key (iam-002): the session would need the MFA device the attacker
    lacks."""
    admin = dataclasses.replace(
        user(READER), arn=f"arn:aws:iam::{ACCT}:user/admin", name="admin", access_keys=()
    )
    statements: list[dict[str, Any]] = [
        READER,
        {"Effect": "Allow", "Action": "iam:CreateAccessKey", "Resource": admin.arn},
    ]
    if deny_long_term_keys:
        statements.append(DENY_LONG_TERM_KEYS)
    report = analyze(None, (user(*statements), admin), (parameter("db-password"),))
    assert grants(report)["db-password"][1] == "definite"  # data: through a session token if need be
    fired = {(e.technique, e.path[-1].to) for e in report.escalations}
    assert (("iam-002", admin.arn) in fired) is escalates
