"""The wheel ships the rule packs and the report schema (no editable install involved)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_wheel_ships_rule_packs_and_loads_them_through_importlib_resources(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = (tmp_path / "dist").glob("blastradius-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for pack in ("sensitivity.toml", "datastores.toml", "rotation.toml", "escalation.toml"):
        assert f"blastradius/_policies/{pack}" in names
    assert "blastradius/schema/report.schema.json" in names
    assert "blastradius/schema/audit.schema.json" in names

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        check=True,
    )
    probe = (
        "import blastradius, blastradius.rules as r, blastradius.schema as s;"
        "assert str(r.default_policies_dir()).startswith(blastradius.__path__[0]), r.default_policies_dir();"
        "rules = r.load_rules(); assert rules.sensitivity and rules.datastores.types and rules.escalation;"
        "assert s.report_schema()['title'] and s.audit_schema()['title'];"
        "print(blastradius.__file__)"
    )
    # -I: isolated mode, so neither the checkout nor an editable install can be imported instead.
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {probe}"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert out.stdout.strip().startswith(str(target))
