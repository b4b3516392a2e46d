"""The terminal report stays readable (and fast) for a key that reaches tens of thousands of datasets:
the first ``MAX_DATASETS`` ranked datasets in full, the rest counted by sensitivity; the same for
reachable principals and notification rows. Other formats list everything."""

from __future__ import annotations

import json
import re

import pytest
from synthetic import synth

from blastradius.analyze import analyze_snapshot
from blastradius.render import html as html_mod
from blastradius.render import render
from blastradius.render import table as table_mod


def test_table_caps_datasets_and_principals_and_counts_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    result = synth().generate(principals=120, datasets=1200, policies=20, seed=3)
    report = analyze_snapshot(result.snapshot, result.broad_keys[0])
    assert len(report.datasets) > 30
    others = [p for p in report.principals if p.via != "origin"]
    monkeypatch.setattr(table_mod, "MAX_DATASETS", 10)
    monkeypatch.setattr(table_mod, "MAX_PRINCIPALS", 2)
    text = render(report, "table", width=200)
    more = re.search(r"… and (\d+) more dataset\(s\) ranked below these: ([^(]+)\(", text)
    assert more, text[-2000:]
    assert int(more.group(1)) == len(report.datasets) - 10
    counted = sum(int(n) for n in re.findall(r"(\d+) (?:high|medium|low|none)", more.group(2)))
    assert counted == len(report.datasets) - 10
    if len(others) > 2:
        assert f"… and {len(others) - 2} more" in text
    # JSON still lists every dataset.
    assert len(json.loads(render(report, "json"))["datasets"]) == len(report.datasets)


def test_small_reports_are_not_capped() -> None:
    result = synth().generate(principals=120, datasets=1200, policies=20, seed=3)
    report = analyze_snapshot(result.snapshot, result.narrow_keys[0])
    assert len(report.datasets) <= table_mod.MAX_DATASETS
    assert "more dataset(s) ranked below" not in render(report, "table", width=200)


def test_html_details_are_capped_and_the_table_lists_every_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    result = synth().generate(principals=120, datasets=1200, policies=20, seed=3)
    report = analyze_snapshot(result.snapshot, result.broad_keys[0])
    monkeypatch.setattr(html_mod, "MAX_DETAILED_DATASETS", 5)
    page = render(report, "html")
    assert page.count('class="finding"') == 5
    assert page.count('href="#ds-') == 5  # only rows with a detail block link to one
    rows = re.findall(r"<tr><td>(\d+)</td>", page)
    assert len(rows) >= len(report.datasets)  # the dataset table still lists every one
    assert f"the other {len(report.datasets) - 5} are in the table" in page


def test_table_caps_pivots_and_escalations_but_keeps_every_runbook_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = synth().generate(principals=120, datasets=1200, policies=20, seed=3)
    report = analyze_snapshot(result.snapshot, result.broad_keys[0])
    monkeypatch.setattr(table_mod, "MAX_DATASETS", 1)
    text = render(report, "table", width=200)
    if len(report.credential_pivots) > 1:
        assert f"… and {len(report.credential_pivots) - 1} more" in text
    if len(report.escalations) > 1:
        assert "the first 1 (" in text
    commands = [c for step in report.rotation_plan for c in step.commands]
    assert commands
    for command in commands:  # the runbook is never cut: every command, on one line, pasteable
        assert f"$ {command}" in text
