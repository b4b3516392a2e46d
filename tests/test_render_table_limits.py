"""The terminal report stays readable (and fast) for a key that reaches tens of thousands of datasets:
the first ``MAX_DATASETS`` ranked datasets in full, the rest counted by sensitivity; the same for
reachable principals and notification rows. Other formats list everything."""

from __future__ import annotations

import json
import re

import pytest
from synthetic import synth

from blastradius.analyze import analyze_snapshot
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
