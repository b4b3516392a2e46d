"""The specialised snapshot builder accepts exactly what the validating one accepts, and builds the same.

``Snapshot.from_json`` first tries a fast builder that only says "something is wrong"; the generic
builder then produces the precise message (file, field). Both must agree on every document.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from synthetic import synth

from blastradius.errors import SnapshotError
from blastradius.model import Snapshot, _build, _fast_build, _Invalid


def _snapshot_json() -> dict[str, Any]:
    data = synth().generate(principals=40, datasets=200, policies=8, seed=2).snapshot.to_json()
    assert isinstance(data, dict)
    return data


def test_fast_builder_builds_what_the_validating_builder_builds() -> None:
    data = _snapshot_json()
    assert _fast_build(Snapshot, data) == _build(Snapshot, data, "x")


BREAKAGES = [
    ("dataset tags value not a string", lambda d: d["datasets"][3]["tags"].update(team=7)),
    ("dataset missing its arn", lambda d: d["datasets"][5].pop("arn")),
    ("null where null is not allowed", lambda d: d["datasets"][1].update(tags=None)),
    ("boolean where an int is expected", lambda d: d["datasets"][0].update(estimated_records=True)),
    ("user key list is an object", lambda d: d["users"][0].update(access_keys={})),
    ("role trust policy is a list", lambda d: d["roles"][2].update(trust_policy=[])),
    ("region not a string", lambda d: d["regions"].append(3)),
]


@pytest.mark.parametrize("name, breakage", BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_fast_builder_refuses_what_the_validating_builder_refuses(name: str, breakage: Any) -> None:
    data = copy.deepcopy(_snapshot_json())
    breakage(data)
    with pytest.raises(_Invalid):
        _fast_build(Snapshot, data)
    with pytest.raises(SnapshotError) as precise:
        Snapshot.from_json(data, source="snap.json")
    assert "snap.json: snapshot." in str(precise.value)  # the location comes from the precise builder
