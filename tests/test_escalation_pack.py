"""policies/escalation.toml: the shipped pack covers the catalogue, and a malformed pack is refused at the
file, line and field that are wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from blastradius.errors import RulePackError
from blastradius.escalation import load_escalation
from blastradius.rules import ESCALATION_PACK, default_policies_dir, load_rules

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = Path("/work/shared/reference/pathfinding.cloud/data/paths")
SHIPPED = (default_policies_dir() / ESCALATION_PACK).read_text(encoding="utf-8")
PACK = load_escalation()


def test_pack_has_every_catalogue_path_and_the_endgame_techniques() -> None:
    ids = {t.id for t in PACK.techniques}
    catalogue = {t for t in ids if not t.startswith("endgame-")}
    assert len(catalogue) == 65
    endgame = ids - catalogue
    for must in (
        "endgame-s3-bucket-policy",
        "endgame-dynamodb-resource-policy",
        "endgame-secret-resource-policy",
        "endgame-kms-key-policy",
        "endgame-kms-grant",
        "endgame-rds-snapshot-share",
        "endgame-ebs-snapshot-share",
        "endgame-dynamodb-export",
        "endgame-delete-user-boundary",
        "endgame-delete-role-boundary",
        "endgame-put-user-boundary",
        "endgame-put-role-boundary",
    ):
        assert must in endgame


@pytest.mark.skipif(not CATALOGUE.is_dir(), reason="reference catalogue not present")
def test_pack_requires_at_least_the_catalogues_permissions() -> None:
    # Each path's required permissions (pathfinding.cloud) are steps of our technique (we may add, e.g. the
    # sts:AssumeRole that makes an attached policy usable, never drop one).
    for path in sorted(CATALOGUE.glob("*/*.yaml")):
        entry = yaml.safe_load(path.read_text(encoding="utf-8"))
        technique = PACK.get(entry["id"])
        assert technique is not None, entry["id"]
        required = {p["permission"].lower() for p in entry["permissions"]["required"]}
        ours = {a.lower() for a in technique.actions}
        assert required <= ours, (entry["id"], required - ours)


def test_readme_table_lists_every_technique_with_its_actions() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| ([^|]+) \| ([^|]+) \|", readme, re.MULTILINE)
    table = {rid: [a.strip(" `") for a in actions.split(",")] for rid, _, actions in rows}
    assert set(table) == {t.id for t in PACK.techniques}
    for t in PACK.techniques:
        assert table[t.id] == list(t.actions), t.id


def bad_pack(tmp_path: Path, old: str, new: str) -> Path:
    assert old in SHIPPED, old
    (tmp_path / ESCALATION_PACK).write_text(SHIPPED.replace(old, new, 1), encoding="utf-8")
    return tmp_path


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ('gain = "admin"\ncheck', 'gain = "everything"\ncheck', r"technique\[0\]\.gain", "expected one of"),
        (
            'target = "attached-policy"',
            'target = "group"',
            r"technique\[0\]\.gain",
            "does not go with target",
        ),
        (
            'action = "iam:CreatePolicyVersion"',
            'action = "iam:*"',
            r"technique\[0\]\.step\[0\]\.action",
            "no wildcards",
        ),
        ('id = "iam-002"', 'id = "iam-001"', r"technique\[1\]\.id", "duplicate technique id"),
        ('id = "iam-002"', 'id = "my technique"', r"technique\[1\]\.id", "neither a catalogue id"),
        (
            'category = "self-escalation"',
            'categry = "self-escalation"',
            r"technique\[0\]\.categry",
            "unknown key",
        ),
        (
            'on = "passed-role"',
            'on = "passed-role"\n  trust = true',
            r"step\[0\]\.trust",
            "trust = true is for",
        ),
        (
            'resource = "arn:{partition}:lambda:{region}:{account}:function:*"',
            'resource = "arn:{partition}:lambda:{regoin}:{account}:function:*"',
            r"step\[1\]\.resource",
            "unknown placeholder",
        ),
        ('trusts = ["lambda.amazonaws.com"]', "", r"technique\[\d+\]", "needs 'trusts'"),
        (
            'check = ["aws iam list-access-keys --user-name {target_name}"]',
            'check = ["aws iam list-access-keys --user-name {victim}"]',
            r"technique\[1\]\.check\[0\]",
            "unknown placeholder",
        ),
        ('levels = ["read", "write"]', 'levels = ["read", "own"]', r"levels\[1\]", "expected one of"),
    ],
    ids=[
        "unknown-gain",
        "gain-does-not-fit-target",
        "wildcard-action",
        "duplicate-id",
        "bad-id",
        "misspelt-key",
        "trust-on-passrole",
        "bad-resource-placeholder",
        "service-role-without-trusts",
        "bad-check-placeholder",
        "bad-level",
    ],
)
def test_malformed_pack_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, field: str, message: str
) -> None:
    directory = bad_pack(tmp_path, old, new)
    with pytest.raises(RulePackError) as raised:
        load_rules(directory)
    text = str(raised.value)
    assert str(directory / ESCALATION_PACK) in text
    assert re.search(rf":\d+: field [^:]*{field}", text), text
    assert message in text
    found = int(re.search(r"\.toml:(\d+):", text).group(1))  # type: ignore[union-attr]
    assert found > 1


def test_error_line_points_at_the_offending_technique(tmp_path: Path) -> None:
    directory = bad_pack(tmp_path, 'gain = "principal"', 'gain = "nothing"')
    with pytest.raises(RulePackError, match=r"escalation\.toml:(\d+): field technique\[1\]\.gain") as raised:
        load_rules(directory)
    text = (directory / ESCALATION_PACK).read_text(encoding="utf-8")
    line = line_of(text, 'gain = "nothing"')
    assert f":{line}:" in str(raised.value)


def test_not_toml_is_refused_with_position(tmp_path: Path) -> None:
    (tmp_path / ESCALATION_PACK).write_text("[[technique]\nid = 1\n", encoding="utf-8")
    with pytest.raises(RulePackError, match=r"escalation\.toml:1:\d+: not valid TOML"):
        load_rules(tmp_path)


def test_responder_adds_a_technique_without_python(tmp_path: Path) -> None:
    extra = """
[[technique]]
id = "endgame-sqs-queue-policy"
title = "Rewrite a queue policy"
category = "data-endgame"
target = "account"
gain = "exfiltrate"
  [[technique.step]]
  action = "sqs:SetQueueAttributes"
  on = "new"
  resource = "arn:{partition}:sqs:{region}:{account}:*"
"""
    (tmp_path / ESCALATION_PACK).write_text(SHIPPED + extra, encoding="utf-8")
    rules = load_rules(tmp_path)
    assert rules.escalation is not None
    assert rules.escalation.get("endgame-sqs-queue-policy") is not None
    assert rules.sources[ESCALATION_PACK] == str(tmp_path / ESCALATION_PACK)
