"""Rule packs: the shipped ones load, accessors answer like the Service Authorization Reference, a
responder's --policies directory replaces packs file by file, and a broken pack names file, line, field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from blastradius.errors import RulePackError
from blastradius.model import DATASET_TYPES
from blastradius.rules import (
    DATASTORES_PACK,
    ESCALATION_PACK,
    ROTATION_PACK,
    SENSITIVITY_PACK,
    default_policies_dir,
    expand_resource,
    load_rules,
)

RULES = load_rules()
DS = RULES.datastores
SHIPPED = {
    name: (default_policies_dir() / name).read_text(encoding="utf-8")
    for name in (SENSITIVITY_PACK, DATASTORES_PACK, ROTATION_PACK)
}


def test_shipped_packs_load_with_every_dataset_type() -> None:
    assert set(DS.types) == set(DATASET_TYPES)
    assert len(RULES.sensitivity.rules) >= 20
    assert RULES.rotation.steps[0].phase == "contain"
    assert set(RULES.sources) == {SENSITIVITY_PACK, DATASTORES_PACK, ROTATION_PACK, ESCALATION_PACK}


def test_editable_checkout_reads_the_repository_policies_dir() -> None:
    # No wheel here: the fallback is the checkout's policies/ (a wheel would have blastradius/_policies).
    assert (default_policies_dir() / SENSITIVITY_PACK).is_file()


@pytest.mark.parametrize(
    ("dataset_type", "level", "expected"),
    [
        ("s3-bucket", "read", {"s3:GetObject", "s3:GetObjectVersion"}),
        ("s3-bucket", "list", {"s3:ListBucket"}),
        ("s3-bucket", "write", {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"}),
        (
            "s3-bucket",
            "admin",
            {"s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutBucketAcl", "s3:PutObjectAcl"},
        ),
        (
            "dynamodb-table",
            "read",
            {
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
                "dynamodb:Scan",
                "dynamodb:ExportTableToPointInTime",
            },
        ),
        (
            "dynamodb-table",
            "write",
            {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"},
        ),
        (
            "dynamodb-table",
            "admin",
            {"dynamodb:DeleteTable", "dynamodb:PutResourcePolicy", "dynamodb:UpdateTable"},
        ),
        ("secretsmanager-secret", "read", {"secretsmanager:GetSecretValue"}),
        ("secretsmanager-secret", "write", {"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret"}),
        (
            "secretsmanager-secret",
            "admin",
            {"secretsmanager:PutResourcePolicy", "secretsmanager:DeleteSecret"},
        ),
        (
            "ssm-parameter",
            "read",
            {"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"},
        ),
        ("ssm-parameter", "write", {"ssm:PutParameter", "ssm:DeleteParameter"}),
        ("kms-key", "read", {"kms:Decrypt"}),
        ("kms-key", "write", {"kms:Encrypt", "kms:GenerateDataKey"}),
        (
            "kms-key",
            "admin",
            {"kms:PutKeyPolicy", "kms:CreateGrant", "kms:ScheduleKeyDeletion", "kms:DisableKey"},
        ),
    ],
)
def test_actions_for_level_include_the_real_action_names(
    dataset_type: str, level: str, expected: set[str]
) -> None:
    assert expected <= set(DS.actions_for(dataset_type, level))


def test_an_action_belongs_to_one_level_and_lookup_ignores_case() -> None:
    assert DS.level_of("s3-bucket", "S3:getobject") == "read"
    assert DS.level_of("s3-bucket", "s3:PutBucketPolicy") == "admin"
    assert DS.level_of("s3-bucket", "s3:CreateBucket") is None
    for dataset_type in DATASET_TYPES:
        seen: dict[str, str] = {}
        for level in ("list", "read", "write", "admin"):
            for action in DS.actions_for(dataset_type, level):
                assert seen.setdefault(action.lower(), level) == level, action


@pytest.mark.parametrize(
    ("dataset_type", "arn", "what", "expected"),
    [
        ("s3-bucket", "arn:aws:s3:::tconnect-exports", "s3:GetObject", ("arn:aws:s3:::tconnect-exports/*",)),
        ("s3-bucket", "arn:aws:s3:::tconnect-exports", "s3:ListBucket", ("arn:aws:s3:::tconnect-exports",)),
        ("s3-bucket", "arn:aws:s3:::b", "admin", ("arn:aws:s3:::b", "arn:aws:s3:::b/*")),
        (
            "dynamodb-table",
            "arn:aws:dynamodb:us-east-1:1:table/t",
            "dynamodb:Query",
            ("arn:aws:dynamodb:us-east-1:1:table/t", "arn:aws:dynamodb:us-east-1:1:table/t/index/*"),
        ),
        (
            "ssm-parameter",
            "arn:aws:ssm:us-east-1:1:parameter/prod/db/password",
            "ssm:GetParametersByPath",
            ("arn:aws:ssm:us-east-1:1:parameter/prod/db", "arn:aws:ssm:us-east-1:1:parameter/prod"),
        ),
        ("ssm-parameter", "arn:aws:ssm:us-east-1:1:parameter/flag", "ssm:GetParametersByPath", ()),
        ("kms-key", "arn:aws:kms:us-east-1:1:key/k", "kms:Decrypt", ("arn:aws:kms:us-east-1:1:key/k",)),
    ],
)
def test_resource_arns_s3_object_actions_are_on_object_arns(
    dataset_type: str, arn: str, what: str, expected: tuple[str, ...]
) -> None:
    assert DS.resource_arns(dataset_type, arn, what) == expected


@pytest.mark.parametrize(
    ("dataset_type", "level", "decrypt"),
    [
        ("s3-bucket", "read", True),  # SSE-KMS objects
        ("s3-bucket", "list", False),
        ("dynamodb-table", "read", True),  # table with a customer managed key
        ("secretsmanager-secret", "read", True),
        ("ssm-parameter", "read", True),  # SecureString
        ("kms-key", "read", False),  # the key itself: Decrypt IS the read
    ],
)
def test_reading_encrypted_data_needs_kms_decrypt(dataset_type: str, level: str, decrypt: bool) -> None:
    assert DS.needs_decrypt(dataset_type, level) is decrypt


def test_unknown_dataset_type_is_an_error_not_no_access() -> None:
    with pytest.raises(RulePackError, match="no entry for dataset type 'rds-cluster'"):
        DS.actions_for("rds-cluster", "read")


def test_expand_resource_ancestors_of_a_deep_parameter() -> None:
    assert expand_resource("{arn_ancestors}", "arn:aws:ssm:r:1:parameter/a/b/c/d") == (
        "arn:aws:ssm:r:1:parameter/a/b/c",
        "arn:aws:ssm:r:1:parameter/a/b",
        "arn:aws:ssm:r:1:parameter/a",
    )


def test_override_dir_replaces_shipped_pack(tmp_path: Path) -> None:
    (tmp_path / SENSITIVITY_PACK).write_text(
        '[[rule]]\nid = "only"\non = "name"\nterms = ["crown jewels"]\n'
        'level = "high"\nreason = "name {term}"\n',
        encoding="utf-8",
    )
    rules = load_rules(tmp_path)
    assert [r.id for r in rules.sensitivity.rules] == ["only"]
    assert rules.sources[SENSITIVITY_PACK] == str(tmp_path / SENSITIVITY_PACK)
    # The packs not in the directory stay the shipped ones.
    assert set(rules.datastores.types) == set(DATASET_TYPES)
    assert rules.sources[DATASTORES_PACK] != str(tmp_path / DATASTORES_PACK)


def test_misspelt_pack_in_override_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sensitivty.toml").write_text("", encoding="utf-8")
    with pytest.raises(RulePackError, match=r"unknown rule pack.*sensitivty\.toml"):
        load_rules(tmp_path)


def test_missing_override_dir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RulePackError, match="not a directory"):
        load_rules(tmp_path / "nope")


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


GOOD_RULE = '[[rule]]\nid = "a"\non = "name"\nterms = ["x"]\nlevel = "high"\nreason = "r"\n\n'

# (case id, pack, text, the line the message must name, what else it must say)
MALFORMED: list[tuple[str, str, str, int, str]] = [
    ("toml_syntax", SENSITIVITY_PACK, GOOD_RULE + "[[rule]\n", 8, r"not valid TOML"),
    (
        "unknown_level",
        SENSITIVITY_PACK,
        GOOD_RULE + '[[rule]]\nid = "b"\non = "name"\nterms = ["y"]\nlevel = "urgent"\nreason = "r"\n',
        12,
        r"field rule\[1\]\.level: expected one of none, low, medium, high, found 'urgent'",
    ),
    (
        "typo_in_key",
        SENSITIVITY_PACK,
        GOOD_RULE + '[[rule]]\nid = "b"\non = "name"\nterms = ["y"]\nlevle = "high"\nreason = "r"\n',
        12,
        r"field rule\[1\]\.levle: unknown key",
    ),
    (
        "unknown_placeholder",
        SENSITIVITY_PACK,
        '[[rule]]\nid = "a"\non = "field"\nterms = ["x"]\nlevel = "high"\nreason = "attribute {attr}"\n',
        6,
        r"field rule\[0\]\.reason: unknown placeholder \{attr\}",
    ),
    (
        "terms_not_a_list",
        SENSITIVITY_PACK,
        '[[rule]]\nid = "a"\non = "name"\nterms = "customer"\nlevel = "high"\nreason = "r"\n',
        4,
        r"field rule\[0\]\.terms: expected an array of strings",
    ),
    (
        "multiline_string_does_not_confuse_lines",
        SENSITIVITY_PACK,
        '[[rule]]\nid = "a"\non = "name"\nterms = ["x"]\nlevel = "high"\nreason = """r\nlevel = "x"\n"""\n\n'
        '[[rule]]\nid = "b"\non = "nmae"\nterms = ["y"]\nlevel = "high"\nreason = "r"\n',
        12,
        r"field rule\[1\]\.on: expected one of",
    ),
]


@pytest.mark.parametrize(
    ("pack", "text", "line", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_pack_names_file_line_field(
    tmp_path: Path, pack: str, text: str, line: int, message: str
) -> None:
    (tmp_path / pack).write_text(text, encoding="utf-8")
    with pytest.raises(RulePackError, match=rf"{re.escape(str(tmp_path / pack))}:{line}:.*{message}"):
        load_rules(tmp_path)


def _edit(pack: str, old: str, new: str) -> str:
    text = SHIPPED[pack]
    assert old in text, old
    return text.replace(old, new, 1)


# (case id, pack, old text, new text, a line of the new text the error must point at, message)
SEMANTIC: list[tuple[str, str, str, str, str, str]] = [
    (
        "wildcard_action",
        DATASTORES_PACK,
        '"s3:GetObjectTorrent",',
        '"s3:Get*",',
        '"s3:Get*"',
        r"field s3-bucket\.levels\.read\.object\[\d+\]: 's3:Get\*' is not an IAM action name",
    ),
    (
        "action_of_another_service",
        DATASTORES_PACK,
        '"dynamodb:BatchGetItem",',
        '"s3:GetObjectAcl",',
        '"s3:GetObjectAcl"',
        r"s3:GetObjectAcl is not a dynamodb: action",
    ),
    (
        "unknown_level",
        DATASTORES_PACK,
        "[kms-key.levels.write]",
        "[kms-key.levels.use]",
        "[kms-key.levels.use]",
        r"field kms-key\.levels\.use: unknown key",
    ),
    (
        "undefined_resource_kind",
        DATASTORES_PACK,
        'stream = ["dynamodb:DescribeStream"]',
        'streams = ["dynamodb:DescribeStream"]',
        "streams = ",
        r"field dynamodb-table\.levels\.list\.streams: resource kind 'streams' is not defined",
    ),
    (
        "action_in_two_levels",
        DATASTORES_PACK,
        '"s3:RestoreObject",',
        '"s3:GetObject",',
        '"s3:GetObject",\n  "s3:AbortMultipartUpload"',
        r"s3:GetObject is already listed under field s3-bucket\.levels\.read\.object",
    ),
    (
        "unknown_for_each",
        ROTATION_PACK,
        'for_each = "secret"',
        'for_each = "secrets"',
        'for_each = "secrets"',
        r"field step\[\d+\]\.command\[0\]\.for_each: expected one of",
    ),
    (
        "unknown_condition",
        ROTATION_PACK,
        'when = ["has_secret"]',
        'when = ["has_secrets"]',
        'when = ["has_secrets"]',
        r"field step\[\d+\]\.when\[0\]: expected one of",
    ),
    (
        "item_placeholder_without_for_each",
        ROTATION_PACK,
        'run = "aws secretsmanager rotate-secret --secret-id {secret_arn} --region {region}"',
        'run = "aws secretsmanager rotate-secret --secret-id {secret_arn}"\n'
        '  [[step.command]]\n  run = "echo {role_name}"',
        'run = "echo {role_name}"',
        r"unknown placeholder \{role_name\}",
    ),
    (
        "phase_out_of_order",
        ROTATION_PACK,
        'id = "notify-none"\nphase = "notify"',
        'id = "notify-none"\nphase = "contain"',
        'phase = "contain"\nwhen = ["no_personal_dataset"]',
        r"phase 'contain' comes after 'notify'",
    ),
]


@pytest.mark.parametrize(
    ("pack", "old", "new", "anchor", "message"), [s[1:] for s in SEMANTIC], ids=[s[0] for s in SEMANTIC]
)
def test_semantic_error_names_file_line_field(
    tmp_path: Path, pack: str, old: str, new: str, anchor: str, message: str
) -> None:
    text = _edit(pack, old, new)
    (tmp_path / pack).write_text(text, encoding="utf-8")
    line = _line_of(text, anchor)
    with pytest.raises(RulePackError, match=rf"{re.escape(str(tmp_path / pack))}:{line}: .*{message}"):
        load_rules(tmp_path)


def test_datastores_pack_missing_a_dataset_type_is_refused(tmp_path: Path) -> None:
    text = SHIPPED[DATASTORES_PACK]
    (tmp_path / DATASTORES_PACK).write_text(text[: text.index("[kms-key]")], encoding="utf-8")
    with pytest.raises(RulePackError, match=r"no entry for dataset type.*kms-key"):
        load_rules(tmp_path)


def test_shipped_rules_are_read_once_and_overrides_every_time(tmp_path: Path) -> None:
    from blastradius.rules import SENSITIVITY_PACK, load_rules

    assert load_rules() is load_rules()  # frozen; every analyze/audit used to re-read and re-validate
    shipped = (Path(load_rules().sources[SENSITIVITY_PACK])).read_text(encoding="utf-8")
    (tmp_path / SENSITIVITY_PACK).write_text(shipped, encoding="utf-8")
    first, second = load_rules(tmp_path), load_rules(tmp_path)
    assert first is not second and first is not load_rules()
