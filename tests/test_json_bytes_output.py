"""JSON reports are written as the encoder's UTF-8 bytes, never decoded into a text first.

A 10,000-principal report is 372 MB with a few non-ASCII characters (arrows, dashes): decoding it builds
a two-byte-per-character string and writing it encodes it all again (about 3.5 s and 0.7 GB). The bytes
must be exactly the text ``render_json`` gives, to stdout and to a file, whole or one section.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from test_cli import FIXTURE_KEY, GOOD_SNAPSHOT, invoke

from blastradius.analyze import analyze_snapshot
from blastradius.importers import load_snapshot
from blastradius.jsonio import dumps, dumps_bytes
from blastradius.render.jsonfmt import render_json, render_json_bytes

EPOCH = {"SOURCE_DATE_EPOCH": "1795000000"}


@pytest.mark.parametrize(
    "document",
    [
        {"a": "plain", "b": [1, 2.5, None, True]},
        {"arrow": "user → role — bucket", "é": "ü"},
        {"big": 2**70, "text": "→"},  # beyond 64 bits: the standard library encodes it
    ],
    ids=["ascii", "non-ascii", "big-int"],
)
def test_bytes_are_the_text_encoded(document: dict[str, object]) -> None:
    assert dumps_bytes(document) == dumps(document).encode("utf-8")
    assert dumps_bytes(document, indent=False) == dumps(document, indent=False).encode("utf-8")


def test_render_json_bytes_is_render_json_encoded() -> None:
    report = analyze_snapshot(load_snapshot(GOOD_SNAPSHOT), FIXTURE_KEY, jobs=1)
    assert render_json_bytes(report) == render_json(report).encode("utf-8")
    assert render_json_bytes(report, only="rotation_plan") == render_json(
        report, only="rotation_plan"
    ).encode("utf-8")


def test_the_cli_writes_the_same_json_to_stdout_and_to_a_private_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in EPOCH.items():
        monkeypatch.setenv(key, value)
    report = analyze_snapshot(load_snapshot(GOOD_SNAPSHOT), FIXTURE_KEY, jobs=1)
    expected = render_json(report) + "\n"
    shown = invoke("analyze", "--snapshot", GOOD_SNAPSHOT, "--key", FIXTURE_KEY, "--format", "json")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == expected
    out = tmp_path / "report.json"
    saved = invoke(
        "analyze", "--snapshot", GOOD_SNAPSHOT, "--key", FIXTURE_KEY, "--format", "json", "--output", out
    )
    assert saved.exit_code == 0, saved.output
    assert out.read_text(encoding="utf-8") + "\n" == expected
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
