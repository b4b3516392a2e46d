"""``blastradius simulate``: the input format, principal forms, exact context, errors and the CLI.

Expected decisions follow "Policy evaluation logic" (AWS IAM User Guide); the engine's own answer is
checked against ``policy.decide`` called directly, so simulate adds no logic of its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from blastradius.cli import app
from blastradius.errors import UsageError
from blastradius.policy import Context, Request, decide, parse_policy
from blastradius.simulate import (
    CaseError,
    load_cases,
    parse_case,
    principal_from_arn,
    run_cases,
    simulate_case,
)

ACCT = "111111111111"
OTHER = "222222222222"
ALICE = f"arn:aws:iam::{ACCT}:user/alice"
OBJ = "arn:aws:s3:::bucket/key"


def allow(**extra: Any) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", **extra}],
    }


def case(principal: str = ALICE, **fields: Any) -> dict[str, Any]:
    request = {"principal": principal, "action": "s3:GetObject", "resource": OBJ, "resource_account": ACCT}
    request.update(fields.pop("request", {}))
    return {"request": request, **fields}


def decide_case(raw: dict[str, Any]) -> str:
    result = simulate_case(parse_case(raw))
    assert result.decision is not None
    return result.decision


def invoke(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(app, list(args), input=input)


# -- principal forms ("AWS JSON policy elements: Principal", "IAM identifiers") ------------------------


def test_principal_forms() -> None:
    user = principal_from_arn(f"arn:aws:iam::{ACCT}:user/dev/alice")
    assert (user.kind, user.user_name, user.account_id) == ("user", "alice", ACCT)
    role = principal_from_arn(f"arn:aws:iam::{ACCT}:role/app")
    assert (role.kind, role.session_arn) == ("role", None)
    session = principal_from_arn(f"arn:aws:sts::{ACCT}:assumed-role/app/job")
    assert session.kind == "role"
    assert session.arn == f"arn:aws:iam::{ACCT}:role/app"
    assert session.session_arn == f"arn:aws:sts::{ACCT}:assumed-role/app/job"
    assert principal_from_arn(ACCT).kind == "root"
    assert principal_from_arn(f"arn:aws:iam::{ACCT}:root").kind == "root"
    assert principal_from_arn("lambda.amazonaws.com").kind == "service"
    assert principal_from_arn(f"arn:aws:iam::{ACCT}:saml-provider/corp").kind == "federated"
    assert principal_from_arn(f"arn:aws:sts::{ACCT}:federated-user/carol").kind == "federated"
    for bad in ("alice", f"arn:aws:iam::{ACCT}:group/devs", f"arn:aws:sts::{ACCT}:assumed-role/app"):
        with pytest.raises(ValueError):
            principal_from_arn(bad)


@pytest.mark.parametrize(
    ("principal", "named", "expected"),
    [
        # Policy evaluation logic: a same-account resource policy naming the user or the session grants
        # on its own; one naming the role ARN grants too (no boundary here); the account only delegates.
        (ALICE, ALICE, "allow"),
        (f"arn:aws:sts::{ACCT}:assumed-role/app/s", f"arn:aws:sts::{ACCT}:assumed-role/app/s", "allow"),
        (f"arn:aws:sts::{ACCT}:assumed-role/app/s", f"arn:aws:iam::{ACCT}:role/app", "allow"),
        (f"arn:aws:iam::{ACCT}:role/app", f"arn:aws:iam::{ACCT}:role/app", "allow"),
        (ALICE, ACCT, "implicit-deny"),
        (ALICE, f"arn:aws:iam::{ACCT}:user/bob", "implicit-deny"),
    ],
)
def test_resource_policy_naming_the_principal_matches_decide(
    principal: str, named: str, expected: str
) -> None:
    resource = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": named}, "Action": "s3:GetObject", "Resource": OBJ}
        ],
    }
    raw = case(principal, resource_policy=resource)
    assert decide_case(raw) == expected
    # The same request built by hand and given to the engine gives the same verdict.
    rp = principal_from_arn(principal)
    direct = decide(
        Request(
            principal=rp,
            action="s3:GetObject",
            resource=OBJ,
            resource_account=ACCT,
            context=Context.for_principal(rp, mode="exact", values={"aws:ResourceAccount": ACCT}),
        ),
        resource_policy=parse_policy(resource, name="resource_policy"),
    )
    assert direct.verdict.value == expected


def test_role_arn_with_a_path_for_a_session() -> None:
    session = f"arn:aws:sts::{ACCT}:assumed-role/app/job"
    role = f"arn:aws:iam::{ACCT}:role/service/app"
    resource = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": role}, "Action": "s3:GetObject", "Resource": OBJ}
        ]
    }
    # The session ARN drops the role's path; without role_arn the role link cannot be recognised.
    assert decide_case(case(session, resource_policy=resource)) == "implicit-deny"
    assert decide_case(case(session, resource_policy=resource, request={"role_arn": role})) == "allow"
    with pytest.raises(CaseError, match="is not the role of session"):
        parse_case(case(session, request={"role_arn": f"arn:aws:iam::{ACCT}:role/other"}))


def test_same_versus_cross_account() -> None:
    identity = [allow()]
    same = case(identity_policies=identity)
    cross = case(identity_policies=identity, request={"resource_account": OTHER})
    assert decide_case(same) == "allow"
    # Cross-account policy evaluation logic: the identity allow alone is not enough.
    assert decide_case(cross) == "implicit-deny"
    resource = {
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCT}, "Action": "s3:*", "Resource": "*"}]
    }
    assert decide_case({**cross, "resource_policy": resource}) == "allow"


# -- the context is exactly what is given ----------------------------------------------------------


def test_context_is_exact_no_attacker_model() -> None:
    # aws:SecureTransport is attacker-controlled in `analyze`; in simulate an absent key is absent.
    tls = allow(Condition={"Bool": {"aws:SecureTransport": "true"}})
    assert decide_case(case(identity_policies=[tls])) == "implicit-deny"
    assert (
        decide_case(case(identity_policies=[tls], request={"context": {"aws:SecureTransport": True}}))
        == "allow"
    )
    # aws:SourceIp is "unknown" in the attacker model (conditional); here absent means false.
    ip = allow(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    assert decide_case(case(identity_policies=[ip])) == "implicit-deny"


def test_request_determined_keys_are_filled_and_given_context_wins() -> None:
    own = allow(Condition={"StringEquals": {"aws:username": "alice", "aws:ResourceAccount": ACCT}})
    assert decide_case(case(identity_policies=[own])) == "allow"
    overridden = case(identity_policies=[own], request={"context": {"AWS:USERNAME": "mallory"}})
    assert decide_case(overridden) == "implicit-deny"
    tagged = allow(Condition={"StringEquals": {"aws:PrincipalTag/team": "data", "aws:PrincipalOrgID": "o-1"}})
    with_tags = case(
        identity_policies=[tagged], request={"principal_tags": {"team": "data"}, "principal_org_id": "o-1"}
    )
    assert decide_case(with_tags) == "allow"


def test_conditional_when_the_engine_cannot_settle() -> None:
    odd = allow(Condition={"StringEqualsSometimes": {"aws:username": "alice"}})
    result = simulate_case(parse_case(case(identity_policies=[odd])))
    assert result.decision == "conditional"
    assert any("unknown condition operator StringEqualsSometimes" in c for c in result.conditions)
    assert result.to_json()["conditions"] == list(result.conditions)


def test_kms_and_trust_policies_must_allow_by_default() -> None:
    key = f"arn:aws:kms:us-east-1:{ACCT}:key/k"
    identity = [{"Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}]
    raw = {
        "request": {"principal": ALICE, "action": "kms:Decrypt", "resource": key},
        "identity_policies": identity,
    }
    assert parse_case(raw).resource_policy_required
    assert decide_case(raw) == "implicit-deny"  # Key policies in AWS KMS: no key policy, no access
    raw["request"]["resource_policy_required"] = False
    assert decide_case(raw) == "allow"


def test_output_shape_and_matched_statements() -> None:
    doc = allow()
    doc["Statement"][0]["Sid"] = "Read"
    deny = {"Statement": [{"Sid": "NoKey", "Effect": "Deny", "Action": "s3:*", "Resource": OBJ}]}
    allowed = simulate_case(parse_case(case(identity_policies=[doc]))).to_json()
    assert allowed["decision"] == "allow"
    assert allowed["matched"] == [
        {"policy": "identity_policies[0]", "sid": "Read", "index": 0, "effect": "Allow"}
    ]
    denied = simulate_case(parse_case(case(identity_policies=[doc], scps=[[deny]]))).to_json()
    assert denied["decision"] == "explicit-deny"
    assert denied["matched"][0]["policy"] == "scps[0][0]"
    assert "SCP" in denied["explain"]
    assert set(allowed) == {"decision", "matched", "conditions", "explain"}


# -- malformed input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "case 0: case: must be a JSON object"),
        ({"identity_policies": []}, "request: is required"),
        ({"request": {"principal": ALICE, "resource": OBJ}}, r"request\.action: is required"),
        ({"request": {"principal": "bob", "action": "s3:GetObject", "resource": OBJ}}, r"request\.principal"),
        (case(request={"resource_account": "12"}), r"request\.resource_account: must be a 12-digit"),
        (case(request={"context": {"aws:SourceIp": 1.5}}), r"request\.context\['aws:SourceIp'\]"),
        (case(request={"colour": "red"}), r"request: unknown field\(s\) colour"),
        (case(identity_policy=[]), r"case: unknown field\(s\) identity_policy"),
        (case(identity_policies={}), "identity_policies: must be a list"),
        (
            case(identity_policies=[{"Statement": [{"Effect": "Maybe"}]}]),
            r"identity_policies\[0\].*statement #0",
        ),
        (case(scps=[{"Statement": []}]), "scps: must be a list of levels"),
        (case(rcps=[[{"Statement": [{"Effect": "Allow", "Action": 3}]}]]), r"rcps\[0\]\[0\]"),
        (case(permissions_boundary="allow all"), "permissions_boundary: must be a policy document"),
        (case(request={"service_linked": "yes"}), r"request\.service_linked: must be true or false"),
    ],
)
def test_malformed_case_names_index_and_field(raw: Any, message: str) -> None:
    with pytest.raises(CaseError, match=message):
        parse_case(raw, 0)
    assert issubclass(CaseError, UsageError)


def test_bad_json_names_the_source() -> None:
    with pytest.raises(CaseError, match=r"cases\.json: not valid JSON .* line 1"):
        load_cases("{nope", "cases.json")


def test_one_bad_case_does_not_hide_the_others() -> None:
    results = run_cases([case(identity_policies=[allow()]), {"request": {}}, case()])
    assert [r.decision for r in results] == ["allow", None, "implicit-deny"]
    assert results[1].error is not None and results[1].error.startswith("case 1: ")


# -- the command ------------------------------------------------------------------------------------


def test_cli_single_case_file_json(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case(identity_policies=[allow()])))
    result = invoke("simulate", "--input", str(path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["decision"] == "allow" and out["matched"][0]["policy"] == "identity_policies[0]"


def test_cli_list_from_stdin_keeps_order_and_reports_errors_at_the_end() -> None:
    cases = [case(identity_policies=[allow()]), {"request": {"principal": ALICE}}, case()]
    result = invoke("simulate", "--input", "-", "--format", "json", input=json.dumps(cases))
    assert result.exit_code == 2
    out = json.loads(result.stdout)
    assert out[0]["decision"] == "allow"
    assert out[1] == {"error": "case 1: request.action: is required and must be a non-empty string"}
    assert out[2]["decision"] == "implicit-deny"
    assert "case 1: request.action" in result.stderr


def test_cli_table_format() -> None:
    result = invoke("simulate", "--input", "-", input=json.dumps([case(identity_policies=[allow()]), case()]))
    assert result.exit_code == 0, result.stderr
    assert "allow" in result.stdout and "implicit-deny" in result.stdout
    assert "identity_policies[0]" in result.stdout


def test_cli_bad_json_and_missing_file(tmp_path: Path) -> None:
    result = invoke("simulate", "--input", "-", input="[{")
    assert result.exit_code == 2 and "stdin: not valid JSON" in result.stderr and result.stdout == ""
    result = invoke("simulate", "--input", str(tmp_path / "nope.json"))
    assert result.exit_code == 2 and "cannot read" in result.stderr


# -- no input crashes simulate ---------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
_REQUEST = st.fixed_dictionaries(
    {},
    optional={
        "principal": st.sampled_from([ALICE, ACCT, "x", f"arn:aws:sts::{ACCT}:assumed-role/a/b"]) | _JSON,
        "action": st.sampled_from(["s3:GetObject", ""]) | _JSON,
        "resource": st.sampled_from([OBJ]) | _JSON,
        "resource_account": st.sampled_from([ACCT, OTHER, "1"]) | _JSON,
        "context": st.dictionaries(st.sampled_from(["aws:SourceIp", "aws:TagKeys"]), _JSON, max_size=2)
        | _JSON,
        "principal_tags": _JSON,
        "service_linked": _JSON,
    },
)
_CASES = st.fixed_dictionaries(
    {"request": _REQUEST | _JSON},
    optional={
        "identity_policies": st.lists(st.just(allow()) | _JSON, max_size=2) | _JSON,
        "permissions_boundary": _JSON,
        "scps": st.lists(st.lists(st.just(allow()) | _JSON, max_size=2), max_size=2) | _JSON,
        "resource_policy": _JSON,
    },
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_CASES | _JSON, min_size=1, max_size=3))
def test_no_input_crashes_simulate(cases: list[Any]) -> None:
    for result in run_cases(cases):
        assert (result.decision is None) != (result.error is None)
        json.dumps(result.to_json())
