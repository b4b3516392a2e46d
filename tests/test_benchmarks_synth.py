"""The benchmark's synthetic snapshot generator: valid, deterministic, private, with usable subjects."""

from __future__ import annotations

import importlib.util
import json
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from blastradius.model import DATASET_TYPES, Snapshot

SYNTH = Path(__file__).resolve().parent.parent / "benchmarks" / "synth.py"
N = 50


def _load_synth() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmarks_synth", SYNTH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def synth() -> ModuleType:
    return _load_synth()


def _run_cli(out: Path, seed: int = 7) -> dict[str, object]:
    proc = subprocess.run(
        [
            *(sys.executable, str(SYNTH), "--principals", str(N), "--datasets", str(10 * N)),
            *("--policies", "12", "--seed", str(seed), "--out", str(out)),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(proc.stdout)
    assert isinstance(summary, dict)
    return summary


def test_cli_output_validates_and_is_private(tmp_path: Path) -> None:
    out = tmp_path / "snap.json"
    summary = _run_cli(out)
    assert summary["snapshot"] == str(out)
    assert summary["principals"] == N
    assert summary["datasets"] == 10 * N
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    snapshot = Snapshot.from_json(json.loads(out.read_text(encoding="utf-8")), source=str(out))
    assert snapshot.source == "synthetic"
    assert len(snapshot.users) + len(snapshot.roles) == N
    assert len(snapshot.datasets) == 10 * N
    assert {d.type for d in snapshot.datasets} == set(DATASET_TYPES)

    # Every attached or boundary policy is in the snapshot; every group a user names exists.
    policy_arns = {p.arn for p in snapshot.managed_policies}
    groups = {g.name for g in snapshot.groups}
    for entity in (*snapshot.users, *snapshot.roles, *snapshot.groups):
        assert set(entity.managed_policy_arns) <= policy_arns, entity.arn
    for entity in (*snapshot.users, *snapshot.roles):
        assert entity.permissions_boundary_arn in (None, *policy_arns)
    for user in snapshot.users:
        assert set(user.group_names) <= groups

    # The subjects: active keys of users in the snapshot, with the AWS key-id shape.
    keys = {k.access_key_id: k for u in snapshot.users for k in u.access_keys}
    assert len(keys) == sum(len(u.access_keys) for u in snapshot.users)  # unique
    broad, narrow = summary["broad_keys"], summary["narrow_keys"]
    assert isinstance(broad, list) and isinstance(narrow, list)
    assert broad and narrow and not set(broad) & set(narrow)
    for key_id in [*broad, *narrow]:
        assert key_id in keys
        assert keys[key_id].status == "Active"
    for key_id in keys:
        assert len(key_id) == 20 and key_id.startswith("AKIA")
        assert set(key_id[4:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def test_key_ids_encode_the_account(synth: ModuleType) -> None:
    import base64
    import random

    key_id = synth.access_key_id(random.Random(3), "111111111111")
    head = int.from_bytes(base64.b32decode(key_id[4:])[:6], "big")
    assert head >> 47 == 1
    assert (head & 0x7FFFFFFFFF80) >> 7 == 111111111111


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    sa, sb, sc = _run_cli(a, seed=7), _run_cli(b, seed=7), _run_cli(c, seed=8)
    assert a.read_bytes() == b.read_bytes()
    assert (sa["broad_keys"], sa["narrow_keys"]) == (sb["broad_keys"], sb["narrow_keys"])
    assert a.read_bytes() != c.read_bytes()
    assert sa["broad_keys"] != sc["broad_keys"]


def test_in_process_generation_round_trips(synth: ModuleType) -> None:
    result = synth.generate(N, 10 * N, 12, seed=5)
    data = json.loads(json.dumps(result.snapshot.to_json()))
    assert Snapshot.from_json(data) == result.snapshot
    assert result.broad_keys == synth.generate(N, 10 * N, 12, seed=5).broad_keys


def test_realistic_shapes(synth: ModuleType) -> None:
    snapshot = synth.generate(1000, 2000, 100, seed=1).snapshot
    users, roles = len(snapshot.users), len(snapshot.roles)
    assert 0.25 <= users / (users + roles) <= 0.35
    docs = [p.document for p in snapshot.managed_policies]
    text = json.dumps(docs)
    for needle in ('"NotAction"', '"Deny"', "aws:SourceIp", "aws:PrincipalTag", "aws:SecureTransport", '"*"'):
        assert needle in text, needle
    assert any(r.permissions_boundary_arn for r in snapshot.roles)
    trusts = json.dumps([r.trust_policy for r in snapshot.roles])
    assert "lambda.amazonaws.com" in trusts and synth.ROOT in trusts and ":role/" in trusts
    buckets = [d for d in snapshot.datasets if d.type == "s3-bucket"]
    with_policy = sum(1 for d in buckets if d.resource_policy)
    assert 0.05 <= with_policy / len(buckets) <= 0.15
    assert any(d.kms_key for d in buckets)
    tables = [d for d in snapshot.datasets if d.type == "dynamodb-table"]
    assert any("email" in d.field_names for d in tables)
    keys = [d for d in snapshot.datasets if d.type == "kms-key"]
    assert all(d.resource_policy for d in keys)
    # A few policies are attached almost everywhere (Zipf-like popularity).
    counts = sorted((p.attachment_count or 0 for p in snapshot.managed_policies), reverse=True)
    assert counts[0] > 10 * max(1, counts[len(counts) // 2])
