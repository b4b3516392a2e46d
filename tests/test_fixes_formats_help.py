"""Each command's ``--help`` lists exactly the formats it can print, and refuses the others as usage errors.

``rotate`` prints one report section (the runbook); the graph exports (dot, graphml) have no sections, so
they are not offered. ``audit`` has renderers of its own (table, json, markdown).
"""

from __future__ import annotations

import re

import pytest
from test_cli import FIXTURE_KEY, GOOD_SNAPSHOT, assert_diagnosis, invoke

from blastradius.render import RENDERERS
from blastradius.render.audit import AUDIT_RENDERERS


def listed_formats(command: str) -> list[str]:
    result = invoke(command, "--help")
    assert result.exit_code == 0, result.output
    text = re.sub(r"[│\s]+", " ", result.stdout)
    found = re.search(r"Output format: ([a-z, ]+)\.", text)
    assert found, text
    return [f.strip() for f in found.group(1).split(",")]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("analyze", list(RENDERERS)),
        ("demo", list(RENDERERS)),
        ("rotate", ["table", "json", "markdown", "html"]),
        ("audit", list(AUDIT_RENDERERS)),
    ],
)
def test_help_lists_only_supported_formats(command: str, expected: list[str]) -> None:
    assert listed_formats(command) == expected


@pytest.mark.parametrize("fmt", ["dot", "graphml"])
def test_rotate_refuses_graph_formats_as_a_usage_error(fmt: str) -> None:
    result = invoke("rotate", "--key", FIXTURE_KEY, "--snapshot", GOOD_SNAPSHOT, "--format", fmt)
    assert_diagnosis(
        result, rf"--format {fmt} exports the attack graph.*Choose among: table, json, markdown, html\."
    )


def test_rotate_refuses_an_unknown_format() -> None:
    result = invoke("rotate", "--key", FIXTURE_KEY, "--snapshot", GOOD_SNAPSHOT, "--format", "yaml")
    assert_diagnosis(result, r"unknown format 'yaml'.*Choose among: table, json, markdown, html\.")


def test_rotate_prints_the_runbook_in_every_listed_format() -> None:
    for fmt in listed_formats("rotate"):
        result = invoke("rotate", "--key", FIXTURE_KEY, "--snapshot", GOOD_SNAPSHOT, "--format", fmt)
        assert result.exit_code == 0, (fmt, result.output)
        assert result.stdout.strip()
