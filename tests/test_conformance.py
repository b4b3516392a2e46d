"""Conformance suite: table-driven cases from the AWS documentation, run through ``simulate``.

Each file in ``tests/conformance/`` covers one AWS documentation page (``page``, ``url``); each case has an
``id`` naming the page and the rule it checks, the ``simulate`` input, and the decision AWS documents
(``expect``). The expected answers come from the AWS docs, never from what some implementation lets through.
Every case runs through the simulate code path (``parse_case`` + ``simulate_case``); a sample of each page
also runs through the CLI, ``blastradius simulate --input -``, as one list.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from blastradius.cli import app
from blastradius.simulate import parse_case, simulate_case

CONFORMANCE = Path(__file__).parent / "conformance"
DECISIONS = {"allow", "implicit-deny", "explicit-deny", "conditional"}


def _pages() -> list[dict[str, Any]]:
    pages = []
    for path in sorted(CONFORMANCE.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        data["file"] = path.name
        pages.append(data)
    return pages


PAGES = _pages()
CASES = [(page, case) for page in PAGES for case in page["cases"]]


def test_the_suite_is_big_enough_and_well_formed() -> None:
    assert len(CASES) >= 200
    ids = [case["id"] for _, case in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    for page, case in CASES:
        assert case["id"].startswith(page["page"]), case["id"]
        assert case["expect"] in DECISIONS, case["id"]
        assert page["url"].startswith("https://docs.aws.amazon.com/"), page["file"]


@pytest.mark.parametrize("page", PAGES, ids=[p["file"] for p in PAGES])
def test_every_page_checks_both_sides(page: dict[str, Any]) -> None:
    expected = {case["expect"] for case in page["cases"]}
    assert "allow" in expected, f"{page['file']} has no allow case"
    assert expected & {"implicit-deny", "explicit-deny"}, f"{page['file']} has no deny case"


@pytest.mark.parametrize(("page", "case"), CASES, ids=[case["id"] for _, case in CASES])
def test_case(page: dict[str, Any], case: dict[str, Any]) -> None:
    result = simulate_case(parse_case(case["input"]))
    assert result.decision == case["expect"], result.explain
    if "conditions_contain" in case:
        assert any(case["conditions_contain"] in c for c in result.conditions), result.conditions
    if result.decision == "explicit-deny":
        assert result.matched and all(ref.effect == "Deny" for ref in result.matched)
    if result.decision == "allow":
        assert all(ref.effect == "Allow" for ref in result.matched)


@pytest.mark.parametrize("page", PAGES, ids=[p["file"] for p in PAGES])
def test_cli_list_on_stdin(page: dict[str, Any]) -> None:
    sample = page["cases"][::4]
    cases = [case["input"] for case in sample]
    result = CliRunner().invoke(
        app, ["simulate", "--input", "-", "--format", "json"], input=json.dumps(cases)
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert [r["decision"] for r in out] == [case["expect"] for case in sample]


# Every operator of "IAM JSON policy elements: Condition operators", each also with ...IfExists
# (except Null).
AWS_OPERATORS = {
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
}


def _operators_used() -> dict[str, set[str]]:
    """Operator (as written) -> the expected decisions of the cases that use it."""
    used: dict[str, set[str]] = {}

    def walk(policy: Any, expect: str) -> None:
        if not isinstance(policy, dict):
            return
        statements = policy.get("Statement", [])
        for st in statements if isinstance(statements, list) else [statements]:
            for operator in (st.get("Condition") or {}) if isinstance(st, dict) else ():
                used.setdefault(operator, set()).add(expect)

    for _, case in CASES:
        data = case["input"]
        docs = [*data.get("identity_policies", [])]
        docs += [data.get(k) for k in ("permissions_boundary", "resource_policy", "session_policy")]
        docs += [d for k in ("scps", "rcps") for level in data.get(k, []) for d in level]
        for d in docs:
            walk(d, case["expect"])
    return used


def test_every_condition_operator_is_covered_on_both_sides() -> None:
    used = _operators_used()
    for operator in sorted(AWS_OPERATORS):
        variants = [operator] if operator == "Null" else [operator, operator + "IfExists"]
        for name in variants:
            assert name in used, f"no conformance case uses {name}"
            assert "allow" in used[name], f"{name}: no case where it allows"
            assert used[name] & {"implicit-deny", "explicit-deny"}, f"{name}: no case where it denies"
    for qualifier in ("ForAllValues:", "ForAnyValue:"):
        assert any(op.startswith(qualifier) for op in used), qualifier
