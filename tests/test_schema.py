"""The report's JSON Schema: what scripts rely on, shipped in the package, and strict where it matters."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from test_render import incident_report

from blastradius.report import LEVELS, SENSITIVITIES
from blastradius.schema import report_schema

SCHEMA = report_schema()
VALIDATOR = Draft202012Validator(SCHEMA)


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_incident_report_validates() -> None:
    VALIDATOR.validate(incident_report().to_json())


def test_enums_agree_with_the_report_types() -> None:
    assert SCHEMA["$defs"]["level"]["enum"] == list(LEVELS)
    dataset = SCHEMA["properties"]["datasets"]["items"]["properties"]
    assert sorted(dataset["sensitivity"]["enum"]) == sorted(SENSITIVITIES)


def test_added_fields_are_allowed() -> None:
    document = incident_report(with_plan=False).to_json()
    document["datasets"][0]["blast_score"] = 0.9
    document["future_section"] = {}
    VALIDATOR.validate(document)


def _break(path: list[Any], value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    document = copy.deepcopy(incident_report(with_plan=False).to_json())
    target = document
    for part in path[:-1]:
        target = target[part]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("case", "document"),
    [
        ("missing_grants", _break(["datasets", 0, "grants"], delete=True)),
        ("missing_coverage", _break(["coverage"], delete=True)),
        ("access_level_delete", _break(["datasets", 0, "access"], ["read", "delete"])),
        ("certainty_maybe", _break(["datasets", 0, "certainty"], "maybe")),
        ("sensitivity_critical", _break(["datasets", 0, "sensitivity"], "critical")),
        ("step_kind_hop", _break(["datasets", 0, "path", 0, "kind"], "hop")),
        ("principal_via_magic", _break(["principals", 1, "via"], "magic")),
        ("records_negative", _break(["datasets", 0, "estimated_records"], -1)),
        ("schema_v2", _break(["schema"], "blastradius.report/v2")),
        ("grant_without_path", _break(["datasets", 0, "grants", 0, "path"], delete=True)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_broken_report_fails(case: str, document: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        VALIDATOR.validate(document)
