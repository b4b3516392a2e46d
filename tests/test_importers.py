"""Loading snapshot files: blastradius snapshots, raw GAAD output, and everything else refused clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blastradius.collect.runner import COLLECTORS
from blastradius.errors import SnapshotError
from blastradius.importers import load_snapshot
from blastradius.model import Dataset, Snapshot, dump_snapshot

FIXTURE = Path(__file__).parent / "fixtures" / "gaad_incident.json"
ACCOUNT = "123456789012"


def test_gaad_output_becomes_an_iam_only_snapshot() -> None:
    snapshot = load_snapshot(FIXTURE)

    assert (snapshot.account_id, snapshot.partition, snapshot.source) == (ACCOUNT, "aws", "gaad")
    assert snapshot.services["iam"] == "ok"
    assert {name: status for name, status in snapshot.services.items() if name != "iam"} == dict.fromkeys(
        [n for n in COLLECTORS if n != "iam"], "not collected"
    )
    assert snapshot.datasets == ()
    assert len(snapshot.warnings) == 1 and "only IAM is known" in snapshot.warnings[0]
    assert snapshot.collected_at.endswith("Z")

    (user,) = snapshot.users
    assert user.arn == f"arn:aws:iam::{ACCOUNT}:user/contractors/tconnect-web-subcontractor"
    assert user.permissions_boundary_arn == f"arn:aws:iam::{ACCOUNT}:policy/ContractorBoundary"
    assert user.group_names == ("web",)
    assert user.has_login_profile is None  # not in GAAD: unknown
    (role,) = snapshot.roles
    assert (role.last_used_date, role.last_used_region) == ("2022-09-14T18:03:00+00:00", "us-east-1")
    policies = {p.name: p for p in snapshot.managed_policies}
    assert set(policies) == {"ExportsRead", "ContractorBoundary", "ReadOnlyAccess"}
    # The default version's document, not the older, broader one.
    assert policies["ExportsRead"].document["Statement"][0]["Action"] == "s3:GetObject"
    assert policies["ReadOnlyAccess"].aws_managed


def test_gaad_as_a_list_of_raw_api_pages(tmp_path: Path) -> None:
    data = json.loads(FIXTURE.read_text())
    pages = [
        {"UserDetailList": data["UserDetailList"], "IsTruncated": True, "Marker": "m"},
        {"RoleDetailList": data["RoleDetailList"], "Policies": data["Policies"], "IsTruncated": False},
    ]
    path = tmp_path / "pages.json"
    path.write_text(json.dumps(pages))

    snapshot = load_snapshot(path)

    assert (len(snapshot.users), len(snapshot.roles), len(snapshot.managed_policies)) == (1, 1, 3)


def test_blastradius_snapshot_round_trips(tmp_path: Path) -> None:
    original = Snapshot(
        account_id=ACCOUNT,
        collected_at="2026-01-01T00:00:00Z",
        regions=("us-east-1",),
        datasets=(
            Dataset(
                arn="arn:aws:s3:::tconnect-exports",
                type="s3-bucket",
                name="tconnect-exports",
                account_id=ACCOUNT,
                region="us-east-1",
                details={"objects_sampled": 3},
            ),
        ),
        services={"s3": "ok"},
    )
    path = tmp_path / "snapshot.json"
    dump_snapshot(original, path)

    assert load_snapshot(path) == original


def test_other_json_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "terraform.tfstate"
    path.write_text(json.dumps({"version": 4, "resources": []}))
    with pytest.raises(SnapshotError, match=r"terraform\.tfstate: neither a blastradius snapshot"):
        load_snapshot(path)


def test_json_array_of_non_pages_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(SnapshotError, match=r"list\.json: neither"):
        load_snapshot(path)


def test_gaad_of_several_accounts_is_refused(tmp_path: Path) -> None:
    data = json.loads(FIXTURE.read_text())
    stranger = dict(data["RoleDetailList"][0], Arn="arn:aws:iam::999988887777:role/x", RoleName="x")
    data["RoleDetailList"].append(stranger)
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SnapshotError, match=r"mixed\.json: ARNs of several accounts"):
        load_snapshot(path)


def test_gaad_policy_without_default_version_is_malformed_not_empty(tmp_path: Path) -> None:
    data = json.loads(FIXTURE.read_text())
    for version in data["Policies"][0]["PolicyVersionList"]:
        version["IsDefaultVersion"] = False
    data["Policies"][0]["DefaultVersionId"] = "v9"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    with pytest.raises(
        SnapshotError, match=r"broken\.json: malformed get-account-authorization-details.*no default"
    ):
        load_snapshot(path)


def test_gaad_field_of_wrong_type_is_named(tmp_path: Path) -> None:
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"UserDetailList": {"not": "a list"}}))
    with pytest.raises(SnapshotError, match=r"odd\.json: field UserDetailList must be a list"):
        load_snapshot(path)


def test_gaad_without_any_arn_cannot_tell_the_account(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"UserDetailList": [], "RoleDetailList": [], "Policies": []}))
    with pytest.raises(SnapshotError, match="cannot tell the account id"):
        load_snapshot(path)
