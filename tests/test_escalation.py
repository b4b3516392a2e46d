"""Every technique of policies/escalation.toml, both ways, through the real CLI's JSON.

Parametrised from the pack: a technique added to the pack without a twin kind in ``TWINS`` fails
``test_every_technique_has_a_twin``. Expected answers come from the AWS documentation of each API and of
"Policy evaluation logic" (an explicit deny wins; a permissions boundary caps identity policies; a
condition that cannot hold does not allow), never from what moto lets through.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from escalation_fixtures import KEY, PIVOT, USER, VICTIM_ROLE, actor_is_role, default_twin, scenario
from test_cli import invoke, report_of

from blastradius.escalation import Technique, load_escalation
from blastradius.model import Snapshot

PACK = load_escalation()
TECHNIQUES = {t.id: t for t in PACK.techniques}

# technique id -> the twin that must not fire (see escalation_fixtures for the kinds). Generated once
# from default_twin and then kept as data, so a reader sees which case each technique is tested against.
TWINS: dict[str, str] = {t.id: default_twin(t, i) for i, t in enumerate(PACK.techniques)}
TWINS.update(
    {
        "iam-002": "precondition",  # the victim already has two access keys (CreateAccessKey: LimitExceeded)
        "iam-003": "precondition",  # fewer than two keys: iam-002 applies, not this one
        "iam-014": "trust",  # the role does not trust the actor, so attaching a policy gains nothing
        "ec2-001": "precondition",  # the role has no instance profile to launch an instance with
        "lambda-001": "condition",  # iam:PassedToService allows only another service
        "iam-008": "condition",
    }
)


def run(tmp_path: Path, snapshot: Snapshot) -> dict[str, Any]:
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(snapshot.to_json()), encoding="utf-8")
    return report_of(invoke("analyze", "--snapshot", path, "--key", KEY, "--format", "json"))


def fired(report: dict[str, Any], technique: Technique) -> list[dict[str, Any]]:
    actor = PIVOT if actor_is_role(technique) else USER
    return [e for e in report["escalations"] if e["technique"] == technique.id and e["from"] == actor]


def assumed(report: dict[str, Any], role: str) -> bool:
    return any(p["arn"] == role and p["via"] == "assume" for p in report["principals"])


def test_every_technique_has_a_twin() -> None:
    assert set(TWINS) == set(TECHNIQUES)


def assert_fires(report: dict[str, Any], technique: Technique) -> None:
    """The report shows ``technique`` firing for the scenario's actor, with its actions, as its path's
    last step, and as certain as its weakest step (shared with the live-account tests)."""
    if technique.emitted_by == "assume":
        assert assumed(report, VICTIM_ROLE)
        return
    found = fired(report, technique)
    assert found, [e["technique"] for e in report["escalations"]]
    escalation = found[0]
    assert escalation["actions"] == list(technique.actions)
    assert escalation["path"][-1]["technique"] == technique.id
    # Certainty is the weakest step's: preconditions blastradius cannot see make it conditional.
    expect_conditional = bool(technique.unverified) or (
        technique.target == "existing" and technique.compute_type is None
    )
    assert (escalation["certainty"] == "conditional") == expect_conditional, escalation
    if expect_conditional:
        assert escalation["conditions"]


def assert_does_not_fire(report: dict[str, Any], technique: Technique, twin: str) -> None:
    """The report does not show ``technique`` for the scenario's actor (its ``twin`` stopped it)."""
    if technique.emitted_by == "assume":
        assert not assumed(report, VICTIM_ROLE), twin
        return
    assert not fired(report, technique), (twin, fired(report, technique))


@pytest.mark.parametrize("technique_id", sorted(TECHNIQUES))
def test_technique_fires(tmp_path: Path, technique_id: str) -> None:
    technique = TECHNIQUES[technique_id]
    assert_fires(run(tmp_path, scenario(technique)), technique)


@pytest.mark.parametrize("technique_id", sorted(TECHNIQUES))
def test_twin_does_not_fire(tmp_path: Path, technique_id: str) -> None:
    technique = TECHNIQUES[technique_id]
    twin = TWINS[technique_id]
    assert_does_not_fire(run(tmp_path, scenario(technique, twin)), technique, twin)
