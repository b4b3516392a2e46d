"""Loading a snapshot fast reads exactly what the validating builder reads.

``Snapshot.from_json`` builds with a builder written per dataclass (``_fast_builder``: a dict lookup, an
inlined type check and a slot store per field) and falls back to the validating ``_build`` for the
message when it meets anything it does not accept. Every field of every class is broken here in every
way JSON allows, and both builders must agree: both refuse, or both build the same snapshot.
``load_json_file`` reads bytes rather than text; its error positions must still be those of the text.
"""

from __future__ import annotations

import copy
import gc
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blastradius.errors import SnapshotError
from blastradius.importers import load_snapshot
from blastradius.model import (
    KMS_KEY,
    LAMBDA_FUNCTION,
    SCP,
    AccessKey,
    CollectionGap,
    ComputeResource,
    Dataset,
    Group,
    InstanceProfile,
    KmsGrant,
    ManagedPolicy,
    Organization,
    OrgPolicy,
    PolicyDocument,
    Role,
    Snapshot,
    User,
    _build,
    _fast_build,
    _Invalid,
    load_json_file,
)

DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
ACCOUNT = "111111111111"


def _every_field_set() -> Snapshot:
    """A snapshot with one object of every class, every field of which differs from its default."""
    inline = PolicyDocument(name="inline", document=DOC, arn="arn:aws:iam::aws:policy/x")
    return Snapshot(
        account_id=ACCOUNT,
        collected_at="2026-01-01T00:00:00Z",
        regions=("eu-west-1",),
        partition="aws-cn",
        source="synthetic",
        users=(
            User(
                arn=f"arn:aws:iam::{ACCOUNT}:user/alice",
                name="alice",
                user_id="AIDA1",
                path="/people/",
                created="2020-01-01T00:00:00Z",
                inline_policies=(inline,),
                managed_policy_arns=(f"arn:aws:iam::{ACCOUNT}:policy/p",),
                group_names=("admins",),
                permissions_boundary_arn=f"arn:aws:iam::{ACCOUNT}:policy/b",
                tags={"team": "data"},
                access_keys=(
                    AccessKey(
                        access_key_id="AKIA1",
                        user_name="alice",
                        status="Active",
                        created="2020-01-01T00:00:00Z",
                        last_used_date="2020-02-01T00:00:00Z",
                        last_used_service="s3",
                        last_used_region="eu-west-1",
                    ),
                ),
                has_login_profile=True,
            ),
        ),
        groups=(
            Group(
                arn=f"arn:aws:iam::{ACCOUNT}:group/admins",
                name="admins",
                group_id="AGPA1",
                path="/g/",
                inline_policies=(inline,),
                managed_policy_arns=(f"arn:aws:iam::{ACCOUNT}:policy/p",),
            ),
        ),
        roles=(
            Role(
                arn=f"arn:aws:iam::{ACCOUNT}:role/etl",
                name="etl",
                trust_policy=DOC,
                role_id="AROA1",
                path="/svc/",
                created="2020-01-01T00:00:00Z",
                inline_policies=(inline,),
                managed_policy_arns=(f"arn:aws:iam::{ACCOUNT}:policy/p",),
                permissions_boundary_arn=f"arn:aws:iam::{ACCOUNT}:policy/b",
                tags={"team": "data"},
                max_session_duration=3600,
                last_used_date="2020-02-01T00:00:00Z",
                last_used_region="eu-west-1",
            ),
        ),
        managed_policies=(
            ManagedPolicy(
                arn=f"arn:aws:iam::{ACCOUNT}:policy/p",
                name="p",
                document=DOC,
                policy_id="ANPA1",
                default_version_id="v2",
                attachment_count=3,
                boundary_usage_count=1,
            ),
        ),
        datasets=(
            Dataset(
                arn=f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k1",
                type=KMS_KEY,
                name="k1",
                account_id=ACCOUNT,
                region="eu-west-1",
                resource_policy=DOC,
                kms_key=f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k0",
                tags={"data": "pii"},
                description="the key",
                field_names=("email",),
                object_keys_sample=("a/b.csv",),
                estimated_records=10,
                size_bytes=2**70,  # beyond 64 bits: kept exact
                grants=(
                    KmsGrant(
                        grant_id="g1",
                        grantee_principal=f"arn:aws:iam::{ACCOUNT}:role/etl",
                        operations=("Decrypt",),
                        retiring_principal=f"arn:aws:iam::{ACCOUNT}:role/etl",
                        name="grant",
                        constraints={"EncryptionContextSubset": {"k": "v"}},
                    ),
                ),
                aliases=("alias/k1",),
                key_manager="CUSTOMER",
                details={"rotation": True, "nested": [1, 2.5, None]},
            ),
        ),
        gaps=(
            CollectionGap(
                service="s3",
                region="eu-west-1",
                operation="GetBucketPolicy",
                error_code="AccessDenied",
                message="no",
                resource="arn:aws:s3:::b",
                account_id=ACCOUNT,
            ),
        ),
        services={"iam": "ok"},
        warnings=("a warning",),
        organization=Organization(
            org_id="o-1",
            management_account_id="999999999999",
            arn="arn:aws:organizations::999999999999:organization/o-1",
            account_paths={ACCOUNT: ("r-1", ACCOUNT)},
            policies=(
                OrgPolicy(
                    policy_id="p-1",
                    arn="arn:aws:organizations::999999999999:policy/o-1/scp/p-1",
                    name="deny",
                    type=SCP,
                    document=DOC,
                    targets=("r-1",),
                    aws_managed=True,
                ),
            ),
            enabled_policy_types=(SCP,),
        ),
        instance_profiles=(
            InstanceProfile(
                arn=f"arn:aws:iam::{ACCOUNT}:instance-profile/ip",
                name="ip",
                role_arns=(f"arn:aws:iam::{ACCOUNT}:role/etl",),
            ),
        ),
        compute=(
            ComputeResource(
                arn=f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:f",
                type=LAMBDA_FUNCTION,
                name="f",
                account_id=ACCOUNT,
                region="eu-west-1",
                role_arn=f"arn:aws:iam::{ACCOUNT}:role/etl",
                instance_profile_arn=f"arn:aws:iam::{ACCOUNT}:instance-profile/ip",
                env_var_names=("DB_URL",),
                tags={"team": "data"},
                details={"runtime": "python3.12"},
            ),
        ),
        accounts=(ACCOUNT, "222222222222"),
    )


def _objects(node: object, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every JSON object of the document with its path (dataclass objects and plain ones alike)."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _objects(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _objects(value, f"{where}[{i}]")


# Every JSON type, and lists and objects of right and wrong content.
WRONG = [None, 7, True, 1.5, "s", [], ["s"], [7], [{}], {}, {"k": "v"}, {"k": 7}, {"k": ["s"]}]
DELETE = object()


def _outcome(data: dict[str, Any]) -> tuple[str, str]:
    """("refused", "") or ("built", repr of the snapshot) per builder: they must be the same."""
    try:
        slow = _build(Snapshot, data, "x")
    except SnapshotError:
        with pytest.raises(_Invalid):
            _fast_build(Snapshot, data)
        return "refused", ""
    fast = _fast_build(Snapshot, data)
    assert fast == slow
    assert repr(fast) == repr(slow)  # also tells True from 1, and 1 from 1.0
    return "built", repr(fast)


def test_the_builders_agree_on_every_field_broken_every_way() -> None:
    document = _every_field_set().to_json()
    assert _outcome(document) == ("built", repr(_every_field_set()))
    places = [(where, sorted(obj)) for where, obj in _objects(document)]
    tried = {"refused": 0, "built": 0}
    for where, keys in places:
        for key in keys:
            for wrong in [DELETE, *WRONG]:
                data = copy.deepcopy(document)
                target = dict(_objects(data))[where]
                if wrong is DELETE:
                    del target[key]
                else:
                    target[key] = copy.deepcopy(wrong)
                outcome, _ = _outcome(data)
                tried[outcome] += 1
    # Both outcomes are exercised widely (plain documents take anything; fields take only their type).
    assert tried["refused"] > 1000 and tried["built"] > 500, tried


def test_fields_in_any_order_and_unknown_fields_read_the_same() -> None:
    document = _every_field_set().to_json()
    reordered = json.loads(json.dumps(document, sort_keys=True))
    assert _fast_build(Snapshot, reordered) == _every_field_set()
    for where, obj in list(_objects(reordered)):
        if where == "" or where.endswith("]"):  # the snapshot, list items (objects of a class, statements)
            obj["x_unknown_field"] = [1, {"a": None}]
    assert _outcome(reordered)[0] == "built"


def test_missing_optional_fields_take_their_defaults() -> None:
    minimal = {
        "schema": "blastradius.snapshot/v1",
        "account_id": ACCOUNT,
        "collected_at": "2026-01-01T00:00:00Z",
        "users": [{"arn": f"arn:aws:iam::{ACCOUNT}:user/a", "name": "a"}] * 2,
        "datasets": [
            {"arn": "arn:aws:s3:::b", "type": "s3-bucket", "name": "b", "account_id": ACCOUNT, "region": "x"}
        ],
    }
    built = Snapshot.from_json(minimal)
    assert built == _build(Snapshot, minimal, "x")
    assert built.users[0] == User(arn=f"arn:aws:iam::{ACCOUNT}:user/a", name="a")
    assert built.users[0].tags == {} and built.users[0].tags is not built.users[1].tags  # a fresh dict each
    assert built.datasets[0].resource_policy is None and built.organization is None


def test_a_malformed_field_is_still_named_precisely() -> None:
    data = _every_field_set().to_json()
    data["datasets"][0]["grants"][0]["operations"] = ["Decrypt", 3]
    with pytest.raises(
        SnapshotError, match=r"s\.json: snapshot\.datasets\[0\]\.grants\[0\]\.operations\[1\]"
    ):
        Snapshot.from_json(data, source="s.json")


def test_load_snapshot_reads_what_was_written_and_leaves_the_collector_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(_every_field_set().to_json(), indent=1) + "\r\n", encoding="utf-8")
    assert gc.isenabled()
    assert load_snapshot(path) == _every_field_set()
    assert gc.isenabled()


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{\r\n  "a": 1,\r\n  "b": [1, 2,,]\r\n}\r\n', r"line 3, column 14 \(Expecting value\)$"),
        (b'{\r  "a": 1,\r  "b": [1, 2,,]\r}\r', r"line 3, column 14 \(Expecting value\)$"),  # old Mac
        (
            b'{\r  "a": "abc\r',
            r"line 2, column 12 \(Invalid control character at\) — the file looks truncated",
        ),
        (b'{"a":\r\n "x\r\ny"}\r\n', r"line 2, column 4 \(Invalid control character at\)$"),
        (b"\r\r\r]", r"line 4, column 1 \(Expecting value\) — the file looks truncated"),
    ],
    ids=["crlf", "cr", "cr-truncated-string", "crlf-inside-string", "cr-before-error"],
)
def test_json_errors_are_placed_as_in_the_text_with_newlines_translated(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(SnapshotError, match=r"bad\.json: not valid JSON at " + message):
        load_json_file(path)


def test_whitespace_with_carriage_returns_is_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "blank.json"
    path.write_bytes(b" \r\n\r \t")
    with pytest.raises(SnapshotError, match=r"blank\.json: the file is empty"):
        load_json_file(path)
