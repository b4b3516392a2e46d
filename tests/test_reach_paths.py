"""``analyze --paths all``: every distinct path of equal best cost per dataset, nothing else changed."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from synthetic import synth
from typer.testing import CliRunner

from blastradius import graph
from blastradius.analyze import analyze_snapshot
from blastradius.cli import app
from blastradius.errors import UsageError
from blastradius.model import (
    S3_BUCKET,
    AccessKey,
    Dataset,
    PolicyDocument,
    Role,
    Snapshot,
    User,
    dump_snapshot,
)
from blastradius.rules import load_rules
from blastradius.schema import report_schema

ACCT = "111122223333"
KEY = "AKIAQYLPMN5HHHFPZAM2"
USER_ARN = f"arn:aws:iam::{ACCT}:user/leaky"
NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def role(name: str, *statements: dict[str, Any]) -> Role:
    trust = doc({"Effect": "Allow", "Principal": {"AWS": USER_ARN}, "Action": "sts:AssumeRole"})
    return Role(
        arn=f"arn:aws:iam::{ACCT}:role/{name}",
        name=name,
        trust_policy=trust,
        inline_policies=(PolicyDocument(name=f"{name}-data", document=doc(*statements)),),
    )


def bucket(name: str) -> Dataset:
    return Dataset(arn=f"arn:aws:s3:::{name}", type=S3_BUCKET, name=name, account_id=ACCT, region="us-east-1")


def snapshot() -> Snapshot:
    """Two roles read ``exports`` (two paths of equal cost); ``logs`` is read directly and via a role."""
    read = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::exports/*"}
    me = User(
        arn=USER_ARN,
        name="leaky",
        inline_policies=(
            PolicyDocument(
                name="p",
                document=doc(
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Resource": f"arn:aws:iam::{ACCT}:role/*",
                    },
                    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/*"},
                ),
            ),
        ),
        access_keys=(AccessKey(access_key_id=KEY, user_name="leaky", status="Active"),),
    )
    logs = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/*"}
    return Snapshot(
        account_id=ACCT,
        collected_at="2026-11-25T00:00:00Z",
        users=(me,),
        roles=(role("etl", read), role("reporting", read, logs)),
        datasets=(bucket("exports"), bucket("logs")),
    )


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in report["datasets"]}


def hops(path: list[dict[str, Any]]) -> list[str]:
    return [step["to"].rsplit("/", 1)[-1].rsplit(":", 1)[-1] for step in path]


def test_all_paths_lists_every_role_that_reaches_a_dataset_at_the_same_cost() -> None:
    first = analyze_snapshot(snapshot(), KEY, now=NOW).to_json()
    every = analyze_snapshot(snapshot(), KEY, now=NOW, paths="all").to_json()
    exports = by_name(every)["exports"]
    assert sorted(hops(p) for p in exports["paths"]) == [["etl", "exports"], ["reporting", "exports"]]
    assert exports["paths"][0] == exports["path"]
    # A longer path is no alternative: logs is read directly, not also via the reporting role.
    assert [hops(p) for p in by_name(every)["logs"]["paths"]] == [["logs"]]
    # Nothing else changes, and the default report has no "paths".
    for d in every["datasets"]:
        del d["paths"]
    assert every == first
    assert all("paths" not in d for d in first["datasets"])
    Draft202012Validator(report_schema()).validate(
        analyze_snapshot(snapshot(), KEY, now=NOW, paths="all").to_json()
    )


def test_unknown_paths_mode_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="paths must be one of first, all"):
        analyze_snapshot(snapshot(), KEY, now=NOW, paths="some")


def test_cli_paths_all(tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    dump_snapshot(snapshot(), snap)
    result = CliRunner().invoke(
        app, ["analyze", "--snapshot", str(snap), "--key", KEY, "--paths", "all", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    exports = by_name(json.loads(result.stdout))["exports"]
    assert len(exports["paths"]) == 2
    bad = CliRunner().invoke(app, ["analyze", "--snapshot", str(snap), "--key", KEY, "--paths", "most"])
    assert bad.exit_code == 2


def test_all_paths_changes_nothing_but_adds_paths_on_a_synthetic_organisation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = synth().generate(principals=250, datasets=1500, policies=25, seed=1)
    key = result.broad_keys[0]
    first = analyze_snapshot(result.snapshot, key, now=NOW).to_json()
    every = analyze_snapshot(result.snapshot, key, now=NOW, paths="all").to_json()
    alternatives = 0
    for d in every["datasets"]:
        paths = d["paths"]
        assert paths[0] == d["path"]
        assert len({json.dumps(p) for p in paths}) == len(paths)  # distinct
        assert {len(p) for p in paths} == {len(d["path"])}  # equal cost (same hops, same certainty)
        alternatives += len(paths) - 1
    assert alternatives > 0
    # Pruning leaves out no alternative: the same paths without any pruning.
    original = graph.PermissionGraph.expand

    def unpruned(self: graph.PermissionGraph, arn: str, skip: object = None) -> list[graph.Edge]:
        return original(self, arn, None)

    monkeypatch.setattr(graph.PermissionGraph, "expand", unpruned)
    full = analyze_snapshot(result.snapshot, key, now=NOW, paths="all").to_json()
    assert full == every
    for d in every["datasets"]:
        del d["paths"]
    assert every == first


def test_access_masks_are_the_direct_access_edges_as_bitsets() -> None:
    """The bulk API for audits: one principal's access edges as bitsets over the dataset index."""
    g = graph.build_graph(snapshot(), load_rules(), now=NOW)
    role_arn = f"arn:aws:iam::{ACCT}:role/reporting"
    masks = g.access_masks(role_arn)
    index = g.model.type_index(S3_BUCKET)
    read = masks[(S3_BUCKET, "read", "definite")]
    assert [index.arns[i] for i in graph.bits(read)] == ["arn:aws:s3:::exports", "arn:aws:s3:::logs"]
    edges = {(e.target, e.level) for e in g.expand(role_arn) if e.kind == graph.ACCESS}
    assert {(index.arns[i], level) for (_, level, _), m in masks.items() for i in graph.bits(m)} == edges
